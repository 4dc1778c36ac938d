//! Signed requests between nodes.
//!
//! A node asks another for an envelope with a request signed by its chain account
//! (sr25519): the receiving node learns *which account* asks without any shared secret,
//! and then lets the contract decide what that account may have. A signature covers the
//! method, the path with its query, a timestamp, a random nonce and the SHA-256 of the
//! body, under a domain label, so it cannot be moved to another request. The receiver
//! refuses timestamps outside [`FRESHNESS_MS`] of its clock and remembers nonces for at
//! least that long, so a captured request cannot be replayed.
//!
//! The answer is signed too: the owner's relay signs, with its chain account, the
//! request's signature, the SHA-256 of the envelope header it sends and the plaintext
//! length it announces ([`sign_answer`]); the recipient checks that against the owner's
//! account before reading anything ([`verify_answer`]). The header's stanzas wrap the
//! data key and every chunk is sealed under that key, so the signed header pins the
//! whole envelope: nobody on the path can hand the recipient another envelope made for
//! its public key, or one answer in place of another.

use datamgmt_abi::AccountId;
use sha2::{Digest, Sha256};
use subxt_signer::sr25519;

use crate::chain::{to_abi_account, NodeSigner};

/// Header naming the signing account (`0x` and 64 hex).
pub const ACCOUNT_HEADER: &str = "x-dmn-account";
/// Header with the signing time, milliseconds since the Unix epoch.
pub const TIMESTAMP_HEADER: &str = "x-dmn-timestamp";
/// Header with a fresh random nonce (32 hex).
pub const NONCE_HEADER: &str = "x-dmn-nonce";
/// Header with the signature (`0x` and 128 hex).
pub const SIGNATURE_HEADER: &str = "x-dmn-signature";

/// Header of the owner's signature over its answer (`0x` and 128 hex).
pub const ANSWER_SIGNATURE_HEADER: &str = "x-dmn-answer-signature";

/// How far a request's timestamp may be from the receiver's clock, either way.
pub const FRESHNESS_MS: u64 = 60_000;

const DOMAIN: &[u8] = b"datamgmt-p2p-v1\n";

/// Domain label of an answer's signature (never a request's).
const ANSWER_DOMAIN: &[u8] = b"datamgmt-p2p-answer-v1\n";

/// The four headers of a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// The signer's account.
    pub account: AccountId,
    /// Milliseconds since the epoch.
    pub timestamp: u64,
    /// 16 random bytes, as 32 hex.
    pub nonce: String,
    /// The sr25519 signature.
    pub signature: [u8; 64],
}

impl SignedHeaders {
    /// Signs a request as `signer`, at `timestamp`, with a fresh nonce.
    pub fn sign(
        signer: &NodeSigner,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        timestamp: u64,
    ) -> Self {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).expect("OS randomness");
        let nonce = hex::encode(nonce);
        let message = signed_message(method, path_and_query, timestamp, &nonce, body);
        Self {
            account: to_abi_account(&signer.account_id()),
            timestamp,
            nonce,
            signature: signer.sign(&message),
        }
    }

    /// The header name/value pairs to send.
    pub fn to_pairs(&self) -> [(&'static str, String); 4] {
        [
            (ACCOUNT_HEADER, self.account.to_string()),
            (TIMESTAMP_HEADER, self.timestamp.to_string()),
            (NONCE_HEADER, self.nonce.clone()),
            (SIGNATURE_HEADER, format!("0x{}", hex::encode(self.signature))),
        ]
    }

    /// Reads the headers back; `get` looks a header up by name.
    pub fn parse<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, P2pError> {
        let field = |name: &'static str| get(name).ok_or(P2pError::Missing(name));
        let account =
            field(ACCOUNT_HEADER)?.parse().map_err(|_| P2pError::Malformed(ACCOUNT_HEADER))?;
        let timestamp =
            field(TIMESTAMP_HEADER)?.parse().map_err(|_| P2pError::Malformed(TIMESTAMP_HEADER))?;
        let nonce = field(NONCE_HEADER)?;
        if nonce.len() != 32
            || !nonce.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(P2pError::Malformed(NONCE_HEADER));
        }
        let signature = parse_signature(field(SIGNATURE_HEADER)?)
            .ok_or(P2pError::Malformed(SIGNATURE_HEADER))?;
        Ok(Self { account, timestamp, nonce: nonce.to_owned(), signature })
    }

    /// Checks the signature over this request and the timestamp against `now` (ms).
    /// The caller must still refuse a nonce it has seen.
    pub fn verify(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
        now: u64,
    ) -> Result<(), P2pError> {
        if self.timestamp.abs_diff(now) > FRESHNESS_MS {
            return Err(P2pError::Stale);
        }
        let message = signed_message(method, path_and_query, self.timestamp, &self.nonce, body);
        let signature = sr25519::Signature(self.signature);
        if sr25519::verify(&signature, message, &sr25519::PublicKey(self.account.0)) {
            Ok(())
        } else {
            Err(P2pError::BadSignature)
        }
    }
}

