//! Fetching a feed as a good citizen and a careful one: conditional GET (ETag,
//! Last-Modified), a total timeout, a cap on the body after decompression, a redirect limit
//! with every hop checked, a descriptive User-Agent, no proxy from the environment.
//!
//! Server-side request forgery: only `http` and `https`; an address literal is checked before
//! connecting, and a name is resolved by `GuardedResolver`, which hands the connector only
//! the addresses [`Egress`] permits, so the address actually connected to is a checked one
//! (a name that resolves to an internal address, or re-resolves to one, cannot slip through).
//! Loopback, private, link-local (cloud metadata), shared, reserved, documentation, multicast
//! and unspecified ranges are refused unless an allow-list names them.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

/// The version in the User-Agent.
const USER_AGENT: &str = concat!(
    "Hector/",
    env!("CARGO_PKG_VERSION"),
    " (security-intelligence feed poller; conditional GET; polite intervals)"
);

/// Where outbound requests may go.
#[derive(Debug, Clone, Default)]
pub struct Egress {
    /// Ranges opened although internal (`HECTOR_FEED_ALLOW_NETS`).
    pub allow: Vec<IpNet>,
}

impl Egress {
    /// Whether a request may connect to `ip`.
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.allow.iter().any(|n| n.contains(&ip)) || is_public(ip)
    }
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) carries an IPv4 address: judge that one.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let o = v6.octets();
                return is_public_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard
                || s[0] == 0 // IPv4-compatible and other reserved ::/16
                || (s[0] == 0x2002 && !is_public_v4(Ipv4Addr::new(
                    (s[1] >> 8) as u8,
                    s[1] as u8,
                    (s[2] >> 8) as u8,
                    s[2] as u8,
                )))) // 6to4 of an internal address
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space (CGNAT)
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking
        || o[0] >= 240) // reserved
}

/// A refused destination, as the resolver reports it.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` resolves only to addresses that are not allowed (internal or reserved)")]
struct RefusedName(String);

/// Resolves names and keeps only the addresses [`Egress`] permits.
struct GuardedResolver(Arc<Egress>);

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let egress = self.0.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| egress.permits(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(RefusedName(host)) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// How a fetch is bounded.
#[derive(Debug, Clone)]
pub struct Limits {
    pub timeout: Duration,
    pub max_bytes: usize,
    pub max_redirects: usize,
}

/// What the server answered.
#[derive(Debug)]
pub enum Fetched {
    /// 304: nothing new since the validators sent.
    NotModified,
    /// A body, with the validators for next time.
    Body {
        bytes: Vec<u8>,
        etag: Option<String>,
        last_modified: Option<String>,
    },
}

/// Why a fetch failed; its text is safe to show (no URL, no credentials).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("refused: {0}")]
    Refused(String),
    #[error("the server answered HTTP {0}")]
    Status(u16),
    #[error("no answer within {0} seconds")]
    Timeout(u64),
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    #[error("cannot connect: {0}")]
    Transport(String),
}

/// The feed poller's HTTP client.
#[derive(Clone)]
pub struct Fetcher {
    client: reqwest::Client,
    egress: Arc<Egress>,
    limits: Limits,
}

impl Fetcher {
    pub fn new(egress: Egress, limits: Limits) -> Result<Self, FetchError> {
        let egress = Arc::new(egress);
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(limits.timeout)
            .connect_timeout(limits.timeout.min(Duration::from_secs(10)))
            .no_proxy()
            .gzip(true)
            .dns_resolver(Arc::new(GuardedResolver(egress.clone())))
            .build()
            .map_err(|e| FetchError::Transport(e.without_url().to_string()))?;
        Ok(Self {
            client,
            egress,
            limits,
        })
    }

