//! The signing secret and its generator.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use subtle::ConstantTimeEq as _;

/// Prefix of every rstream webhook signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// A webhook signing secret, such as `whsec_...`.
///
/// The HMAC key is the whole string as UTF-8, prefix included: the secret is
/// not base64-decoded. `Debug` prints `Secret(<redacted>)` and there is no
/// `Display`, so a secret does not end up in logs by accident. Cloning is
/// cheap (shared), and `==` compares in constant time for equal lengths.
#[derive(Clone)]
pub struct Secret(Arc<str>);

impl Secret {
    /// Wraps a secret as given. An empty secret is accepted here and refused
    /// when used, with [`Error::EmptySecret`](crate::Error::EmptySecret).
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(Arc::from(secret.into()))
    }

    /// The secret itself; handle with care.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The HMAC key: the secret's UTF-8 bytes, or an error when it is blank.
    pub(crate) fn key(&self) -> Result<&[u8], crate::Error> {
        if self.0.trim().is_empty() {
            return Err(crate::Error::EmptySecret);
        }
        Ok(self.0.as_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Secret {}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Secret(Arc::from(secret))
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Self {
        Secret(Arc::from(secret))
    }
}

/// Generates a new signing secret: `whsec_` followed by 32 random bytes from
/// a cryptographically secure generator seeded by the operating system, url-safe base64 without padding (43
/// characters).
pub fn generate_secret() -> Secret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    Secret::new(format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_has_the_documented_shape() {
        let secret = generate_secret();
        let text = secret.expose();
        assert!(text.starts_with("whsec_"));
        let encoded = &text["whsec_".len()..];
        assert_eq!(encoded.len(), 43);
        assert!(!encoded.contains('='));
        assert_eq!(URL_SAFE_NO_PAD.decode(encoded).unwrap().len(), 32);
        assert_ne!(generate_secret(), secret);
    }

    #[test]
    fn debug_redacts() {
        let secret = Secret::new("whsec_do-not-print");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn blank_secret_is_refused_when_used() {
        assert_eq!(Secret::new("  ").key(), Err(crate::Error::EmptySecret));
        assert_eq!(Secret::new("k").key(), Ok(&b"k"[..]));
    }
}
