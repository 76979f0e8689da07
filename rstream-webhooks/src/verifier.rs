//! The receiver side: [`Verifier`].

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::signature::{SignatureHeader, signature_matches};
use crate::{Error, Secret, WebhookEvent};

/// How far the signed timestamp may be from the receiver's clock by default.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Largest body the framework adapters read by default: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Checks incoming webhooks against a signing secret.
///
/// Cheap to clone; build one at start-up and share it (the axum extractor
/// reads it from the router state, the actix one from `web::Data`).
/// `Debug` does not print the secret.
///
/// ```
/// use std::time::Duration;
/// use rstream_webhooks::{Verifier, sign};
///
/// let verifier = Verifier::new("whsec_example").tolerance(Duration::from_secs(60));
/// let body = br#"{"id":"evt_1","type":"tunnel.created","object":{"id":"tun_1"}}"#;
/// let header = sign(body, &"whsec_example".into(), 1_790_000_000)?;
/// let event = verifier.verify_at(&header, body, 1_790_000_030)?;
/// assert_eq!(event.id, "evt_1");
/// # Ok::<(), rstream_webhooks::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Verifier {
    secret: Secret,
    tolerance: Duration,
    max_body_bytes: usize,
}

impl Verifier {
    /// A verifier for this secret, with a 300 s tolerance and a 1 MiB body
    /// limit. A blank secret makes every verification fail with
    /// [`Error::EmptySecret`].
    pub fn new(secret: impl Into<Secret>) -> Self {
        Verifier {
            secret: secret.into(),
            tolerance: DEFAULT_TOLERANCE,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }

    /// How far (either way) the signed timestamp may be from the receiver's
    /// clock; whole seconds count, the rest is dropped. Default 300 s.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Largest body the framework adapters read before answering 413.
    /// Default 1 MiB. [`Verifier::verify`] itself takes any slice.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// The configured tolerance.
    pub fn get_tolerance(&self) -> Duration {
        self.tolerance
    }

    /// The configured body limit, in bytes.
    pub fn get_max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    /// Verifies a delivery against the system clock.
    ///
    /// `signature_header` is the value of the `rstream-signature` header and
    /// `body` the raw request body, byte for byte as received.
    pub fn verify(&self, signature_header: &str, body: &[u8]) -> Result<WebhookEvent, Error> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        self.verify_at(signature_header, body, now)
    }

    /// Verifies a delivery as if the clock read `now_unix` (Unix seconds).
    ///
    /// Checks, in order: the secret is not blank, the header is well formed,
    /// the timestamp is within the tolerance, one `v1=` signature matches
    /// (constant-time), and the body is a deliverable event.
    pub fn verify_at(
        &self,
        signature_header: &str,
        body: &[u8],
        now_unix: u64,
    ) -> Result<WebhookEvent, Error> {
        let key = self.secret.key()?;
        let header = SignatureHeader::parse(signature_header)?;
        let tolerance_secs = self.tolerance.as_secs();
        if header.timestamp.abs_diff(now_unix) > tolerance_secs {
            return Err(Error::TimestampOutOfTolerance {
                timestamp: header.timestamp,
                now: now_unix,
                tolerance_secs,
            });
        }
        if !signature_matches(key, &header, body) {
            return Err(Error::SignatureMismatch);
        }
        WebhookEvent::from_slice(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_secret() {
        let verifier = Verifier::new("whsec_top-secret");
        let text = format!("{verifier:?}");
        assert!(!text.contains("top-secret"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }

    #[test]
    fn blank_secret_fails_closed() {
        let verifier = Verifier::new(" ");
        assert_eq!(
            verifier.verify_at("t=1,v1=00", b"{}", 1),
            Err(Error::EmptySecret)
        );
    }

    #[test]
    fn defaults() {
        let verifier = Verifier::new("s");
        assert_eq!(verifier.get_tolerance(), Duration::from_secs(300));
        assert_eq!(verifier.get_max_body_bytes(), 1 << 20);
    }
}
