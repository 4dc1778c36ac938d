//! The API's error body, `{"error": {"code", "message"}}`, sent with every 4xx and 5xx
//! status (but for the few a proxy or the HTTP server itself answers without one).

use serde::{Deserialize, Serialize};

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Error))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong, for programs (`code`) and for people (`message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// The stable machine-readable code.
    pub code: ErrorCode,
    /// What to fix (4xx), or a generic description (5xx: the cause is logged instead).
    pub message: String,
}

/// Every code the relay sends, with the status it comes with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the request is malformed or a field is invalid.
    BadRequest,
    /// 401: no valid bearer token.
    Unauthorized,
    /// 403: the token's role may not do this.
    Forbidden,
    /// 401: a node-to-node request's signature, freshness or nonce was refused.
    BadSignature,
    /// 403: the contract does not allow this access; the message says why.
    AccessDenied,
    /// 404: nothing by that name.
    NotFound,
    /// 405: the route does not take this method.
    MethodNotAllowed,
    /// 409: the request conflicts with the current state (already revoked…).
    Conflict,
    /// 413: the body, or the data asked for, is larger than the limit.
    PayloadTooLarge,
    /// 414: the request URI is longer than the relay reads.
    UriTooLong,
    /// 431: the request's headers are more than the relay reads.
    HeadersTooLarge,
    /// 429: too many requests of this kind from this caller (`Retry-After` says when to
    /// try again).
    RateLimited,
    /// 502: another node answered, but not with something usable.
    BadGateway,
    /// 503: a dependency (chain, object store, database, the relay's own capacity) is
    /// unavailable; retry later (`Retry-After`).
    Unavailable,
    /// 503: key releases are paused until their chain records keep up again.
    ReleasesPaused,
    /// 500: a bug in the relay.
    Internal,
}

impl ErrorCode {
    /// Every code, in the order of the OpenAPI description.
    pub const ALL: [ErrorCode; 16] = [
        Self::BadRequest,
        Self::Unauthorized,
        Self::Forbidden,
        Self::BadSignature,
        Self::AccessDenied,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::Conflict,
        Self::PayloadTooLarge,
        Self::UriTooLong,
        Self::HeadersTooLarge,
        Self::RateLimited,
        Self::BadGateway,
        Self::Unavailable,
        Self::ReleasesPaused,
        Self::Internal,
    ];

    /// The code as it is written on the wire (`bad_request`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::BadSignature => "bad_signature",
            Self::AccessDenied => "access_denied",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UriTooLong => "uri_too_long",
            Self::HeadersTooLarge => "headers_too_large",
            Self::RateLimited => "rate_limited",
            Self::BadGateway => "bad_gateway",
            Self::Unavailable => "unavailable",
            Self::ReleasesPaused => "releases_paused",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status the relay sends this code with.
    pub fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized | Self::BadSignature => 401,
            Self::Forbidden | Self::AccessDenied => 403,
            Self::NotFound => 404,
            Self::MethodNotAllowed => 405,
            Self::Conflict => 409,
            Self::PayloadTooLarge => 413,
            Self::UriTooLong => 414,
            Self::HeadersTooLarge => 431,
            Self::RateLimited => 429,
            Self::Internal => 500,
            Self::BadGateway => 502,
            Self::Unavailable | Self::ReleasesPaused => 503,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_written_as_the_relay_writes_them() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, code.as_str());
            assert_eq!(serde_json::from_value::<ErrorCode>(json).unwrap(), code);
        }
        let body: ErrorBody = serde_json::from_str(
            r#"{"error":{"code":"rate_limited","message":"too many reads; retry in 3 s"}}"#,
        )
        .unwrap();
        assert_eq!(body.error.code, ErrorCode::RateLimited);
        assert_eq!(body.error.code.status(), 429);
        assert!(
            serde_json::from_str::<ErrorBody>(r#"{"error":{"code":"nope","message":""}}"#).is_err()
        );
    }
}
