//! The rstream tunnel runtime.
//!
//! `rstream-core` keeps an outbound TLS control channel to an rstream engine,
//! creates tunnels on it, and hands every connection the engine routes to a
//! tunnel to the application as a [`TunnelStream`]-like byte stream. It also
//! dials private tunnels, forwards tunnels to local ports, and resolves
//! configuration exactly like the rstream CLI and the other SDKs.
//!
//! The protocol layer ([`proto`]) and configuration resolution ([`config`])
//! are pure and free of I/O; the async parts are thin layers on top.

#![forbid(unsafe_code)]

pub mod config;
pub mod error;
pub mod proto;

pub use error::{Error, Result};
pub mod secret;

pub use secret::Secret;
