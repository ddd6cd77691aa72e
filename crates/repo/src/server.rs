//! The accept path shared by `gapmap-relay`, `gapmap serve` and `gapmap ui`:
//! one TCP listener carrying HTTP routes and the websocket upgrade, with
//! optional TLS and the limits a public server needs.
//!
//! Shaped like mini-redis's `server.rs`: the caller binds the listener and
//! passes it in; `serve` races accept against shutdown; a semaphore caps
//! connections; a task tracker lets shutdown wait for every connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// An upgraded connection, before any websocket frame was read.
pub type RawSocket = TokioIo<hyper::upgrade::Upgraded>;

/// A websocket accepted by [`upgrade`], over the raw HTTP connection.
pub type ServerSocket = WebSocketStream<RawSocket>;

/// Limits and options of the listener.
#[derive(Clone)]
pub struct ServerConfig {
    /// Most simultaneous TCP connections; one more waits in the kernel's backlog.
    pub max_connections: usize,
    /// Time allowed for the TLS handshake and the HTTP request head; slow or
    /// silent clients are dropped so they cannot hold a connection slot.
    pub handshake_timeout: Duration,
    /// TLS, when the server terminates it itself.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_connections: 20_000,
            handshake_timeout: Duration::from_secs(10),
            tls: None,
        }
    }
}

/// Held by every connection (and by the websocket it becomes) so the
/// connection cap counts upgraded sockets too.
#[derive(Clone)]
pub struct ConnectionSlot(#[allow(dead_code)] Arc<OwnedSemaphorePermit>);

/// The peer address of the connection a request came on.
#[derive(Clone, Copy, Debug)]
pub struct PeerAddr(pub SocketAddr);

/// Serves `router` on `listener` until `shutdown` is cancelled, then stops
/// accepting and waits for every connection task tracked by `tracker`
/// (websocket tasks should be spawned on the same tracker) to finish.
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    router: axum::Router,
    tracker: TaskTracker,
    shutdown: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(config.max_connections));
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = slots.clone().acquire_owned() => permit.expect("semaphore never closed"),
        };
        let (tcp, addr) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(err) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(%err, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let slot = ConnectionSlot(Arc::new(permit));
        let (router, config, shutdown) = (router.clone(), config.clone(), shutdown.clone());
        tracker.spawn(async move {
            match &config.tls {
                None => serve_connection(tcp, addr, slot, router, &config, shutdown).await,
                Some(acceptor) => {
                    match tokio::time::timeout(config.handshake_timeout, acceptor.accept(tcp)).await
                    {
                        Ok(Ok(tls)) => {
                            serve_connection(tls, addr, slot, router, &config, shutdown).await
                        }
                        Ok(Err(err)) => tracing::debug!(%addr, %err, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
    tracker.close();
    tracker.wait().await;
}

async fn serve_connection<IO>(
    io: IO,
    addr: SocketAddr,
    slot: ConnectionSlot,
    router: axum::Router,
    config: &ServerConfig,
    shutdown: CancellationToken,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(slot.clone());
        req.extensions_mut().insert(PeerAddr(addr));
        router.clone().oneshot(req.map(Body::new))
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(config.handshake_timeout)
        .max_buf_size(64 * 1024)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(err) = res {
                tracing::debug!(%addr, %err, "http connection ended");
            }
        }
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
        }
    }
}

/// The bearer token of a request: `Authorization: Bearer T`, or `?token=T`
/// on the URL (browsers cannot set headers on websockets).
pub fn bearer_token(req: &Request<Body>) -> Option<String> {
    if let Some(value) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        // The scheme is case-insensitive (RFC 7235 §2.1).
        if let Some((scheme, token)) = value.trim_start().split_once([' ', '\t']) {
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() {
                return Some(token.trim().to_string());
            }
        }
    }
    let query = req.uri().query()?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "token")
        .map(|(_, value)| value.into_owned())
}

/// Whether a request asks for a websocket upgrade.
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .map(|s| {
                    s.split(',')
                        .any(|part| part.trim().eq_ignore_ascii_case(token))
                })
                .unwrap_or(false)
        })
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

