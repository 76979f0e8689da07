//! Errors of the local engine.

use std::io;

/// What can go wrong when starting the local engine or opening a stream
/// through it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What the engine was doing.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Generating certificates or setting up TLS failed.
    #[error("TLS set-up failed: {0}")]
    Tls(String),
    /// No tunnel has this id (or name).
    #[error("no tunnel {0:?} on the local engine")]
    TunnelNotFound(String),
    /// The runtime (or a fault injection) refused the stream.
    #[error("the stream was refused: {0}")]
    Refused(String),
    /// The runtime did not open the stream in time.
    #[error("the runtime did not open the stream in time")]
    Timeout,
    /// The engine was shut down or restarted, or the control channel ended.
    #[error("closed: {0}")]
    Closed(String),
    /// A bad frame or message.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}
