//! `POST /share_data` and `POST /share_envelope`: a new share, from JSON or from a raw
//! body streamed through encryption to storage; and what the parties do to a share
//! afterwards (`/shares/{id}/revoke`, `/shares/{id}/expiry`, `/shares/{id}/pay`).

use crate::api::extract::{AppJson, AppQuery, DRAIN_ON_REFUSAL};
use crate::api::params::{
    parse_amount, parse_data_hash, parse_expiry, parse_recipient, parse_share_id,
    wants_octet_stream,
};
use crate::api::responses::{
    BadRequest, Conflict, Forbidden, HeadersTooLarge, NotFound, PayloadTooLarge, Unauthorized,
    Unavailable, UriTooLong,
};
use crate::auth::{Caller, Role};
use crate::error::{bad, ApiError};
use crate::index::ChainRecord;
use crate::share::create;
use crate::share::create::{ShareTerms, Shared};
use crate::share::lifecycle;
use crate::share::upload::limited_body;
use crate::state::AppState;
use crate::time::now_ms;
use datamgmt_client::api::{
    ChangeResponse, Compliance, EncryptionInfo, ExpiryRequest, NumberOrText, ShareDataRequest,
    ShareDataResponse, StreamShareParams,
};

use axum::extract::Path;
use axum::routing::put;
use axum::{
    extract::{FromRequest, FromRequestParts, Request, State},
    http::header,
    routing::post,
    Router,
};
use datamgmt_abi::{ShareId, Timestamp};
use tokio::io::{AsyncRead, AsyncReadExt};

/// The sharing routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/share_data", post(share_data))
        .route("/share_envelope", post(share_envelope_route))
        .merge(lifecycle_router())
}

/// The terms of `request`, checked against the current time `now_ms`.
pub fn terms(request: &ShareDataRequest, now_ms: Timestamp) -> Result<ShareTerms, ApiError> {
    if !request.encrypt {
        return Err(bad("`encrypt` must be true: this relay stores only encrypted data"));
    }
    let price = match &request.price {
        None => 0,
        Some(value) => parse_amount(value)?,
    };
    if request.require_payment && price == 0 {
        return Err(bad("`require_payment` needs a `price` above 0"));
    }
    if !request.require_payment && price != 0 {
        return Err(bad("a `price` needs `require_payment: true`"));
    }
    let expires_at = match &request.expires_at {
        None => None,
        Some(value) => Some(parse_expiry(value)?),
    };
    if expires_at.is_some_and(|at| at <= now_ms) {
        return Err(bad("`expires_at` is in the past"));
    }
    Ok(ShareTerms { recipient: parse_recipient(&request.recipient)?, price, expires_at })
}

/// The terms of a raw-body share, from its query parameters.
fn stream_terms(params: StreamShareParams) -> Result<ShareTerms, ApiError> {
    let request = ShareDataRequest {
        data: String::new(),
        recipient: params.recipient,
        encrypt: true,
        require_payment: params.require_payment,
        price: params.price.map(NumberOrText::Text),
        expires_at: params.expires_at.map(NumberOrText::Text),
    };
    terms(&request, now_ms())
}

