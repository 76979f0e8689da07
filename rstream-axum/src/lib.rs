//! `axum::serve` over an rstream tunnel, with connection info.
//!
//! [`TunnelListener`] implements [`axum::serve::Listener`] over any
//! [`Accept`] (a [`Tunnel`](rstream_core::Tunnel)), so axum's own
//! `serve` answers the tunnel's traffic in-process, with no loopback port,
//! and [`ConnectInfo<TunnelAddr>`](axum::extract::ConnectInfo) tells each
//! handler where the client came from.
//!
//! ```no_run
//! use axum::{Router, extract::ConnectInfo, routing::get};
//! use rstream_axum::{TunnelAddr, TunnelListener};
//! use rstream_core::{Client, TunnelOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::from_env()?;
//! let tunnel = client.tunnel(TunnelOptions::http().publish(true)).await?;
//! println!("serving at {:?}", tunnel.forwarding_address());
//!
//! let app = Router::new().route(
//!     "/",
//!     get(|ConnectInfo(addr): ConnectInfo<TunnelAddr>| async move {
//!         format!("hello {:?}\n", addr.source_ip())
//!     }),
//! );
//! let listener = TunnelListener::new(tunnel);
//! let tunnel_closed = listener.closed();
//! axum::serve(listener, app.into_make_service_with_connect_info::<TunnelAddr>())
//!     .with_graceful_shutdown(async move {
//!         tokio::select! {
//!             _ = tokio::signal::ctrl_c() => {}
//!             () = tunnel_closed => {}
//!         }
//!     })
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # Protections, and when the tunnel ends
//!
//! [`TunnelListener`] hands out connections through the accept pipeline
//! every serving path shares ([`rstream_core::incoming`]): a client that
//! sends nothing, or not a whole first request head, within the header read
//! timeout (30 s by default) is cut off, and at most `max_connections`
//! (1024 by default) are open at once, exactly as with
//! `rstream_tower::serve` and `rstream_actix::serve` ([`ServeLimits`],
//! [`TunnelListener::with_limits`]).
//!
//! axum's `Listener::accept` cannot fail or report an end, so once the
//! tunnel is closed or has failed (an accept error is final by the
//! [`Accept`] contract; it is logged at `error`), [`TunnelListener`] never
//! yields another connection: `axum::serve` on its own would then wait
//! forever. Pass [`TunnelListener::closed`] to `with_graceful_shutdown`, as
//! above, and `serve` returns once the connections still open are done. A
//! [`Tunnel`](rstream_core::Tunnel) only ends when it is closed or its
//! session gives up (bad credentials): engine restarts and network failures
//! are invisible to the app.
//!
//! [`serve`] (this crate's) does all of that for you: it serves the same
//! `Router`, with the same `ConnectInfo<TunnelAddr>`, through
//! [`rstream_tower::serve`], so it also times the head of every later
//! request on a kept-alive connection, bounds a graceful shutdown by a
//! deadline, and returns by itself when the tunnel ends. Use
//! `axum::serve` over a [`TunnelListener`] when you want axum's own server
//! loop. Handlers reach private tunnels over HTTP with [`TunnelConnector`].
//!
//! # Features
//!
//! `http1` (on by default) and `http2` turn on axum's features of the same
//! name, which decide the protocols `axum::serve` speaks; at least one is
//! needed. With `http2`, clients with prior knowledge (a dialed stream, say)
//! get HTTP/2.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

#[cfg(not(any(feature = "http1", feature = "http2")))]
compile_error!("rstream-axum needs its `http1` feature, its `http2` feature, or both");

mod addr;
mod listener;
mod serve;

pub use addr::TunnelAddr;
pub use listener::TunnelListener;
pub use rstream_core::incoming::ServeLimits;
pub use rstream_core::{Accept, StreamInfo};
pub use rstream_tower::{TunnelConnection, TunnelConnector};
pub use serve::{WithConnectInfo, serve};

#[cfg(test)]
mod tests {
    use super::*;

    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_and_sync_as_promised() {
        send_sync::<TunnelAddr>();
        send_sync::<TunnelListener<rstream_core::Tunnel>>();
    }
}
