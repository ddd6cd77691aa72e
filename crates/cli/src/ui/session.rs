//! One open page: its websocket, from the first `hello` to the close.
//!
//! Messages are JSON text frames. The page sends requests (see [`ops`]);
//! the server answers each with `ack` or `error` (echoing its `ref`), and
//! sends on its own: `hello` (who the page is, the sections), `board` (the
//! whole canvas, after any change from anywhere, at most every
//! [`FLUSH`]), `presence` (who else is here), `history` and `snapshot`
//! (answers to history requests), `review` (the answer to a review request). A malformed message gets an `error` and
//! changes nothing; the socket stays open.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use gapmap_canvas::DocId;
use gapmap_repo::server::ServerSocket;
use gapmap_repo::{DocumentId, RepoEvent};
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::ops::{self, Op};
use super::presence::{self, Person};
use super::{state, Board};
use crate::context::color_for;

/// How often pending board and presence updates are sent.
const FLUSH: Duration = Duration::from_millis(40);

/// What the page should be sent next.
#[derive(Default)]
struct Pending {
    board: bool,
    presence: bool,
}

/// Serves one page of canvas `id` until it closes or the server stops.
pub async fn run(
    board: Arc<Board>,
    socket: ServerSocket,
    id: DocId,
    doc: DocumentId,
    stop: CancellationToken,
) {
    let (mut sink, mut stream) = socket.split();
    let mut events = board.repo.subscribe();
    let mut others = board.presence.subscribe();
    let mut me = Person {
        id: hex::encode(rand::random::<[u8; 8]>()),
        name: board.author.clone(),
        color: color_for(&board.author),
        editing: None,
        here: true,
    };
    let hello = json!({
        "type": "hello",
        "session": me.id,
        "name": me.name,
        "color": me.color,
        "canvas": id.to_string(),
        "sections": state::sections(),
        "limits": { "text": ops::MAX_TEXT, "short": ops::MAX_SHORT },
    });
    if send(&mut sink, &hello).await.is_err() {
        return;
    }
    board.presence.set(doc, me.clone());
    let mut pending = Pending {
        board: true,
        presence: true,
    };
    let mut flush = tokio::time::interval(FLUSH);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            message = stream.next() => {
                let text = match message {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Binary(_))) => {
                        let reply = json!({ "type": "error", "message": "binary messages are not understood: send JSON text" });
                        if send(&mut sink, &reply).await.is_err() { break; }
                        continue;
                    }
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Ok(_)) => continue,
                    Some(Err(err)) => {
                        tracing::debug!(%err, "page socket closed");
                        break;
                    }
                };
                let reply = handle(&board, &id, doc, &mut me, text.as_str(), &mut pending).await;
                if send(&mut sink, &reply).await.is_err() {
                    break;
                }
            }
            event = events.recv() => match event {
                Ok(RepoEvent::Changed { id: changed, .. }) if changed == doc => pending.board = true,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => pending.board = true,
                Err(RecvError::Closed) => break,
            },
            changed = others.recv() => match changed {
                Ok(changed) if changed == doc => pending.presence = true,
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => pending.presence = true,
                Err(RecvError::Closed) => break,
            },
            _ = flush.tick() => {
                if pending.board {
                    pending.board = false;
                    let b = board.clone();
                    let loaded = tokio::task::spawn_blocking(move || b.load(&id).map(|c| state::board(&c, &id))).await;
                    let message = match loaded {
                        Ok(Ok(canvas)) => json!({ "type": "board", "board": canvas }),
                        Ok(Err(err)) => json!({ "type": "error", "message": format!("the canvas does not load: {err:#}") }),
                        Err(_) => break,
                    };
                    if send(&mut sink, &message).await.is_err() { break; }
                }
                if pending.presence {
                    pending.presence = false;
                    let people = board.presence.list(doc);
                    if send(&mut sink, &json!({ "type": "presence", "people": people })).await.is_err() { break; }
                }
            }
        }
    }
    board.presence.leave(doc, &me.id);
    let _ = sink.close().await;
}

async fn send<S>(sink: &mut S, value: &Value) -> Result<(), ()>
where
    S: futures_util::Sink<Message> + Unpin,
{
    sink.send(Message::text(value.to_string()))
        .await
        .map_err(|_| ())
}

/// Answers one message from the page.
async fn handle(
    board: &Arc<Board>,
    id: &DocId,
    doc: DocumentId,
    me: &mut Person,
    text: &str,
    pending: &mut Pending,
) -> Value {
    let (reference, op) = ops::parse(text);
    let op = match op {
        Ok(op) => op,
        Err(err) => {
            return json!({ "type": "error", "ref": reference, "message": format!("{err:#}") })
        }
    };
    let done = |result: anyhow::Result<Value>| match result {
        Ok(result) => json!({ "type": "ack", "ref": reference, "result": result }),
        Err(err) => json!({ "type": "error", "ref": reference, "message": format!("{err:#}") }),
    };
    match op {
        Op::Hello { name } => done(set_name(board, doc, me, &name)),
        Op::Presence { editing } => {
            if editing
                .as_ref()
                .is_some_and(|e| e.chars().count() > ops::MAX_SHORT)
            {
                return done(Err(anyhow::anyhow!(
                    "a note id is at most {} characters",
                    ops::MAX_SHORT
                )));
            }
            me.editing = editing;
            board.presence.set(doc, me.clone());
            done(Ok(Value::Null))
        }
        Op::History => {
            let (b, id) = (board.clone(), *id);
            match tokio::task::spawn_blocking(move || b.load(&id).map(|c| state::history(&c))).await
            {
                Ok(Ok(history)) => {
                    json!({ "type": "history", "ref": reference, "history": history })
                }
                Ok(Err(err)) => done(Err(err)),
                Err(err) => done(Err(err.into())),
            }
        }
        Op::Review => {
            let (b, id) = (board.clone(), *id);
            match tokio::task::spawn_blocking(move || {
                b.load(&id).map(|c| super::research::review(&c))
            })
            .await
            {
                Ok(Ok(review)) => json!({ "type": "review", "ref": reference, "review": review }),
                Ok(Err(err)) => done(Err(err)),
                Err(err) => done(Err(err.into())),
            }
        }
        Op::At { count, round } => {
            let (b, id) = (board.clone(), *id);
            let made = tokio::task::spawn_blocking(move || {
                let canvas = b.load(&id)?;
                let past = state::at(&canvas, count, round.as_deref())?;
                Ok::<_, anyhow::Error>(state::board(&past, &id))
            })
            .await;
            match made {
                Ok(Ok(snapshot)) => {
                    json!({ "type": "snapshot", "ref": reference, "board": snapshot })
                }
                Ok(Err(err)) => done(Err(err)),
                Err(err) => done(Err(err.into())),
            }
        }
        op => {
            let (b, id, name) = (board.clone(), *id, me.name.clone());
            let result = tokio::task::spawn_blocking(move || b.change(&id, &name, &op)).await;
            pending.board = true;
            match result {
                Ok(result) => done(result),
                Err(err) => done(Err(err.into())),
            }
        }
    }
}

/// The page says who is there: changes are recorded under that name.
fn set_name(board: &Board, doc: DocumentId, me: &mut Person, name: &str) -> anyhow::Result<Value> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        anyhow::bail!("a name is 1 to 64 characters, on one line");
    }
    me.name = name.to_string();
    me.color = color_for(name);
    debug_assert!(presence::is_color(&me.color));
    board.presence.set(doc, me.clone());
    Ok(json!({ "name": me.name, "color": me.color }))
}
