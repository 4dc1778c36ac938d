//! Calling other nodes, whose endpoint URLs anyone registered on chain can choose.
//!
//! A node's endpoint comes from the contract, so a hostile node can point other relays
//! at anything: an internal address (the cloud metadata service, an admin port), a
//! redirect to one, a server that never answers or answers without end. So a relay
//! calls only `http`/`https` URLs without credentials, query or fragment, on public
//! addresses unless configured otherwise (loopback for a network on one machine),
//! checked for literal addresses here and for names after they resolve; follows no
//! redirect; bounds the time to connect, to the answer's head and between reads; and
//! reads at most [`MAX_ERROR_BODY`] of an error answer.

use reqwest::Url;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// The other nodes: which endpoints this relay will call (a node registers its endpoint
/// on chain, so any node can name any URL), how long it waits, and how often a node may
/// call this one.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PeerPolicy {
    /// Call endpoints on loopback addresses (a development network on one machine).
    pub allow_loopback: bool,
    /// Call endpoints on private, link-local, shared or other non-public addresses.
    pub allow_private: bool,
    /// Seconds to connect.
    pub connect_timeout_secs: u64,
    /// Seconds from sending a request to the answer's status and headers.
    pub response_timeout_secs: u64,
    /// Seconds an answer's body may stay silent.
    pub read_timeout_secs: u64,
    /// Signed node-to-node requests per second from one account (0: no limit); twice
    /// as many may come in a burst.
    pub requests_per_second: u32,
}

impl Default for PeerPolicy {
    fn default() -> Self {
        Self {
            allow_loopback: false,
            allow_private: false,
            connect_timeout_secs: 5,
            response_timeout_secs: 30,
            read_timeout_secs: 30,
            requests_per_second: 100,
        }
    }
}

/// Most bytes of a refusal's body read from another node.
pub const MAX_ERROR_BODY: usize = 64 << 10;

/// How long reading a refusal's body may take.
const ERROR_BODY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why another node's endpoint cannot be called.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The registered endpoint is not a URL this relay calls.
    #[error("the endpoint {endpoint:?} is not usable: {reason}")]
    Endpoint {
        /// The endpoint as registered (bounded by the contract to 256 bytes).
        endpoint: String,
        /// Why.
        reason: &'static str,
    },
    /// No connection, or no answer in time.
    #[error("{url}: {reason}")]
    Unreachable {
        /// What was called.
        url: String,
        /// Why it failed.
        reason: String,
    },
}

/// Checks a node endpoint as it is registered (or configured as this relay's own): a
/// base URL this relay would call under `policy`.
pub fn check_endpoint(endpoint: &str, policy: &PeerPolicy) -> Result<Url, PeerError> {
    let refuse = |reason| PeerError::Endpoint { endpoint: endpoint.to_owned(), reason };
    let url = Url::parse(endpoint).map_err(|_| refuse("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse("only http and https endpoints are called"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("an endpoint may not carry credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(refuse("an endpoint may not carry a query or a fragment"));
    }
    match url.host() {
        None => return Err(refuse("an endpoint needs a host")),
        Some(url::Host::Ipv4(ip)) => check_address(IpAddr::V4(ip), policy).map_err(refuse)?,
        Some(url::Host::Ipv6(ip)) => check_address(IpAddr::V6(ip), policy).map_err(refuse)?,
        Some(url::Host::Domain(_)) => {}
    }
    // Anything that leaves this machine is encrypted and its server authenticated.
    if url.scheme() == "http" && !datamgmt_client::chain::is_literal_loopback(&url) {
        return Err(refuse("an endpoint off this machine must be https://"));
    }
    Ok(url)
}

/// `base` with `path` (absolute, without query) appended to its own path, and `query`.
pub fn join(base: &Url, path: &str, query: Option<&str>) -> Url {
    let mut url = base.clone();
    {
        let mut segments = url.path_segments_mut().expect("http(s) URLs have a path");
        segments.pop_if_empty();
        segments.extend(path.split('/').filter(|segment| !segment.is_empty()));
    }
    url.set_query(query);
    url
}

/// Whether `policy` lets this relay call `ip`; if not, why.
pub fn check_address(ip: IpAddr, policy: &PeerPolicy) -> Result<(), &'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    };
    match class(ip) {
        AddressClass::Public => Ok(()),
        AddressClass::Loopback if policy.allow_loopback => Ok(()),
        AddressClass::Loopback => Err("loopback endpoints are not called (peers.allow_loopback)"),
        AddressClass::Private if policy.allow_private => Ok(()),
        AddressClass::Private => {
            Err("private and link-local endpoints are not called (peers.allow_private)")
        }
        AddressClass::Never => Err("unspecified, multicast and broadcast endpoints are not called"),
    }
}

