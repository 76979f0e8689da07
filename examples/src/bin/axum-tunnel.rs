//! User story: "I have an axum app. I want it on a public HTTPS address
//! without opening a port, running a reverse proxy, or binding to
//! localhost: the tunnel hands connections straight to my Router."
//!
//! ```text
//! cargo run -p rstream-examples --bin axum-tunnel
//! ```
//!
//! With no rstream engine configured it starts a local engine in-process and
//! prints a `curl` command that works on this machine; with `RSTREAM_ENGINE`
//! and `RSTREAM_AUTHENTICATION_TOKEN` (or a `~/.rstream/config.yaml`
//! context) it publishes on that engine. The tunnel rides over reconnects:
//! it comes back by itself after network failures or engine restarts.
//!
//! `--exit-after-first-request` stops it gracefully once one request has
//! been answered (CI uses it).

use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::{Router, routing::get};
use rstream_axum::{TunnelAddr, TunnelListener};
use rstream_core::TunnelOptions;
use rstream_examples::{BoxError, client_or_local_engine};
use tokio::sync::Notify;

async fn hello(
    State(answered): State<Arc<Notify>>,
    ConnectInfo(addr): ConnectInfo<TunnelAddr>,
) -> String {
    answered.notify_one();
    let from = addr
        .source_ip()
        .map_or_else(|| "an unknown address".to_owned(), |ip| ip.to_string());
    format!("Hello from axum, through an rstream tunnel! You came from {from}.\n")
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let exit_after_first_request = std::env::args().any(|a| a == "--exit-after-first-request");
    let setup = client_or_local_engine().await?;

    let tunnel = setup
        .client()
        .tunnel(TunnelOptions::http().publish(true).name("axum-tunnel"))
        .await?;
    let address = tunnel.forwarding_address();
    setup.print_http_instructions(&address, "/");

    let answered = Arc::new(Notify::new());
    let app = Router::new()
        .route("/", get(hello))
        .with_state(answered.clone());

    let listener = TunnelListener::new(tunnel);
    let tunnel_closed = listener.closed();
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<TunnelAddr>(),
    )
    .with_graceful_shutdown(async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = tunnel_closed => {}
            () = answered.notified(), if exit_after_first_request => {}
        }
    })
    .await?;
    setup.finish().await;
    println!("stopped");
    Ok(())
}
