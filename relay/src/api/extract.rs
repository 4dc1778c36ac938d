//! Extractors with the API's error shape: JSON bodies within the configured limit, and
//! query strings.

use crate::error::ApiError;
use axum::{
    extract::{
        rejection::{JsonRejection, QueryRejection},
        FromRequest, FromRequestParts, Query, Request,
    },
    http::header,
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

/// `Json<T>` whose rejections (bad syntax, wrong types, missing fields, wrong content
/// type, too large) come back in the API's error shape. Written out rather than derived
/// (`#[from_request(via(Json))]`, as [`AppQuery`] is) because of what `Json` does not
/// do: take its limit from the router, refuse a body that is not an object, and drain
/// an oversized body before answering. A body over the limit
/// ([`JsonBodyLimit`], set by the router) is read to its end, up to
/// [`DRAIN_ON_REFUSAL`] bytes, before the 413 goes out: a client still sending when the
/// server answers and closes would see a broken connection instead of the answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

/// The largest JSON body the router takes (a request extension).
#[derive(Debug, Clone, Copy)]
pub struct JsonBodyLimit(pub usize);

/// Bytes of a refused upload read and dropped before the refusal is sent, so the client
/// reads the answer rather than a reset connection.
pub const DRAIN_ON_REFUSAL: u64 = 64 << 20;

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        use futures::StreamExt as _;
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
            .is_some_and(|essence| essence == "application/json" || essence.ends_with("+json"));
        if !json {
            return Err(ApiError::BadRequest(
                "expected a request with `Content-Type: application/json`".into(),
            ));
        }
        let limit = request.extensions().get::<JsonBodyLimit>().map_or(2 << 20, |l| l.0);
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|len| len > limit as u64 + DRAIN_ON_REFUSAL) {
            // Too much to read just to refuse it: answer and let the connection go.
            return Err(ApiError::PayloadTooLarge);
        }
        let mut body = request.into_body().into_data_stream();
        let mut bytes = Vec::new();
        let mut over = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|error| {
                ApiError::BadRequest(format!("the request body could not be read: {error}"))
            })?;
            if over > 0 || bytes.len() + chunk.len() > limit {
                bytes = Vec::new();
                over += chunk.len() as u64;
                if over > DRAIN_ON_REFUSAL {
                    break;
                }
                continue;
            }
            bytes.extend_from_slice(&chunk);
        }
        if over > 0 {
            return Err(ApiError::PayloadTooLarge);
        }
        // Every request body of this API is an object; serde would also read a struct
        // from an array of its fields, which no client means.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::BadRequest("the request body must be a JSON object".into()));
        }
        Json::<T>::from_bytes(&bytes)
            .map(|Json(value)| Self(value))
            .map_err(|rejection: JsonRejection| ApiError::BadRequest(rejection.body_text()))
    }
}

impl<T: Serialize> IntoResponse for AppJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// `Query<T>` whose rejections come back in the API's error shape.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(Query), rejection(ApiError))]
pub struct AppQuery<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}
