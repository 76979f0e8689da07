//! `axum::serve` over `rstream_axum::TunnelListener` end to end: requests
//! through the local engine's HTTP edge and through raw or dialed streams,
//! `ConnectInfo<TunnelAddr>`, keep-alive, HTTP/2, WebSocket, malformed
//! requests, ending with the tunnel, and supervised tunnels.


use std::net::IpAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use rstream_e2e::http::*;
use rstream_axum::{TunnelAddr, TunnelListener};
use rstream_core::{Accept, Tunnel, TunnelOptions};
use rstream_local_engine::LocalEngine;
use rstream_e2e::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

/// A published http tunnel on a fresh engine.
async fn published(engine: &LocalEngine) -> (rstream_core::Client, Tunnel) {
    let client = client(engine);
    let control = guard(client.connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::http().publish(true)))
        .await
        .unwrap();
    (client, tunnel)
}

/// The test app, plus `/addr` answering the `ConnectInfo<TunnelAddr>`.
fn app_with_addr() -> Router {
    app(Slow::default()).route(
        "/addr",
        get(|ConnectInfo(addr): ConnectInfo<TunnelAddr>| async move {
            format!(
                "{} {} {}",
                addr.tunnel_id(),
                addr.stream_id(),
                addr.source_ip()
                    .map(|ip| ip.to_string())
                    .unwrap_or_default()
            )
        }),
    )
}

/// Runs `axum::serve` with connect info on `acceptor` until the tunnel ends
/// or `stop` fires; the task's result is `serve`'s.
fn spawn_axum<A: Accept>(
    acceptor: A,
    app: Router,
    stop: Option<oneshot::Receiver<()>>,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let listener = TunnelListener::new(acceptor);
    let closed = listener.closed();
    tokio::spawn(
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<TunnelAddr>(),
        )
        .with_graceful_shutdown(async move {
            match stop {
                Some(stop) => {
                    tokio::select! {
                        _ = stop => {}
                        () = closed => {}
                    }
                }
                None => closed.await,
            }
        })
        .into_future(),
    )
}

#[tokio::test]
async fn get_and_streamed_post_echo_through_the_edge() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let host = hostname(&tunnel);
    spawn_axum(tunnel.clone(), app_with_addr(), None);

    let mut http = guard(h1(edge(&engine).await)).await;
    let response = guard(http.send_request(get_req(&host, "/"))).await.unwrap();
    assert_eq!(guard(body_text(response)).await, "hello");
    let size = 10 * 1024 * 1024;
    let response =
        guard(http.send_request(request("POST", &host, "/echo", streamed(size, 64 * 1024))))
            .await
            .unwrap();
    let back = guard(body_bytes(response)).await;
    assert_eq!(back.len(), size);
    assert!(
        back.as_ref() == pattern(size).as_slice(),
        "the echo differs"
    );
}

#[tokio::test]
async fn connect_info_has_the_source_the_engine_reported() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let host = hostname(&tunnel);
    spawn_axum(tunnel.clone(), app_with_addr(), None);

    let mut http = guard(h1(edge(&engine).await)).await;
    let response = guard(http.send_request(get_req(&host, "/addr")))
        .await
        .unwrap();
    let text = guard(body_text(response)).await;
    let parts: Vec<&str> = text.split(' ').collect();
    assert_eq!(parts[0], tunnel.id());
    assert!(!parts[1].is_empty(), "a stream id: {text}");
    assert_eq!(parts[2], "127.0.0.1");

    let source: IpAddr = "198.51.100.7".parse().unwrap();
    let stream = guard(engine.open_stream(tunnel.id(), source))
        .await
        .unwrap();
    let mut http = guard(h1(stream)).await;
    let response = guard(http.send_request(get_req(&host, "/addr")))
        .await
        .unwrap();
    assert!(guard(body_text(response)).await.ends_with(" 198.51.100.7"));
}

