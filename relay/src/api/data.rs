//! `GET /data/{hash}`: the data back, decrypted, and only if it hashes to what was asked
//! for (see [`crate::read`]).

use crate::api::extract::AppQuery;
use crate::api::params::{parse_data_hash, parse_node, wants_octet_stream};
use crate::api::responses::{
    BadGateway, BadRequest, Conflict, Forbidden, HeadersTooLarge, NotFound, PayloadTooLarge,
    RateLimited, Unauthorized, Unavailable, UriTooLong,
};
use crate::auth::{Caller, Role};
use crate::error::ApiError;
use crate::read::candidates::read_data;
use crate::state::AppState;
use datamgmt_client::api::{DataResponse, ReadParams};

use axum::{
    extract::{Path, State},
    http::{header, HeaderMap},
    response::Response,
    routing::get,
    Router,
};

/// The reading route.
pub fn router() -> Router<AppState> {
    Router::new().route("/data/{hash}", get(get_data))
}

#[utoipa::path(
    get,
    path = "/data/{hash}",
    tag = "data",
    params(("hash" = String, Path, description = "`sha256:` and 64 hex"), ReadParams),
    responses(
        (status = 200, content((DataResponse = "application/json"), (Vec<u8> = "application/octet-stream")), description = "The data, decrypted, and only if it hashes to the hash asked for (JSON, or raw bytes with `Accept: application/octet-stream`)"),
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        UriTooLong,
        RateLimited,
        HeadersTooLarge,
        BadGateway,
        Unavailable,
    ),
    security(("bearer" = []))
)]
async fn get_data(
    State(state): State<AppState>,
    caller: Caller,
    Path(hash): Path<String>,
    AppQuery(params): AppQuery<ReadParams>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require(Role::User)?;
    let data_hash = parse_data_hash(&hash)?;
    let sender = params.sender.as_deref().map(|text| parse_node("sender", text)).transpose()?;
    let streaming = wants_octet_stream(&headers, header::ACCEPT);
    read_data(&state, data_hash, sender, streaming).await
}
