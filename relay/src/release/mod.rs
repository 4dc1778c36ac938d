//! Key releases, from both sides. The owner's relay decides ([`decision`]), passes the
//! gate that stops releases while their records do not keep up ([`gate`]), writes the
//! release to the outbox before the envelope leaves, and records the outbox on chain
//! ([`recorder`]). The recipient's relay asks for the envelope ([`fetch`]).

pub mod decision;
pub mod fetch;
pub mod gate;
pub mod recorder;