    /// Checks a URL before any request: scheme, and an address literal against the egress
    /// rules (names are checked as they resolve).
    pub fn check_url(&self, url: &url::Url) -> Result<(), FetchError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(FetchError::Refused(format!(
                "only http and https, not `{}`",
                url.scheme()
            )));
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(FetchError::Refused("the URL names no host".into())),
        };
        if let Some(ip) = literal
            && !self.egress.permits(ip)
        {
            return Err(FetchError::Refused(format!(
                "{ip} is an internal or reserved address"
            )));
        }
        Ok(())
    }

    /// Fetches `url`, sending the validators of the last fetch.
    pub async fn fetch(
        &self,
        url: &str,
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Result<Fetched, FetchError> {
        let mut current =
            url::Url::parse(url).map_err(|e| FetchError::Refused(format!("not a URL: {e}")))?;
        for _hop in 0..=self.limits.max_redirects {
            self.check_url(&current)?;
            let mut request = self.client.get(current.clone());
            if let Some(tag) = etag {
                request = request.header(reqwest::header::IF_NONE_MATCH, tag);
            }
            if let Some(since) = last_modified {
                request = request.header(reqwest::header::IF_MODIFIED_SINCE, since);
            }
            let response = request.send().await.map_err(|e| self.transport(e))?;
            // The peer actually connected to, checked once more.
            if let Some(peer) = response.remote_addr()
                && !self.egress.permits(peer.ip())
            {
                return Err(FetchError::Refused(format!(
                    "{} is an internal or reserved address",
                    peer.ip()
                )));
            }
            let status = response.status();
            if status.is_redirection() && status != reqwest::StatusCode::NOT_MODIFIED {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .ok_or(FetchError::Status(status.as_u16()))?;
                current = current
                    .join(location)
                    .map_err(|e| FetchError::Refused(format!("a redirect to no URL: {e}")))?;
                continue;
            }
            if status == reqwest::StatusCode::NOT_MODIFIED {
                return Ok(Fetched::NotModified);
            }
            if !status.is_success() {
                return Err(FetchError::Status(status.as_u16()));
            }
            return self.body(response).await;
        }
        Err(FetchError::TooManyRedirects(self.limits.max_redirects))
    }

    async fn body(&self, mut response: reqwest::Response) -> Result<Fetched, FetchError> {
        let max = self.limits.max_bytes;
        let header = |name| {
            response
                .headers()
                .get(name)
                .and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok())
                .map(|v| v.chars().take(512).collect::<String>())
        };
        let etag = header(reqwest::header::ETAG);
        let last_modified = header(reqwest::header::LAST_MODIFIED);
        // A declared length is of the compressed body; decompressed bytes are counted below.
        if response.content_length().is_some_and(|n| n > max as u64) {
            return Err(FetchError::TooLarge(max));
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| self.transport(e))? {
            if bytes.len() + chunk.len() > max {
                return Err(FetchError::TooLarge(max));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched::Body {
            bytes,
            etag,
            last_modified,
        })
    }

    /// A transport error as a safe message: a refusal by the resolver, a timeout, or the
    /// cause without the URL.
    fn transport(&self, e: reqwest::Error) -> FetchError {
        if e.is_timeout() {
            return FetchError::Timeout(self.limits.timeout.as_secs());
        }
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
        while let Some(s) = source {
            if let Some(refused) = s.downcast_ref::<RefusedName>() {
                return FetchError::Refused(refused.to_string());
            }
            source = s.source();
        }
        let mut cause = std::error::Error::source(&e);
        let mut deepest = None;
        while let Some(inner) = cause {
            deepest = Some(inner.to_string());
            cause = inner.source();
        }
        let mut text = e.without_url().to_string();
        if let Some(c) = deepest {
            text = format!("{text}: {c}");
        }
        FetchError::Transport(text.chars().take(300).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_and_public_ones_allowed() {
        let egress = Egress::default();
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:a00:1::1",
            "2001:db8::1",
        ] {
            let ip: IpAddr = internal.parse().unwrap();
            assert!(!egress.permits(ip), "{internal} must be refused");
        }
        for public in ["1.1.1.1", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"] {
            let ip: IpAddr = public.parse().unwrap();
            assert!(egress.permits(ip), "{public} must be allowed");
        }
        let open = Egress {
            allow: vec!["127.0.0.0/8".parse().unwrap()],
        };
        assert!(open.permits("127.0.0.1".parse().unwrap()));
        assert!(!open.permits("10.0.0.1".parse().unwrap()));
    }
}
