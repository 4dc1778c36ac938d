//! How commands print: text for people, or JSON with `--json`.

use datamgmt_client::api::ChangeResponse;
use serde::Serialize;

/// Prints `answer` as JSON with `--json` (`json`), else the text `human` makes.
pub fn print<T: Serialize>(json: bool, answer: &T, human: impl FnOnce() -> String) {
    if json {
        println!("{}", json_text(answer));
    } else {
        println!("{}", human());
    }
}

/// `value` as pretty JSON, each object's keys in order.
pub fn json_text<T: Serialize>(value: &T) -> String {
    let mut value = serde_json::to_value(value).expect("answers serialize to JSON");
    value.sort_all_objects();
    serde_json::to_string_pretty(&value).expect("JSON values print")
}

/// The line for a revocation, an expiry change or a payment.
pub fn change_line(answer: &ChangeResponse) -> String {
    format!(
        "{} {} in block {} (tx {})",
        answer.share_id, answer.status, answer.compliance.block_number, answer.compliance.tx_hash,
    )
}
