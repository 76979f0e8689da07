//! Accepted streams against the local engine: both zero-RTT modes,
//! coalesced handshake bytes, redirects, source addresses, refusals, load,
//! streams outliving their control channel, and streams moved to another
//! runtime outliving the one that opened them.

use std::net::IpAddr;
use std::time::Duration;

use rstream_core::TunnelOptions;
use rstream_e2e::*;
use rstream_local_engine::LocalEngine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn echo_through_edge_stream(zero_rtt: bool) {
    let engine = engine().await;
    let client = builder(&engine).zero_rtt(zero_rtt).build().unwrap();
    let control = guard(client.connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap();
    spawn_echo(tunnel.clone());
    let source: IpAddr = "127.0.0.1".parse().unwrap();
    let mut edge = guard(engine.open_stream(&tunnel.id(), source))
        .await
        .unwrap();
    for size in [1usize, 1000, 100_000] {
        let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        assert_eq!(guard(echo_roundtrip(&mut edge, &data)).await, data);
    }
}

#[tokio::test]
async fn accept_with_zero_rtt() {
    echo_through_edge_stream(true).await;
}

#[tokio::test]
async fn accept_without_zero_rtt_keeps_coalesced_bytes() {
    // The engine writes its ProxyRsp in the same write as the first payload
    // bytes: the runtime must hand those bytes to the application.
    let engine = engine().await;
    let client = builder(&engine).zero_rtt(false).build().unwrap();
    let control = guard(client.connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap();
    let mut edge = guard(engine.open_stream(&tunnel.id(), "127.0.0.1".parse().unwrap()))
        .await
        .unwrap();
    edge.write_all(b"early bytes").await.unwrap();
    let mut accepted = guard(tunnel.accept()).await.unwrap().unwrap();
    let mut buf = [0u8; 11];
    guard(accepted.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"early bytes");
    echo_through_edge_stream(false).await;
}

#[tokio::test]
async fn source_ip_is_what_the_engine_reported() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap();
    for source in ["203.0.113.9", "2001:db8::7"] {
        let source: IpAddr = source.parse().unwrap();
        let _edge = guard(engine.open_stream(&tunnel.id(), source))
            .await
            .unwrap();
        let accepted = guard(tunnel.accept()).await.unwrap().unwrap();
        assert_eq!(accepted.info().source_ip, Some(source));
        assert_eq!(accepted.info().tunnel_id, tunnel.id());
        assert!(!accepted.info().stream_id.is_empty());
    }
}

#[tokio::test]
async fn proxy_endpoint_redirect() {
    let engine = LocalEngine::builder()
        .token("tok_test")
        .proxy_endpoint(true)
        .start()
        .await
        .unwrap();
    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap();
    spawn_echo(tunnel.clone());
    let mut edge = guard(engine.open_stream(&tunnel.id(), "127.0.0.1".parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(
        guard(echo_roundtrip(&mut edge, b"redirected")).await,
        b"redirected"
    );
}

#[tokio::test]
async fn proxy_req_carries_the_stream_secret_not_the_token() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap();
    spawn_echo(tunnel.clone());
    let mut edge = guard(engine.open_stream(&tunnel.id(), "127.0.0.1".parse().unwrap()))
        .await
        .unwrap();
    guard(echo_roundtrip(&mut edge, b"x")).await;
    let tokens = engine.proxy_req_tokens();
    assert!(!tokens.is_empty());
    for token in tokens {
        assert!(!token.is_empty(), "a stream secret was sent");
        assert_ne!(token, "tok_test", "never the agent token");
    }
}

#[tokio::test]
async fn a_refused_stream_leaves_the_channel_up() {
    let engine = engine().await;
    let client = builder(&engine).zero_rtt(false).build().unwrap();
    let control = guard(client.connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap();
    spawn_echo(tunnel.clone());
    engine.faults().refuse_next_streams(1);
    let refused = guard(engine.open_stream(&tunnel.id(), "127.0.0.1".parse().unwrap())).await;
    assert!(refused.is_err(), "the refused stream failed");
    assert!(!control.is_closed());
    let mut edge = guard(engine.open_stream(&tunnel.id(), "127.0.0.1".parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(guard(echo_roundtrip(&mut edge, b"next")).await, b"next");
}

#[tokio::test]
async fn three_hundred_concurrent_streams() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap();
    spawn_echo(tunnel.clone());
    let mut tasks = Vec::new();
    for i in 0..300u32 {
        let engine_stream = engine.open_stream(&tunnel.id(), "127.0.0.1".parse().unwrap());
        tasks.push(tokio::spawn(async move {
            let mut edge = engine_stream.await.expect("stream opens");
            let data = format!("stream {i}").into_bytes();
            assert_eq!(echo_roundtrip(&mut edge, &data).await, data);
        }));
    }
    guard(async {
        for task in tasks {
            task.await.unwrap();
        }
    })
    .await;
}

#[tokio::test]
async fn established_stream_outlives_its_control_channel() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap();
    let mut edge = guard(engine.open_stream(&tunnel.id(), "127.0.0.1".parse().unwrap()))
        .await
        .unwrap();
    let mut accepted = guard(tunnel.accept()).await.unwrap().unwrap();
    let mut state = tunnel.watch_state();
    engine.faults().abort_control_channels();
    // The session notices and reconnects; the stream is its own connection.
    guard(state.wait_for(|s| matches!(s, rstream_core::TunnelState::Reconnecting { .. })))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    edge.write_all(b"still here").await.unwrap();
    let mut buf = [0u8; 10];
    guard(accepted.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"still here");
    accepted.write_all(b"and back").await.unwrap();
    let mut back = [0u8; 8];
    guard(edge.read_exact(&mut back)).await.unwrap();
    assert_eq!(&back, b"and back");
}

#[tokio::test]
async fn streams_as_a_futures_stream() {
    use futures::StreamExt;
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap();
    let mut streams = Box::pin(tunnel.streams());
    let _edge = guard(engine.open_stream(&tunnel.id(), "127.0.0.1".parse().unwrap()))
        .await
        .unwrap();
    assert!(guard(streams.next()).await.unwrap().is_ok());
    guard(tunnel.close()).await.unwrap();
    assert!(
        guard(streams.next()).await.is_none(),
        "the stream ends with the tunnel"
    );
}

/// Opens a tunnel on a runtime of its own (`opener`), accepts `count`
/// streams there and hands them over; the edge ends stay here.
async fn streams_opened_on(
    engine: &LocalEngine,
    opener: &tokio::runtime::Runtime,
    count: usize,
) -> (
    Vec<tokio::io::DuplexStream>,
    Vec<rstream_core::TunnelStream>,
) {
    let client = client(engine);
    let (tunnel_tx, tunnel_rx) = tokio::sync::oneshot::channel();
    let (streams_tx, mut streams_rx) = tokio::sync::mpsc::unbounded_channel();
    opener.spawn(async move {
        let control = client.connect().await.unwrap();
        let tunnel = control.create_tunnel(TunnelOptions::new()).await.unwrap();
        tunnel_tx.send(tunnel.id()).unwrap();
        while let Ok(Some(stream)) = tunnel.accept().await {
            let _ = streams_tx.send(stream);
        }
        drop(control);
    });
    let id = guard(tunnel_rx).await.unwrap();
    let mut edges = Vec::new();
    let mut streams = Vec::new();
    for _ in 0..count {
        edges.push(
            guard(engine.open_stream(&id, "127.0.0.1".parse().unwrap()))
                .await
                .unwrap(),
        );
        streams.push(guard(streams_rx.recv()).await.unwrap());
    }
    (edges, streams)
}

#[tokio::test]
async fn a_stream_moved_to_another_runtime_outlives_the_one_that_opened_it() {
    let engine = engine().await;
    let opener = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (mut edges, mut streams) = streams_opened_on(&engine, &opener, 2).await;
    let (kept, mut moved) = (streams.pop().unwrap(), streams.pop().unwrap());
    for edge in &mut edges {
        edge.write_all(b"before").await.unwrap();
    }

    // Outside any runtime the move is refused and the stream is unchanged.
    let mut moved = std::thread::spawn(move || {
        let err = moved.move_to_current_runtime().unwrap_err();
        assert!(err.to_string().contains("Tokio runtime"), "{err}");
        moved
    })
    .join()
    .unwrap();

    // A worker thread with its own runtime takes one stream over; then the
    // runtime that opened both goes away.
    let (go_tx, go_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            moved.move_to_current_runtime().unwrap();
            let mut buf = [0u8; 6];
            moved.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"before");
            go_rx.await.unwrap();
            let mut buf = [0u8; 5];
            moved.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"after");
            moved.write_all(b"answer").await.unwrap();
            moved.flush().await.unwrap();
            moved
        })
    });
    opener.shutdown_background();
    for edge in &mut edges {
        edge.write_all(b"after").await.unwrap();
    }
    go_tx.send(()).unwrap();
    let moved = tokio::task::spawn_blocking(move || worker.join().unwrap())
        .await
        .unwrap();
    let mut answer = [0u8; 6];
    guard(edges[0].read_exact(&mut answer)).await.unwrap();
    assert_eq!(&answer, b"answer");
    drop(moved);

    // The stream left on the opener's I/O driver fails once it is gone:
    // what the move is for.
    let mut kept = kept;
    let mut buf = [0u8; 16];
    assert!(guard(kept.read(&mut buf)).await.is_err());
}
