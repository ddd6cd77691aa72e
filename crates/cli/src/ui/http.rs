//! The board's HTTP routes: pages, assets, exports and the page socket,
//! behind a guard that keeps other web sites and host names out.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, Method, Response, StatusCode};
use axum::middleware::Next;
use axum::routing::get;
use axum::Router;
use gapmap_canvas::{render, DocId};
use gapmap_repo::server::{self, is_upgrade};
use gapmap_repo::DocumentId;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::{pages, session, Board};
use crate::context::Docs;

/// The page's scripts (ES modules, no build step), style and icon,
/// embedded in the binary: `/assets/<name>`.
const ASSETS: &[(&str, &str)] = &[
    ("board.js", include_str!("assets/board.js")),
    ("board.css", include_str!("assets/board.css")),
    ("icon.svg", include_str!("assets/icon.svg")),
    ("js/dom.js", include_str!("assets/js/dom.js")),
    ("js/editor.js", include_str!("assets/js/editor.js")),
    ("js/evidence.js", include_str!("assets/js/evidence.js")),
    ("js/interviews.js", include_str!("assets/js/interviews.js")),
    ("js/keys.js", include_str!("assets/js/keys.js")),
    ("js/live.js", include_str!("assets/js/live.js")),
    ("js/move.js", include_str!("assets/js/move.js")),
    ("js/notes.js", include_str!("assets/js/notes.js")),
    ("js/review.js", include_str!("assets/js/review.js")),
    ("js/socket.js", include_str!("assets/js/socket.js")),
    ("js/state.js", include_str!("assets/js/state.js")),
    ("js/thread.js", include_str!("assets/js/thread.js")),
    ("js/views.js", include_str!("assets/js/views.js")),
    ("js/words.js", include_str!("assets/js/words.js")),
];

/// Largest message a page may send (a note is at most a few KiB).
const MAX_PAGE_MESSAGE: usize = 256 * 1024;

/// Only this server's own pages, scripts, styles, sockets and pictures.
pub(super) const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The routes of the board (the sync endpoint is mounted around them).
pub fn router(board: Arc<Board>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/canvases", get(list).post(create))
        .route("/c/{id}", get(canvas_page))
        .route("/c/{id}/export/{format}", get(export))
        .route("/api/ws", get(page_socket))
        .route("/assets/{file}", get(asset))
        .route("/assets/js/{file}", get(module))
        .with_state(board)
}

/// Refuses requests that did not come from the board's own pages: a host
/// name other than localhost (DNS rebinding) unless `--public`, and any
/// websocket or form from another origin (a web site open in the same
/// browser). Peers' sync connections send no `Origin` and pass.
pub async fn guard(State(board): State<Arc<Board>>, req: Request, next: Next) -> Response<Body> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_string();
    if !board.public && !is_local_host(&host) {
        return pages::error(
            StatusCode::FORBIDDEN,
            "Not this way",
            "The board answers only to localhost and loopback addresses.",
        );
    }
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD) || is_upgrade(req.headers());
    if writes {
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let same = origin
                .to_str()
                .is_ok_and(|o| o == format!("http://{host}") || o == format!("https://{host}"));
            if !same {
                return pages::error(
                    StatusCode::FORBIDDEN,
                    "Not this way",
                    "Only the board's own pages may change it.",
                );
            }
        }
    }
    let mut response = next.run(req).await;
    let headers = response.headers_mut();
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // Not "no-referrer": under it a browser posts the board's own forms with
    // `Origin: null`, which the check above refuses. "same-origin" sends the
    // origin to the board itself and no referrer to anyone else.
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    response
}

fn is_local_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Runs blocking store work off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

async fn home(State(board): State<Arc<Board>>) -> Response<Body> {
    let b = board.clone();
    match blocking(move || b.home().map(|id| (id, b.load(&id))))
        .await
        .flatten()
    {
        Some((id, Ok(canvas))) => pages::board(&id, &canvas.title()),
        _ => list(State(board)).await,
    }
}

async fn list(State(board): State<Arc<Board>>) -> Response<Body> {
    let b = board.clone();
    let listed = blocking(move || {
        let (mut metas, others) = b.docs.canvases().unwrap_or_default();
        metas.sort_by(|a, c| c.updated_ms.cmp(&a.updated_ms).then(a.id.cmp(&c.id)));
        (metas, others, b.current())
    })
    .await;
    let (metas, others, current) = listed.unwrap_or_default();
    pages::list(&metas, others, current.as_ref())
}

/// `POST /canvases` with a form field `title`: a new canvas.
async fn create(State(board): State<Arc<Board>>, req: Request) -> Response<Body> {
    let Ok(body) = axum::body::to_bytes(req.into_body(), 16 * 1024).await else {
        return pages::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Too long",
            "That title is far too long.",
        );
    };
    let title = form_field(&body, "title").unwrap_or_default();
    match blocking(move || board.create(&title)).await {
        Some(Ok(id)) => redirect(&format!("/c/{id}")),
        Some(Err(err)) => pages::error(
            StatusCode::BAD_REQUEST,
            "No canvas made",
            &format!("{err:#}"),
        ),
        None => pages::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "No canvas made",
            "The server stopped.",
        ),
    }
}

