//! The API's one error type and its JSON shape, `{"error": {"code", "message"}}`.
//!
//! Client mistakes are 4xx with a message that says what to fix. A 5xx is our bug or a
//! dependency that is down (503, with `Retry-After`); its body stays generic and the cause
//! is logged inside the request's span instead.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use datamgmt_client::chain::ChainError;
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

/// The HTTP answer to a contract refusal.
pub(crate) fn contract_refusal(refusal: datamgmt_abi::Error) -> ApiError {
    use datamgmt_abi::Error;
    match refusal {
        Error::NodeNotRegistered => ApiError::Unavailable {
            dependency: "this node's registration",
            cause: refusal.to_string(),
        },
        Error::AccessDenied(_) | Error::NotOwner | Error::NotAdmin => {
            ApiError::AccessDenied(format!("the contract refused: {refusal}"))
        }
        Error::AlreadyRevoked | Error::ShareExists | Error::AlreadyPaid | Error::NotPriced => {
            ApiError::Conflict(format!("the contract refused: {refusal}"))
        }
        other => ApiError::BadRequest(format!("the contract refused: {other}")),
    }
}

pub(crate) fn chain_unavailable(error: ChainError) -> ApiError {
    ApiError::Unavailable { dependency: "the chain", cause: error.to_string() }
}

pub(crate) fn storage_unavailable(error: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable { dependency: "object storage", cause: error.to_string() }
}

pub(crate) fn internal(error: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(error.to_string())
}

/// A 400 saying what is wrong with the request.
pub(crate) fn bad(message: &str) -> ApiError {
    ApiError::BadRequest(message.to_owned())
}
