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
//! let control = client.connect().await?;
//! let tunnel = control.create_tunnel(TunnelOptions::new().name("echo")).await?;
//! println!("{}", tunnel.forwarding_address()); // rstrm://echo (unpublished)
//! while let Some(mut stream) = tunnel.accept().await? {
//!     tokio::spawn(async move {
//!         let _ = stream.write_all(b"hello\n").await;
//!     });
//! }
//! # Ok(()) }
//! ```
//!
//! The protocol layer ([`proto`]) is pure and free of I/O; the async parts are
//! thin layers on top.
//!
//! Optional features:
//!
//! - `engine-api`: the `api` module, the engine HTTP API (tunnel and client
//!   inventory, health, and a resuming watch of lifecycle events over
//!   server-sent events or WebSocket).
//! - `control-plane`: the `control_plane` module, resolving a managed
//!   project endpoint to its engine (`ClientBuilder::resolve`,
//!   `Client::resolve_from_env`) and minting short-lived tokens.

#![forbid(unsafe_code)]

#[cfg(feature = "engine-api")]
pub mod api;
mod client;
pub mod config;
mod control;
#[cfg(feature = "control-plane")]
pub mod control_plane;
mod dial;
pub mod error;
#[cfg(any(feature = "engine-api", feature = "control-plane"))]
mod http;
pub mod incoming;
mod options;
pub mod proto;
mod reconnect;
pub mod secret;
pub mod stable_domain;
mod stream;
mod supervisor;
mod transport;
mod tunnel;

pub use client::{
    AGENT, Client, ClientBuilder, DEFAULT_HEARTBEAT_INTERVAL, DEFAULT_OPERATION_TIMEOUT,
};
pub use control::ControlChannel;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use control::fuzz_handle_frames;
pub use error::{Error, Result};
pub use options::{HttpVersion, Protocol, TlsMode, TunnelOptions, forwarding_address};
pub use proto::ErrorCode;
pub use reconnect::ReconnectPolicy;
pub use secret::Secret;
pub use stream::{StreamInfo, TunnelStream};
pub use supervisor::{SupervisedTunnel, TunnelState};
pub use transport::{ClientIdentity, DEFAULT_CONNECT_TIMEOUT, ProxySettings, TlsSettings};
pub use tunnel::{Accept, ForwardTarget, Tunnel};
