//! The `rstream-signature` header: parsing, signing and checking.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{Error, Secret};

type HmacSha256 = Hmac<Sha256>;

/// A parsed `rstream-signature` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignatureHeader {
    /// The `t=` value, Unix seconds.
    pub(crate) timestamp: u64,
    /// Every `v1=` value, decoded.
    pub(crate) signatures: Vec<[u8; 32]>,
}

impl SignatureHeader {
    /// Parses `t=<digits>,v1=<64 hex>[,v1=<64 hex>...]`.
    ///
    /// Parts are split on `,` and trimmed; parts with another scheme (`v0=`,
    /// `x=`...) and empty parts are ignored, as the Python SDK does. Stricter
    /// than that SDK: a second `t=` and a `v1=` that is not exactly 64 hex
    /// characters make the header malformed instead of being skipped.
    pub(crate) fn parse(header: &str) -> Result<Self, Error> {
        if header.trim().is_empty() {
            return Err(Error::MissingHeader);
        }
        let mut timestamp = None;
        let mut signatures = Vec::new();
        for part in header.split(',').map(str::trim) {
            if let Some(value) = part.strip_prefix("t=") {
                if timestamp.is_some() {
                    return Err(Error::MalformedHeader("more than one t= timestamp"));
                }
                if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(Error::MalformedHeader(
                        "t= must be Unix seconds, digits only",
                    ));
                }
                let value = value
                    .parse::<u64>()
                    .map_err(|_| Error::MalformedHeader("t= is out of range"))?;
                timestamp = Some(value);
            } else if let Some(value) = part.strip_prefix("v1=") {
                let mut signature = [0u8; 32];
                if value.len() != 64 || hex::decode_to_slice(value, &mut signature).is_err() {
                    return Err(Error::MalformedHeader("v1= must be 64 hex characters"));
                }
                signatures.push(signature);
            }
        }
        let Some(timestamp) = timestamp else {
            return Err(Error::MalformedHeader("no t= timestamp"));
        };
        if signatures.is_empty() {
            return Err(Error::MalformedHeader("no v1= signature"));
        }
        Ok(SignatureHeader {
            timestamp,
            signatures,
        })
    }
}

/// The MAC over `"<timestamp>." + body`, ready to finalize or verify.
fn mac(key: &[u8], timestamp: u64, body: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// Signs `body` as the rstream service does and returns the value of the
/// `rstream-signature` header: `t=<timestamp>,v1=<hex HMAC-SHA256>`.
///
/// The MAC is HMAC-SHA256 keyed with the secret's UTF-8 bytes (the whole
/// `whsec_...` string) over `"<timestamp>." + body`. Fails only when the
/// secret is blank.
///
/// ```
/// let header = rstream_webhooks::sign(b"{}", &"whsec_example".into(), 1_790_000_000)?;
/// assert!(header.starts_with("t=1790000000,v1="));
/// # Ok::<(), rstream_webhooks::Error>(())
/// ```
pub fn sign(body: &[u8], secret: &Secret, timestamp: u64) -> Result<String, Error> {
    let key = secret.key()?;
    let digest = mac(key, timestamp, body).finalize().into_bytes();
    Ok(format!("t={timestamp},v1={}", hex::encode(digest)))
}

/// Whether one of the header's signatures is the MAC of `body`, compared in
/// constant time.
pub(crate) fn signature_matches(key: &[u8], header: &SignatureHeader, body: &[u8]) -> bool {
    let expected = mac(key, header.timestamp, body);
    header.signatures.iter().fold(false, |found, candidate| {
        // verify_slice compares in constant time; every candidate is checked.
        expected.clone().verify_slice(candidate).is_ok() | found
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: &str = "37fbce5bee8b3b1d83dd5ad1afd2945c504450aeb6444689550bab1e5d2e9e77";

    #[test]
    fn parses_several_signatures_and_ignores_other_schemes() {
        let header = format!(" t=17 , v0=whatever,,x, v1={SIG},v1={}", SIG.to_uppercase());
        let parsed = SignatureHeader::parse(&header).unwrap();
        assert_eq!(parsed.timestamp, 17);
        assert_eq!(parsed.signatures.len(), 2);
        assert_eq!(parsed.signatures[0], parsed.signatures[1]);
    }

    #[test]
    fn leading_zeros_are_the_same_timestamp() {
        let parsed = SignatureHeader::parse(&format!("t=0017,v1={SIG}")).unwrap();
        assert_eq!(parsed.timestamp, 17);
    }

    #[test]
    fn malformed_headers_are_refused() {
        let cases = [
            (String::new(), Error::MissingHeader),
            ("   ".to_owned(), Error::MissingHeader),
            (
                format!("v1={SIG}"),
                Error::MalformedHeader("no t= timestamp"),
            ),
            ("t=1".to_owned(), Error::MalformedHeader("no v1= signature")),
            (
                format!("t=,v1={SIG}"),
                Error::MalformedHeader("t= must be Unix seconds, digits only"),
            ),
            (
                format!("t=-5,v1={SIG}"),
                Error::MalformedHeader("t= must be Unix seconds, digits only"),
            ),
            (
                format!("t=+5,v1={SIG}"),
                Error::MalformedHeader("t= must be Unix seconds, digits only"),
            ),
            (
                format!("t=1.5,v1={SIG}"),
                Error::MalformedHeader("t= must be Unix seconds, digits only"),
            ),
            (
                format!("t=99999999999999999999999,v1={SIG}"),
                Error::MalformedHeader("t= is out of range"),
            ),
            (
                format!("t=1,t=2,v1={SIG}"),
                Error::MalformedHeader("more than one t= timestamp"),
            ),
            (
                "t=1,v1=abcd".to_owned(),
                Error::MalformedHeader("v1= must be 64 hex characters"),
            ),
            (
                format!("t=1,v1={SIG}0"),
                Error::MalformedHeader("v1= must be 64 hex characters"),
            ),
            (
                format!("t=1,v1={}", "z".repeat(64)),
                Error::MalformedHeader("v1= must be 64 hex characters"),
            ),
            (
                format!("t=1,v1={SIG},v1=abcd"),
                Error::MalformedHeader("v1= must be 64 hex characters"),
            ),
        ];
        for (header, expected) in cases {
            assert_eq!(SignatureHeader::parse(&header), Err(expected), "{header:?}");
        }
    }

    #[test]
    fn sign_refuses_a_blank_secret() {
        assert_eq!(sign(b"{}", &Secret::new(""), 1), Err(Error::EmptySecret));
    }
}
