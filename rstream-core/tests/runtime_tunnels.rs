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
    assert_eq!(tunnel.properties().name.as_deref(), Some("web"));
    let on_engine = engine.tunnels();
    let seen = on_engine
        .iter()
        .find(|t| t.id.as_deref() == Some(tunnel.id()))
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
            .all(|t| t.id.as_deref() != Some(tunnel.id()))
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
    assert_eq!(
        tunnel.properties().protocol.as_deref(),
        Some(Protocol::Tcp.as_str())
    );
    let address = tunnel.forwarding_address();
    assert!(address.ends_with(" (tcp)"), "{address}");
    let port = tunnel.properties().port.expect("tcp tunnels get a port") as u16;
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