#[utoipa::path(
    post,
    path = "/share_data",
    tag = "shares",
    request_body(content((ShareDataRequest = "application/json"), (Vec<u8> = "application/octet-stream")), description = "JSON with the data as text, or the raw bytes with the terms as query parameters (see `StreamShareParams`)"),
    params(StreamShareParams),
    responses(
        (status = 200, body = ShareDataResponse, description = "Shared: stored, indexed and recorded on chain"),
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        UriTooLong,
        HeadersTooLarge,
        Unavailable,
    ),
    security(("bearer" = []))
)]
async fn share_data(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<AppJson<ShareDataResponse>, ApiError> {
    caller.require(Role::User)?;
    if !wants_octet_stream(request.headers(), header::CONTENT_TYPE) {
        let AppJson(request) = AppJson::<ShareDataRequest>::from_request(request, &state).await?;
        let checked = terms(&request, now_ms())?;
        let made = create::share(&state, &checked, request.data.as_bytes()).await?;
        return Ok(AppJson(shared(made)));
    }
    // Streaming: the body goes through encryption to storage without being held.
    let (mut parts, body) = request.into_parts();
    let mut body = limited_body(body, state.limits().max_object_bytes);
    let made = async {
        let AppQuery(params) =
            AppQuery::<StreamShareParams>::from_request_parts(&mut parts, &state).await?;
        if params.data_hash.is_some() {
            return Err(bad(
                "`data_hash` is for POST /share_envelope; this relay hashes what it encrypts",
            ));
        }
        create::share(&state, &stream_terms(params)?, &mut body).await
    }
    .await;
    Ok(AppJson(shared(drain_on_refusal(made, body).await?)))
}

/// `POST /share_envelope`: an envelope the sharer encrypted itself (end-to-end mode).
#[utoipa::path(
    post,
    path = "/share_envelope",
    tag = "shares",
    request_body(content((Vec<u8> = "application/octet-stream")), description = "An envelope the sharer made (end-to-end mode)"),
    params(StreamShareParams),
    responses(
        (status = 200, body = ShareDataResponse, description = "Shared: stored, indexed and recorded on chain"),
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        UriTooLong,
        HeadersTooLarge,
        Unavailable,
    ),
    security(("bearer" = []))
)]
async fn share_envelope_route(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<AppJson<ShareDataResponse>, ApiError> {
    caller.require(Role::User)?;
    if !wants_octet_stream(request.headers(), header::CONTENT_TYPE) {
        return Err(bad("send the envelope as application/octet-stream"));
    }
    let (mut parts, body) = request.into_parts();
    let mut body = limited_body(body, state.limits().max_object_bytes);
    let made = async {
        let AppQuery(mut params) =
            AppQuery::<StreamShareParams>::from_request_parts(&mut parts, &state).await?;
        let data_hash = parse_data_hash(&params.data_hash.take().ok_or_else(|| {
            bad("`data_hash` (the sharer's sha256: of the plaintext) is required")
        })?)?;
        create::share_envelope(&state, &stream_terms(params)?, data_hash, &mut body).await
    }
    .await;
    Ok(AppJson(shared(drain_on_refusal(made, body).await?)))
}

/// After a refused raw-body share, reads what is left of the body (up to
/// [`DRAIN_ON_REFUSAL`] bytes; not after an oversized upload or a server fault) so the
/// client gets the refusal.
async fn drain_on_refusal<T>(
    outcome: Result<T, ApiError>,
    body: impl AsyncRead + Unpin,
) -> Result<T, ApiError> {
    if let Err(
        ApiError::BadRequest(_)
        | ApiError::Unavailable { .. }
        | ApiError::Forbidden
        | ApiError::AccessDenied(_)
        | ApiError::Conflict(_)
        | ApiError::NotFound(_),
    ) = &outcome
    {
        let _ = tokio::io::copy(&mut body.take(DRAIN_ON_REFUSAL), &mut tokio::io::sink()).await;
    }
    outcome
}

/// The owner's routes.
fn lifecycle_router() -> Router<AppState> {
    Router::new()
        .route("/shares/{share_id}/revoke", post(revoke))
        .route("/shares/{share_id}/expiry", put(set_expiry))
        .route("/shares/{share_id}/pay", post(pay))
}

#[utoipa::path(
    post,
    path = "/shares/{share_id}/revoke",
    tag = "shares",
    params(("share_id" = String, Path, description = "`share_…`")),
    responses(
        (status = 200, body = ChangeResponse, description = "Revoked on chain"),
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        UriTooLong,
        HeadersTooLarge,
        Unavailable,
    ),
    security(("bearer" = []))
)]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(share_id): Path<String>,
) -> Result<AppJson<ChangeResponse>, ApiError> {
    caller.require(Role::User)?;
    let share_id = parse_share_id(&share_id)?;
    let record = lifecycle::revoke(&state, share_id).await?;
    Ok(AppJson(changed(share_id, "revoked", record)))
}

#[utoipa::path(
    put,
    path = "/shares/{share_id}/expiry",
    tag = "shares",
    request_body = ExpiryRequest,
    params(("share_id" = String, Path, description = "`share_…`")),
    responses(
        (status = 200, body = ChangeResponse, description = "Expiry changed on chain"),
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        UriTooLong,
        HeadersTooLarge,
        Unavailable,
    ),
    security(("bearer" = []))
)]
async fn set_expiry(
    State(state): State<AppState>,
    caller: Caller,
    Path(share_id): Path<String>,
    AppJson(request): AppJson<ExpiryRequest>,
) -> Result<AppJson<ChangeResponse>, ApiError> {
    caller.require(Role::User)?;
    let share_id = parse_share_id(&share_id)?;
    let expires_at = request.expires_at.as_ref().map(parse_expiry).transpose()?;
    let record = lifecycle::set_expiry(&state, share_id, expires_at).await?;
    Ok(AppJson(changed(share_id, "expiry_changed", record)))
}

