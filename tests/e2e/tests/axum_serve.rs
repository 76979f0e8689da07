//! `axum::serve` over `rstream_axum::TunnelListener` end to end, where it
//! differs from the other serving paths: reconnecting tunnels, and the
//! listener parking after an accept error. What every path does alike is in
//! `conformance.rs`.

use std::time::Duration;

use rstream_axum::{TunnelAddr, TunnelListener};
use rstream_core::{Accept, TunnelOptions};
use rstream_e2e::http::*;
use rstream_e2e::*;

/// Runs `axum::serve` with connect info on `acceptor`, until the listener
/// reports the acceptor closed; the task's result is `serve`'s.
fn spawn_axum<A: Accept>(acceptor: A) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let listener = TunnelListener::new(acceptor);
    let closed = listener.closed();
    tokio::spawn(
        axum::serve(
            listener,
            app(Slow::default()).into_make_service_with_connect_info::<TunnelAddr>(),
        )
        .with_graceful_shutdown(closed)
        .into_future(),
    )
}

#[tokio::test]
async fn a_tunnel_is_served_across_an_engine_restart() {
    let engine = engine().await;
    let client = client(&engine);
    let tunnel = guard(client.tunnel(TunnelOptions::http().publish(true).name("app")))
        .await
        .unwrap();
    let address = tunnel.forwarding_address();
    let host = address
        .trim_start_matches("https://")
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    // Plain `axum::serve(listener, router)`, without connect info.
    let listener = TunnelListener::new(tunnel.clone());
    let closed = listener.closed();
    tokio::spawn(
        axum::serve(listener, app(Slow::default()))
            .with_graceful_shutdown(closed)
            .into_future(),
    );

    let mut http = guard(h1(edge(&engine).await)).await;
    let response = guard(http.send_request(get_req(&host, "/"))).await.unwrap();
    assert_eq!(guard(body_text(response)).await, "hello");

    guard(engine.restart()).await.unwrap();
    guard(async {
        loop {
            let mut http = h1(edge(&engine).await).await;
            if let Ok(response) = http.send_request(get_req(&host, "/")).await {
                if response.status() == 200 && body_text(response).await == "hello" {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn the_listener_parks_after_an_accept_error() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    // Any error is final, retryable or not: the listener reports itself
    // closed and serve, given `closed()` as its shutdown signal, returns.
    for error in [retryable as fn() -> _, terminal] {
        let server = spawn_axum(Failing::new(tunnel.clone(), 1, error));
        guard(server).await.unwrap().unwrap();
    }
}
