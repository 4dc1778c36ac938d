//! The relay's REST API: every request and response body and query of its routes, as
//! the relay writes and reads them, and [`RelayClient`], which calls them.
//!
//! One module per resource:
//!
//! - [`shares`]: `POST /share_data`, `POST /share_envelope`, and what the parties do to
//!   a share afterwards: `POST /shares/{share_id}/revoke`,
//!   `PUT /shares/{share_id}/expiry`, `POST /shares/{share_id}/pay`;
//! - [`data`]: `GET /data/{hash}`;
//! - [`listing`]: `GET /data/list`;
//! - [`verify`]: `GET /verify_data/{hash}`;
//! - [`keys`]: `GET /admin/keys`, `POST /admin/keys/rotate`, `POST /admin/keys/rewrap`;
//! - [`releases`]: `GET /admin/releases`, `POST /admin/releases/acknowledge`;
//! - [`health`]: `GET /healthz`, `GET /readyz`;
//! - [`contract`]: `GET /contract`, the contract's address and metadata for dApps;
//! - [`nodes`]: `GET /nodes`, the directory of registered nodes;
//! - [`p2p`]: `GET /p2p/envelopes/{share_id}` (node to node, signed);
//! - [`error`]: the error body of every route;
//! - [`client`]: the client itself, [`RelayClient`].
//!
//! Every type is both `Serialize` and `Deserialize` with the relay's wire shape: the
//! relay reads requests and writes answers with them, a client the reverse. Ids and
//! hashes are `datamgmt_abi`'s types (written in their text form, `share_…`,
//! `sha256:…`, `node_…`); an answer whose fields do not match fails to decode rather
//! than being read half-way. With the `openapi` feature each type also derives
//! `utoipa::ToSchema` (and query parameters `utoipa::IntoParams`).
//!
//! # Examples
//!
//! Answers are read strictly:
//!
//! ```
//! use datamgmt_client::api::{ErrorBody, ErrorCode, KeyStatus};
//!
//! let body: ErrorBody =
//!     serde_json::from_str(r#"{"error":{"code":"not_found","message":"no share"}}"#)?;
//! assert_eq!(body.error.code, ErrorCode::NotFound);
//!
//! let renamed = r#"{"master_version":1,"min_decrypt_version":1,"node_key":1,
//!     "envelopes_on_older_master":0}"#;
//! assert!(serde_json::from_str::<KeyStatus>(renamed).is_err());
//! # Ok::<(), serde_json::Error>(())
//! ```

pub mod client;
pub mod contract;
pub mod data;
pub mod error;
pub mod health;
pub mod keys;
pub mod listing;
pub mod nodes;
pub mod p2p;
pub mod releases;
pub mod shares;
pub mod verify;

pub use client::{Downloaded, Progress, RelayClient, RelayError};
pub use contract::ContractInfo;
pub use data::{DataEncodingError, DataResponse, ReadParams};
pub use error::{ErrorBody, ErrorCode, ErrorDetail};
pub use health::{Health, Readiness};
pub use keys::{
    KeyKind, KeyStatus, RewrapFailure, RewrapRequest, RewrapResponse, RotateRequest, RotateResponse,
};
pub use listing::{Direction, ListParams, ListResponse, ListedShare, ShareStatus};
pub use nodes::{DirectoryNode, NodesParams, NodesResponse};
pub use p2p::EnvelopeParams;
pub use releases::{
    AcknowledgeRequest, Acknowledged, GateStatus, OutboxCounts, OutboxItem, OutboxParams,
    OutboxReport,
};
pub use shares::{
    ChangeResponse, Compliance, EncryptionInfo, ExpiryRequest, NumberOrText, ShareDataRequest,
    ShareDataResponse, StreamShareParams,
};
pub use verify::{Party, ProofRecord, VerifyParams, VerifyResponse};

/// Examples of the text forms, for the schemas.
#[cfg(feature = "openapi")]
mod examples {
    pub fn data_hash() -> &'static str {
        "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    }

    pub fn share_id() -> &'static str {
        "share_7f3a9c2e4b1d6058a9e0c3f1b2d4e6a8"
    }

    pub fn node_id() -> &'static str {
        "node_b2c3d4e5f6a1"
    }
}

#[cfg(all(test, feature = "openapi"))]
mod openapi_tests {
    use super::*;
    use utoipa::openapi::{ComponentsBuilder, RefOr, Schema};
    use utoipa::{PartialSchema, ToSchema};

    fn json_of<T: ToSchema>() -> serde_json::Value {
        serde_json::to_value(T::schema()).unwrap()
    }

    #[test]
    fn every_type_has_a_schema() {
        let mut schemas: Vec<(String, RefOr<Schema>)> = Vec::new();
        macro_rules! collect {
            ($($t:ty),* $(,)?) => {$(
                schemas.push((<$t>::name().into_owned(), <$t>::schema()));
                <$t>::schemas(&mut schemas);
            )*};
        }
        collect!(
            ErrorBody,
            ShareDataRequest,
            NumberOrText,
            ShareDataResponse,
            StreamShareParams,
            ChangeResponse,
            ExpiryRequest,
            ReadParams,
            DataResponse,
            ListParams,
            ListResponse,
            NodesParams,
            NodesResponse,
            VerifyParams,
            VerifyResponse,
            KeyStatus,
            RotateRequest,
            RotateResponse,
            RewrapRequest,
            RewrapResponse,
            OutboxParams,
            OutboxReport,
            AcknowledgeRequest,
            Acknowledged,
            Health,
            Readiness,
            EnvelopeParams,
        );
        let components = ComponentsBuilder::new().schemas_from_iter(schemas).build();
        let json = serde_json::to_value(&components).unwrap();
        for name in json["schemas"].as_object().unwrap().keys() {
            // A lower-case name is a type alias utoipa took for a component (`u32`).
            assert!(name.starts_with(|c: char| c.is_ascii_uppercase()), "schema {name}");
        }
        for name in ["Error", "ErrorCode", "ShareAction", "Compliance", "GateStatus", "KeyKind"] {
            assert!(json["schemas"].get(name).is_some(), "{name} missing");
        }
        let codes = &json["schemas"]["ErrorCode"]["enum"];
        assert_eq!(codes.as_array().unwrap().len(), ErrorCode::ALL.len());
        let share_id = &json_of::<ShareDataResponse>()["properties"]["share_id"];
        assert_eq!(share_id["type"], "string");
    }
}
