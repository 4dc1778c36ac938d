//! Paging of listings: the page size a request may ask for, and page tokens that name
//! the last item of a page (opaque to callers: base64 of its two sort keys).

use crate::error::ApiError;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use std::fmt::Display;
use std::str::FromStr;

/// The page size asked for (`limit`), from 1 to `max`, or `default` when absent.
pub fn limit(text: Option<&str>, default: u32, max: u32) -> Result<u32, ApiError> {
    match text {
        None => Ok(default),
        Some(text) => {
            text.parse::<u32>().ok().filter(|limit| (1..=max).contains(limit)).ok_or_else(|| {
                ApiError::BadRequest(format!("`limit` must be a whole number from 1 to {max}"))
            })
        }
    }
}

/// The token naming an item by its two sort keys.
pub fn encode_token(first: impl Display, second: impl Display) -> String {
    URL_SAFE_NO_PAD.encode(format!("{first}:{second}"))
}

/// The two sort keys a token names, or a 400 when it is not a token this relay issued.
pub fn decode_token<A: FromStr, B: FromStr>(token: &str) -> Result<(A, B), ApiError> {
    let invalid = || ApiError::BadRequest("`page_token` is not a token this relay issued".into());
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (first, second) = text.split_once(':').ok_or_else(invalid)?;
    Ok((first.parse().map_err(|_| invalid())?, second.parse().map_err(|_| invalid())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_garbage_is_refused() {
        let token = encode_token(1_700_000_000_123u64, 7u32);
        assert_eq!(decode_token::<u64, u32>(&token).unwrap(), (1_700_000_000_123, 7));
        for garbage in ["", "!!!", "bm9wZQ", &URL_SAFE_NO_PAD.encode("1:-2")] {
            assert!(decode_token::<u64, u32>(garbage).is_err(), "{garbage}");
        }
    }

    #[test]
    fn limits_are_bounded() {
        for text in ["0", "501", "-1", "1e3", "99999999999"] {
            assert!(limit(Some(text), 50, 500).is_err(), "{text}");
        }
        assert_eq!(limit(Some("500"), 50, 500).unwrap(), 500);
        assert_eq!(limit(None, 50, 500).unwrap(), 50);
    }
}
