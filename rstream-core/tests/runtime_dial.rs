//! Private dial and local forwarding against the local engine.

use rstream_core::{DialOptions, ErrorCode, TunnelOptions};
use rstream_e2e::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn dial_echo(zero_rtt: bool, by_id: bool) {
    let engine = engine().await;
    let owner = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(owner.create_tunnel(TunnelOptions::new().name("private-echo")))
        .await
        .unwrap();
    spawn_echo(tunnel.clone());
    let target = if by_id {
        tunnel.id().to_owned()
    } else {
        "private-echo".to_owned()
    };
    let dialer = client(&engine);
    let mut stream = guard(dialer.dial_with(&target, DialOptions::new().zero_rtt(zero_rtt)))
        .await
        .unwrap();
    if !zero_rtt {
        assert!(
            !stream.info().stream_id.is_empty(),
            "the engine named the stream"
        );
    }
    for size in [5usize, 70_000] {
        let data: Vec<u8> = (0..size).map(|i| (i % 253) as u8).collect();
        assert_eq!(guard(echo_roundtrip(&mut stream, &data)).await, data);
    }
}

#[tokio::test]
async fn dial_by_name_zero_rtt() {
    dial_echo(true, false).await;
}

#[tokio::test]
async fn dial_by_name_with_answer() {
    dial_echo(false, false).await;
}

#[tokio::test]
async fn dial_by_id_zero_rtt() {
    dial_echo(true, true).await;
}

#[tokio::test]
async fn dial_by_id_with_answer() {
    dial_echo(false, true).await;
}

#[tokio::test]
async fn dial_unknown_tunnel_is_typed() {
    let engine = engine().await;
    let err = guard(client(&engine).dial_with("nope", DialOptions::new().zero_rtt(false)))
        .await
        .unwrap_err();
    assert_eq!(err.engine_code(), Some(ErrorCode::TunnelNotFound), "{err}");
    // With zero-RTT the refusal shows as the stream closing.
    let mut stream = guard(client(&engine).dial_with("nope", DialOptions::new().zero_rtt(true)))
        .await
        .unwrap();
    let _ = stream.write_all(b"hello").await;
    let mut buf = Vec::new();
    let read = guard(stream.read_to_end(&mut buf)).await;
    assert!(
        read.is_err() || buf.is_empty(),
        "nothing comes back from a refused dial"
    );
}

#[tokio::test]
async fn dial_with_wrong_token_is_unauthorized() {
    let engine = engine().await;
    let owner = guard(client(&engine).connect()).await.unwrap();
    let _tunnel = guard(owner.create_tunnel(TunnelOptions::new().name("guarded")))
        .await
        .unwrap();
    let stranger = builder(&engine).token("tok_wrong").build().unwrap();
    let err = guard(stranger.dial_with("guarded", DialOptions::new().zero_rtt(false)))
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
}

#[tokio::test]
async fn a_per_dial_token_replaces_the_clients() {
    let engine = engine().await;
    let owner = guard(client(&engine).connect()).await.unwrap();
    let _tunnel = guard(owner.create_tunnel(TunnelOptions::new().name("guarded")))
        .await
        .unwrap();
    // A client with a wrong token dials with the right one for this dial...
    let stranger = builder(&engine).token("tok_wrong").build().unwrap();
    let right = DialOptions::new().zero_rtt(false).token("tok_test");
    guard(stranger.dial_with("guarded", right)).await.unwrap();
    // ...and a client with the right token is refused with a wrong one.
    let wrong = DialOptions::new().zero_rtt(false).token("tok_other");
    let err = guard(client(&engine).dial_with("guarded", wrong))
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert!(!err.to_string().contains("tok_other"), "{err}");
}

#[tokio::test]
async fn forward_to_a_local_service() {
    let engine = engine().await;
    let local = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let local_addr = local.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = local.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let owner = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(owner.create_tunnel(TunnelOptions::new().name("fwd")))
        .await
        .unwrap();
    let forwarding = tokio::spawn({
        let tunnel = tunnel.clone();
        async move { tunnel.forward_to(local_addr).await }
    });
    let dialer = client(&engine);
    for _ in 0..3 {
        let mut stream = guard(dialer.dial("fwd")).await.unwrap();
        assert_eq!(
            guard(echo_roundtrip(&mut stream, b"via local port")).await,
            b"via local port"
        );
    }
    guard(tunnel.close()).await.unwrap();
    guard(forwarding).await.unwrap().unwrap();
}

#[tokio::test]
async fn forward_to_a_dead_service_closes_only_that_stream() {
    let engine = engine().await;
    // Reserve a port and close it: nothing listens there.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let owner = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(owner.create_tunnel(TunnelOptions::new().name("dead")))
        .await
        .unwrap();
    tokio::spawn({
        let tunnel = tunnel.clone();
        async move { tunnel.forward_to(dead).await }
    });
    let dialer = client(&engine);
    for _ in 0..2 {
        let mut stream = guard(dialer.dial_with("dead", DialOptions::new().zero_rtt(false)))
            .await
            .unwrap();
        let _ = stream.write_all(b"hello").await;
        let mut buf = Vec::new();
        let _ = guard(stream.read_to_end(&mut buf)).await;
        assert!(buf.is_empty());
    }
    assert!(!owner.is_closed(), "the control channel is unaffected");
}

#[tokio::test]
async fn later_connections_resume_the_tls_session() {
    let engine = engine().await;
    let client = client(&engine);
    let control = guard(client.connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new().name("resume")))
        .await
        .unwrap();
    spawn_echo(tunnel);
    let before = engine.tls_handshakes();
    for i in 0..5u8 {
        let mut stream = guard(client.dial_with("resume", DialOptions::new().zero_rtt(false)))
            .await
            .unwrap();
        // The round trip also takes in the engine's session tickets.
        assert_eq!(guard(echo_roundtrip(&mut stream, &[i])).await, [i]);
    }
    let after = engine.tls_handshakes();
    let (resumed, total) = (
        after.resumed - before.resumed,
        after.full + after.resumed - before.full - before.resumed,
    );
    // Five dials and their five proxy connections; only the first of each
    // kind may need a full handshake.
    assert_eq!(total, 10, "{before:?} -> {after:?}");
    assert!(resumed >= 8, "resumed {resumed} of {total}");
}