async fn canvas_page(State(board): State<Arc<Board>>, Path(given): Path<String>) -> Response<Body> {
    let given2 = given.clone();
    let found = blocking(move || board.resolve(&given2).map(|id| (id, board.load(&id))))
        .await
        .flatten();
    match found {
        Some((id, Ok(canvas))) if id.to_string() == given => pages::board(&id, &canvas.title()),
        Some((id, Ok(_))) => redirect(&format!("/c/{id}")),
        Some((id, Err(err))) => pages::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "This canvas does not open",
            &format!("Canvas {id} is in the store but does not load: {err:#}. Try gapmap doctor."),
        ),
        None => pages::not_found(&given),
    }
}

async fn export(
    State(board): State<Arc<Board>>,
    Path((given, format)): Path<(String, String)>,
) -> Response<Body> {
    let Some(id) = DocId::parse(&given).ok() else {
        return pages::not_found(&given);
    };
    let made = blocking(
        move || -> anyhow::Result<Option<(Vec<u8>, &'static str, &'static str)>> {
            if !board.docs.contains(&id.to_string())? {
                return Ok(None);
            }
            let canvas = board.load(&id)?;
            Ok(Some(match format.as_str() {
                "md" => (
                    render::to_markdown(&canvas, &id).into_bytes(),
                    "text/markdown; charset=utf-8",
                    "md",
                ),
                "json" => {
                    let json = serde_json::to_string_pretty(&render::to_export_json(&canvas, &id))?;
                    (json.into_bytes(), "application/json", "json")
                }
                "svg" => (
                    render::to_svg(&canvas, &id).into_bytes(),
                    "image/svg+xml",
                    "svg",
                ),
                "png" => (
                    crate::png::from_svg(&render::to_svg(&canvas, &id))?,
                    "image/png",
                    "png",
                ),
                "html" => (
                    render::to_html(&canvas, &id).into_bytes(),
                    "text/html; charset=utf-8",
                    "html",
                ),
                _ => anyhow::bail!("unknown export format {format}: md, json, svg, png or html"),
            }))
        },
    )
    .await;
    match made {
        Some(Ok(Some((bytes, mime, ext)))) => Response::builder()
            .header(header::CONTENT_TYPE, mime)
            .header(
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"canvas-{given}.{ext}\""),
            )
            .header(
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; sandbox",
            )
            .body(Body::from(bytes))
            .expect("valid response"),
        Some(Ok(None)) => pages::not_found(&given),
        Some(Err(err)) => pages::error(StatusCode::BAD_REQUEST, "No export", &format!("{err:#}")),
        None => pages::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "No export",
            "The server stopped.",
        ),
    }
}

/// `GET /api/ws?canvas=ID`: the page's own websocket.
async fn page_socket(State(board): State<Arc<Board>>, req: Request) -> Response<Body> {
    let given = query_param(req.uri().query(), "canvas").unwrap_or_default();
    let Ok(id) = DocId::parse(&given) else {
        return server::plain(StatusCode::NOT_FOUND, "no such canvas\n");
    };
    let b = board.clone();
    if !blocking(move || b.docs.contains(&id.to_string()).unwrap_or(false))
        .await
        .unwrap_or(false)
    {
        return server::plain(StatusCode::NOT_FOUND, "no such canvas\n");
    }
    let Ok(doc) = DocumentId::parse(&id.to_string()) else {
        return server::plain(StatusCode::NOT_FOUND, "no such canvas\n");
    };
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_PAGE_MESSAGE))
        .max_frame_size(Some(MAX_PAGE_MESSAGE));
    let tracker = board.repo.tracker().clone();
    let stop = board.repo.shutdown_token().clone();
    server::upgrade(req, config, &tracker, move |socket| {
        session::run(board, socket, id, doc, stop)
    })
}

async fn module(Path(file): Path<String>) -> Response<Body> {
    serve_asset(&format!("js/{file}"))
}

async fn asset(Path(file): Path<String>) -> Response<Body> {
    serve_asset(&file)
}

fn serve_asset(name: &str) -> Response<Body> {
    let Some(&(_, body)) = ASSETS.iter().find(|(n, _)| *n == name) else {
        return server::plain(StatusCode::NOT_FOUND, "not found\n");
    };
    let mime = match name.rsplit('.').next() {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        _ => "image/svg+xml",
    };
    Response::builder()
        .header(header::CONTENT_TYPE, mime)
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from(body))
        .expect("valid response")
}

fn redirect(to: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(header::LOCATION, to)
        .body(Body::empty())
        .expect("valid response")
}

fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| v.to_string())
    })
}

/// A field of an `application/x-www-form-urlencoded` body.
fn form_field(body: &[u8], key: &str) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_host_names_pass() {
        for ok in [
            "127.0.0.1:7777",
            "localhost:7777",
            "[::1]:7777",
            "localhost",
            "board.localhost:80",
            "127.0.0.2",
        ] {
            assert!(is_local_host(ok), "{ok}");
        }
        for bad in [
            "evil.example:7777",
            "192.168.1.5:7777",
            "",
            "localhost.evil.example",
        ] {
            assert!(!is_local_host(bad), "{bad}");
        }
    }

    #[test]
    fn form_fields_decode() {
        assert_eq!(
            form_field(b"title=Caf%C3%A9+au+lait&x=1", "title").unwrap(),
            "Café au lait"
        );
        assert_eq!(form_field(b"title=100%", "title").unwrap(), "100%");
        assert_eq!(form_field(b"a=1", "title"), None);
    }
}
