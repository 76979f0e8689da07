//! WebTTY over rstream: run commands on machines behind tunnels, and serve
//! WebTTY from a Rust process on a tunnel it owns.
//!
//! - **Discovery** ([`servers`]): the WebTTY servers of a project, read
//!   from the tunnel inventory's labels (capabilities, exec and filesystem
//!   paths, transport, OS facts, custom labels).
//! - **Client** ([`run_command`], [`open_command`]): a command's exit
//!   status, stdout and stderr, collected (with a timeout and an output
//!   limit) or streamed (stdin writes, terminal resizes, output events).
//!   Over a WebSocket to a published URL (with `rstream.token`), or over a
//!   private dial through the engine ([`Endpoint::private`]).
//! - **Server** ([`Server`]): serves each accepted stream of a tunnel as
//!   one WebTTY session, in-process: the command runs with pipes, or on a
//!   pseudo-terminal (Unix) when the client asks for one; resizes, stdin,
//!   exit status and heartbeats follow the protocol.
//! - **Authenticated, end-to-end encrypted sessions**: a server with an
//!   [identity](ServerBuilder::identity) signs a hello, requires a client
//!   proof by an [authorized](ServerBuilder::authorize_client) key, and
//!   exchanges stdin, stdout and stderr encrypted with a session key only it
//!   can unwrap; a client [pins](Endpoint::trust_server) the server's
//!   [`ServerKeys`]. The byte layouts are the references' ([`crypto`]),
//!   checked against their test vectors.
//! - **Filesystem sidecar** ([`FileSystem`]; served with
//!   [`ServerBuilder::filesystem`]): list, stat, read, write, delete and
//!   make directories over WebDAV at the advertised path.
//!
//! ```no_run
//! # async fn demo() -> Result<(), rstream_webtty::Error> {
//! use rstream_webtty::{CommandOptions, Endpoint, run_command};
//!
//! let endpoint = Endpoint::url("wss://shell.example.t.rstream.io/")?.token("<token>");
//! let output = run_command(&endpoint, &CommandOptions::new(["uname", "-a"])).await?;
//! println!("{} (exit {})", String::from_utf8_lossy(&output.stdout), output.exit_code);
//! # Ok(()) }
//! ```
//!
//! # Security model
//!
//! A WebTTY server runs commands as the user of the process that serves
//! it, with that user's rights. Whoever opens a session can do anything
//! that user can. So a [`Server`] never starts without authentication
//! ([`ServerBuilder::build`] refuses), and it is one or more of:
//!
//! - **a bearer token** of the server's own
//!   ([`ServerBuilder::bearer_token`]), checked in constant time on every
//!   request (terminal and filesystem);
//! - **the engine's authentication** ([`ServerBuilder::engine_auth`]): the
//!   tunnel is private (only clients with the project's credentials can
//!   dial it) or published with token authentication (the edge refuses
//!   requests without a valid `rstream.token`). [`Server::serve`] refuses a
//!   tunnel published without it;
//! - **client proofs** ([`ServerBuilder::identity`] with
//!   [`ServerBuilder::authorize_client`]): each session is signed by a key
//!   the server knows, bound to the session's nonce and to the exact
//!   command, valid 30 seconds; and its payloads are end-to-end encrypted,
//!   so the engine relaying them sees neither commands' input nor output.
//!
//! Commands get a small environment (`PATH`, `HOME`, `USER`, `SHELL`, the
//! locale and time zone, what the server adds with [`ServerBuilder::env`],
//! and the client's variables), not the server's own environment, which
//! may hold credentials. A session that ends for any reason kills the
//! command's whole process group. Choosing another OS user is refused. The
//! filesystem sidecar shares one directory (paths cannot leave it, symbolic
//! links included) and is not offered by a server with an identity, as its
//! bytes are not end-to-end encrypted.
//!
//! Not implemented: the WebTransport and plain transports (WebSocket
//! only), attaching to sessions (an engine feature), workspace-managed
//! encryption policies, and terminals on Windows.

mod client;
pub mod crypto;
pub mod discovery;
mod error;
mod fs_client;
mod fs_server;
mod handshake;
mod host;
mod process;
pub mod proto;
mod server;
mod wire;

pub use client::{
    Command, CommandIo, CommandOptions, DEFAULT_CONNECT_TIMEOUT, DEFAULT_OUTPUT_LIMIT, Endpoint,
    Event, HEARTBEAT_INTERVAL, Output, STDIN_CHUNK, TerminalSize, open_command, run_command,
};
pub use discovery::{Capability, DiscoveryOptions, FsMode, ServerInfo, Transport, servers};
pub use error::Error;
pub use fs_client::{DEFAULT_READ_LIMIT, Entry, EntryKind, FileSystem};
pub use fs_server::{FS_MAX_UPLOAD, FS_PATH};
pub use handshake::{PROOF_LIFETIME, PROOF_SKEW, ServerKeys, answer_hello};
pub use server::{OPEN_DEADLINE, SERVER_HEARTBEAT, Server, ServerBuilder};
pub use wire::MAX_MESSAGE_SIZE;

/// Base64url without padding, the encoding of key ids in labels and files.
pub(crate) fn b64u(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url (padded or not).
pub(crate) fn b64u_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .ok()
}

/// What is percent-encoded in a URL path segment or query value: all but
/// the unreserved characters of RFC 3986.
pub(crate) const URL_COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
