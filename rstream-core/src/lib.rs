//! The rstream tunnel runtime.
//!
//! `rstream-core` keeps an outbound TLS control channel to an rstream engine,
//! creates tunnels on it, and hands every connection the engine routes to a
//! tunnel to the application as a [`TunnelStream`]. It also dials private
//! tunnels, forwards tunnels to local ports, and resolves configuration like
//! the rstream CLI and the other SDKs.
//!
//! ```no_run
//! # async fn run() -> rstream_core::Result<()> {
//! use rstream_core::{Client, TunnelOptions};
//! use tokio::io::AsyncWriteExt;
//!
//! let client = Client::builder().engine("engine.example.com").token("tok_...").build()?;
//! let tunnel = client.tunnel(TunnelOptions::new().name("echo")).await?;
//! println!("{}", tunnel.forwarding_address()); // rstrm://echo (unpublished)
//! while let Some(mut stream) = tunnel.accept().await? {
//!     tokio::spawn(async move {
//!         let _ = stream.write_all(b"hello\n").await;
//!     });
//! }
//! # Ok(()) }
//! ```
//!
//! # Layers
//!
//! Data flows from the engine up to the application; each layer uses only
//! the ones below it (no module cycles):
//!
//! | module | owns | I/O |
//! |---|---|---|
//! | [`proto`] | the protocol's messages and the frame codec (shared with the local engine and the fuzz targets) | none |
//! | [`config`] | configuration: explicit options, `RSTREAM_*`, the YAML context | reads files and the environment |
//! | `transport` (internal) | TCP, HTTP `CONNECT` proxies, rustls (ALPN, SNI, CA, mTLS, resumption) | yes |
//! | `dial` (internal) | the two stream handshakes: `ProxyReq` for accepted streams, `StreamReq` for dials | yes |
//! | `control::state` (internal) | the control channel's protocol as a pure state machine: frames, ticks and requests in; frames to send, streams to open, tunnels to notify out | none: unit-tested and fuzzed directly |
//! | `control` (internal) | one control channel: the tasks that drive the state machine, and the tunnels created on it | yes |
//! | `reconnect` (internal) | [`ReconnectPolicy`] and the delays it gives | none |
//! | [`ControlChannel`] (`session`) | a session: one control channel at a time, reconnecting by itself and creating its tunnels again on each | yes |
//! | [`Tunnel`] | one tunnel for its whole life: `accept()` across reconnects, a stable forwarding address, a watchable [`TunnelState`] | yes |
//! | [`incoming`] | the one accept pipeline the framework crates share: guarded connections, limits, end of the tunnel | yes |
//! | [`auth`] | application credentials and the ES512 tokens minted from them, with typed resource boundaries | none |
//! | [`turn`] | TURN credentials derived locally (PAT and APP modes), relay URLs | none |
//! | `api`, `control_plane` (features) | the engine HTTP API and the control plane | yes |
//!
//! Handles and what closing them does: dropping the last clone of a
//! [`Tunnel`] closes it at the engine in the background, and
//! [`Tunnel::close`] does it now; a [`ControlChannel`] lives while any clone
//! or any of its tunnels does; a [`TunnelStream`] is its own TLS connection,
//! unaffected by both (see its docs for its own close and drop).
//!
//! Optional features:
//!
//! - `ring` (default) or `aws-lc-rs`: the TLS crypto backend, named like
//!   rustls' own features (with both on, aws-lc-rs is used).
//! - `engine-api`: the `api` module, the engine HTTP API (tunnel and client
//!   inventory, health, and a resuming watch of lifecycle events over
//!   server-sent events or WebSocket).
//! - `control-plane`: the `control_plane` module, resolving a managed
//!   project endpoint to its engine (`ClientBuilder::resolve`,
//!   `Client::resolve_from_env`), minting short-lived tokens, `whoami`,
//!   project listing and TURN credentials, with a token or application
//!   credentials.

#![forbid(unsafe_code)]

#[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
compile_error!(
    "rstream-core needs a TLS crypto backend: its `ring` feature (the default) or `aws-lc-rs`"
);

#[cfg(feature = "engine-api")]
pub mod api;
pub mod auth;
mod client;
pub mod config;
mod control;
#[cfg(feature = "control-plane")]
pub mod control_plane;
pub mod error;
mod handshake;
#[cfg(any(feature = "engine-api", feature = "control-plane"))]
mod http;
pub mod incoming;
mod info;
mod link;
mod options;
pub mod proto;
mod reconnect;
pub mod secret;
mod session;
pub mod stable_domain;
mod stream;
mod transport;
mod tunnel;
pub mod turn;

pub use client::{
    AGENT, Client, ClientBuilder, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_OPERATION_TIMEOUT,
    DialOptions,
};
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use control::fuzz_handle_frames;
pub use error::{Error, Result};
pub use info::{EngineDetails, Heartbeat, TunnelInfo};
pub use options::{HttpVersion, Protocol, TlsMode, TunnelOptions};
pub use proto::ErrorCode;
pub use reconnect::ReconnectPolicy;
pub use secret::Secret;
pub use session::ControlChannel;
pub use stream::{StreamInfo, TunnelStream};
pub use transport::{ClientIdentity, DEFAULT_CONNECT_TIMEOUT, ProxySettings, TlsSettings};
pub use tunnel::{Accept, ForwardTarget, Tunnel, TunnelState};
