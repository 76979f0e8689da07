//! Serve an actix-web `App` over rstream tunnel streams, in-process.
//!
//! `actix_web::HttpServer` only listens on sockets, so this crate drives
//! actix-http's `HttpService` over tunnel streams itself, the way actix-web
//! serves Unix sockets. Give [`serve`] a tunnel and the same `App` factory
//! you would give `HttpServer::new`:
//!
//! ```no_run
//! use actix_web::{App, HttpRequest, web};
//! use rstream_core::{Client, TunnelOptions};
//!
//! async fn hello(req: HttpRequest) -> String {
//!     // What the engine said about the stream, and the client's address.
//!     let info = req.conn_data::<rstream_actix::StreamInfo>();
//!     format!("hello {:?} via {:?}\n", req.peer_addr(), info.map(|i| &i.stream_id))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let client = Client::from_env()?;
//!     let tunnel = client
//!         .tunnel(TunnelOptions::http().publish(true).name("actix-hello"))
//!         .await?;
//!     println!("serving on {}", tunnel.forwarding_address());
//!
//!     rstream_actix::serve(tunnel, || App::new().route("/", web::get().to(hello)))
//!         .workers(2)
//!         .with_graceful_shutdown(async {
//!             let _ = tokio::signal::ctrl_c().await;
//!         })
//!         .await?;
//!     Ok(())
//! }
//! ```
//!
//! # How it runs
//!
//! Awaiting [`Serve`] starts the workers: OS threads, each running its own
//! `actix_rt::System` with its own `App` built from the factory, so handlers
//! and `App` state need not be `Send` (share state across workers with
//! `web::Data` created outside the factory, as with `HttpServer`). The
//! awaiting task accepts streams from the tunnel and hands each, through a
//! channel, to the worker with the fewest open connections. The future ends when the tunnel closes
//! (`Ok`) or fails (`Error::Accept`: by the [`Accept`](rstream_core::Accept) contract an accept
//! error is final; a tunnel fails only once its session gave up reconnecting).
//!
//! Every stream speaks HTTP/1.1 (with keep-alive) or, when it opens with the
//! HTTP/2 connection preface, HTTP/2 with prior knowledge. WebSockets work
//! through HTTP/1.1 upgrades, for example with `actix-ws`.
//!
//! # Limits
//!
//! Streams reach the workers through the accept pipeline every serving path
//! shares ([`rstream_core::incoming`]), with the same knobs and defaults as
//! `rstream_tower::serve` and `rstream_axum`: [`Serve::header_read_timeout`]
//! (30 s: the first bytes, and each request head, actix-http's client
//! request timeout), [`Serve::max_connections`] (1024, all workers
//! together), [`Serve::shutdown_deadline`] (30 s), or all three as one
//! [`ServeLimits`].
//!
//! # What handlers see
//!
//! - [`HttpRequest::conn_data::<StreamInfo>()`](actix_web::HttpRequest::conn_data)
//!   gives the [`StreamInfo`] of the stream: tunnel id, stream id, source IP.
//! - [`HttpRequest::peer_addr()`](actix_web::HttpRequest::peer_addr) is the
//!   source IP that the engine reported, with port 0 (the engine does not
//!   report ports), or `None` when it reported none.
//!
//! # Shutdown and failures
//!
//! When the tunnel closes or the graceful shutdown signal fires, accepting
//! stops; requests in flight may finish within the shutdown deadline, then
//! the workers stop and the future returns. Meanwhile HTTP/1.1 responses
//! carry `Connection: close`, and connections with no request in flight are
//! closed as soon as what they were sending is out (WebSockets and other
//! streaming responses count as in flight until they end). A handler that panics answers its request with a
//! 500; other requests and connections are untouched.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]

mod activity;
mod dispatch;
mod error;
mod io;
mod serve;
mod worker;

pub use actix_http::KeepAlive;
pub use error::Error;
pub use rstream_core::StreamInfo;
pub use rstream_core::incoming::ServeLimits;
pub use serve::{Serve, serve};
