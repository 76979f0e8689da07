//! User story: "My service must stay reachable when the engine restarts or
//! the network drops, without code of mine to reconnect."
//!
//! ```text
//! cargo run -p rstream-examples --bin reconnecting-axum
//! ```
//!
//! The axum app is served from a tunnel that rides over reconnects, and every state change
//! (connecting, online, reconnecting with the next delay, ...) is printed.
//! With no rstream engine configured it starts a local engine in-process and
//! demonstrates the point: it restarts that engine three times, fetching
//! the app through the engine's edge before and after each restart, then
//! exits. With a configured engine it serves until Ctrl-C; restart or cut
//! the engine to watch it come back.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get as route_get;
use rstream_axum::TunnelListener;
use rstream_core::{TunnelOptions, TunnelState};
use rstream_examples::{BoxError, client_or_local_engine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let setup = client_or_local_engine().await?;
    let tunnel = setup
        .client()
        .tunnel(
            TunnelOptions::http()
                .publish(true)
                .name("reconnecting-axum"),
        )
        .await?;
    let address = tunnel.forwarding_address();
    setup.print_http_instructions(&address, "/");

    // Log every state change.
    let mut states = tunnel.watch_state();
    tokio::spawn(async move {
        loop {
            match &*states.borrow_and_update() {
                TunnelState::Connecting => println!("state: connecting"),
                TunnelState::Online { tunnel_id, .. } => println!("state: online ({tunnel_id})"),
                TunnelState::Reconnecting {
                    attempt,
                    last_error,
                    next_delay,
                } => println!(
                    "state: reconnecting (attempt {attempt}, next in {next_delay:?}): {last_error}"
                ),
                TunnelState::Failed(e) => println!("state: failed: {e}"),
                TunnelState::Closed => println!("state: closed"),
                _ => println!("state: (unknown)"),
            }
            if states.changed().await.is_err() {
                break;
            }
        }
    });

    let app = Router::new().route("/", route_get(|| async { "still here\n" }));
    let listener = TunnelListener::new(tunnel.clone());
    let tunnel_closed = listener.closed();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(tunnel_closed)
            .await
    });

    match setup.local_engine() {
        Some(engine) => {
            let host = address.trim_start_matches("https://").to_owned();
            for round in 1..=3 {
                println!(
                    "GET through the edge: {}",
                    get(engine.edge_addr(), &host).await?
                );
                println!("restarting the local engine ({round}/3)");
                engine.restart().await?;
                println!(
                    "GET through the edge: {}",
                    get(engine.edge_addr(), &host).await?
                );
            }
            tunnel.close().await?;
        }
        None => {
            tokio::signal::ctrl_c().await?;
            tunnel.close().await?;
        }
    }
    server.await??;
    println!("stopped");
    Ok(())
}

/// A plain HTTP/1.1 GET of `/` on the local engine's edge, for `host`; the
/// status line and body.
async fn get(edge: SocketAddr, host: &str) -> Result<String, BoxError> {
    let host = host.split(':').next().unwrap_or(host);
    let mut last = None;
    // Right after a restart the route comes back once the session has
    // reconnected (its first retry goes out at once; while the engine is
    // still down, the next one follows about a second later).
    for _ in 0..150 {
        let mut conn = tokio::net::TcpStream::connect(edge).await?;
        let request = format!("GET / HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
        conn.write_all(request.as_bytes()).await?;
        let mut response = String::new();
        conn.read_to_string(&mut response).await?;
        if response.starts_with("HTTP/1.1 200") {
            let status = response.lines().next().unwrap_or_default();
            let body = response.split("\r\n\r\n").nth(1).unwrap_or_default().trim();
            return Ok(format!("{status} {body}"));
        }
        last = response.lines().next().map(str::to_owned);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("no 200 through the edge; last answer: {last:?}").into())
}
