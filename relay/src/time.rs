//! The relay's clock, in the contract's unit (milliseconds since the epoch), and times as
//! the API writes them.

use datamgmt_abi::Timestamp;

/// Milliseconds since the epoch, by this machine's clock.
pub fn now_ms() -> Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

pub use datamgmt_client::timefmt::rfc3339;
