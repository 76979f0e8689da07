//! Checks and normalisation of single setting values: API URLs, regions,
//! control-plane headers, tunnel transport modes and token expiry.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};

use crate::{Error, Result};

/// Trims a value and turns a blank one into `None`.
pub(crate) fn non_blank(value: Option<&str>) -> Option<String> {
    value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// An absolute `http://` or `https://` URL with a host, trailing slashes removed.
pub(crate) fn normalize_api_url(value: &str, setting: &str) -> Result<String> {
    let value = value.trim();
    let lower = value.to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &value["https://".len()..]
    } else if lower.starts_with("http://") {
        &value["http://".len()..]
    } else {
        return Err(Error::config(format!(
            "{setting} {value:?} must start with http:// or https:// and name a host; \
             set it to something like https://rstream.io"
        )));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return Err(Error::config(format!(
            "{setting} {value:?} has no host; set it to something like https://rstream.io"
        )));
    }
    Ok(value.trim_end_matches('/').to_owned())
}

/// A project endpoint goes into a control-plane URL path, so it may not
/// carry URL structure (`/`, `?`, `#`, `%`, `@`, `\`) or spaces.
pub(crate) fn check_project_endpoint(value: String, setting: &str) -> Result<String> {
    if value
        .chars()
        .any(|c| "/?#%@\\".contains(c) || c.is_whitespace())
    {
        return Err(Error::config(format!(
            "{setting} {value:?} is not a project endpoint; give the endpoint name alone (for \
             example abc123), without a URL or a path"
        )));
    }
    Ok(value)
}

/// A region name in lowercase, or `None` for blank or `auto`.
pub(crate) fn normalize_region(value: Option<&str>, setting: &str) -> Result<Option<String>> {
    let Some(value) = non_blank(value) else {
        return Ok(None);
    };
    let lower = value.to_ascii_lowercase();
    if lower == "auto" {
        return Ok(None);
    }
    let bytes = lower.as_bytes();
    let edge_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
    let valid = bytes.len() <= 64
        && edge_ok(bytes.first())
        && edge_ok(bytes.last())
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid {
        return Err(Error::config(format!(
            "{setting} {value:?} is not a valid region: a region is 1 to 64 characters among \
             a-z, 0-9, '.', '_' and '-', beginning and ending with a letter or digit (or \"auto\")"
        )));
    }
    Ok(Some(lower))
}

/// The tunnel transport a setting asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransportMode {
    Auto,
    Tls,
    Quic,
}

impl TransportMode {
    /// `useQuic: true` / `RSTREAM_QUIC_TRANSPORT=1` ask for QUIC, false for TLS.
    pub(crate) fn from_use_quic(quic: bool) -> Self {
        if quic {
            TransportMode::Quic
        } else {
            TransportMode::Tls
        }
    }
}

pub(crate) fn parse_transport_mode(value: &str, setting: &str) -> Result<TransportMode> {
    match value.trim().to_ascii_lowercase().as_str() {
        "auto" => Ok(TransportMode::Auto),
        "tls" => Ok(TransportMode::Tls),
        "quic" => Ok(TransportMode::Quic),
        _ => Err(Error::config(format!(
            "{setting} {value:?} is not a tunnel transport; use auto, tls or quic"
        ))),
    }
}

