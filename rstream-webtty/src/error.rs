//! The one error type of the crate.

use std::time::Duration;

/// What went wrong in a WebTTY client, server or discovery.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration cannot work (a server without authentication, an
    /// invalid URL, ...).
    #[error("WebTTY configuration: {0}")]
    Config(String),
    /// A discovered server cannot be reached the way asked.
    #[error("WebTTY discovery: {0}")]
    Discovery(String),
    /// The peer broke the protocol (a malformed or unexpected frame).
    #[error("WebTTY protocol: {0}")]
    Protocol(String),
    /// The server refused the connection before the session (HTTP status).
    #[error("the WebTTY server refused the connection: HTTP {status}")]
    Refused {
        /// The HTTP status of the refusal (401: the token was refused).
        status: u16,
    },
    /// The server reported a session error.
    #[error("the WebTTY server reported: {0}")]
    Server(String),
    /// The server refused the session for an authentication reason.
    #[error("the WebTTY server refused the session (code {code}): {message}")]
    ProtocolRefusal {
        /// The protocol error code (4: client proof required, ...).
        code: i32,
        /// The server's message.
        message: String,
    },
    /// The command did not finish in time; it was stopped.
    #[error("the WebTTY command did not finish within {0:?}")]
    Timeout(Duration),
    /// The command wrote more than the output limit; it was stopped.
    #[error("the WebTTY command's output passed the {limit}-byte limit")]
    OutputLimit {
        /// The limit, in bytes, on stdout and stderr together.
        limit: usize,
    },
    /// A filesystem sidecar request failed.
    #[error("WebTTY filesystem {operation} failed with status {status}: {message}")]
    Filesystem {
        /// `list`, `stat`, `read`, `write`, `delete` or `mkdir`.
        operation: &'static str,
        /// The HTTP status (0: no response).
        status: u16,
        /// The server's explanation (the first 4 KiB of its answer).
        message: String,
    },
    /// The connection ended before the command's exit status arrived.
    #[error("the WebTTY connection closed before the command exited")]
    Closed,
    /// A network or process I/O error.
    #[error("WebTTY {what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An error of the rstream runtime (a private dial, a tunnel).
    #[error(transparent)]
    Runtime(#[from] rstream_core::Error),
}

impl Error {
    pub(crate) fn io(what: &'static str, source: std::io::Error) -> Error {
        Error::Io { what, source }
    }
}
