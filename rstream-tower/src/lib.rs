//! Serve any tower `Service` over rstream tunnel streams, in-process, and
//! reach private tunnels over HTTP from handlers.
//!
//! A tunnel hands the application one [`TunnelStream`](rstream_core::TunnelStream)
//! per client connection. [`serve`] runs hyper on each of them, so an axum
//! `Router` (or any tower service) answers the tunnel's traffic with no
//! loopback port in between: HTTP/1.1 with keep-alive and pipelining,
//! HTTP/2, WebSocket upgrades, graceful shutdown, and the stream's
//! [`StreamInfo`] on every request.
//!
//! ```no_run
//! use axum::{Extension, Router, routing::get};
//! use rstream_core::{Client, StreamInfo, TunnelOptions};
//!
//! # async fn run() -> Result<(), rstream_core::Error> {
//! let client = Client::from_env()?;
//! let tunnel = client.tunnel(TunnelOptions::http().publish(true)).await?;
//! println!("serving at {:?}", tunnel.forwarding_address());
//!
//! let app = Router::new().route(
//!     "/",
//!     get(|Extension(info): Extension<StreamInfo>| async move {
//!         format!("hello from {:?}\n", info.source_ip)
//!     }),
//! );
//! rstream_tower::serve(tunnel, app)
//!     .with_graceful_shutdown(async {
//!         let _ = tokio::signal::ctrl_c().await;
//!     })
//!     .await
//! # }
//! ```
//!
//! The other direction, a handler calling a private tunnel over pooled
//! keep-alive HTTP, is [`TunnelConnector`].

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod conn;
mod connector;
mod serve;

pub use connector::{Connecting, TunnelConnection, TunnelConnector};
pub use rstream_core::StreamInfo;
pub use rstream_core::incoming::ServeLimits;
pub use serve::{DEFAULT_MAX_HEADER_SIZE, Serve, ServeFuture, serve};

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}

    #[test]
    fn public_types_are_send_and_sync_as_promised() {
        send_sync::<TunnelConnector>();
        send_sync::<TunnelConnection>();
        send::<Connecting>();
        send::<ServeFuture>();
        send_sync::<Serve<rstream_core::Tunnel, axum::Router>>();
    }
}
