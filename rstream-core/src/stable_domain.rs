//! Stable hostnames for published tunnels on managed rstream engines.
//!
//! An engine gives a published tunnel that asks for no hostname a fresh
//! address on every creation. To keep one address across reconnects, a
//! runtime picks a hostname once per process, shaped
//! `<slug>-<project endpoint>.t.<cluster domain>`, and asks for it every time.

use std::net::IpAddr;

/// The bare lowercase host of an engine address: no scheme, port, brackets
/// or trailing dot. `None` when what is left still has a `:` (an IPv6
/// literal) or is empty.
pub fn engine_host(engine: &str) -> Option<String> {
    let mut value = engine.trim();
    if let Some((_, rest)) = value.split_once("://") {
        value = rest.split(['/', '?', '#']).next().unwrap_or("");
        value = value.rsplit_once('@').map_or(value, |(_, host)| host);
    }
    let host = if let Some(rest) = value.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        match value.rsplit_once(':') {
            Some((host, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
                host
            }
            _ => value,
        }
    };
    let host = host
        .trim_matches(|c| c == '[' || c == ']')
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if host.is_empty() || host.contains(':') {
        return None;
    }
    Some(host)
}

fn is_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && alnum(&bytes[0])
        && alnum(&bytes[bytes.len() - 1])
        && bytes.iter().all(|b| alnum(b) || *b == b'-')
}

/// A stable hostname for tunnels published through `engine`, or `None` when
/// the engine is not a managed project host (an IP literal, a single-label
/// host such as `localhost`, labels that are not DNS labels, or a project
/// endpoint too long to leave room for the slug).
pub fn generate(engine: &str) -> Option<String> {
    let slug = format!("r{:08x}", rand::random::<u32>());
    generate_with_slug(engine, &slug)
}

/// [`generate`] with a given slug (`r` + 8 hex characters), for tests and
/// for callers that keep their own.
pub fn generate_with_slug(engine: &str, slug: &str) -> Option<String> {
    let host = engine_host(engine)?;
    if host.parse::<IpAddr>().is_ok() {
        return None;
    }
    let (endpoint, cluster) = host.split_once('.')?;
    if !is_label(endpoint) || !cluster.split('.').all(is_label) {
        return None;
    }
    let room = 63usize.checked_sub(endpoint.len() + 1)?;
    if room < 9 {
        return None;
    }
    let slug = &slug[..slug.len().min(room)];
    Some(format!("{slug}-{endpoint}.t.{cluster}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_hosts() {
        let cases = [
            ("proj.eu.rstream.io", Some("proj.eu.rstream.io")),
            ("proj.eu.rstream.io:443", Some("proj.eu.rstream.io")),
            (
                "https://Proj.EU.rstream.io:8443/x",
                Some("proj.eu.rstream.io"),
            ),
            ("proj.rstream.io.", Some("proj.rstream.io")),
            ("[::1]:443", None),
            ("::1", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(engine_host(input).as_deref(), want, "{input}");
        }
    }

    #[test]
    fn stable_hostnames() {
        let slug = "r0a1b2c3d";
        let cases = [
            (
                "proj.eu.rstream.io",
                Some("r0a1b2c3d-proj.t.eu.rstream.io".to_owned()),
            ),
            (
                "proj.eu.rstream.io:443",
                Some("r0a1b2c3d-proj.t.eu.rstream.io".to_owned()),
            ),
            ("localhost", None),
            ("localhost:7000", None),
            ("127.0.0.1:443", None),
            ("[2001:db8::1]:443", None),
            ("under_score.rstream.io", None),
            ("proj.bad_label.io", None),
            // 53 characters leave exactly 9 for the slug.
            (
                &*format!("{}.rstream.io", "a".repeat(53)),
                Some(format!("{slug}-{}.t.rstream.io", "a".repeat(53))),
            ),
            // 54 leave 8: too little.
            (&*format!("{}.rstream.io", "a".repeat(54)), None),
        ];
        for (input, want) in cases {
            assert_eq!(generate_with_slug(input, slug), want, "{input}");
        }
    }

    #[test]
    fn generated_slugs_are_random_and_well_formed() {
        let a = generate("proj.eu.rstream.io").unwrap();
        let b = generate("proj.eu.rstream.io").unwrap();
        assert_ne!(a, b);
        let slug = a.split('-').next().unwrap();
        assert_eq!(slug.len(), 9);
        assert!(slug.starts_with('r'));
        assert!(slug[1..].bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(a.ends_with("-proj.t.eu.rstream.io"));
    }
}
