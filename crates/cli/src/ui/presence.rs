//! Who has a canvas open: the pages of this process, and the people on
//! other machines whose presence arrives as automerge-repo ephemeral
//! messages (so it crosses relays, and JavaScript automerge-repo clients
//! can read and send it too).
//!
//! An ephemeral message's data is one CBOR map:
//! `{"type": "gapmap-presence", "session": S, "name": N, "color": "#rrggbb",
//! "editing": NOTE-ID | null, "state": "here" | "gone"}`. Each page sends it
//! when it joins, when it starts or stops editing a note, every
//! [`HEARTBEAT`] while open, and with `"gone"` when it leaves; a session not
//! heard from for [`EXPIRE`] is dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use gapmap_repo::{DocumentId, Repo};
use serde::Serialize;
use tokio::sync::broadcast;

/// How often every open page is announced again.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// How long a remote page stays listed without a message.
pub const EXPIRE: Duration = Duration::from_secs(7);
/// Most remote sessions listed per canvas (the rest are ignored).
const MAX_REMOTE: usize = 200;
/// Longest name, note id or session id taken from a message, in characters.
const MAX_FIELD: usize = 64;
const KIND: &str = "gapmap-presence";

/// One person with a canvas open.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Person {
    /// Their page's session id.
    pub id: String,
    /// The name they go by.
    pub name: String,
    /// Their colour, `#rrggbb`.
    pub color: String,
    /// The note they are editing.
    pub editing: Option<String>,
    /// Whether their page is served by this process.
    pub here: bool,
}

#[derive(Default)]
struct Room {
    local: BTreeMap<String, Person>,
    remote: BTreeMap<String, (Person, Instant)>,
}

/// Everyone on every canvas, and a channel saying whose list changed.
pub struct Presence {
    repo: Repo,
    rooms: Mutex<HashMap<DocumentId, Room>>,
    changed: broadcast::Sender<DocumentId>,
}

impl Presence {
    /// Presence over `repo`'s ephemeral messages.
    pub fn new(repo: Repo) -> Presence {
        Presence {
            repo,
            rooms: Mutex::new(HashMap::new()),
            changed: broadcast::channel(256).0,
        }
    }

    /// Canvases whose list changed, from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<DocumentId> {
        self.changed.subscribe()
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<DocumentId, Room>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A page of this process opened `doc`, or changed what it does there.
    pub fn set(&self, doc: DocumentId, person: Person) {
        self.send(doc, &person, true);
        self.rooms()
            .entry(doc)
            .or_default()
            .local
            .insert(person.id.clone(), person);
        let _ = self.changed.send(doc);
    }

    /// A page of this process left `doc`.
    pub fn leave(&self, doc: DocumentId, session: &str) {
        let gone = self
            .rooms()
            .get_mut(&doc)
            .and_then(|room| room.local.remove(session));
        if let Some(person) = gone {
            self.send(doc, &person, false);
            let _ = self.changed.send(doc);
        }
    }

    /// Everyone on `doc`, by name.
    pub fn list(&self, doc: DocumentId) -> Vec<Person> {
        let rooms = self.rooms();
        let Some(room) = rooms.get(&doc) else {
            return Vec::new();
        };
        let mut all: Vec<Person> = room
            .local
            .values()
            .cloned()
            .chain(room.remote.values().map(|(p, _)| p.clone()))
            .collect();
        all.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        all
    }

    /// An ephemeral message about `doc` arrived from a peer.
    pub fn receive(&self, doc: DocumentId, data: &[u8]) {
        let Some((person, here)) = decode(data) else {
            return;
        };
        let newcomer = {
            let mut rooms = self.rooms();
            let room = rooms.entry(doc).or_default();
            if room.local.contains_key(&person.id) {
                return;
            }
            if here {
                let known = room.remote.get(&person.id).map(|(p, _)| p.clone());
                if known.is_none() && room.remote.len() >= MAX_REMOTE {
                    return;
                }
                let changed = known.as_ref() != Some(&person);
                room.remote
                    .insert(person.id.clone(), (person, Instant::now()));
                if !changed {
                    return;
                }
                known.is_none()
            } else {
                if room.remote.remove(&person.id).is_none() {
                    return;
                }
                false
            }
        };
        let _ = self.changed.send(doc);
        if newcomer {
            // Someone just arrived: tell them who is here now rather than
            // at the next heartbeat.
            self.announce(doc);
        }
    }

    /// Sends every local page on `doc` to the peers.
    fn announce(&self, doc: DocumentId) {
        let local: Vec<Person> = self
            .rooms()
            .get(&doc)
            .map(|r| r.local.values().cloned().collect())
            .unwrap_or_default();
        for person in &local {
            self.send(doc, person, true);
        }
    }

