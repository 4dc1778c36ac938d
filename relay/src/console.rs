//! The web console and the dApp page, served from their build folder (`[console] dir`,
//! what `web/`'s `vite build` writes) at `/` and `/dapp.html`, with their assets under
//! `/assets/` (gzip-compressed for browsers that accept it). Every page carries a strict Content-Security-Policy: scripts, styles and
//! API calls from this origin only; the dApp page may also open a WebSocket to the
//! chain node the relay publishes and run the WebAssembly its signing code needs.
//! Nothing is inlined by the build, so nothing needs `'unsafe-inline'`.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{routing::get, Router};
use std::path::PathBuf;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// What the console pages are served from and what they may connect to.
#[derive(Debug, Clone)]
pub struct Console {
    /// The build folder: `index.html`, `dapp.html`, `assets/`.
    pub dir: PathBuf,
    /// The chain node's WebSocket URL the dApp page may open (`[chain] public_node_url`).
    pub node_url: Option<String>,
}

/// The directives every page shares.
const BASE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; font-src 'self'; manifest-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

impl Console {
    /// The policy of the console: this origin only.
    pub fn console_policy(&self) -> String {
        format!("{BASE_POLICY}; connect-src 'self'")
    }

    /// The policy of the dApp page: also the chain node's WebSocket, and WebAssembly.
    pub fn dapp_policy(&self) -> String {
        let node = self.node_url.as_deref().map(websocket_origin).unwrap_or_default();
        format!("{BASE_POLICY}; connect-src 'self'{node}")
            .replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'")
    }

    /// The routes: `/`, `/dapp.html` and `/assets/…`.
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let page = |file: &str, policy: String| {
            let path = self.dir.join(file);
            let policy = HeaderValue::from_str(&policy).expect("the policy is ASCII");
            get(move || serve_page(path.clone(), policy.clone()))
        };
        let assets = Router::new()
            .nest_service("/assets", ServeDir::new(self.dir.join("assets")))
            .layer(CompressionLayer::new())
            // Asset names carry their content's hash: a found one never changes. A
            // missing one is not cached (the next build may have it).
            .layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                |response: &Response<_>| {
                    Some(HeaderValue::from_static(if response.status().is_success() {
                        "public, max-age=31536000, immutable"
                    } else {
                        "no-store"
                    }))
                },
            ));
        Router::new()
            .route("/", page("index.html", self.console_policy()))
            .route("/dapp.html", page("dapp.html", self.dapp_policy()))
            .merge(assets)
            .layer(SetResponseHeaderLayer::overriding(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(SetResponseHeaderLayer::overriding(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ))
    }
}

/// ` ws://host:port` for a node URL (the origin part), or nothing for one that is not
/// a WebSocket URL (the configuration check refuses those).
fn websocket_origin(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(url) if matches!(url.scheme(), "ws" | "wss") => {
            format!(" {}", url.origin().ascii_serialization())
        }
        _ => String::new(),
    }
}

/// One HTML page, never cached (it names the hashed assets of the current build).
async fn serve_page(path: PathBuf, policy: HeaderValue) -> Response {
    match tokio::fs::read(&path).await {
        Ok(html) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")),
                (header::CONTENT_SECURITY_POLICY, policy),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                (HeaderName::from_static("x-frame-options"), HeaderValue::from_static("DENY")),
            ],
            html,
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, path = %path.display(), "cannot read a console page");
            (StatusCode::SERVICE_UNAVAILABLE, "the web console's files are missing").into_response()
        }
    }
}
