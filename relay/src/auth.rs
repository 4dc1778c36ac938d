//! Bearer-token authentication for REST callers.
//!
//! The relay's configuration holds only the SHA-256 of each token, with a name and a
//! role. A presented token is hashed and compared with every configured hash in
//! constant time, so neither the comparison nor the position of a match leaks through
//! timing.

use crate::error::ApiError;
use axum::{extract::FromRequestParts, http::request::Parts};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Share, read, list, verify, revoke its node's data.
    User,
    /// Everything a user may, plus key rotation and re-wrapping.
    Admin,
}

/// A configured token: its name (for logs), the hex SHA-256 of the secret, its role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Name shown in logs, never the token.
    pub name: String,
    /// Lowercase hex SHA-256 of the token.
    pub sha256: String,
    /// What it may do.
    pub role: Role,
}

/// The tokens a relay accepts.
#[derive(Debug, Clone, Default)]
pub struct ApiTokens {
    tokens: Vec<(String, [u8; 32], Role)>,
}

/// Why a token list could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("token `{name}`: sha256 must be 64 lowercase hex characters")]
pub struct BadTokenHash {
    name: String,
}

impl ApiTokens {
    /// Loads configured tokens.
    pub fn new(configs: &[TokenConfig]) -> Result<Self, BadTokenHash> {
        let mut tokens = Vec::with_capacity(configs.len());
        for config in configs {
            let bad = || BadTokenHash { name: config.name.clone() };
            if config.sha256.len() != 64 || config.sha256.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(bad());
            }
            let mut hash = [0u8; 32];
            hex::decode_to_slice(&config.sha256, &mut hash).map_err(|_| bad())?;
            tokens.push((config.name.clone(), hash, config.role));
        }
        Ok(Self { tokens })
    }

    /// The hex SHA-256 to put in the configuration for `token`.
    pub fn hash_token(token: &str) -> String {
        hex::encode(Sha256::digest(token.as_bytes()))
    }

    /// The caller a presented token belongs to, if any.
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (name, hash, role) in &self.tokens {
            if bool::from(hash.ct_eq(&presented)) {
                found = Some(Caller { name: name.clone(), role: *role });
            }
        }
        found
    }
}

/// An authenticated REST caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's configured name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

impl Caller {
    /// Refuses (403) unless the caller has at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

/// Gives handlers access to the token list.
pub trait HasTokens {
    /// The accepted tokens.
    fn tokens(&self) -> &ApiTokens;
}

impl<S: HasTokens + Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .ok_or(ApiError::Unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let caller = state.tokens().authenticate(token).ok_or(ApiError::Unauthorized)?;
        tracing::Span::current().record("caller", caller.name.as_str());
        Ok(caller)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> ApiTokens {
        ApiTokens::new(&[
            TokenConfig {
                name: "app".into(),
                sha256: ApiTokens::hash_token("user-secret"),
                role: Role::User,
            },
            TokenConfig {
                name: "ops".into(),
                sha256: ApiTokens::hash_token("admin-secret"),
                role: Role::Admin,
            },
        ])
        .unwrap()
    }

    #[test]
    fn tokens_map_to_their_callers() {
        let tokens = tokens();
        assert_eq!(tokens.authenticate("user-secret").unwrap().role, Role::User);
        assert_eq!(tokens.authenticate("admin-secret").unwrap().name, "ops");
        assert!(tokens.authenticate("nope").is_none());
        assert!(tokens.authenticate("").is_none());
    }

    #[test]
    fn roles_are_ordered() {
        let user = Caller { name: "app".into(), role: Role::User };
        assert!(user.require(Role::User).is_ok());
        assert!(matches!(user.require(Role::Admin), Err(ApiError::Forbidden)));
        let admin = Caller { name: "ops".into(), role: Role::Admin };
        assert!(admin.require(Role::User).is_ok());
    }

    #[test]
    fn malformed_hashes_are_refused() {
        for sha256 in ["abc", &"A".repeat(64), &"zz".repeat(32)] {
            let config =
                TokenConfig { name: "x".into(), sha256: sha256.to_string(), role: Role::User };
            assert!(ApiTokens::new(&[config]).is_err(), "{sha256}");
        }
    }
}