enum AddressClass {
    Public,
    Loopback,
    Private,
    Never,
}

fn class(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(ip) => class_v4(ip),
        IpAddr::V6(ip) => class_v6(ip),
    }
}

fn class_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || a == 0 {
        AddressClass::Never
    } else if ip.is_loopback() {
        AddressClass::Loopback
    } else if ip.is_private()
        || ip.is_link_local()
        || ip.is_documentation()
        || (a == 100 && (64..128).contains(&b)) // shared address space
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240
    {
        AddressClass::Private
    } else {
        AddressClass::Public
    }
}

fn class_v6(ip: Ipv6Addr) -> AddressClass {
    let [first, second, third, ..] = ip.segments();
    if ip.is_unspecified() || ip.is_multicast() {
        AddressClass::Never
    } else if ip.is_loopback() {
        AddressClass::Loopback
    } else if first == 0x2002 {
        // 6to4: the IPv4 address it carries decides.
        let [a, b] = second.to_be_bytes();
        let [c, d] = third.to_be_bytes();
        class_v4(Ipv4Addr::new(a, b, c, d))
    } else if (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated)
        || first == 0x2001 && second == 0x0db8 // documentation
        || first == 0x2001 && second == 0 // Teredo: tunnels to any IPv4 address
        || first == 0x0064 && second == 0xff9b // NAT64, may reach private v4
        || first == 0
    {
        AddressClass::Private
    } else {
        AddressClass::Public
    }
}

/// Resolves names as the system does, keeping only the addresses the policy allows.
struct PolicyResolver {
    policy: PeerPolicy,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|address| check_address(address.ip(), &policy).is_ok())
                .collect();
            if resolved.is_empty() {
                return Err(format!("{host} resolves to no address this relay calls").into());
            }
            Ok(Box::new(resolved.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The HTTP client for other nodes, and the policy it calls them under.
#[derive(Clone)]
pub struct Peers {
    client: reqwest::Client,
    policy: PeerPolicy,
}

impl Peers {
    /// A client under `policy`, trusting the system's roots and `extra_roots` (a local
    /// CA's certificates, say) for other nodes' HTTPS; an error when a root is unusable.
    pub fn with_roots(
        policy: PeerPolicy,
        extra_roots: &[reqwest::Certificate],
    ) -> Result<Self, reqwest::Error> {
        let mut builder = reqwest::Client::builder();
        for root in extra_roots {
            builder = builder.add_root_certificate(root.clone());
        }
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(policy.connect_timeout_secs))
            .read_timeout(Duration::from_secs(policy.read_timeout_secs))
            .dns_resolver(Arc::new(PolicyResolver { policy }))
            .build()?;
        Ok(Self { client, policy })
    }

    /// A client under `policy`, trusting the system's roots.
    pub fn new(policy: PeerPolicy) -> Self {
        Self::with_roots(policy, &[]).expect("an HTTP client with default TLS settings builds")
    }

    /// The policy.
    pub fn policy(&self) -> &PeerPolicy {
        &self.policy
    }

    /// Sends `request` (built from [`request`](Self::request)) and waits for the
    /// answer's head, at most `response_timeout_secs`.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, PeerError> {
        let request = request.build().map_err(|error| PeerError::Unreachable {
            url: String::new(),
            reason: error.to_string(),
        })?;
        let url = request.url().to_string();
        let timeout = Duration::from_secs(self.policy.response_timeout_secs);
        match tokio::time::timeout(timeout, self.client.execute(request)).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(PeerError::Unreachable { url, reason: describe(&error) }),
            Err(_) => Err(PeerError::Unreachable {
                url,
                reason: format!("no answer within {} s", timeout.as_secs()),
            }),
        }
    }

    /// A GET of `url`.
    pub fn request(&self, url: Url) -> reqwest::RequestBuilder {
        self.client.get(url)
    }
}