/// Header names that the control-plane client sets itself or that proxies
/// interpret; configuration may not override them.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "connection",
    "content-length",
    "cookie",
    "forwarded",
    "host",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+.^_`|~-".contains(c)
}

/// `content-type` → `Content-Type`.
fn canonical_header_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => {
                    first.to_ascii_uppercase().to_string() + &chars.as_str().to_ascii_lowercase()
                }
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Checks one source of control-plane headers and merges it into `merged`:
/// names are canonicalised, later sources replace earlier values, and a
/// name given twice within one source is refused.
pub(crate) fn merge_api_headers(
    merged: &mut Vec<(String, String)>,
    source: &[(String, String)],
    setting: &str,
) -> Result<()> {
    let mut seen: Vec<String> = Vec::new();
    for (raw_name, value) in source {
        let name = raw_name.trim();
        if name.is_empty() || !name.chars().all(is_token_char) {
            return Err(Error::config(format!(
                "{setting}: {raw_name:?} is not a valid HTTP header name; \
                 use letters, digits and hyphens"
            )));
        }
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("x-forwarded-") {
            return Err(Error::config(format!(
                "{setting}: the header {name:?} is set by the runtime itself and cannot be \
                 configured; remove it"
            )));
        }
        if value.contains(['\r', '\n']) {
            return Err(Error::config(format!(
                "{setting}: the value of header {name:?} contains a line break; remove it"
            )));
        }
        let canonical = canonical_header_name(name);
        if seen.contains(&canonical) {
            return Err(Error::config(format!(
                "{setting}: the header {canonical:?} is given twice; keep one"
            )));
        }
        seen.push(canonical.clone());
        match merged.iter_mut().find(|(n, _)| *n == canonical) {
            Some(slot) => slot.1 = value.clone(),
            None => merged.push((canonical, value.clone())),
        }
    }
    Ok(())
}

/// Parses `RSTREAM_CONTROL_PLANE_HEADERS`: a JSON object of string values.
pub(crate) fn headers_from_json(text: &str, setting: &str) -> Result<Vec<(String, String)>> {
    let invalid = || {
        Error::config(format!(
            "{setting} must be a JSON object whose values are strings, \
             such as {{\"X-Team\": \"edge\"}}"
        ))
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| invalid())?;
    let object = value.as_object().ok_or_else(invalid)?;
    object
        .iter()
        .map(|(name, value)| {
            value
                .as_str()
                .map(|v| (name.clone(), v.to_owned()))
                .ok_or_else(invalid)
        })
        .collect()
}

const BASE64_URL_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The `exp` claim of a JWT, read without verifying the signature.
///
/// `None` when the token is not a JWT, its payload is not a JSON object, or
/// `exp` is missing or not an integer: such tokens are left to the engine.
pub(crate) fn jwt_expiry(token: &str) -> Option<i128> {
    let payload = token.split('.').nth(1)?;
    let bytes = BASE64_URL_LENIENT
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = value.as_object()?.get("exp")?;
    exp.as_i64()
        .map(i128::from)
        .or_else(|| exp.as_u64().map(i128::from))
}

/// Refuses a JWT whose `exp` is at or before `now_unix`.
pub(crate) fn check_token_expiry(token: &str, now_unix: u64, setting: &str) -> Result<()> {
    match jwt_expiry(token) {
        Some(exp) if exp <= i128::from(now_unix) => Err(Error::config(format!(
            "the authentication token from {setting} expired (exp = {exp}, now = {now_unix}); \
             get a new token, for example with `rstream login`, and set it again"
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.c2ln",
            engine.encode(r#"{"alg":"HS256"}"#),
            engine.encode(payload)
        )
    }

    #[test]
    fn jwt_expiry_table() {
        let cases: &[(String, Option<i128>)] = &[
            (jwt(r#"{"exp":1700000000}"#), Some(1_700_000_000)),
            (jwt(r#"{"exp":-5}"#), Some(-5)),
            (
                jwt(r#"{"exp":18446744073709551615}"#),
                Some(18_446_744_073_709_551_615),
            ),
            (jwt(r#"{"exp":1.5}"#), None),
            (jwt(r#"{"exp":"1700000000"}"#), None),
            (jwt(r#"{"sub":"x"}"#), None),
            (jwt(r#"[1,2]"#), None),
            (jwt("not json"), None),
            ("opaque-token".to_owned(), None),
            ("a.%%%.b".to_owned(), None),
        ];
        for (token, expected) in cases {
            assert_eq!(jwt_expiry(token), *expected, "{token}");
        }
    }

    #[test]
    fn expired_token_message_hides_the_token() {
        let token = jwt(r#"{"exp":100,"sub":"secret-subject"}"#);
        let err = check_token_expiry(&token, 100, "RSTREAM_AUTHENTICATION_TOKEN").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("RSTREAM_AUTHENTICATION_TOKEN"), "{text}");
        assert!(text.contains("expired"), "{text}");
        assert!(!text.contains(&token), "{text}");
        assert!(check_token_expiry(&token, 99, "x").is_ok());
    }

    #[test]
    fn api_urls() {
        let ok = [
            ("https://rstream.io", "https://rstream.io"),
            ("https://rstream.io///", "https://rstream.io"),
            (" http://localhost:8080/api/ ", "http://localhost:8080/api"),
            ("HTTPS://Example.com", "HTTPS://Example.com"),
        ];
        for (input, expected) in ok {
            assert_eq!(normalize_api_url(input, "apiUrl").unwrap(), expected);
        }
        for bad in [
            "rstream.io",
            "ftp://rstream.io",
            "https://",
            "https:///path",
        ] {
            let text = normalize_api_url(bad, "RSTREAM_API_URL")
                .unwrap_err()
                .to_string();
            assert!(text.contains("RSTREAM_API_URL"), "{text}");
        }
    }

    #[test]
    fn regions() {
        assert_eq!(
            normalize_region(Some(" EU-West.1 "), "r")
                .unwrap()
                .as_deref(),
            Some("eu-west.1")
        );
        assert_eq!(normalize_region(Some("auto"), "r").unwrap(), None);
        assert_eq!(normalize_region(Some("  "), "r").unwrap(), None);
        assert_eq!(normalize_region(None, "r").unwrap(), None);
        for bad in ["-eu", "eu-", "eu west", &"a".repeat(65)] {
            assert!(
                normalize_region(Some(bad), "RSTREAM_REGION").is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn header_rules() {
        let pair = |n: &str, v: &str| (n.to_owned(), v.to_owned());
        let mut merged = Vec::new();
        merge_api_headers(
            &mut merged,
            &[pair("x-team", "a"), pair("X-OTHER", "b")],
            "s1",
        )
        .unwrap();
        merge_api_headers(&mut merged, &[pair("X-Team", "c")], "s2").unwrap();
        assert_eq!(merged, vec![pair("X-Team", "c"), pair("X-Other", "b")]);

        let refused = [
            (pair("Authorization", "x"), "cannot be configured"),
            (pair("x-forwarded-for", "x"), "cannot be configured"),
            (pair("bad name", "x"), "not a valid HTTP header name"),
            (pair("X-Ok", "a\r\nInjected: 1"), "line break"),
        ];
        for (header, expected) in refused {
            let text = merge_api_headers(&mut Vec::new(), &[header], "headers")
                .unwrap_err()
                .to_string();
            assert!(
                text.contains(expected) && text.contains("headers"),
                "{text}"
            );
        }
        let dup = merge_api_headers(&mut Vec::new(), &[pair("x-a", "1"), pair("X-A", "2")], "h");
        assert!(dup.unwrap_err().to_string().contains("twice"));
    }

    #[test]
    fn headers_json() {
        let parsed = headers_from_json(r#"{"X-A":"1"}"#, "RSTREAM_CONTROL_PLANE_HEADERS").unwrap();
        assert_eq!(parsed, vec![("X-A".to_owned(), "1".to_owned())]);
        for bad in ["[]", "{\"X-A\": 1}", "nope"] {
            let err = headers_from_json(bad, "RSTREAM_CONTROL_PLANE_HEADERS").unwrap_err();
            assert!(err.to_string().contains("RSTREAM_CONTROL_PLANE_HEADERS"));
        }
    }

    #[test]
    fn transport_modes() {
        assert_eq!(
            parse_transport_mode(" TLS ", "m").unwrap(),
            TransportMode::Tls
        );
        assert_eq!(
            parse_transport_mode("quic", "m").unwrap(),
            TransportMode::Quic
        );
        assert_eq!(
            parse_transport_mode("auto", "m").unwrap(),
            TransportMode::Auto
        );
        assert!(
            parse_transport_mode("udp", "transport.mode")
                .unwrap_err()
                .to_string()
                .contains("transport.mode")
        );
    }
}