/// Answers a websocket upgrade request and hands the socket to `on_socket`,
/// spawned on `tracker`. The caller has already authorised the request.
pub fn upgrade<F, Fut>(
    req: Request<Body>,
    config: WebSocketConfig,
    tracker: &TaskTracker,
    on_socket: F,
) -> Response<Body>
where
    F: FnOnce(ServerSocket) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    upgrade_raw(req, tracker, move |raw| async move {
        let ws = WebSocketStream::from_raw_socket(raw, Role::Server, Some(config)).await;
        on_socket(ws).await;
    })
}

/// [`upgrade`], handing over the upgraded connection itself, for a caller
/// that reads the websocket frames on its own (the sync endpoint does, to
/// bound what peers make it hold).
pub fn upgrade_raw<F, Fut>(
    mut req: Request<Body>,
    tracker: &TaskTracker,
    on_socket: F,
) -> Response<Body>
where
    F: FnOnce(RawSocket) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let key = match req.headers().get(header::SEC_WEBSOCKET_KEY) {
        Some(key) if is_upgrade(req.headers()) => key.clone(),
        _ => return plain(StatusCode::BAD_REQUEST, "expected a websocket upgrade\n"),
    };
    if req
        .headers()
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(|v| v.as_bytes())
        != Some(b"13")
    {
        return plain(
            StatusCode::BAD_REQUEST,
            "unsupported websocket version (want 13)\n",
        );
    }
    let slot = req.extensions_mut().remove::<ConnectionSlot>();
    let on_upgrade = hyper::upgrade::on(&mut req);
    tracker.spawn(async move {
        let _slot = slot;
        match on_upgrade.await {
            Ok(upgraded) => on_socket(TokioIo::new(upgraded)).await,
            Err(err) => tracing::debug!(%err, "websocket upgrade failed"),
        }
    });
    Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(
            header::SEC_WEBSOCKET_ACCEPT,
            derive_accept_key(key.as_bytes()),
        )
        .body(Body::empty())
        .expect("static response")
}

/// A small text response.
pub fn plain(status: StatusCode, body: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(Body::from(body))
        .expect("static response")
}

/// Reads a PEM certificate chain and private key into a TLS acceptor.
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, crate::Error> {
    use tokio_rustls::rustls;
    let read = |path: &std::path::Path| {
        std::fs::read(path)
            .map_err(|e| crate::Error::Tls(format!("cannot read {}: {e}", path.display())))
    };
    let certs: Vec<_> = rustls_pemfile::certs(&mut read(cert)?.as_slice())
        .collect::<Result<_, _>>()
        .map_err(|e| crate::Error::Tls(format!("{}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(crate::Error::Tls(format!(
            "{} holds no PEM certificate",
            cert.display()
        )));
    }
    let key = rustls_pemfile::private_key(&mut read(key)?.as_slice())
        .map_err(|e| crate::Error::Tls(format!("{}: {e}", key.display())))?
        .ok_or_else(|| crate::Error::Tls(format!("{} holds no PEM private key", key.display())))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| crate::Error::Tls(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| crate::Error::Tls(e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, auth: Option<&str>) -> Request<Body> {
        let mut b = Request::builder().uri(uri);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn tokens_come_from_the_header_or_the_query() {
        assert_eq!(
            bearer_token(&req("/", Some("Bearer abc"))).as_deref(),
            Some("abc")
        );
        assert_eq!(
            bearer_token(&req("/?x=1&token=a%2Bb", None)).as_deref(),
            Some("a+b")
        );
        assert_eq!(
            bearer_token(&req("/?token=abc%", None)).as_deref(),
            Some("abc%")
        );
        assert_eq!(bearer_token(&req("/", Some("Basic abc"))), None);
        for scheme in ["bearer", "BEARER", "bEaReR"] {
            assert_eq!(
                bearer_token(&req("/", Some(&format!("{scheme}  abc")))).as_deref(),
                Some("abc"),
                "{scheme}"
            );
        }
        assert_eq!(bearer_token(&req("/", Some("Bearer"))), None);
        assert_eq!(bearer_token(&req("/", Some("Bearerabc"))), None);
        assert_eq!(bearer_token(&req("/", None)), None);
    }
}
