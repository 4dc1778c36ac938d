//! The error answers of the routes, for the OpenAPI description: one type per status
//! (and meaning), each with the API's error body. A route lists its own in
//! `#[utoipa::path(responses(…))]`, so the description says exactly which it can give.

use datamgmt_client::api::ErrorBody;
use utoipa::IntoResponses;

/// 400: `bad_request`: a malformed request or an invalid field.
#[derive(IntoResponses)]
#[response(status = 400, description = "`bad_request`: a malformed request or an invalid field")]
pub struct BadRequest(pub ErrorBody);

/// 401: `bad_signature`: the signature, its freshness or its nonce is refused.
#[derive(IntoResponses)]
#[response(
    status = 401,
    description = "`bad_signature`: the signature, its freshness or its nonce is refused"
)]
pub struct BadSignature(pub ErrorBody);

/// 401: `unauthorized`: no valid bearer token.
#[derive(IntoResponses)]
#[response(status = 401, description = "`unauthorized`: no valid bearer token")]
pub struct Unauthorized(pub ErrorBody);

/// 403: `forbidden`: the token's role may not do this.
#[derive(IntoResponses)]
#[response(status = 403, description = "`forbidden`: the token's role may not do this")]
pub struct AdminOnly(pub ErrorBody);

/// 403: `forbidden` (the token's role) or `access_denied` (the contract refuses, with why).
#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "`forbidden` (the token's role) or `access_denied` (the contract refuses, with why)"
)]
pub struct Forbidden(pub ErrorBody);

/// 404: `not_found`.
#[derive(IntoResponses)]
#[response(status = 404, description = "`not_found`")]
pub struct NotFound(pub ErrorBody);

/// 409: `conflict`: the state does not allow it (already revoked, payment not final…).
#[derive(IntoResponses)]
#[response(
    status = 409,
    description = "`conflict`: the state does not allow it (already revoked, payment not final…)"
)]
pub struct Conflict(pub ErrorBody);

/// 413: `payload_too_large`: the body or the data is over the limit.
#[derive(IntoResponses)]
#[response(
    status = 413,
    description = "`payload_too_large`: the body or the data is over the limit"
)]
pub struct PayloadTooLarge(pub ErrorBody);

/// 414: `uri_too_long`.
#[derive(IntoResponses)]
#[response(status = 414, description = "`uri_too_long`")]
pub struct UriTooLong(pub ErrorBody);

/// 429: `rate_limited`: too many of these from this caller (`Retry-After`).
#[derive(IntoResponses)]
#[response(
    status = 429,
    description = "`rate_limited`: too many of these from this caller (`Retry-After`)"
)]
pub struct RateLimited(pub ErrorBody);

/// 431: `headers_too_large`.
#[derive(IntoResponses)]
#[response(status = 431, description = "`headers_too_large`")]
pub struct HeadersTooLarge(pub ErrorBody);

/// 502: `bad_gateway`: the sharing node answered with nothing usable, or data that does not hash to what was asked.
#[derive(IntoResponses)]
#[response(
    status = 502,
    description = "`bad_gateway`: the sharing node answered with nothing usable, or data that does not hash to what was asked"
)]
pub struct BadGateway(pub ErrorBody);

/// 503: `unavailable` (chain, storage, index or capacity; `Retry-After`) or `releases_paused`.
#[derive(IntoResponses)]
#[response(
    status = 503,
    description = "`unavailable` (chain, storage, index or capacity; `Retry-After`) or `releases_paused`"
)]
pub struct Unavailable(pub ErrorBody);
