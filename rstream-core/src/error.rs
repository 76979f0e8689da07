//! The one error type of `rstream-core`.

use std::fmt;
use std::time::Duration;

use crate::proto::ErrorCode;

/// Everything that can go wrong in the runtime.
///
/// Engine refusals keep the engine's code and message ([`Error::Engine`]);
/// [`Error::is_retryable`] tells whether trying again later may help. No
/// variant ever carries a token, a stream secret or a webhook secret.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid, incomplete or asks for something this
    /// runtime cannot honour. The message names the setting to fix.
    #[error("configuration error: {0}")]
    Config(String),

    /// A socket or file operation failed.
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What the runtime was doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// TLS could not be set up or the handshake failed for a reason that
    /// may pass (a reset connection, say).
    #[error("TLS error: {0}")]
    Tls(String),

    /// The TLS handshake was refused for a reason that trying again will not
    /// fix by itself: the engine's certificate is not trusted, not valid for
    /// its name or out of its validity period, or the peer speaks no rstream
    /// protocol. The message says what to change. Not
    /// [retryable](Error::is_retryable).
    #[error("TLS error: {0}")]
    TlsRejected(String),

    /// An operation did not finish in time. Retrying is safe.
    #[error("timed out after {after:?} while {operation}")]
    Timeout {
        /// What the runtime was waiting for.
        operation: String,
        /// How long it waited.
        after: Duration,
    },

    /// The peer broke the wire protocol (malformed, oversize or unexpected
    /// frame, invalid heartbeat acknowledgement, ...).
    #[error("protocol error: {0}")]
    Protocol(String),

    /// The engine refused the request.
    #[error("the engine refused the request: {message} ({})", EngineCodeDisplay(*.code))]
    Engine {
        /// The engine's error code, as a raw protocol value (see [`ErrorCode`]).
        code: i32,
        /// The engine's message.
        message: String,
    },

    /// The control channel, tunnel or stream is closed.
    #[error("closed: {0}")]
    Closed(String),

    /// An HTTP API (the engine API or the control plane) answered with an
    /// error status. 401 and 403 count as [`Error::is_unauthorized`]; 408,
    /// 429 and 5xx as [`Error::is_retryable`].
    #[error("{request} answered HTTP {status}: {message}")]
    Http {
        /// The HTTP status code.
        status: u16,
        /// The method and path of the request, like `GET /api/tunnels`.
        request: String,
        /// The response body (shortened), or the status reason when empty.
        message: String,
    },

    /// A value handed to the SDK's pure functions was refused before anything
    /// was signed, derived or sent: an application token's resource
    /// boundary, a key that is not what it should be, a TURN parameter out of
    /// range. The message names the value to fix and never holds a secret.
    /// Not [retryable](Error::is_retryable).
    #[error("invalid input: {0}")]
    Invalid(String),
}

struct EngineCodeDisplay(i32);

impl fmt::Display for EngineCodeDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match ErrorCode::try_from(self.0) {
            Ok(code) => write!(f, "code {} {}", self.0, code.as_str_name()),
            Err(_) => write!(f, "code {}", self.0),
        }
    }
}

impl Error {
    /// Builds an [`Error::Io`] with a description of what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// Builds an [`Error::Timeout`].
    pub fn timeout(operation: impl Into<String>, after: Duration) -> Self {
        Error::Timeout {
            operation: operation.into(),
            after,
        }
    }

    /// Builds an [`Error::Engine`] from a code and a message.
    pub fn engine(code: i32, message: impl Into<String>) -> Self {
        Error::Engine {
            code,
            message: message.into(),
        }
    }

    /// Builds an [`Error::Protocol`].
    pub fn protocol(message: impl Into<String>) -> Self {
        Error::Protocol(message.into())
    }

