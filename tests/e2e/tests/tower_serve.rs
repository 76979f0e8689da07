//! `rstream_tower::serve` end to end: requests through the local engine's
//! HTTP edge and through raw or dialed streams, HTTP/1.1 keep-alive and
//! pipelining, HTTP/2, WebSocket, the `StreamInfo` extension, graceful
//! shutdown, malformed requests, the private-dial connector, and
//! supervised tunnels.


use std::net::IpAddr;
use std::time::Duration;

use axum::{Extension, Router, routing::get};
use http_body_util::Empty;
use rstream_e2e::http::*;
use hyper::body::Bytes;
use rstream_core::{StreamInfo, Tunnel, TunnelOptions};
use rstream_local_engine::LocalEngine;
use rstream_tower::TunnelConnector;
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

/// The test app, plus `/info` answering the request's `StreamInfo`.
fn app_with_info(slow: Slow) -> Router {
    app(slow).route(
        "/info",
        get(|Extension(info): Extension<StreamInfo>| async move {
            format!(
                "{} {} {}",
                info.tunnel_id,
                info.stream_id,
                info.source_ip.map(|ip| ip.to_string()).unwrap_or_default()
            )
        }),
    )
}

#[tokio::test]
async fn get_and_streamed_post_echo_through_the_edge() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let host = hostname(&tunnel);
    tokio::spawn(
        rstream_tower::serve(tunnel.clone(), app_with_info(Slow::default())).into_future(),
    );

    let mut http = guard(h1(edge(&engine).await)).await;
    let response = guard(http.send_request(get_req(&host, "/"))).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(guard(body_text(response)).await, "hello");

    let size = 10 * 1024 * 1024;
    let response =
        guard(http.send_request(request("POST", &host, "/echo", streamed(size, 64 * 1024))))
            .await
            .unwrap();
    assert_eq!(response.status(), 200);
    let back = guard(body_bytes(response)).await;
    assert_eq!(back.len(), size);
    assert!(
        back.as_ref() == pattern(size).as_slice(),
        "the echo differs"
    );
}

#[tokio::test]
async fn hundred_keep_alive_requests_use_one_stream() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let host = hostname(&tunnel);
    let counting = Counting::new(tunnel.clone());
    tokio::spawn(rstream_tower::serve(counting.clone(), app(Slow::default())).into_future());

    let mut http = guard(h1(edge(&engine).await)).await;
    for _ in 0..100 {
        guard(http.ready()).await.unwrap();
        let response = guard(http.send_request(get_req(&host, "/"))).await.unwrap();
        assert_eq!(guard(body_text(response)).await, "hello");
    }
    assert_eq!(counting.count(), 1);
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let host = hostname(&tunnel);
    tokio::spawn(rstream_tower::serve(tunnel.clone(), app(Slow::default())).into_future());

    // Ten requests in one write, alternating two routes; the last one asks
    // the server to close, so the answer can be read to its end.
    let mut tcp = edge(&engine).await;
    let mut batch = String::new();
    for i in 0..10 {
        let path = if i % 2 == 0 { "/" } else { "/version" };
        let close = if i == 9 { "connection: close\r\n" } else { "" };
        batch.push_str(&format!(
            "GET {path} HTTP/1.1\r\nhost: {host}\r\n{close}\r\n"
        ));
    }
    tcp.write_all(batch.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    guard(tcp.read_to_end(&mut answer)).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let bodies: Vec<&str> = answer
        .split("HTTP/1.1 200 OK\r\n")
        .skip(1)
        .map(|response| response.split("\r\n\r\n").nth(1).unwrap_or(""))
        .collect();
    let expected: Vec<&str> = (0..10)
        .map(|i| if i % 2 == 0 { "hello" } else { "HTTP/1.1" })
        .collect();
    assert_eq!(bodies, expected, "{answer}");
}

#[tokio::test]
async fn http2_over_a_dialed_stream() {
    let engine = engine().await;
    let client = client(&engine);
    let control = guard(client.connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::http().name("h2-app")))
        .await
        .unwrap();
    let counting = Counting::new(tunnel.clone());
    tokio::spawn(rstream_tower::serve(counting.clone(), app(Slow::default())).into_future());

    let stream = guard(client.dial("h2-app")).await.unwrap();
    let mut http = guard(h2(stream)).await;
    let mut answers = Vec::new();
    for _ in 0..5 {
        let mut http = http.clone();
        answers.push(tokio::spawn(async move {
            let response = http
                .send_request(get_req("h2-app", "/version"))
                .await
                .unwrap();
            assert_eq!(response.version(), hyper::Version::HTTP_2);
            body_text(response).await
        }));
    }
    for answer in answers {
        assert_eq!(guard(answer).await.unwrap(), "HTTP/2.0");
    }
    let response = guard(http.send_request(request(
        "POST",
        "h2-app",
        "/echo",
        streamed(300_000, 10_000),
    )))
    .await
    .unwrap();
    assert_eq!(
        guard(body_bytes(response)).await.as_ref(),
        pattern(300_000).as_slice()
    );
    assert_eq!(
        counting.count(),
        1,
        "one stream carries every HTTP/2 request"
    );
}