    /// Announces every local page again and forgets silent remote ones.
    pub fn heartbeat(&self) {
        let docs: Vec<DocumentId> = self.rooms().keys().copied().collect();
        for doc in docs {
            self.announce(doc);
            let expired = {
                let mut rooms = self.rooms();
                let Some(room) = rooms.get_mut(&doc) else {
                    continue;
                };
                let before = room.remote.len();
                room.remote.retain(|_, (_, seen)| seen.elapsed() < EXPIRE);
                let expired = room.remote.len() != before;
                if room.local.is_empty() && room.remote.is_empty() {
                    rooms.remove(&doc);
                }
                expired
            };
            if expired {
                let _ = self.changed.send(doc);
            }
        }
    }

    fn send(&self, doc: DocumentId, person: &Person, here: bool) {
        if let Err(err) = self.repo.broadcast(doc, encode(person, here)) {
            tracing::debug!(%err, "presence not sent");
        }
    }
}

/// The CBOR of a presence message.
pub fn encode(person: &Person, here: bool) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut e = minicbor::Encoder::new(&mut buf);
    let written: Result<(), minicbor::encode::Error<std::convert::Infallible>> = (|| {
        e.map(6)?;
        e.str("type")?.str(KIND)?;
        e.str("session")?.str(&person.id)?;
        e.str("name")?.str(&person.name)?;
        e.str("color")?.str(&person.color)?;
        e.str("editing")?;
        match &person.editing {
            Some(note) => e.str(note)?,
            None => e.null()?,
        };
        e.str("state")?.str(if here { "here" } else { "gone" })?;
        Ok(())
    })();
    written.expect("writing CBOR to a Vec cannot fail");
    buf
}

/// A presence message from a peer, and whether the person is (still) here.
/// Anything else (another application's ephemeral message, bad CBOR, a
/// field out of bounds) is `None`.
pub fn decode(data: &[u8]) -> Option<(Person, bool)> {
    use minicbor::data::Type;
    let mut d = minicbor::Decoder::new(data);
    let len = d.map().ok()??;
    if len > 16 {
        return None;
    }
    let mut fields: HashMap<String, Option<String>> = HashMap::new();
    for _ in 0..len {
        let key = match d.datatype().ok()? {
            Type::String => d.str().ok()?.to_string(),
            _ => return None,
        };
        let value = match d.datatype().ok()? {
            Type::String => Some(d.str().ok()?.to_string()),
            Type::Null | Type::Undefined => {
                d.skip().ok()?;
                None
            }
            _ => {
                d.skip().ok()?;
                continue;
            }
        };
        fields.insert(key, value);
    }
    let text = |key: &str| {
        fields
            .get(key)
            .cloned()
            .flatten()
            .filter(|v| v.chars().count() <= MAX_FIELD)
    };
    if text("type").as_deref() != Some(KIND) {
        return None;
    }
    let id = text("session").filter(|s| !s.is_empty())?;
    let name = text("name")
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "someone".into());
    let color = text("color")
        .filter(|c| is_color(c))
        .unwrap_or_else(|| "#888888".into());
    let editing = text("editing").filter(|n| !n.is_empty());
    let here = text("state").as_deref() != Some("gone");
    Some((
        Person {
            id,
            name,
            color,
            editing,
            here: false,
        },
        here,
    ))
}

/// `#rrggbb`.
pub fn is_color(c: &str) -> bool {
    c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presence_round_trips_through_cbor() {
        let person = Person {
            id: "s1".into(),
            name: "Zoë".into(),
            color: "#e6194b".into(),
            editing: Some("abcdabcdabcd".into()),
            here: true,
        };
        let (back, here) = decode(&encode(&person, true)).unwrap();
        assert!(here);
        assert_eq!(
            back,
            Person {
                here: false,
                ..person.clone()
            }
        );
        let (_, here) = decode(&encode(&person, false)).unwrap();
        assert!(!here);
    }

    #[test]
    fn other_messages_are_ignored() {
        assert!(decode(b"").is_none());
        assert!(decode(&[0xa1, 0x61, b'x', 0x01]).is_none());
        assert!(decode(&[0xff, 0x00]).is_none());
        // A map that is not ours.
        let mut buf = Vec::new();
        minicbor::Encoder::new(&mut buf)
            .map(1)
            .unwrap()
            .str("type")
            .unwrap()
            .str("cursor")
            .unwrap();
        assert!(decode(&buf).is_none());
        // Ours with a bad colour and an over-long name.
        let person = Person {
            id: "s".into(),
            name: "n".repeat(500),
            color: "red".into(),
            editing: None,
            here: true,
        };
        let (p, _) = decode(&encode(&person, true)).unwrap();
        assert_eq!((p.name.as_str(), p.color.as_str()), ("someone", "#888888"));
    }
}
