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
    /// 409: the request conflicts with the current state (already revoked…).
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than the limit.
    #[error("the request body is too large")]
    PayloadTooLarge,
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
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
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
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Unavailable { .. } => "unavailable",
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
            Self::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::Unavailable { .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
            }
            _ => {}
        }
        response
    }
}

/// `Json<T>` whose rejections (bad syntax, wrong types, missing fields, wrong content
/// type, too large) come back in the API's error shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(JsonRejection::BytesRejection(rejection))
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(ApiError::PayloadTooLarge)
            }
            Err(rejection) => Err(ApiError::BadRequest(rejection.body_text())),
        }
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
