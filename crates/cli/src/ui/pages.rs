//! The HTML the server writes itself: the board's shell (the script fills
//! it), the canvas list, and clear pages for unknown canvases and errors.
//! Everything from a document or a URL is escaped.

use axum::body::Body;
use axum::http::{header, Response, StatusCode};
use gapmap_canvas::DocId;
use gapmap_store::DocMeta;

use super::http::CSP;

const BOARD_HTML: &str = include_str!("assets/board.html");

/// `text` safe inside HTML text and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn html(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, CSP)
        .header(header::CACHE_CONTROL, "no-store")
        .body(Body::from(body))
        .expect("valid response")
}

/// A simple page around `main`.
fn page(title: &str, main: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · gapmap</title><link rel=\"icon\" href=\"/assets/icon.svg\">\
         <link rel=\"stylesheet\" href=\"/assets/board.css\"></head>\
         <body class=\"plain\"><header class=\"top\"><a class=\"brand\" href=\"/canvases\">gapmap</a></header>\
         <main class=\"plain-main\">{main}</main></body></html>\n",
        escape(title)
    )
}

/// The board of canvas `id`; the script loads the rest over the socket.
pub fn board(id: &DocId, title: &str) -> Response<Body> {
    let body = BOARD_HTML
        .replace("__TITLE__", &escape(title))
        .replace("__CANVAS__", &escape(&id.to_string()));
    html(StatusCode::OK, body)
}

/// Every canvas in the store, newest first, how many other documents it
/// holds, and a form for a new one.
pub fn list(metas: &[DocMeta], others: usize, current: Option<&DocId>) -> Response<Body> {
    let mut rows = String::new();
    for m in metas {
        let mark = if current.is_some_and(|c| c.to_string() == m.id) {
            " <span class=\"current\">current</span>"
        } else {
            ""
        };
        let changed = if m.updated_ms > 0 {
            format!(
                " · last change <time>{} UTC</time>",
                escape(&gapmap_canvas::time::format_datetime(m.updated_ms))
            )
        } else {
            String::new()
        };
        rows.push_str(&format!(
            "<li data-canvas=\"{id}\"><a href=\"/c/{id}\">{title}</a>{mark}\
             <span class=\"canvas-meta\"><span class=\"count\">{n}</span>{changed}</span></li>",
            id = escape(&m.id),
            title = escape(if m.title.is_empty() {
                "(untitled)"
            } else {
                &m.title
            }),
            n = crate::words::plural(m.notes, "note", "notes"),
        ));
    }
    if rows.is_empty() {
        rows.push_str("<li class=\"empty\">No canvases yet.</li>");
    }
    let others = if others > 0 {
        format!(
            "<p class=\"others\">and {} (not canvases: pushed by peers, kept for them)</p>",
            crate::words::plural(others, "other document", "other documents")
        )
    } else {
        String::new()
    };
    let main = format!(
        "<h1>Canvases</h1><ul class=\"canvas-list\" aria-label=\"Canvases in this store\">{rows}</ul>{others}\
         <form method=\"post\" action=\"/canvases\" class=\"new-canvas\">\
         <label>New canvas <input name=\"title\" required maxlength=\"200\" placeholder=\"Freelance designers getting paid\"></label>\
         <button type=\"submit\">Create</button></form>"
    );
    html(StatusCode::OK, page("Canvases", &main))
}

/// A canvas id that is not in this store.
pub fn not_found(given: &str) -> Response<Body> {
    let main = format!(
        "<h1 class=\"not-found\">No such canvas</h1><p>There is no canvas <code>{}</code> in this store.</p>\
         <p>Fetch it from a relay with <code>gapmap clone ID --from URL</code>, or pick one from \
         <a href=\"/canvases\">the canvases in this store</a>.</p>",
        escape(given)
    );
    html(StatusCode::NOT_FOUND, page("No such canvas", &main))
}

/// Something went wrong, said plainly.
pub fn error(status: StatusCode, title: &str, message: &str) -> Response<Body> {
    let main = format!(
        "<h1>{}</h1><p>{}</p><p><a href=\"/canvases\">Back to the canvases</a></p>",
        escape(title),
        escape(message)
    );
    html(status, page(title, &main))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
