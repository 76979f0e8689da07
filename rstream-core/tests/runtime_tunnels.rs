//! Tunnels against the local engine: creation, properties, forwarding
//! addresses, concurrency, close semantics, TCP tunnels.

use std::net::{IpAddr, Ipv4Addr};

use rstream_core::{Protocol, TunnelOptions};
use rstream_e2e::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn published_http_tunnel_has_an_https_address() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(
        control.create_tunnel(
            TunnelOptions::http()
                .publish(true)
                .name("web")
                .label("env", "test"),
        ),
    )
    .await
    .unwrap();
    let address = tunnel.forwarding_address();
    assert!(address.starts_with("https://"), "{address}");
    assert!(address.contains(".localhost"), "{address}");
    assert_eq!(tunnel.info().unwrap().name.as_deref(), Some("web"));
    let on_engine = engine.tunnels();
    let seen = on_engine
        .iter()
        .find(|t| t.id.as_deref() == Some(tunnel.id().as_str()))
        .expect("the engine has the tunnel");
    assert_eq!(seen.labels.get("env").map(String::as_str), Some("test"));
}

#[tokio::test]
async fn private_tunnel_address_names_it() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new().name("db")))
        .await
        .unwrap();
    assert_eq!(tunnel.forwarding_address(), "rstrm://db (unpublished)");
}

#[tokio::test]
async fn many_creations_in_flight() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let creations =
        (0..20).map(|i| control.create_tunnel(TunnelOptions::new().name(format!("t{i}"))));
    let tunnels = guard(futures::future::join_all(creations)).await;
    let mut ids: Vec<String> = tunnels
        .into_iter()
        .map(|t| t.unwrap().id().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "every creation got its own tunnel");
}

#[tokio::test]
async fn invalid_options_fail_before_sending() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let err = guard(control.create_tunnel(TunnelOptions::http().port(8080)))
        .await
        .unwrap_err();
    assert!(matches!(err, rstream_core::Error::Config(_)), "{err}");
    assert!(engine.tunnels().is_empty(), "nothing reached the engine");
}

#[tokio::test]
async fn close_is_idempotent_and_concurrent() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap();
    let (a, b) = guard(async { tokio::join!(tunnel.close(), tunnel.close()) }).await;
    a.unwrap();
    b.unwrap();
    guard(tunnel.close()).await.unwrap();
    assert!(tunnel.is_closed());
    assert!(guard(tunnel.accept()).await.unwrap().is_none());
    assert!(
        engine
            .tunnels()
            .iter()
            .all(|t| t.id.as_deref() != Some(tunnel.id().as_str()))
    );
    assert!(
        !control.is_closed(),
        "closing a tunnel leaves the channel up"
    );
}

#[tokio::test]
async fn dropping_every_handle_closes_the_tunnel() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap();
    let id = tunnel.id().to_owned();
    drop(tunnel);
    guard(async {
        while engine
            .tunnels()
            .iter()
            .any(|t| t.id.as_deref() == Some(&id))
        {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn proxy_conn_req_right_behind_open_tunnel_rsp() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let incoming = engine.faults().proxy_conn_req_with_open_tunnel_rsp();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap();
    let mut accepted = guard(tunnel.accept()).await.unwrap().unwrap();
    let mut edge = guard(incoming.recv()).await.unwrap();
    edge.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    guard(accepted.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"ping");
}

#[tokio::test]
async fn published_tcp_tunnel() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::tcp()))
        .await
        .unwrap();
    assert_eq!(tunnel.info().unwrap().protocol, Some(Protocol::Tcp));
    let address = tunnel.forwarding_address();
    assert!(address.ends_with(" (tcp)"), "{address}");
    let port = tunnel.info().unwrap().port.expect("tcp tunnels get a port");
    spawn_echo(tunnel.clone());
    let mut conn = guard(tokio::net::TcpStream::connect((
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        port,
    )))
    .await
    .unwrap();
    let back = guard(echo_roundtrip(&mut conn, b"over tcp")).await;
    assert_eq!(back, b"over tcp");
}

