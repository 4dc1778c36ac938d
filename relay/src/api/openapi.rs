//! The OpenAPI 3.1 description of the REST API, generated from the handlers'
//! `#[utoipa::path]` attributes and the request and response types of
//! [`datamgmt_client::api`]. `/openapi.json` serves it; `relay/openapi.json` is its
//! snapshot in the repository, which a test keeps equal to what the code generates.

use super::responses::{HeadersTooLarge, UriTooLong};
use super::{contract, data, health, keys, listing, metrics, nodes, p2p, releases, shares, verify};
use datamgmt_client::api::{ErrorBody, ErrorCode, ErrorDetail};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The API's description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "DataMgmt Node relay",
        description = "Share data between organisations under an on-chain access contract. \
            Every error answers `{\"error\": {\"code\", \"message\"}}` (`ErrorBody`); a 503 and \
            a 429 carry `Retry-After`.",
        license(name = "Apache-2.0")
    ),
    paths(
        shares::share_data,
        shares::share_envelope_route,
        shares::revoke,
        shares::set_expiry,
        shares::pay,
        data::get_data,
        listing::list,
        nodes::nodes,
        verify::verify,
        p2p::serve_envelope,
        keys::status,
        keys::rotate,
        keys::rewrap,
        releases::outbox,
        releases::acknowledge,
        health::healthz,
        health::readyz,
        contract::contract,
        metrics::serve,
        serve,
    ),
    components(schemas(ErrorBody, ErrorDetail, ErrorCode)),
    modifiers(&Security),
    tags(
        (name = "shares", description = "Sharing data and what the parties do afterwards"),
        (name = "data", description = "Reading data back and listing shares"),
        (name = "audit", description = "The on-chain proof"),
        (name = "p2p", description = "Node to node, signed with the node's chain account"),
        (name = "admin", description = "Keys and the release outbox (admin token)"),
        (name = "contract", description = "The contract, for dApps that call it themselves"),
        (name = "health", description = "Liveness, readiness, metrics and this description"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "p2p_signature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-dmn-signature",
                "sr25519 signature of the node's chain account over method, path, body hash, \
                 time and nonce (with x-dmn-account, x-dmn-timestamp, x-dmn-nonce)",
            ))),
        );
    }
}

/// The description as pretty JSON, with a final newline (as the snapshot is stored).
pub fn document() -> String {
    let mut json = ApiDoc::openapi().to_pretty_json().expect("the description serializes");
    json.push('\n');
    json
}

/// `/openapi.json`: [`document`], made once.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "health",
    responses(
        (status = 200, content_type = "application/json", description = "This description"),
        UriTooLong,
        HeadersTooLarge,
    ),
    security(())
)]
pub async fn serve() -> impl axum::response::IntoResponse {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let document = DOCUMENT.get_or_init(document).as_str();
    ([(axum::http::header::CONTENT_TYPE, "application/json")], document)
}
