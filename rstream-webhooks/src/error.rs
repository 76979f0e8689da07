//! The one error type of this crate.

/// Why a webhook could not be signed or verified.
///
/// Messages say what was wrong and never repeat the secret, the signature or
/// the body. [`Error::status_code`] maps each case to the HTTP status a
/// receiver should answer with; the framework adapters use it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The signing secret is empty or only whitespace.
    #[error("the webhook signing secret is empty; set it to the whsec_... value of the webhook")]
    EmptySecret,

    /// The `rstream-signature` header is absent or empty.
    #[error("missing rstream-signature header")]
    MissingHeader,

    /// The `rstream-signature` header is not `t=<unix seconds>,v1=<64 hex>[,v1=...]`.
    #[error("malformed rstream-signature header: {0}")]
    MalformedHeader(&'static str),

    /// The signed timestamp is further from the receiver's clock than the tolerance.
    #[error(
        "webhook timestamp {timestamp} is outside the {tolerance_secs}s tolerance around the receiver's clock ({now}); check the clock, or this is a replay"
    )]
    TimestampOutOfTolerance {
        /// The `t=` value of the header, in Unix seconds.
        timestamp: u64,
        /// The receiver's clock, in Unix seconds.
        now: u64,
        /// The allowed distance, in seconds.
        tolerance_secs: u64,
    },

    /// No `v1=` signature matches the body under this secret.
    #[error("webhook signature does not match the body; check the signing secret")]
    SignatureMismatch,

    /// The body is not valid UTF-8 JSON.
    #[error("webhook body is not valid JSON (line {line}, column {column})")]
    InvalidJson {
        /// Line of the first error, starting at 1.
        line: usize,
        /// Column of the first error, starting at 1.
        column: usize,
    },

    /// The body is JSON but not a deliverable rstream event.
    #[error("webhook body is not an rstream event: {0}")]
    InvalidEvent(&'static str),

    /// A value meant for an outgoing header is empty or holds characters a
    /// header cannot carry.
    #[error("{0} is empty or not a valid header value")]
    InvalidHeaderValue(&'static str),

    /// The body is larger than the receiver accepts.
    #[error("webhook body is larger than {limit} bytes")]
    BodyTooLarge {
        /// The configured limit, in bytes.
        limit: usize,
    },

    /// The body could not be read from the connection.
    #[error("webhook body could not be read")]
    BodyUnreadable,
}

impl Error {
    /// The HTTP status a receiver should answer with.
    ///
    /// `401` when the request is well formed but not authentic (bad
    /// signature, stale or future timestamp), `413` when the body is too
    /// large, `500` when the receiver itself is misconfigured (empty secret),
    /// and `400` for anything malformed.
    pub fn status_code(&self) -> u16 {
        match self {
            Error::SignatureMismatch | Error::TimestampOutOfTolerance { .. } => 401,
            Error::BodyTooLarge { .. } => 413,
            Error::EmptySecret => 500,
            _ => 400,
        }
    }

    /// Whether the request failed authentication (status 401).
    pub fn is_unauthenticated(&self) -> bool {
        self.status_code() == 401
    }
}
