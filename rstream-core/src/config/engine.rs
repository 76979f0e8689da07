//! The engine address: `host` or `host:port`, port 443 when omitted.

use std::fmt;
use std::net::Ipv6Addr;

use crate::{Error, Result};

/// The port an engine listens on when the address names none.
pub const DEFAULT_ENGINE_PORT: u16 = 443;

/// Where the engine listens: a host name or IP address and a TCP port.
///
/// Parse one with [`EngineAddress::parse`]; it displays as `host:port`, or
/// `[v6]:port` for an IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EngineAddress {
    /// The host name (lowercase) or IP address, without brackets.
    pub host: String,
    /// The TCP port, 1 to 65535.
    pub port: u16,
}

impl EngineAddress {
    /// Parses `host`, `host:port`, `[v6]` or `[v6]:port`.
    ///
    /// Host names are checked label by label and lowercased. A scheme, a
    /// path, user information or a port outside 1..65535 is refused.
    pub fn parse(text: &str) -> Result<Self> {
        parse_labelled(text, "engine")
    }

    /// Whether `host` is an IPv6 address (displayed between brackets).
    fn is_ipv6(&self) -> bool {
        self.host.contains(':')
    }
}

impl fmt::Display for EngineAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_ipv6() {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl std::str::FromStr for EngineAddress {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        EngineAddress::parse(s)
    }
}

/// Parses an engine address; `setting` names where it came from, for errors.
pub(crate) fn parse_labelled(text: &str, setting: &str) -> Result<EngineAddress> {
    let text = text.trim();
    let bad = |why: &str| {
        Error::config(format!(
            "{setting} {text:?} is not a valid engine address: {why}; \
             write it as host or host:port (for example engine.example.com:443)"
        ))
    };
    if text.is_empty() {
        return Err(bad("it is empty"));
    }
    if text.contains("://") {
        return Err(bad("it must not carry a scheme such as https://"));
    }
    if text
        .chars()
        .any(|c| matches!(c, '/' | '?' | '#' | '@' | '\\') || c.is_whitespace())
    {
        return Err(bad(
            "it must not contain a path, a query, user information or spaces",
        ));
    }

    let (host, port_text) = if let Some(rest) = text.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return Err(bad("the opening '[' has no closing ']'"));
        };
        let addr: Ipv6Addr = inside
            .parse()
            .map_err(|_| bad("the part between brackets is not an IPv6 address"))?;
        let port_text = match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return Err(bad("only ':port' may follow the closing ']'")),
            },
        };
        (addr.to_string(), port_text)
    } else {
        match text.matches(':').count() {
            0 => (text.to_owned(), None),
            1 => {
                let (host, port) = text.split_once(':').unwrap_or((text, ""));
                (host.to_owned(), Some(port))
            }
            _ => {
                return Err(bad(
                    "an IPv6 address must be written between brackets, as [::1]:443",
                ));
            }
        }
    };

    let port = match port_text {
        None => DEFAULT_ENGINE_PORT,
        Some(port) => {
            parse_port(port).ok_or_else(|| bad("the port must be a number from 1 to 65535"))?
        }
    };

    let host = if host.contains(':') {
        host
    } else {
        let lower = host.to_ascii_lowercase();
        if !is_valid_hostname(&lower) {
            return Err(bad("the host is not a valid DNS name or IPv4 address"));
        }
        lower
    };
    Ok(EngineAddress { host, port })
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match text.parse::<u32>() {
        Ok(port @ 1..=65_535) => u16::try_from(port).ok(),
        _ => None,
    }
}

/// A DNS name of at most 253 characters whose labels are 1 to 63 letters,
/// digits or inner hyphens. Dotted IPv4 addresses pass too.
pub(crate) fn is_valid_hostname(host: &str) -> bool {
    !host.is_empty() && host.len() <= 253 && host.split('.').all(is_valid_label)
}

/// One DNS label: `[a-z0-9]`, then up to 61 of `[a-z0-9-]`, ending in `[a-z0-9]`.
pub(crate) fn is_valid_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    let alnum = |b: &u8| b.is_ascii_alphanumeric();
    match bytes {
        [] => false,
        [only] => alnum(only),
        [first, middle @ .., last] => {
            bytes.len() <= 63
                && alnum(first)
                && alnum(last)
                && middle.iter().all(|b| alnum(b) || *b == b'-')
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_addresses() {
        let cases: &[(&str, &str, u16, &str)] = &[
            (
                "engine.example.com",
                "engine.example.com",
                443,
                "engine.example.com:443",
            ),
            (
                "Engine.Example.COM:8443",
                "engine.example.com",
                8443,
                "engine.example.com:8443",
            ),
            ("localhost:1", "localhost", 1, "localhost:1"),
            ("127.0.0.1:65535", "127.0.0.1", 65535, "127.0.0.1:65535"),
            ("[::1]:443", "::1", 443, "[::1]:443"),
            ("[::1]", "::1", 443, "[::1]:443"),
            (
                "[2001:DB8::1]:9000",
                "2001:db8::1",
                9000,
                "[2001:db8::1]:9000",
            ),
            (
                "  spaced.example.com  ",
                "spaced.example.com",
                443,
                "spaced.example.com:443",
            ),
        ];
        for (input, host, port, shown) in cases {
            let addr = EngineAddress::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(addr.host, *host, "{input}");
            assert_eq!(addr.port, *port, "{input}");
            assert_eq!(addr.to_string(), *shown, "{input}");
            assert_eq!(
                EngineAddress::parse(shown).ok(),
                Some(addr),
                "round trip of {shown}"
            );
        }
    }

    #[test]
    fn refused_addresses() {
        let cases = [
            "",
            "   ",
            "https://engine.example.com",
            "engine.example.com/path",
            "user@engine.example.com",
            "engine.example.com:0",
            "engine.example.com:65536",
            "engine.example.com:99999",
            "engine.example.com:",
            "engine.example.com:http",
            "engine.example.com:-1",
            "::1",
            "[::1",
            "[::1]x",
            "[not-v6]:443",
            "bad_host.example.com",
            "-lead.example.com",
            "double..dot.example.com",
            "trailing.dot.",
            "engine example.com",
        ];
        for input in cases {
            let err = EngineAddress::parse(input).expect_err(input);
            let text = err.to_string();
            assert!(text.contains("engine"), "{input}: {text}");
            assert!(text.contains("host:port"), "{input}: {text}");
        }
    }

    #[test]
    fn labels() {
        assert!(is_valid_label("a"));
        assert!(is_valid_label("a-b"));
        assert!(is_valid_label(&"a".repeat(63)));
        assert!(!is_valid_label(&"a".repeat(64)));
        assert!(!is_valid_label("a-"));
        assert!(!is_valid_label(""));
    }
}