#[tokio::test]
async fn websocket_echo_through_the_edge() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let host = hostname(&tunnel);
    tokio::spawn(rstream_tower::serve(tunnel.clone(), app(Slow::default())).into_future());
    guard(websocket_echo(&engine, &host)).await;
}

#[tokio::test]
async fn every_request_carries_the_stream_info() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let host = hostname(&tunnel);
    tokio::spawn(
        rstream_tower::serve(tunnel.clone(), app_with_info(Slow::default())).into_future(),
    );

    // Through the edge the engine reports the loopback client.
    let mut http = guard(h1(edge(&engine).await)).await;
    for _ in 0..2 {
        let response = guard(http.send_request(get_req(&host, "/info")))
            .await
            .unwrap();
        let text = guard(body_text(response)).await;
        let parts: Vec<&str> = text.split(' ').collect();
        assert_eq!(parts[0], tunnel.id());
        assert!(!parts[1].is_empty(), "a stream id: {text}");
        assert_eq!(parts[2], "127.0.0.1");
    }

    // A stream the engine opens for another address reports that address.
    let source: IpAddr = "203.0.113.9".parse().unwrap();
    let stream = guard(engine.open_stream(tunnel.id(), source))
        .await
        .unwrap();
    let mut http = guard(h1(stream)).await;
    let response = guard(http.send_request(get_req(&host, "/info")))
        .await
        .unwrap();
    assert!(guard(body_text(response)).await.ends_with(" 203.0.113.9"));
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests_and_closes_idle_connections() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let host = hostname(&tunnel);
    let slow = Slow::default();
    let (stop, stopped) = oneshot::channel::<()>();
    // A deadline longer than the hang guard: serve must end because the
    // connections are done, not because the deadline passed.
    let server = tokio::spawn(
        rstream_tower::serve(tunnel.clone(), app(slow.clone()))
            .shutdown_deadline(Duration::from_secs(600))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );

    // One idle keep-alive connection, one with a request in flight.
    let mut idle = guard(h1(edge(&engine).await)).await;
    let response = guard(idle.send_request(get_req(&host, "/"))).await.unwrap();
    assert_eq!(guard(body_text(response)).await, "hello");
    let mut busy = guard(h1(edge(&engine).await)).await;
    let in_flight = tokio::spawn(busy.send_request(get_req(&host, "/slow")));
    guard(slow.entered.notified()).await;

    stop.send(()).unwrap();
    // Give the server a moment to see the signal, then let the request end.
    tokio::time::sleep(Duration::from_millis(200)).await;
    slow.release.notify_one();
    let response = guard(in_flight).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(guard(body_text(response)).await, "done");
    guard(server).await.unwrap().unwrap();

    // No new connection is served any more.
    let mut late = guard(h1(edge(&engine).await)).await;
    let refused = tokio::time::timeout(
        Duration::from_secs(2),
        late.send_request(get_req(&host, "/")),
    )
    .await;
    assert!(!matches!(refused, Ok(Ok(r)) if r.status() == 200));
}

#[tokio::test]
async fn shutdown_gives_up_after_the_deadline() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let host = hostname(&tunnel);
    let slow = Slow::default();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        rstream_tower::serve(tunnel.clone(), app(slow.clone()))
            .shutdown_deadline(Duration::from_millis(300))
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .into_future(),
    );
    let mut http = guard(h1(edge(&engine).await)).await;
    let stuck = tokio::spawn(http.send_request(get_req(&host, "/never")));
    guard(slow.entered.notified()).await;
    stop.send(()).unwrap();
    guard(server).await.unwrap().unwrap();
    // The aborted request fails instead of hanging.
    assert!(guard(stuck).await.unwrap().is_err());
}