/// Up to [`MAX_ERROR_BODY`] bytes of an answer's body, read for at most a few seconds;
/// the rest is never read.
pub async fn error_body(response: reqwest::Response) -> Vec<u8> {
    use futures::StreamExt as _;
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    let read = async {
        while let Some(Ok(chunk)) = stream.next().await {
            let room = MAX_ERROR_BODY - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() == MAX_ERROR_BODY {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(ERROR_BODY_TIMEOUT, read).await;
    body
}

/// A client error's cause, with its sources (reqwest's own text names only the URL).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> PeerPolicy {
        PeerPolicy::default()
    }

    fn dev() -> PeerPolicy {
        PeerPolicy { allow_loopback: true, ..PeerPolicy::default() }
    }

    #[test]
    fn endpoints_are_checked() {
        assert!(check_endpoint("https://relay.example.org", &strict()).is_ok());
        assert!(check_endpoint("https://relay.example.org/base/", &strict()).is_ok());
        assert!(check_endpoint("https://203.0.114.7:8443", &strict()).is_ok());
        assert!(check_endpoint("http://127.0.0.1:8081", &dev()).is_ok());
        assert!(check_endpoint("http://[::1]:8081", &dev()).is_ok());
        assert!(check_endpoint("https://localhost:8443", &dev()).is_ok());
        for (endpoint, policy, why) in [
            ("ftp://relay.example.org", strict(), "http and https"),
            ("https://user:pw@relay.example.org", strict(), "credentials"),
            ("https://relay.example.org/?a=1", strict(), "query"),
            ("https://relay.example.org/#x", strict(), "query or a fragment"),
            ("http://127.0.0.1:8081", strict(), "loopback"),
            ("http://[::1]:8081", strict(), "loopback"),
            ("http://10.1.2.3", dev(), "private"),
            ("http://169.254.169.254/latest/meta-data", dev(), "private"),
            ("http://100.64.0.1", dev(), "private"),
            ("http://[fd00::1]", dev(), "private"),
            ("http://[fe80::1]", dev(), "private"),
            ("http://[::ffff:10.0.0.1]", dev(), "private"),
            ("http://[::ffff:127.0.0.1]", strict(), "loopback"),
            ("http://[2002:0a00:0001::1]", dev(), "private"),
            ("http://[2002:7f00:0001::1]", strict(), "loopback"),
            ("http://[2001:0:4136:e378::1]", dev(), "private"),
            ("http://[fec0::1]", dev(), "private"),
            ("http://0.0.0.0:80", dev(), "unspecified"),
            ("http://224.0.0.1", dev(), "multicast"),
            ("not a url", dev(), "not a URL"),
            ("http://relay.example.org", strict(), "must be https"),
            ("http://203.0.114.7:8080", strict(), "must be https"),
            ("http://localhost.example.org", dev(), "must be https"),
            ("http://localhost:8081", dev(), "must be https"),
            ("unix:/var/run/x", dev(), "http and https"),
        ] {
            let error = check_endpoint(endpoint, &policy).unwrap_err().to_string();
            assert!(error.contains(why), "{endpoint}: {error}");
        }
        let open = PeerPolicy { allow_private: true, ..dev() };
        assert!(check_endpoint("https://10.1.2.3", &open).is_ok());
        let error = check_endpoint("http://10.1.2.3", &open).unwrap_err().to_string();
        assert!(error.contains("must be https"), "{error}");
    }

    #[test]
    fn paths_join_under_the_endpoint_path() {
        let base = Url::parse("https://relay.example.org/base/").unwrap();
        let url = join(&base, "/p2p/envelopes/share_00", Some("max_bytes=5"));
        assert_eq!(
            url.as_str(),
            "https://relay.example.org/base/p2p/envelopes/share_00?max_bytes=5"
        );
        let bare = Url::parse("http://127.0.0.1:8081").unwrap();
        assert_eq!(
            join(&bare, "/p2p/envelopes/x", None).as_str(),
            "http://127.0.0.1:8081/p2p/envelopes/x"
        );
    }
}