/// Waits until the engine lists exactly `n` tunnels.
async fn engine_lists(engine: &rstream_local_engine::LocalEngine, n: usize) {
    guard(async {
        while engine.tunnels().len() != n {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_clients_tunnels_share_one_control_channel_across_reconnects() {
    let engine = engine().await;
    let client = client(&engine);
    let mut tunnels = Vec::new();
    for name in ["one", "two", "three"] {
        tunnels.push(
            guard(client.tunnel(TunnelOptions::new().name(name)))
                .await
                .unwrap(),
        );
    }
    // One control channel opened for the three.
    assert_eq!(engine.client_details().len(), 1);
    for tunnel in &tunnels {
        spawn_echo(tunnel.clone());
    }
    let before: Vec<String> = tunnels.iter().map(|t| t.id()).collect();
    let addresses: Vec<String> = tunnels.iter().map(|t| t.forwarding_address()).collect();
    engine.faults().abort_control_channels();
    for (tunnel, old) in tunnels.iter().zip(&before) {
        let mut state = tunnel.watch_state();
        guard(state.wait_for(|s| {
            matches!(s, rstream_core::TunnelState::Online { tunnel_id, .. } if tunnel_id != old)
        }))
        .await
        .unwrap();
    }
    // All three came back on one new channel, at the same addresses, and the
    // same accept queues serve them.
    assert_eq!(engine.client_details().len(), 2);
    engine_lists(&engine, 3).await;
    for (tunnel, address) in tunnels.iter().zip(&addresses) {
        assert_eq!(&tunnel.forwarding_address(), address);
        let mut edge = guard(engine.open_stream(&tunnel.id(), "127.0.0.1".parse().unwrap()))
            .await
            .unwrap();
        assert_eq!(guard(echo_roundtrip(&mut edge, b"again")).await, b"again");
    }
}

#[tokio::test]
async fn close_ends_the_tunnel_at_the_engine_and_for_accept() {
    let engine = engine().await;
    let client = client(&engine);
    let keep = guard(client.tunnel(TunnelOptions::new().name("keep")))
        .await
        .unwrap();
    let tunnel = guard(client.tunnel(TunnelOptions::new().name("gone")))
        .await
        .unwrap();
    engine_lists(&engine, 2).await;
    guard(tunnel.close()).await.unwrap();
    assert!(tunnel.is_closed());
    assert!(matches!(tunnel.state(), rstream_core::TunnelState::Closed));
    assert!(guard(tunnel.accept()).await.unwrap().is_none());
    // Closed at the engine; closing again is a no-op; the other one lives.
    engine_lists(&engine, 1).await;
    guard(tunnel.close()).await.unwrap();
    assert_eq!(engine.tunnels()[0].name.as_deref(), Some("keep"));
    assert!(!keep.is_closed());
}

#[tokio::test]
async fn dropping_the_last_clone_closes_the_tunnel() {
    let engine = engine().await;
    let client = client(&engine);
    let tunnel = guard(client.tunnel(TunnelOptions::new().name("dropped")))
        .await
        .unwrap();
    let clone = tunnel.clone();
    engine_lists(&engine, 1).await;
    drop(tunnel);
    // A clone still holds it.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(engine.tunnels().len(), 1);
    drop(clone);
    engine_lists(&engine, 0).await;
}

#[tokio::test]
async fn a_hostname_held_by_someone_else_is_refused_not_retried() {
    let engine = engine().await;
    let first = client(&engine);
    let _held = guard(
        first.tunnel(
            TunnelOptions::http()
                .publish(true)
                .hostname("taken.localhost"),
        ),
    )
    .await
    .unwrap();
    let second = client(&engine);
    let err = guard(
        second.tunnel(
            TunnelOptions::http()
                .publish(true)
                .hostname("taken.localhost"),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.engine_code(),
        Some(rstream_core::ErrorCode::InvalidRequest),
        "{err}"
    );
}
