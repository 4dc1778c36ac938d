//! Points in time as the API and the CLI write them: milliseconds since the Unix epoch
//! inside, RFC 3339 (UTC) or Unix seconds outside.

use datamgmt_abi::Timestamp;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

/// Why a time did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// Neither RFC 3339 nor Unix seconds.
    #[error("must be an RFC 3339 time or Unix seconds")]
    Invalid,
    /// Too far in the future for milliseconds in 64 bits.
    #[error("is too far in the future")]
    TooLate,
    /// Before 1970.
    #[error("is before 1970")]
    BeforeEpoch,
}

/// Milliseconds since the epoch of `text`: an RFC 3339 time, or Unix seconds.
pub fn parse_instant(text: &str) -> Result<Timestamp, TimeError> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let seconds: u64 = text.parse().map_err(|_| TimeError::TooLate)?;
        return seconds.checked_mul(1000).ok_or(TimeError::TooLate);
    }
    let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| TimeError::Invalid)?;
    u64::try_from(at.unix_timestamp_nanos() / 1_000_000).map_err(|_| TimeError::BeforeEpoch)
}

/// RFC 3339 (UTC) form of a millisecond timestamp.
pub fn rfc3339(ms: Timestamp) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_print_as_rfc3339() {
        assert_eq!(rfc3339(1_893_456_000_000), "2030-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_893_456_000_250), "2030-01-01T00:00:00.25Z");
    }

    #[test]
    fn instants_parse_from_either_form() {
        assert_eq!(parse_instant("1893456000"), Ok(1_893_456_000_000));
        assert_eq!(parse_instant("2030-01-01T00:00:00Z"), Ok(1_893_456_000_000));
        assert_eq!(parse_instant("2030-01-01T01:00:00+01:00"), Ok(1_893_456_000_000));
        assert_eq!(parse_instant("99999999999999999999"), Err(TimeError::TooLate));
        assert_eq!(parse_instant("18446744073709552"), Err(TimeError::TooLate));
        assert_eq!(parse_instant("1969-12-31T23:59:59Z"), Err(TimeError::BeforeEpoch));
        for bad in ["", "yesterday", "-5", "2030-01-01", "1.5"] {
            assert_eq!(parse_instant(bad), Err(TimeError::Invalid), "{bad}");
        }
    }
}
