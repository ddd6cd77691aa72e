//! The HTTP face of a repo: the websocket endpoint (`/` and any path the
//! application does not route, as automerge-repo clients connect to the
//! server's root), `/healthz` and `/metrics`. The relay, `gapmap serve` and
//! `gapmap ui` mount these and add their own routes.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use gapmap_proto::{Access, Credential};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::metrics::Refusal;
use crate::server::{self, bearer_token, is_upgrade, plain};
use crate::Repo;

/// Decides what a connection may do from its bearer token (`None`: no
/// token given). `None` refuses the upgrade with HTTP 401.
pub trait Authorizer: Send + Sync + 'static {
    /// The access of a token, now.
    fn authorize(&self, token: Option<&str>) -> Option<Access>;

    /// What a token makes its holder, for taking over a peer id (see
    /// [`Credential`]): by default a fingerprint of the token, so only the
    /// same token replaces a connection. An authorizer that lets anyone in
    /// answers [`Credential::OPEN`] for everyone.
    fn credential(&self, token: Option<&str>) -> Credential {
        token_fingerprint(token)
    }
}

/// A SHA-256 fingerprint of a token (no token: [`Credential::OPEN`]); the
/// token itself never leaves the HTTP layer.
pub fn token_fingerprint(token: Option<&str>) -> Credential {
    match token {
        None => Credential::OPEN,
        Some(token) => {
            let mut hash = Sha256::new();
            hash.update(b"gapmap token fingerprint\0");
            hash.update(token.as_bytes());
            Credential::from_fingerprint(hash.finalize().into())
        }
    }
}

/// Everyone may read and write everything (`--open`).
pub struct Open;

impl Authorizer for Open {
    fn authorize(&self, _token: Option<&str>) -> Option<Access> {
        Some(Access::full())
    }

    /// Any token is as good as none here: every peer is equal.
    fn credential(&self, _token: Option<&str>) -> Credential {
        Credential::OPEN
    }
}

/// One shared secret gives full access (`gapmap serve --token T`).
pub struct SharedSecret(pub String);

impl Authorizer for SharedSecret {
    fn authorize(&self, token: Option<&str>) -> Option<Access> {
        // Constant time, so timing does not tell how much of a guess was right.
        bool::from(token?.as_bytes().ct_eq(self.0.as_bytes())).then(Access::full)
    }
}

#[derive(Clone)]
struct AppState {
    repo: Repo,
    auth: Arc<dyn Authorizer>,
}

/// The sync endpoint plus `/healthz` and `/metrics`, in front of the
/// application's own routes (`app`, if any).
///
/// A websocket upgrade on `/`, or on a path `app` does not route, is a sync
/// connection; an upgrade on a path `app` routes goes to `app` (the web
/// board's own socket). Plain requests go to `app`, else get a 404. `app`
/// must not set a fallback: unrouted requests come back here.
pub fn sync_routes(repo: Repo, auth: Arc<dyn Authorizer>, app: Option<Router>) -> Router {
    let state = AppState { repo, auth };
    let unrouted = {
        let state = state.clone();
        move |req: Request| {
            let state = state.clone();
            async move {
                if is_upgrade(req.headers()) {
                    upgrade(state, req)
                } else {
                    plain(
                        StatusCode::NOT_FOUND,
                        "gapmap: not found; connect with a websocket\n",
                    )
                }
            }
        }
    };
    let app = app.map(|app| app.fallback(unrouted.clone()));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .fallback(move |req: Request| {
            let (app, unrouted) = (app.clone(), unrouted.clone());
            async move {
                match app {
                    Some(app) if !(req.uri().path() == "/" && is_upgrade(req.headers())) => {
                        use tower::ServiceExt;
                        match app.oneshot(req).await {
                            Ok(response) => response,
                            Err(never) => match never {},
                        }
                    }
                    _ => unrouted(req).await,
                }
            }
        })
        .with_state(state)
}

async fn metrics(State(state): State<AppState>) -> Response<Body> {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; version=0.0.4")
        .body(Body::from(state.repo.metrics().render()))
        .expect("static response")
}

fn upgrade(state: AppState, req: Request) -> Response<Body> {
    let token = bearer_token(&req);
    let Some(access) = state.auth.authorize(token.as_deref()) else {
        state.repo.metrics().refused(Refusal::Unauthorized);
        tracing::info!(peer = ?req.extensions().get::<server::PeerAddr>(), "refused: no valid token");
        let mut response = plain(StatusCode::UNAUTHORIZED, "a valid token is required\n");
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            "Bearer".parse().expect("static header"),
        );
        return response;
    };
    let credential = state.auth.credential(token.as_deref());
    let repo = state.repo.clone();
    let auth = state.auth.clone();
    server::upgrade_raw(req, &repo.tracker().clone(), move |socket| async move {
        repo.serve_socket(socket, access, credential, Some((auth, token)))
            .await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_secret_accepts_only_itself() {
        let secret = SharedSecret("s3cret".into());
        assert!(secret.authorize(Some("s3cret")).is_some());
        for wrong in ["s3cre", "s3cret!", "S3cret", "", "x3cret"] {
            assert!(secret.authorize(Some(wrong)).is_none(), "{wrong}");
        }
        assert!(secret.authorize(None).is_none());
    }
}
