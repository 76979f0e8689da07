//! `NO_PROXY` rules: which hosts bypass the proxy.

use std::net::IpAddr;

/// Whether `NO_PROXY`-style `list` says `host:port` should not use a proxy.
///
/// Entries are separated by commas or spaces and compared without regard to
/// case. `*` matches everything. A domain matches itself and its
/// subdomains, with or without a leading `.` or `*.` (`example.com`,
/// `.example.com` and `*.example.com` all match `example.com` and
/// `api.example.com`, never `badexample.com`). IP addresses match exactly,
/// `addr/len` matches a CIDR block, and a `:port` suffix limits an entry to
/// that port.
pub(crate) fn no_proxy_matches(list: &str, host: &str, port: u16) -> bool {
    let host = host
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let host_ip: Option<IpAddr> = host.parse().ok();
    list.split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            entry == "*" || entry_matches(&entry.to_ascii_lowercase(), &host, host_ip, port)
        })
}

fn entry_matches(entry: &str, host: &str, host_ip: Option<IpAddr>, port: u16) -> bool {
    let (name, entry_port) = split_entry_port(entry);
    if let Some(p) = entry_port {
        if p != port {
            return false;
        }
    }
    if let Some((net, len)) = name.split_once('/') {
        return match (net.parse::<IpAddr>(), len.parse::<u8>(), host_ip) {
            (Ok(net), Ok(len), Some(ip)) => in_cidr(ip, net, len),
            _ => false,
        };
    }
    if let Ok(ip) = name.parse::<IpAddr>() {
        return host_ip == Some(ip);
    }
    if host_ip.is_some() {
        // Addresses are only matched by address and CIDR entries.
        return false;
    }
    let domain = name
        .trim_start_matches("*.")
        .trim_start_matches('.')
        .trim_end_matches('.');
    if domain.is_empty() {
        return false;
    }
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
}

/// Splits `name:port`, `[v6]:port`, `[v6]` or a bare name / address.
fn split_entry_port(entry: &str) -> (&str, Option<u16>) {
    if let Some(inner) = entry.strip_prefix('[') {
        if let Some((addr, rest)) = inner.split_once(']') {
            return (addr, rest.strip_prefix(':').and_then(|p| p.parse().ok()));
        }
    }
    match entry.rsplit_once(':') {
        // A single colon: a port. More than one: a bare IPv6 address.
        Some((name, p)) if !name.contains(':') => match p.parse() {
            Ok(p) => (name, Some(p)),
            Err(_) => (entry, None),
        },
        _ => (entry, None),
    }
}

fn in_cidr(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if len <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if len <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_star_matches_everything() {
        assert!(no_proxy_matches("*", "engine.rstream.io", 443));
        assert!(no_proxy_matches("foo.com, *", "10.0.0.1", 443));
    }

    #[test]
    fn no_proxy_domain_suffixes() {
        for entry in [
            "example.com",
            ".example.com",
            "*.example.com",
            "EXAMPLE.com.",
        ] {
            assert!(no_proxy_matches(entry, "example.com", 443), "{entry}");
            assert!(no_proxy_matches(entry, "api.example.com", 443), "{entry}");
            assert!(no_proxy_matches(entry, "a.b.Example.COM.", 443), "{entry}");
            assert!(!no_proxy_matches(entry, "badexample.com", 443), "{entry}");
            assert!(
                !no_proxy_matches(entry, "example.com.evil.net", 443),
                "{entry}"
            );
        }
        assert!(!no_proxy_matches("api.example.com", "example.com", 443));
    }

    #[test]
    fn no_proxy_lists_and_ports() {
        let list = " localhost , internal.corp engine.test:8443,,";
        assert!(no_proxy_matches(list, "localhost", 443));
        assert!(no_proxy_matches(list, "db.internal.corp", 443));
        assert!(no_proxy_matches(list, "engine.test", 8443));
        assert!(!no_proxy_matches(list, "engine.test", 443));
        assert!(!no_proxy_matches(list, "rstream.io", 443));
        assert!(!no_proxy_matches("", "rstream.io", 443));
    }

    #[test]
    fn no_proxy_addresses_and_cidr() {
        assert!(no_proxy_matches("127.0.0.1", "127.0.0.1", 443));
        assert!(!no_proxy_matches("127.0.0.1", "127.0.0.2", 443));
        assert!(no_proxy_matches("10.0.0.0/8", "10.20.30.40", 443));
        assert!(!no_proxy_matches("10.0.0.0/8", "11.0.0.1", 443));
        assert!(!no_proxy_matches("10.0.0.0/8", "ten.example", 443));
        assert!(no_proxy_matches("0.0.0.0/0", "1.2.3.4", 443));
        assert!(no_proxy_matches("::1", "[::1]", 443));
        assert!(no_proxy_matches("[::1]:443", "::1", 443));
        assert!(!no_proxy_matches("[::1]:443", "::1", 80));
        assert!(no_proxy_matches("fd00::/8", "fd12::1", 443));
        assert!(!no_proxy_matches("fd00::/8", "fe80::1", 443));
        // An address entry never matches as a domain suffix.
        assert!(!no_proxy_matches("0.0.1", "10.0.0.1", 443));
    }
}
