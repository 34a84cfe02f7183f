//! Who the client is: its address as far as our proxies vouch for it, and the key every
//! per-IP limit counts it under.

use std::net::{IpAddr, Ipv6Addr};

use poem::http::header::HeaderName;
use poem::Request;

/// One IPv6 subscriber usually holds a whole /64, so counting single addresses would let
/// it rotate past every per-IP limit.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// Parsed once: a `&str` name is parsed and classified on every lookup.
const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Who sent the request, as far as we can trust it. Recorded on sessions; every per-IP
/// limit keys on [`ClientInfo::rate_limit_key`], never on `ip` directly.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// The prefix length IPv6 addresses are counted by.
    pub ipv6_prefix: u8,
}

impl Default for ClientInfo {
    fn default() -> Self {
        Self { ip: None, user_agent: None, ipv6_prefix: DEFAULT_IPV6_PREFIX }
    }
}

impl ClientInfo {
    /// The key per-IP limits count this client under: an IPv4 address as is, an IPv6
    /// address as its network (`2001:db8:1:2::/64`), `unknown` without an address.
    pub fn rate_limit_key(&self) -> String {
        rate_limit_key(self.ip, self.ipv6_prefix)
    }
}

/// See [`ClientInfo::rate_limit_key`]. IPv4-mapped IPv6 addresses count as IPv4.
pub fn rate_limit_key(ip: Option<IpAddr>, ipv6_prefix: u8) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        None => "unknown".to_owned(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let prefix = ipv6_prefix.clamp(1, 128);
            let mask = u128::MAX << (128 - u32::from(prefix));
            format!("{}/{prefix}", Ipv6Addr::from(u128::from(v6) & mask))
        }
    }
}

/// The client address. Behind Cloud Run, Google's front end appends the address it saw
/// to `X-Forwarded-For`; everything to the left of the entries our own proxies appended
/// was written by the client and can be forged. So we join every header line (a proxy
/// may add its own line instead of appending) and take the entry `trusted_proxy_hops`
/// from the right (1 on Cloud Run). With fewer entries than hops the request skipped one
/// of our proxies and every entry is the client's own writing: use the socket peer.
pub(super) fn client_ip(req: &Request, trusted_proxy_hops: usize) -> Option<IpAddr> {
    let peer = req.remote_addr().as_socket_addr().map(|addr| addr.ip());
    if trusted_proxy_hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = req
        .headers()
        .get_all(&X_FORWARDED_FOR)
        .iter()
        .filter_map(|line| line.to_str().ok())
        .flat_map(|line| line.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    match entries.len().checked_sub(trusted_proxy_hops) {
        Some(index) => entries.get(index).and_then(|s| s.parse().ok()).or(peer),
        None => peer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> Request {
        let mut builder = Request::builder();
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.finish()
    }

    #[test]
    fn client_ip_is_the_entry_our_front_end_appended() {
        let r = req(&[("x-forwarded-for", "6.6.6.6, 203.0.113.7")]);
        assert_eq!(client_ip(&r, 1), Some("203.0.113.7".parse().expect("ip")));
        assert_eq!(client_ip(&r, 2), Some("6.6.6.6".parse().expect("ip")));
    }

    #[test]
    fn client_ip_joins_every_header_line_and_never_takes_an_entry_beyond_the_hops() {
        let r = req(&[("x-forwarded-for", "198.51.100.1"), ("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(client_ip(&r, 1), Some("203.0.113.9".parse().expect("ip")));
        let r = req(&[("x-forwarded-for", "6.6.6.6")]);
        assert_eq!(client_ip(&r, 2), None, "no socket peer in this request, and never the forged entry");
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_prefix_and_ipv4_by_address() {
        let key = |ip: &str, prefix| rate_limit_key(Some(ip.parse().expect("ip")), prefix);
        assert_eq!(key("2001:db8:1:2:aaaa::1", 64), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:bbbb::9", 64), key("2001:db8:1:2:aaaa::1", 64));
        assert_ne!(key("2001:db8:1:3::1", 64), key("2001:db8:1:2::1", 64));
        assert_eq!(key("2001:db8:1:2ff::1", 56), "2001:db8:1:200::/56");
        assert_eq!(key("203.0.113.7", 64), "203.0.113.7");
        assert_eq!(key("::ffff:203.0.113.7", 64), "203.0.113.7");
        assert_eq!(rate_limit_key(None, 64), "unknown");
    }
}
