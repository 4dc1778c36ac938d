//! The API's one error type and its JSON shape, `{"error": {"code", "message"}}`.
//!
//! Client mistakes are 4xx with a message that says what to fix. A 5xx is our bug or a
//! dependency that is down (503, with `Retry-After`); its body stays generic and the cause
//! is logged inside the request's span instead.

use axum::{
    extract::{rejection::JsonRejection, FromRequest, FromRequestParts, Query, Request},
    http::request::Parts,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

/// Seconds a client is told to wait before retrying after a 503.
const RETRY_AFTER_SECS: &str = "5";

/// Everything an endpoint can answer instead of success.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or a field is invalid.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no valid bearer token.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// 403: the token's role may not do this.
    #[error("this token may not do that")]
    Forbidden,
    /// 401: a node-to-node request's signature, freshness or nonce was refused.
    #[error("{0}")]
    BadSignature(String),
    /// 403: the contract does not allow this access; the message says why.
    #[error("{0}")]
    AccessDenied(String),
    /// 404: nothing by that name.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route does not take this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: the request conflicts with the current state (already revoked…).
    #[error("{0}")]
    Conflict(String),
    /// 413: the body (or the data asked for) is larger than the limit.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// 413: the data asked for is larger than this way of reading it allows.
    #[error("{0}")]
    DataTooLarge(String),
    /// 414: the request URI is longer than this relay reads.
    #[error("{0}")]
    UriTooLong(String),
    /// 431: the request's headers are more than this relay reads.
    #[error("{0}")]
    HeadersTooLarge(String),
    /// 429: too many requests of this kind from this caller; retry later.
    #[error("too many {what}; retry in {} s", retry_after.as_secs().max(1))]
    TooManyRequests {
        /// What was asked for too often.
        what: String,
        /// When to ask again.
        retry_after: std::time::Duration,
    },
    /// 502: another node answered, but not with something usable.
    #[error("{0}")]
    BadGateway(String),
    /// 503: a dependency (chain, object store, database) is unavailable; retry later.
    #[error("{dependency} is unavailable; retry later")]
    Unavailable {
        /// Which dependency.
        dependency: &'static str,
        /// What failed (logged, never sent).
        cause: String,
    },
    /// 503: key releases are paused until their chain records keep up again; the
    /// message says why in general terms (`/admin/releases` has the detail).
    #[error("key releases are paused: {0}; retry later")]
    ReleasesPaused(&'static str),
    /// 500: a bug. The cause is logged, never sent.
    #[error("internal error")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::AccessDenied(_) => StatusCode::FORBIDDEN,
            Self::BadSignature(_) => StatusCode::UNAUTHORIZED,
            Self::BadGateway(_) => StatusCode::BAD_GATEWAY,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            Self::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge | Self::DataTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } | Self::ReleasesPaused(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::AccessDenied(_) => "access_denied",
            Self::BadSignature(_) => "bad_signature",
            Self::BadGateway(_) => "bad_gateway",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::UriTooLong(_) => "uri_too_long",
            Self::HeadersTooLarge(_) => "headers_too_large",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge | Self::DataTooLarge(_) => "payload_too_large",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::Unavailable { .. } => "unavailable",
            Self::ReleasesPaused(_) => "releases_paused",
            Self::Internal(_) => "internal",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Unavailable { dependency, cause } => {
                tracing::warn!(dependency, cause, "dependency unavailable")
            }
            Self::Internal(cause) => tracing::error!(cause, "internal error"),
            Self::BadGateway(cause) => tracing::warn!(cause, "another node answered badly"),
            _ => {}
        }
        let body =
            ErrorBody { error: ErrorDetail { code: self.code(), message: self.to_string() } };
        let mut response = (self.status(), Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            Self::TooManyRequests { retry_after, .. } => {
                headers.insert(header::RETRY_AFTER, retry_after.as_secs().max(1).into());
            }
            Self::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::Unavailable { .. } | Self::ReleasesPaused(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
            }
            _ => {}
        }
        response
    }
}

/// `Json<T>` whose rejections (bad syntax, wrong types, missing fields, wrong content
/// type, too large) come back in the API's error shape. A body over the limit
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
#[derive(Debug, Clone, Copy, Default)]
pub struct AppQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for AppQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
    }
}

impl From<crate::index::IndexError> for ApiError {
    fn from(error: crate::index::IndexError) -> Self {
        ApiError::Unavailable { dependency: "the index", cause: error.to_string() }
    }
}

impl From<crate::storage::StorageError> for ApiError {
    fn from(error: crate::storage::StorageError) -> Self {
        use crate::storage::StorageError;
        match error {
            StorageError::NotFound(share_id) => {
                ApiError::NotFound(format!("no stored envelope for {share_id}"))
            }
            StorageError::AlreadyExists(share_id) => {
                ApiError::Conflict(format!("an envelope is already stored for {share_id}"))
            }
            other => {
                ApiError::Unavailable { dependency: "object storage", cause: other.to_string() }
            }
        }
    }
}
