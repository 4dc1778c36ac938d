//! One module per command: its arguments (clap) and what it does.

pub mod audit;
pub mod get;
pub mod keys;
pub mod list;
pub mod node;
pub mod nodes;
pub mod pay;
pub mod revoke;
pub mod share;
pub mod verify;
