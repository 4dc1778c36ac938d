//! A node's record in the contract's registry: its X25519 key, key version and endpoint,
//! kept equal to what its keyring and configuration say.

use super::{messages, to_abi_account, ChainClient, ChainError, Confirmation, NodeSigner};
use crate::keyring::Keyring;

/// What start-up did to the node's on-chain record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// The record already matched.
    Unchanged,
    /// The node registered for the first time.
    Registered,
    /// The key or endpoint changed and the record was updated.
    Updated,
}

/// Whether `url`'s host is a literal loopback address (`127.0.0.0/8`, `::1`, or
/// IPv4-mapped loopback): the only place plain HTTP is used between nodes. A name may
/// resolve anywhere, so `localhost` is not one.
pub fn is_literal_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        _ => false,
    }
}

/// Whether other nodes will call `endpoint` at all: an `https://` URL, or `http://` on
/// a literal loopback address (`127.0.0.0/8`, `::1`), as relays require of the
/// endpoints they call (which also refuse credentials, queries and, by default,
/// private addresses).
pub fn check_endpoint_scheme(endpoint: &str) -> Result<(), ChainError> {
    let refuse = |why: &str| ChainError::Config(format!("endpoint `{endpoint}`: {why}"));
    let url = reqwest::Url::parse(endpoint).map_err(|_| refuse("not a URL"))?;
    if url.host_str().is_none() {
        return Err(refuse("no host"));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_literal_loopback(&url) => Ok(()),
        "http" => Err(refuse("an endpoint off this machine must be https://")),
        _ => Err(refuse("only https:// (or http:// on loopback) endpoints are called")),
    }
}

/// Makes the contract's record of this node say what the keyring and the configuration
/// say: its current X25519 key and version, and `endpoint` (which must pass
/// [`check_endpoint_scheme`]).
pub async fn ensure_registered(
    chain: &ChainClient,
    signer: &NodeSigner,
    keyring: &Keyring,
    endpoint: &str,
) -> Result<Registration, ChainError> {
    check_endpoint_scheme(endpoint)?;
    let (key_version, key) = keyring.current_node_public_key();
    let account = to_abi_account(&signer.account_id());
    let (message, outcome) = match chain.node(&account).await? {
        None => (messages::register_node(key, key_version, endpoint), Registration::Registered),
        Some(node)
            if node.encryption_key == key
                && node.key_version == key_version
                && node.endpoint == endpoint =>
        {
            return Ok(Registration::Unchanged)
        }
        Some(node) if node.encryption_key != key && node.key_version >= key_version => {
            return Err(ChainError::Config(format!(
                "the chain has another encryption key for this node at version {} (this \
                 keyring's is version {key_version}): this is not the keyring the node \
                 registered with; restore that keyring, or rotate this one's node key past \
                 version {}",
                node.key_version, node.key_version
            )))
        }
        Some(_) => (messages::update_node(key, key_version, endpoint), Registration::Updated),
    };
    chain.submit(signer, &message, Confirmation::InBlock).await?;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::check_endpoint_scheme;

    #[test]
    fn endpoints_off_this_machine_are_https() {
        for good in [
            "https://relay.example.org",
            "http://127.0.0.1:8081",
            "http://[::1]:1",
            "http://[::ffff:127.0.0.1]:1",
        ] {
            assert!(check_endpoint_scheme(good).is_ok(), "{good}");
        }
        for bad in
            ["http://relay.example.org", "http://10.0.0.1", "http://localhost", "ftp://x", "nope"]
        {
            assert!(check_endpoint_scheme(bad).is_err(), "{bad}");
        }
    }
}
