//! Making shares: an upload streamed through encryption into storage ([`upload`],
//! [`create`]), indexed as pending and recorded on chain; the outbox that retries a
//! share whose chain call failed ([`outbox`]); and what the parties change afterwards
//! ([`lifecycle`]).

pub mod create;
pub mod lifecycle;
pub mod outbox;
pub mod upload;
