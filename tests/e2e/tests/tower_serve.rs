//! `rstream_tower::serve` end to end, where it differs from the other
//! serving paths: HTTP/1.1 pipelining, the header size limit, the
//! private-dial connector, reconnecting tunnels and accept failures. What
//! every path does alike is in `conformance.rs`.

use std::net::IpAddr;
use std::time::Duration;

use http_body_util::Empty;
use hyper::body::Bytes;
use rstream_core::{StreamInfo, TunnelOptions};
use rstream_e2e::http::*;
use rstream_e2e::*;
use rstream_tower::TunnelConnector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
async fn a_head_over_the_size_limit_gets_431_and_serving_goes_on() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
    let host = hostname(&tunnel);
    tokio::spawn(rstream_tower::serve(tunnel.clone(), app(Slow::default())).into_future());

    let source: IpAddr = "127.0.0.1".parse().unwrap();
    let raw = guard(engine.open_stream(&tunnel.id(), source))
        .await
        .unwrap();
    let huge = format!(
        "GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(200_000)
    );
    let answer = guard(exchange(raw, huge.as_bytes())).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");

    let mut http = guard(h1(edge(&engine).await)).await;
    assert_eq!(fetch(&mut http, get_req(&host, "/")).await.1, "hello");
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

    // A wrong tunnel name is an error that says so (by default), not
    // hyper's "connection closed before message completed".
    let refused = guard(http.get("http://no-such-tunnel/".parse().unwrap()))
        .await
        .unwrap_err();
    let cause = std::error::Error::source(&refused)
        .and_then(|e| e.downcast_ref::<rstream_core::Error>())
        .unwrap_or_else(|| panic!("the connect error carries the dial's: {refused:?}"));
    assert!(cause.is_not_found(), "{cause}");
    // With zero-RTT it is still an error, not a hang.
    let eager = TunnelConnector::new(client.clone())
        .zero_rtt(true)
        .http_client::<Empty<Bytes>>();
    let refused = guard(eager.get("http://no-such-tunnel/".parse().unwrap())).await;
    assert!(refused.is_err());
}

#[tokio::test]
async fn a_tunnel_is_served_across_an_engine_restart() {
    let engine = engine().await;
    let client = client(&engine);
    let tunnel = guard(client.tunnel(TunnelOptions::http().publish(true).name("web")))
        .await
        .unwrap();
    let address = tunnel.forwarding_address();
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
    // The session re-creates the tunnel with the same hostname; the
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
async fn a_tunnel_whose_session_gives_up_ends_serve_with_the_failure() {
    let engine = engine().await;
    // A session told not to reconnect: its first loss ends the tunnel.
    let client = client_without_reconnect(&engine);
    let tunnel = guard(client.tunnel(TunnelOptions::http().publish(true)))
        .await
        .unwrap();
    let serving =
        tokio::spawn(rstream_tower::serve(tunnel.clone(), app(Slow::default())).into_future());
    engine.faults().abort_control_channels();
    let result = guard(serving).await.unwrap();
    assert!(result.is_err(), "{result:?}");
}