/// Why a signed request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum P2pError {
    /// A signing header is missing.
    #[error("the {0} header is missing")]
    Missing(&'static str),
    /// A signing header does not parse.
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    /// The timestamp is too far from the receiver's clock.
    #[error("the request's timestamp is not within a minute of this node's clock")]
    Stale,
    /// The signature does not verify for this account and request.
    #[error("the signature does not match the account and the request")]
    BadSignature,
    /// The nonce was used before.
    #[error("this request was already received (replayed nonce)")]
    Replayed,
    /// The answer is not signed by the account it should come from.
    #[error("the answer is not signed by the sharing node's account")]
    ForgedAnswer,
}

/// A signature as the headers carry it: `0x` and 128 hex.
fn parse_signature(text: &str) -> Option<[u8; 64]> {
    let mut bytes = [0u8; 64];
    hex::decode_to_slice(text.strip_prefix("0x")?, &mut bytes).ok().map(|()| bytes)
}

/// What an answer's signature covers: the request it answers (by its signature), the
/// envelope header sent, and the plaintext length announced (if any).
fn answer_message(request: &SignedHeaders, header: &[u8], plaintext_len: Option<u64>) -> Vec<u8> {
    let mut message = ANSWER_DOMAIN.to_vec();
    message.extend_from_slice(&request.signature);
    message.extend_from_slice(&Sha256::digest(header));
    match plaintext_len {
        Some(length) => {
            message.push(1);
            message.extend_from_slice(&length.to_le_bytes());
        }
        None => message.push(0),
    }
    message
}

/// The owner's signature over its answer to `request`: the envelope header it sends and
/// the plaintext length it announces, as the [`ANSWER_SIGNATURE_HEADER`] value.
pub fn sign_answer(
    signer: &NodeSigner,
    request: &SignedHeaders,
    header: &[u8],
    plaintext_len: Option<u64>,
) -> String {
    format!("0x{}", hex::encode(signer.sign(&answer_message(request, header, plaintext_len))))
}

/// Checks that `signature` (the [`ANSWER_SIGNATURE_HEADER`] value, if any) is `owner`'s
/// over its answer to `request`.
pub fn verify_answer(
    owner: &AccountId,
    request: &SignedHeaders,
    header: &[u8],
    plaintext_len: Option<u64>,
    signature: Option<&str>,
) -> Result<(), P2pError> {
    let signature = signature.ok_or(P2pError::Missing(ANSWER_SIGNATURE_HEADER))?;
    let bytes = parse_signature(signature).ok_or(P2pError::Malformed(ANSWER_SIGNATURE_HEADER))?;
    let message = answer_message(request, header, plaintext_len);
    if sr25519::verify(&sr25519::Signature(bytes), message, &sr25519::PublicKey(owner.0)) {
        Ok(())
    } else {
        Err(P2pError::ForgedAnswer)
    }
}

