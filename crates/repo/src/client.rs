//! Dialing a relay or peer: the websocket handshake with the token, and the
//! reconnect schedule.

use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{header, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::Error;

/// A websocket we dialled.
pub type ClientSocket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Opens a websocket to `url` (`ws://` or `wss://`), sending `token` as a
/// bearer token. Errors say plainly what went wrong: a bad URL, nobody
/// listening, a refused token.
pub async fn dial(
    url: &str,
    token: Option<&str>,
    config: WebSocketConfig,
    timeout: Duration,
) -> Result<ClientSocket, Error> {
    if !(url.starts_with("ws://") || url.starts_with("wss://")) {
        return Err(Error::BadUrl(format!(
            "{url}: a remote URL starts with ws:// or wss://"
        )));
    }
    let mut request = url
        .into_client_request()
        .map_err(|e| Error::BadUrl(format!("{url}: {e}")))?;
    if let Some(token) = token {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Error::BadUrl("the token holds characters a header cannot carry".into())
        })?;
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    match tokio::time::timeout(timeout, connect).await {
        Err(_) => Err(Error::Unreachable(format!(
            "{url}: no answer within {}s",
            timeout.as_secs()
        ))),
        Ok(Ok((socket, _response))) => Ok(socket),
        Ok(Err(err)) => Err(classify(url, err)),
    }
}

fn classify(url: &str, err: tokio_tungstenite::tungstenite::Error) -> Error {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match err {
        WsError::Http(response) if response.status() == StatusCode::UNAUTHORIZED => {
            Error::Unauthorized(format!("{url} refused the token (HTTP 401): check --token"))
        }
        WsError::Http(response) => Error::Unreachable(format!(
            "{url} answered HTTP {} instead of a websocket: is it a gapmap relay or automerge-repo server?",
            response.status()
        )),
        WsError::Io(io) => Error::Unreachable(format!("{url}: {io}")),
        WsError::Url(e) => Error::BadUrl(format!("{url}: {e}")),
        other => Error::Unreachable(format!("{url}: {other}")),
    }
}

/// Exponential backoff with full jitter, capped: the delays before each
/// reconnect attempt. Randomness comes from the caller, so tests are exact.
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
}

impl Backoff {
    /// Starts at `base`, doubling up to `cap`.
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff {
            base,
            cap,
            attempt: 0,
        }
    }

    /// The delay before the next attempt; `unit` is a random number in [0, 1).
    pub fn next_delay(&mut self, unit: f64) -> Duration {
        let exp = self.base.saturating_mul(1u32 << self.attempt.min(20));
        self.attempt = self.attempt.saturating_add(1);
        let ceiling = exp.min(self.cap);
        // Full jitter, but never less than half the ceiling: reconnect storms
        // spread out while a lone client still waits a sensible while.
        ceiling.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
    }

    /// After a connection that worked: start again from `base`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        assert_eq!(b.next_delay(1.0), Duration::from_millis(100));
        assert_eq!(b.next_delay(0.0), Duration::from_millis(100));
        assert_eq!(b.next_delay(1.0), Duration::from_millis(400));
        for _ in 0..30 {
            assert!(b.next_delay(1.0) <= Duration::from_secs(2));
        }
        b.reset();
        assert_eq!(b.next_delay(0.0), Duration::from_millis(50));
    }

    #[tokio::test]
    async fn dial_errors_are_plain() {
        let config = WebSocketConfig::default();
        let bad = dial("http://x", None, config, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(matches!(bad, Error::BadUrl(_)), "{bad}");
        // Port 9 on loopback: nobody listens.
        let down = dial("ws://127.0.0.1:9", None, config, Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(matches!(down, Error::Unreachable(_)), "{down}");
    }
}