    /// Builds an [`Error::Invalid`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::Invalid(message.into())
    }

    /// Builds an [`Error::Config`].
    pub fn config(message: impl Into<String>) -> Self {
        Error::Config(message.into())
    }

    /// A copy of this error, for when one failure must be reported to many
    /// waiters (every tunnel of a failed control channel, say). I/O errors
    /// keep their kind and message.
    pub fn duplicate(&self) -> Error {
        match self {
            Error::Config(m) => Error::Config(m.clone()),
            Error::Io { context, source } => Error::Io {
                context: context.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            Error::Tls(m) => Error::Tls(m.clone()),
            Error::TlsRejected(m) => Error::TlsRejected(m.clone()),
            Error::Timeout { operation, after } => Error::Timeout {
                operation: operation.clone(),
                after: *after,
            },
            Error::Protocol(m) => Error::Protocol(m.clone()),
            Error::Engine { code, message } => Error::Engine {
                code: *code,
                message: message.clone(),
            },
            Error::Closed(m) => Error::Closed(m.clone()),
            Error::Invalid(m) => Error::Invalid(m.clone()),
            Error::Http {
                status,
                request,
                message,
            } => Error::Http {
                status: *status,
                request: request.clone(),
                message: message.clone(),
            },
        }
    }

    /// The engine's error code, when the engine refused the request and the
    /// code is one this protocol version knows.
    pub fn engine_code(&self) -> Option<ErrorCode> {
        match self {
            Error::Engine { code, .. } => ErrorCode::try_from(*code).ok(),
            _ => None,
        }
    }

    /// Whether trying the same thing again later may succeed: transport
    /// failures, timeouts, and the engine codes 6000 (service unavailable),
    /// 7000 (capacity exhausted) and 9000 (internal).
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Io { .. } | Error::Tls(_) | Error::Timeout { .. } => true,
            Error::Engine { code, .. } => matches!(
                ErrorCode::try_from(*code),
                Ok(ErrorCode::ServiceUnavailable
                    | ErrorCode::CapacityExhausted
                    | ErrorCode::Internal)
            ),
            Error::Http { status, .. } => matches!(status, 408 | 429 | 500..=599),
            _ => false,
        }
    }

    /// Whether the engine refused our credentials (code 1000), or an HTTP
    /// API answered 401 or 403.
    pub fn is_unauthorized(&self) -> bool {
        match self {
            Error::Http { status, .. } => matches!(status, 401 | 403),
            _ => self.engine_code() == Some(ErrorCode::Unauthorized),
        }
    }

    /// The HTTP status, when an HTTP API answered with an error status.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether this is a timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Timeout { .. })
    }

    /// Whether this is a protocol violation by the peer.
    pub fn is_protocol(&self) -> bool {
        matches!(self, Error::Protocol(_))
    }

    /// Whether the channel, tunnel or stream was already closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed(_))
    }

    /// Whether what was asked for does not exist: the engine knows no such
    /// tunnel (code 3000, a dial by a wrong name or id, say), or an HTTP API
    /// answered 404.
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::Http { status, .. } => *status == 404,
            _ => self.engine_code() == Some(ErrorCode::TunnelNotFound),
        }
    }

    /// Whether this is a configuration error: a setting to fix, not
    /// something that may pass.
    pub fn is_config(&self) -> bool {
        matches!(self, Error::Config(_))
    }

    /// Whether a value handed to the SDK was refused before anything was
    /// signed, derived or sent (see [`Error::Invalid`]).
    pub fn is_invalid(&self) -> bool {
        matches!(self, Error::Invalid(_))
    }
}

impl From<crate::proto::FrameError> for Error {
    fn from(value: crate::proto::FrameError) -> Self {
        Error::Protocol(value.to_string())
    }
}

/// An engine refusal as it arrives in a response.
impl From<crate::proto::Error> for Error {
    fn from(value: crate::proto::Error) -> Self {
        Error::engine(value.code, value.message.unwrap_or_default())
    }
}

/// Shorthand for results whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

// Compile-time checks: the handle can cross tasks and threads, as its docs promise.
const _: fn() = || {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Error>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_classification() {
        assert!(Error::io("x", std::io::ErrorKind::ConnectionReset.into()).is_retryable());
        assert!(Error::timeout("x", Duration::from_secs(1)).is_retryable());
        assert!(Error::Tls("handshake".into()).is_retryable());
        for code in [6000, 7000, 9000] {
            assert!(Error::engine(code, "m").is_retryable(), "{code}");
        }
        for code in [0, 1000, 2000, 2010, 2020, 2030, 3000, 4000, 5000, 12345] {
            assert!(!Error::engine(code, "m").is_retryable(), "{code}");
        }
        assert!(!Error::protocol("bad").is_retryable());
        assert!(!Error::config("bad").is_retryable());
        assert!(!Error::Closed("x".into()).is_retryable());
        let http = |status| Error::Http {
            status,
            request: "GET /api/tunnels".into(),
            message: "m".into(),
        };
        for status in [408, 429, 500, 502, 503] {
            assert!(http(status).is_retryable(), "{status}");
            assert!(!http(status).is_unauthorized(), "{status}");
        }
        for status in [400, 401, 403, 404] {
            assert!(!http(status).is_retryable(), "{status}");
        }
        assert!(http(401).is_unauthorized());
        // What callers branch on, each by the error's kind, never its text.
        assert!(http(404).is_not_found() && !http(400).is_not_found());
        assert!(Error::engine(3000, "whatever the text").is_not_found());
        assert!(!Error::engine(2000, "Tunnel not found.").is_not_found());
        assert!(Error::Closed("x".into()).is_closed());
        assert!(!Error::engine(6000, "closed").is_closed());
        assert!(Error::config("x").is_config() && !Error::Tls("x".into()).is_config());
        assert!(Error::invalid("x").is_invalid() && !Error::invalid("x").is_config());
        assert!(!Error::invalid("x").is_retryable() && !Error::invalid("x").is_unauthorized());
        assert!(Error::invalid("ttl").duplicate().is_invalid());
        assert!(!Error::TlsRejected("unknown CA".into()).is_retryable());
        assert!(http(403).is_unauthorized());
        assert_eq!(http(403).http_status(), Some(403));
        assert_eq!(http(403).duplicate().http_status(), Some(403));
        assert!(
            http(401)
                .to_string()
                .contains("GET /api/tunnels answered HTTP 401")
        );
    }

    #[test]
    fn engine_error_display_names_code() {
        let e = Error::engine(1000, "invalid token");
        assert!(e.is_unauthorized());
        let text = e.to_string();
        assert!(text.contains("invalid token"), "{text}");
        assert!(text.contains("1000"), "{text}");
        assert!(text.contains("UNAUTHORIZED"), "{text}");
        assert_eq!(Error::engine(4242, "x").engine_code(), None);
        assert!(Error::engine(4242, "x").to_string().contains("code 4242"));
    }
}