#[tokio::test]
async fn hundred_keep_alive_requests_use_one_stream() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let host = hostname(&tunnel);
    let counting = Counting::new(tunnel.clone());
    spawn_axum(counting.clone(), app_with_addr(), None);

    let mut http = guard(h1(edge(&engine).await)).await;
    for _ in 0..100 {
        guard(http.ready()).await.unwrap();
        let response = guard(http.send_request(get_req(&host, "/"))).await.unwrap();
        assert_eq!(guard(body_text(response)).await, "hello");
    }
    assert_eq!(counting.count(), 1);
}

#[tokio::test]
async fn http2_over_a_dialed_stream() {
    let engine = engine().await;
    let client = client(&engine);
    let control = guard(client.connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::http().name("h2-axum")))
        .await
        .unwrap();
    spawn_axum(tunnel.clone(), app_with_addr(), None);

    let stream = guard(client.dial("h2-axum")).await.unwrap();
    let mut http = guard(h2(stream)).await;
    for _ in 0..3 {
        let response = guard(http.send_request(get_req("h2-axum", "/version")))
            .await
            .unwrap();
        assert_eq!(response.version(), hyper::Version::HTTP_2);
        assert_eq!(guard(body_text(response)).await, "HTTP/2.0");
    }
}

#[tokio::test]
async fn websocket_echo_through_the_edge() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let host = hostname(&tunnel);
    // Plain `axum::serve(listener, router)`, without connect info.
    let listener = TunnelListener::new(tunnel.clone());
    tokio::spawn(axum::serve(listener, app(Slow::default())).into_future());
    guard(websocket_echo(&engine, &host)).await;
}

#[tokio::test]
async fn a_malformed_request_gets_400_and_serving_goes_on() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let host = hostname(&tunnel);
    spawn_axum(tunnel.clone(), app_with_addr(), None);

    let source: IpAddr = "127.0.0.1".parse().unwrap();
    let mut raw = guard(engine.open_stream(tunnel.id(), source))
        .await
        .unwrap();
    raw.write_all(b"this is not HTTP\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let _ = guard(raw.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");

    let mut http = guard(h1(edge(&engine).await)).await;
    let response = guard(http.send_request(get_req(&host, "/"))).await.unwrap();
    assert_eq!(guard(body_text(response)).await, "hello");
}

#[tokio::test]
async fn serve_returns_once_the_tunnel_is_closed() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let listener = TunnelListener::new(tunnel.clone());
    let closed = listener.closed();
    assert!(!listener.is_closed());
    let server = tokio::spawn(
        axum::serve(listener, app(Slow::default()))
            .with_graceful_shutdown(closed)
            .into_future(),
    );
    guard(tunnel.close()).await.unwrap();
    guard(server).await.unwrap().unwrap();
}

#[tokio::test]
async fn graceful_shutdown_finishes_an_in_flight_request() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let host = hostname(&tunnel);
    let slow = Slow::default();
    let (stop, stopped) = oneshot::channel();
    let server = spawn_axum(tunnel.clone(), app(slow.clone()), Some(stopped));

    let mut http = guard(h1(edge(&engine).await)).await;
    let in_flight = tokio::spawn(http.send_request(get_req(&host, "/slow")));
    guard(slow.entered.notified()).await;
    stop.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    slow.release.notify_one();
    let response = guard(in_flight).await.unwrap().unwrap();
    assert_eq!(guard(body_text(response)).await, "done");
    guard(server).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_supervised_tunnel_is_served_across_an_engine_restart() {
    let engine = engine().await;
    let client = client(&engine);
    let tunnel = guard(client.supervise(TunnelOptions::http().publish(true).name("app")))
        .await
        .unwrap();
    let address = tunnel.forwarding_address().unwrap();
    let host = address
        .trim_start_matches("https://")
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    spawn_axum(tunnel.clone(), app_with_addr(), None);

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
        let server = spawn_axum(
            Failing::new(tunnel.clone(), 1, error),
            app_with_addr(),
            None,
        );
        guard(server).await.unwrap().unwrap();
    }
}