/// The recipient pays the share's price for one access.
#[utoipa::path(
    post,
    path = "/shares/{share_id}/pay",
    tag = "shares",
    params(("share_id" = String, Path, description = "`share_…`")),
    responses(
        (status = 200, body = ChangeResponse, description = "Paid, in a finalized block"),
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        UriTooLong,
        HeadersTooLarge,
        Unavailable,
    ),
    security(("bearer" = []))
)]
async fn pay(
    State(state): State<AppState>,
    caller: Caller,
    Path(share_id): Path<String>,
) -> Result<AppJson<ChangeResponse>, ApiError> {
    caller.require(Role::User)?;
    let share_id = parse_share_id(&share_id)?;
    let record = lifecycle::pay(&state, share_id).await?;
    Ok(AppJson(changed(share_id, "paid", record)))
}

fn changed(share_id: ShareId, status: &str, record: ChainRecord) -> ChangeResponse {
    ChangeResponse { share_id, status: status.to_owned(), compliance: compliance(record) }
}

fn compliance(record: ChainRecord) -> Compliance {
    Compliance {
        tx_hash: record.tx_hash,
        block_number: record.block_number,
        block_hash: record.block_hash,
        recorded: true,
    }
}

fn shared(Shared { row, record }: Shared) -> ShareDataResponse {
    ShareDataResponse {
        status: "shared".to_owned(),
        data_hash: row.data_hash,
        share_id: row.share_id,
        encryption: EncryptionInfo { algorithm: "fernet".to_owned(), key_version: row.key_version },
        compliance: compliance(record),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::create::Recipient;

    fn request(json: serde_json::Value) -> ShareDataRequest {
        serde_json::from_value(json).unwrap()
    }

    const NOW: Timestamp = 1_790_000_000_000;

    #[test]
    fn seed_request_parses() {
        let terms = terms(
            &request(serde_json::json!({
                "data": "Sensitive enterprise data...",
                "recipient": "node_b2c3d4e5f6a1",
                "encrypt": true,
                "require_payment": false
            })),
            NOW,
        )
        .unwrap();
        assert_eq!(terms.recipient, Recipient::Node("node_b2c3d4e5f6a1".parse().unwrap()));
        assert_eq!((terms.price, terms.expires_at), (0, None));
    }

    #[test]
    fn prices_and_expiries_in_every_accepted_form() {
        let base = |price: serde_json::Value, expires: serde_json::Value| {
            terms(
                &request(serde_json::json!({
                    "data": "x", "recipient": "node_b2c3d4e5f6a1",
                    "require_payment": true, "price": price, "expires_at": expires
                })),
                NOW,
            )
        };
        let terms =
            base("340282366920938463463374607431768211455".into(), "2030-01-01T00:00:00Z".into())
                .unwrap();
        assert_eq!(terms.price, u128::MAX);
        assert_eq!(terms.expires_at, Some(1_893_456_000_000));
        let terms = base(5.into(), 1_893_456_000u64.into()).unwrap();
        assert_eq!((terms.price, terms.expires_at), (5, Some(1_893_456_000_000)));
        let terms = base("7".into(), "1893456000".into()).unwrap();
        assert_eq!(terms.expires_at, Some(1_893_456_000_000));
        let terms = base(1.into(), "2030-01-01T02:00:00+02:00".into()).unwrap();
        assert_eq!(terms.expires_at, Some(1_893_456_000_000));
    }

    #[test]
    fn bad_terms_are_refused_with_a_reason() {
        let cases = [
            (
                serde_json::json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "encrypt": false}),
                "encrypt",
            ),
            (
                serde_json::json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "require_payment": true}),
                "price",
            ),
            (
                serde_json::json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "price": "5"}),
                "require_payment",
            ),
            (
                serde_json::json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "require_payment": true, "price": -1}),
                "non-negative",
            ),
            (
                serde_json::json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "require_payment": true, "price": "1e3"}),
                "non-negative",
            ),
            (
                serde_json::json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "require_payment": true, "price": "340282366920938463463374607431768211456"}),
                "too large",
            ),
            (
                serde_json::json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "expires_at": "2020-01-01T00:00:00Z"}),
                "past",
            ),
            (
                serde_json::json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "expires_at": "tomorrow"}),
                "RFC 3339",
            ),
            (
                serde_json::json!({"data": "x", "recipient": "node_b2c3d4e5f6a1", "expires_at": u64::MAX}),
                "too far",
            ),
            (serde_json::json!({"data": "x", "recipient": "node_XYZ"}), "node id"),
            (serde_json::json!({"data": "x", "recipient": "../../etc/passwd"}), "SS58"),
        ];
        for (json, expected) in cases {
            let error = terms(&request(json.clone()), NOW).unwrap_err();
            assert!(matches!(error, ApiError::BadRequest(_)), "{json}");
            assert!(error.to_string().contains(expected), "{json}: {error}");
        }
    }
}