fn signed_message(
    method: &str,
    path_and_query: &str,
    timestamp: u64,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut message = DOMAIN.to_vec();
    for part in
        [method, path_and_query, &timestamp.to_string(), nonce, &hex::encode(Sha256::digest(body))]
    {
        message.extend_from_slice(part.as_bytes());
        message.push(b'\n');
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn signed() -> SignedHeaders {
        let bob = NodeSigner::from_suri("//Bob").unwrap();
        SignedHeaders::sign(&bob, "GET", "/p2p/envelopes/share_01", b"", NOW)
    }

    fn reparse(headers: &SignedHeaders) -> Result<SignedHeaders, P2pError> {
        let pairs = headers.to_pairs();
        SignedHeaders::parse(|name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str()))
    }

    #[test]
    fn a_signed_request_verifies_after_a_round_trip_through_headers() {
        let sent = signed();
        let headers = reparse(&sent).unwrap();
        assert_eq!(headers, sent);
        headers.verify("GET", "/p2p/envelopes/share_01", b"", NOW + FRESHNESS_MS).unwrap();
    }

    #[test]
    fn any_change_to_the_request_breaks_the_signature() {
        let headers = signed();
        let path = "/p2p/envelopes/share_01";
        assert_eq!(headers.verify("POST", path, b"", NOW), Err(P2pError::BadSignature));
        assert_eq!(
            headers.verify("GET", "/p2p/envelopes/share_02", b"", NOW),
            Err(P2pError::BadSignature)
        );
        assert_eq!(headers.verify("GET", path, b"x", NOW), Err(P2pError::BadSignature));
        let mut other = headers.clone();
        other.nonce = "0".repeat(32);
        assert_eq!(other.verify("GET", path, b"", NOW), Err(P2pError::BadSignature));
        let mut other = headers.clone();
        other.timestamp += 1;
        assert_eq!(other.verify("GET", path, b"", NOW), Err(P2pError::BadSignature));
        let mut other = headers.clone();
        other.account = to_abi_account(&NodeSigner::from_suri("//Charlie").unwrap().account_id());
        assert_eq!(other.verify("GET", path, b"", NOW), Err(P2pError::BadSignature));
        let mut other = headers;
        other.signature[7] ^= 1;
        assert_eq!(other.verify("GET", path, b"", NOW), Err(P2pError::BadSignature));
    }

    #[test]
    fn old_and_future_timestamps_are_refused() {
        let headers = signed();
        let path = "/p2p/envelopes/share_01";
        assert_eq!(headers.verify("GET", path, b"", NOW + FRESHNESS_MS + 1), Err(P2pError::Stale));
        assert_eq!(headers.verify("GET", path, b"", NOW - FRESHNESS_MS - 1), Err(P2pError::Stale));
    }

    #[test]
    fn malformed_headers_are_named() {
        let pairs = signed().to_pairs();
        for (index, (name, _)) in pairs.iter().enumerate() {
            let missing = SignedHeaders::parse(|n| {
                pairs
                    .iter()
                    .enumerate()
                    .find(|(i, (m, _))| *m == n && *i != index)
                    .map(|(_, (_, v))| v.as_str())
            });
            assert_eq!(missing, Err(P2pError::Missing(name)));
            let garbled = SignedHeaders::parse(|n| {
                pairs
                    .iter()
                    .find(|(m, _)| *m == n)
                    .map(|(m, v)| if m == name { "0xzz" } else { v.as_str() })
            });
            assert_eq!(garbled, Err(P2pError::Malformed(name)));
        }
    }

    #[test]
    fn an_answer_verifies_only_from_its_owner_for_its_request_header_and_length() {
        let alice = NodeSigner::from_suri("//Alice").unwrap();
        let owner = to_abi_account(&alice.account_id());
        let request = signed();
        let header = b"header bytes";
        let signature = sign_answer(&alice, &request, header, Some(10));
        verify_answer(&owner, &request, header, Some(10), Some(&signature)).unwrap();
        let forged = Err(P2pError::ForgedAnswer);
        assert_eq!(
            verify_answer(&owner, &request, b"other header", Some(10), Some(&signature)),
            forged
        );
        assert_eq!(verify_answer(&owner, &request, header, Some(11), Some(&signature)), forged);
        assert_eq!(verify_answer(&owner, &request, header, None, Some(&signature)), forged);
        assert_eq!(verify_answer(&owner, &signed(), header, Some(10), Some(&signature)), forged);
        let bob = to_abi_account(&NodeSigner::from_suri("//Bob").unwrap().account_id());
        assert_eq!(verify_answer(&bob, &request, header, Some(10), Some(&signature)), forged);
        assert_eq!(
            verify_answer(&owner, &request, header, Some(10), None),
            Err(P2pError::Missing(ANSWER_SIGNATURE_HEADER))
        );
        assert_eq!(
            verify_answer(&owner, &request, header, Some(10), Some("0x12")),
            Err(P2pError::Malformed(ANSWER_SIGNATURE_HEADER))
        );
    }
}
