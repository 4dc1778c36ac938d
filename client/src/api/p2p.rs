//! `GET /p2p/envelopes/{share_id}`: node to node, signed with the asking node's chain
//! account (see [`crate::p2p`]): the owner's relay releases a share's envelope to its
//! recipient as the contract allows. The answer is the envelope's bytes, with
//! [`PLAINTEXT_LENGTH_HEADER`] for a custodial share; errors have the API's
//! [`ErrorBody`](super::ErrorBody).

use serde::{Deserialize, Serialize};

/// Header with the plaintext's length, sent with an envelope so the recipient can
/// answer with a Content-Length (and is held to it).
pub const PLAINTEXT_LENGTH_HEADER: &str = "x-dmn-plaintext-length";

/// Query parameters of `GET /p2p/envelopes/{share_id}` (covered by the signature).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "openapi", into_params(parameter_in = Query))]
#[serde(deny_unknown_fields)]
pub struct EnvelopeParams {
    /// The most plaintext bytes the asker will take: a larger share is refused (413)
    /// before anything is released, so a read refused for its size costs no payment.
    pub max_bytes: Option<u64>,
}