#[tokio::test]
async fn a_malformed_request_gets_400_and_serving_goes_on() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let host = hostname(&tunnel);
    tokio::spawn(rstream_tower::serve(tunnel.clone(), app(Slow::default())).into_future());
    let source: IpAddr = "127.0.0.1".parse().unwrap();

    for garbage in [
        &b"this is not HTTP\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nhost: x\r\nbad header line\r\n\r\n",
        b"\x00\x01\x02\x03\xff\xfe garbage\r\n\r\n",
    ] {
        let mut raw = guard(engine.open_stream(tunnel.id(), source))
            .await
            .unwrap();
        raw.write_all(garbage).await.unwrap();
        let mut answer = Vec::new();
        let _ = guard(raw.read_to_end(&mut answer)).await;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
    }

    // A head over the size limit gets 431.
    let mut raw = guard(engine.open_stream(tunnel.id(), source))
        .await
        .unwrap();
    let huge = format!(
        "GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(200_000)
    );
    let _ = raw.write_all(huge.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = guard(raw.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");

    let mut http = guard(h1(edge(&engine).await)).await;
    let response = guard(http.send_request(get_req(&host, "/"))).await.unwrap();
    assert_eq!(guard(body_text(response)).await, "hello");
}

#[tokio::test]
async fn the_connector_reuses_one_stream_for_sequential_requests() {
    let engine = engine().await;
    let client = client(&engine);
    let control = guard(client.connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::http().name("private-api")))
        .await
        .unwrap();
    let counting = Counting::new(tunnel.clone());
    tokio::spawn(rstream_tower::serve(counting.clone(), app(Slow::default())).into_future());

    let http = TunnelConnector::new(client.clone()).http_client::<Empty<Bytes>>();
    for _ in 0..10 {
        let response = guard(http.get("http://private-api/version".parse().unwrap()))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let info = response
            .extensions()
            .get::<StreamInfo>()
            .cloned()
            .expect("the response carries the dialed stream's info");
        assert_eq!(info.tunnel_id, "private-api");
        assert_eq!(guard(body_text(response)).await, "HTTP/1.1");
    }
    assert_eq!(counting.count(), 1, "the pooled connection is reused");

    // An unknown tunnel is an error, not a hang.
    let strict = TunnelConnector::new(client.clone())
        .zero_rtt(false)
        .http_client::<Empty<Bytes>>();
    let refused = guard(strict.get("http://no-such-tunnel/".parse().unwrap())).await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn a_closed_tunnel_ends_serve() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let server =
        tokio::spawn(rstream_tower::serve(tunnel.clone(), app(Slow::default())).into_future());
    guard(tunnel.close()).await.unwrap();
    guard(server).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_supervised_tunnel_is_served_across_an_engine_restart() {
    let engine = engine().await;
    let client = client(&engine);
    let tunnel = guard(client.supervise(TunnelOptions::http().publish(true).name("web")))
        .await
        .unwrap();
    let address = tunnel.forwarding_address().unwrap();
    let host = address
        .trim_start_matches("https://")
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    tokio::spawn(rstream_tower::serve(tunnel.clone(), app(Slow::default())).into_future());

    let mut http = guard(h1(edge(&engine).await)).await;
    let response = guard(http.send_request(get_req(&host, "/"))).await.unwrap();
    assert_eq!(guard(body_text(response)).await, "hello");

    guard(engine.restart()).await.unwrap();
    // The supervisor re-creates the tunnel with the same hostname; the
    // serve loop never notices.
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
async fn at_the_connection_cap_the_next_client_waits_its_turn() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let host = hostname(&tunnel);
    tokio::spawn(
        rstream_tower::serve(tunnel.clone(), app(Slow::default()))
            .max_connections(1)
            .into_future(),
    );

    let mut first = guard(h1(edge(&engine).await)).await;
    let response = guard(first.send_request(get_req(&host, "/")))
        .await
        .unwrap();
    assert_eq!(guard(body_text(response)).await, "hello");

    // The first connection stays open: the second one is not served yet.
    let mut second = guard(h1(edge(&engine).await)).await;
    let waiting = tokio::spawn(second.send_request(get_req(&host, "/")));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "served beyond the cap");

    drop(first);
    let response = guard(waiting).await.unwrap().unwrap();
    assert_eq!(guard(body_text(response)).await, "hello");
}

#[tokio::test]
async fn silent_and_slow_clients_are_cut_off_by_the_header_read_timeout() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    tokio::spawn(
        rstream_tower::serve(tunnel.clone(), app(Slow::default()))
            .header_read_timeout(Some(Duration::from_millis(300)))
            .into_future(),
    );
    let source: IpAddr = "127.0.0.1".parse().unwrap();

    // A client that never sends a byte.
    let mut silent = guard(engine.open_stream(tunnel.id(), source))
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = guard(silent.read_to_end(&mut rest)).await;

    // A client that starts a request and never finishes its headers.
    let mut slow = guard(engine.open_stream(tunnel.id(), source))
        .await
        .unwrap();
    slow.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = guard(slow.read_to_end(&mut rest)).await;
}

#[tokio::test]
async fn a_terminal_accept_error_ends_serve_with_that_error() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let broken = Failing::new(tunnel.clone(), 1, terminal);
    let result = guard(rstream_tower::serve(broken, app(Slow::default())).into_future()).await;
    assert!(
        matches!(result, Err(rstream_core::Error::Closed(_))),
        "{result:?}"
    );

    // An error is final even when it says a retry could work: the acceptor
    // has ended (a plain tunnel whose control channel failed).
    let failed = Failing::new(tunnel.clone(), 1, retryable);
    let result = guard(rstream_tower::serve(failed, app(Slow::default())).into_future()).await;
    assert!(result.is_err_and(|e| e.is_timeout()));
}

#[tokio::test]
async fn a_tunnel_whose_control_channel_fails_ends_serve_with_the_failure() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let serving =
        tokio::spawn(rstream_tower::serve(tunnel.clone(), app(Slow::default())).into_future());
    engine.faults().abort_control_channels();
    let result = guard(serving).await.unwrap();
    assert!(result.is_err(), "{result:?}");
}
