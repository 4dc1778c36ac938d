//! The REST API: one module per resource, each with its `router()`, and the extractors
//! they share. Handlers parse and check what they are given, call the flows in
//! [`crate::share`], [`crate::read`] and [`crate::release`], and answer in the API's
//! shapes; the error shape is [`crate::error::ApiError`]'s.

pub mod contract;
pub mod data;
pub mod extract;
pub mod health;
pub mod keys;
pub mod listing;
pub mod metrics;
pub mod nodes;
pub mod openapi;
pub mod p2p;
pub mod paging;
pub mod params;
pub mod releases;
pub mod responses;
pub mod shares;
pub mod verify;
