//! Attacks the parser and verifier of signed P2P requests: `SignedHeaders::parse` on
//! the four `x-dmn-*` header values, then `verify(method, path, body, now)`, as the
//! relay runs them on every request from another node.
//!
//! The input is split on `\n` (`datamgmt_fuzz::P2P_SEPARATOR`): account, timestamp,
//! nonce, signature, then optionally method, path and body (the body is the rest of the
//! input). A header value missing from the input, or not UTF-8, is an absent header;
//! method and path default to what the relay's envelope route verifies; the receiver's
//! clock is `datamgmt_fuzz::P2P_NOW`, the time the seeds are signed at.
//!
//! What must hold, for every input:
//! - no panic, whatever the account bytes (including public keys that are not curve
//!   points) and signature bytes;
//! - a refused parse names a header that is missing exactly when the input lacks it;
//! - parsed headers survive a round trip through `to_pairs` and `parse`, and the account
//!   and nonce are kept as given (both are accepted in canonical form only);
//! - `verify` says `Stale` exactly when the timestamp is more than `FRESHNESS_MS` from
//!   the clock; otherwise it says `Ok` or `BadSignature`; and a request it accepts is
//!   refused with another body or method (the signature covers them).
#![no_main]

use std::borrow::Cow;

use datamgmt_client::p2p::{P2pError, SignedHeaders, FRESHNESS_MS};
use datamgmt_fuzz::{P2P_DEFAULT_METHOD, P2P_DEFAULT_PATH, P2P_FIELDS, P2P_NOW, P2P_SEPARATOR};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(P2P_FIELDS.len() + 3, |&b| b == P2P_SEPARATOR);
    let values: [Option<&str>; 4] =
        std::array::from_fn(|_| parts.next().and_then(|part| std::str::from_utf8(part).ok()));
    let method = parts.next().map_or(Cow::Borrowed(P2P_DEFAULT_METHOD), String::from_utf8_lossy);
    let path = parts.next().map_or(Cow::Borrowed(P2P_DEFAULT_PATH), String::from_utf8_lossy);
    let body = parts.next().unwrap_or(b"");
    let position = |name: &str| P2P_FIELDS.iter().position(|field| *field == name);

    let parsed = SignedHeaders::parse(|name| position(name).and_then(|i| values[i]));
    let headers = match parsed {
        Ok(headers) => headers,
        Err(P2pError::Missing(name)) => {
            let index = position(name).expect("a missing header is one of the four");
            assert!(values[index].is_none(), "{name} reported missing but present");
            return;
        }
        Err(P2pError::Malformed(name)) => {
            let index = position(name).expect("a malformed header is one of the four");
            assert!(values[index].is_some(), "{name} reported malformed but absent");
            return;
        }
        Err(other) => panic!("parse refused with a verification error: {other:?}"),
    };

    let pairs = headers.to_pairs();
    let reparsed = SignedHeaders::parse(|name| {
        pairs.iter().find(|(pair_name, _)| *pair_name == name).map(|(_, value)| value.as_str())
    });
    assert_eq!(reparsed.as_ref(), Ok(&headers), "headers do not survive a round trip");
    assert_eq!(Some(headers.account.to_string().as_str()), values[0], "account not canonical");
    assert_eq!(Some(headers.nonce.as_str()), values[2], "nonce changed");

    let verdict = headers.verify(&method, &path, body, P2P_NOW);
    if headers.timestamp.abs_diff(P2P_NOW) > FRESHNESS_MS {
        assert_eq!(verdict, Err(P2pError::Stale));
        return;
    }
    match verdict {
        Ok(()) => {
            let mut other_body = body.to_vec();
            other_body.push(b'x');
            assert_eq!(
                headers.verify(&method, &path, &other_body, P2P_NOW),
                Err(P2pError::BadSignature),
                "the signature does not cover the body"
            );
            let other_method = format!("{method}X");
            assert_eq!(
                headers.verify(&other_method, &path, body, P2P_NOW),
                Err(P2pError::BadSignature),
                "the signature does not cover the method"
            );
        }
        Err(P2pError::BadSignature) => {}
        Err(other) => panic!("verify of fresh headers said {other:?}"),
    }
});
