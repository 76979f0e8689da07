//! The local engine's control channel, frame by frame: TLS and ALPN,
//! authentication, protocol versions, liveness, tunnels, close, and the
//! control-channel fault injections.

mod support;

use rstream_core::proto::{
    CloseControlChannelReq, CloseTunnelReq, ErrorCode, Heartbeat, OpenControlChannelReq,
    TunnelProperties, message::Payload, open_control_channel_rsp, open_tunnel_rsp,
};
use rstream_local_engine::LocalEngine;
use rstream_local_engine::raw::{RawConnection, details};
use support::*;

#[tokio::test]
async fn tls_with_alpn_rstrm_and_names_in_the_certificate() {
    let engine = engine().await;
    let conn = guard(RawConnection::connect(&engine)).await.unwrap();
    assert_eq!(conn.alpn().as_deref(), Some(&b"rstrm/1"[..]));
    // Names under `localhost` get a certificate of their own.
    for name in [
        "localhost",
        "127.0.0.1",
        "engine.localhost",
        "a.b.localhost",
    ] {
        let conn = guard(RawConnection::connect_named(
            &engine,
            engine.engine_addr(),
            name,
            &[b"rstrm/1"],
        ))
        .await;
        assert!(conn.is_ok(), "{name}: {conn:?}");
    }
    for other in ["example.com", "127.0.0.2"] {
        let wrong = guard(RawConnection::connect_named(
            &engine,
            engine.engine_addr(),
            other,
            &[b"rstrm/1"],
        ))
        .await;
        assert!(wrong.is_err(), "no certificate covers {other}");
    }
    // A runtime can verify a name under localhost (system resolvers do not
    // always resolve them, so dial the address and name the server).
    let client = rstream_core::Client::builder()
        .engine(engine.engine_addr().to_string())
        .server_name("engine.localhost")
        .token(TOKEN)
        .ca_pem(engine.ca_pem())
        .build()
        .unwrap();
    let control = guard(client.connect()).await;
    assert!(control.is_ok(), "{control:?}");
    // The CA file holds the same PEM.
    assert_eq!(
        std::fs::read_to_string(engine.ca_file()).unwrap(),
        engine.ca_pem()
    );
    assert!(engine.engine_address().starts_with("localhost:"));
    assert_eq!(
        engine.api_url(),
        format!("https://localhost:{}/api", engine.engine_addr().port())
    );
}

fn code_of(payload: open_control_channel_rsp::Payload) -> i32 {
    match payload {
        open_control_channel_rsp::Payload::Error(e) => e.code,
        open_control_channel_rsp::Payload::Ok(_) => panic!("the channel opened"),
    }
}

#[tokio::test]
async fn tokens_are_checked() {
    let engine = engine().await;
    let (_, rsp) = open_control(&engine, Some("tok_wrong"), None).await;
    assert_eq!(code_of(rsp), ErrorCode::Unauthorized as i32);
    let (_, rsp) = open_control(&engine, None, None).await;
    assert_eq!(code_of(rsp), ErrorCode::Unauthorized as i32);
    let (_, ok) = control(&engine).await;
    assert!(!ok.client_id.is_empty());
    assert_eq!(
        ok.server_details.unwrap().agent.as_deref(),
        Some("rstream-local-engine")
    );
    // Every request is recorded as received, refused ones included.
    let seen = engine.client_details();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0].token.as_deref(), Some("tok_wrong"));
    assert_eq!(seen[1].token, None);
    assert_eq!(seen[2].agent.as_deref(), Some("rstream-local-engine-raw"));
}

#[tokio::test]
async fn no_auth_accepts_any_token() {
    let engine = LocalEngine::builder().no_auth().start().await.unwrap();
    assert_eq!(engine.token(), None);
    for token in [None, Some("anything")] {
        let (_, rsp) = open_control(&engine, token, None).await;
        assert!(matches!(rsp, open_control_channel_rsp::Payload::Ok(_)));
    }
}

#[tokio::test]
async fn default_token_is_random() {
    let a = LocalEngine::builder().start().await.unwrap();
    let b = LocalEngine::builder().start().await.unwrap();
    assert!(a.token().is_some());
    assert_ne!(a.token(), b.token());
}

#[tokio::test]
async fn protocol_versions_are_checked() {
    let engine = engine().await;
    let cases = [
        (None, ErrorCode::ProtocolVersionMissing),
        (Some(""), ErrorCode::ProtocolVersionMissing),
        (Some("one.two"), ErrorCode::ProtocolVersionInvalid),
        (Some("1.4"), ErrorCode::ProtocolVersionInvalid),
        (Some("2.0.0"), ErrorCode::ProtocolVersionIncompatible),
        (Some("0.9.1"), ErrorCode::ProtocolVersionIncompatible),
    ];
    for (version, code) in cases {
        let mut conn = guard(RawConnection::connect(&engine)).await.unwrap();
        let mut d = details(Some(TOKEN));
        d.protocol_version = version.map(Into::into);
        conn.send(OpenControlChannelReq {
            client_details: Some(d),
            liveness: None,
        })
        .await
        .unwrap();
        let Payload::OpenControlChannelRsp(rsp) = next(&mut conn).await else {
            panic!("not an open_control_channel_rsp")
        };
        assert_eq!(code_of(rsp.payload.unwrap()), code as i32, "{version:?}");
        // The engine then closes the connection.
        assert!(matches!(guard(conn.recv()).await, Ok(None) | Err(_)));
    }
}

#[tokio::test]
async fn liveness_is_negotiated_only_when_asked() {
    let engine = engine().await;
    let (_, rsp) = open_control(&engine, Some(TOKEN), Some(2000)).await;
    let open_control_channel_rsp::Payload::Ok(ok) = rsp else {
        panic!("refused")
    };
    let liveness = ok.liveness.expect("liveness answered");
    assert_eq!(liveness.heartbeat_interval_ms, 2000);
    assert!(liveness.heartbeat_timeout_ms >= 2000);
    assert!(liveness.heartbeat_timeout_ms <= 900_000);
    let (_, ok) = control(&engine).await;
    assert_eq!(ok.liveness, None, "legacy mode when not asked");
}

async fn heartbeat(conn: &mut RawConnection, sequence: u64) {
    conn.send(Heartbeat {
        sequence,
        acknowledgement: 0,
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn heartbeats_are_acknowledged_and_acks_can_pause() {
    let engine = engine().await;
    let (mut conn, _) = open_control(&engine, Some(TOKEN), Some(1000)).await;
    for n in 1..=3 {
        heartbeat(&mut conn, n).await;
        let Payload::Heartbeat(ack) = next(&mut conn).await else {
            panic!("not a heartbeat")
        };
        assert_eq!((ack.sequence, ack.acknowledgement), (0, n));
    }
    engine.faults().pause_heartbeat_acks();
    heartbeat(&mut conn, 4).await;
    heartbeat(&mut conn, 5).await;
    // Nothing comes back while paused: a tunnel request is answered first.
    let created = open_tunnel(&mut conn, TunnelProperties::default()).await;
    assert!(matches!(
        created,
        open_tunnel_rsp::Payload::TunnelProperties(_)
    ));
    engine.faults().resume_heartbeat_acks();
    heartbeat(&mut conn, 6).await;
    let Payload::Heartbeat(ack) = next(&mut conn).await else {
        panic!("not a heartbeat")
    };
    assert_eq!(ack.acknowledgement, 6, "acks resume, strictly increasing");
}

#[tokio::test]
async fn tunnels_open_and_close() {
    let engine = engine().await;
    let (mut conn, ok) = control(&engine).await;
    let private = tunnel(
        &mut conn,
        TunnelProperties {
            name: Some("db".into()),
            ..Default::default()
        },
    )
    .await;
    let id = private.id.clone().expect("an id");
    assert!(private.creation_date.is_some());
    assert_eq!(private.r#type.as_deref(), Some("bytestream"));
    assert_eq!(private.hostname, None, "private tunnels get no hostname");

    let web = tunnel(
        &mut conn,
        TunnelProperties {
            name: Some("Web_App".into()),
            publish: Some(true),
            protocol: Some("http".into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(web.hostname.as_deref(), Some("web-app.localhost"));
    assert_eq!(web.port, Some(u32::from(engine.edge_addr().port())));

    // The same name again: the derived hostname is taken, another is chosen.
    let again = tunnel(
        &mut conn,
        TunnelProperties {
            name: Some("Web_App".into()),
            publish: Some(true),
            protocol: Some("http".into()),
            ..Default::default()
        },
    )
    .await;
    let other = again.hostname.unwrap();
    assert!(other.ends_with(".localhost") && other != "web-app.localhost");

    // An explicit hostname in use is refused.
    let taken = open_tunnel(
        &mut conn,
        TunnelProperties {
            publish: Some(true),
            protocol: Some("http".into()),
            hostname: Some("web-app.localhost".into()),
            ..Default::default()
        },
    )
    .await;
    let open_tunnel_rsp::Payload::Error(e) = taken else {
        panic!("a taken hostname was given twice")
    };
    assert_eq!(e.message.as_deref(), Some("Hostname is already in use."));

    let on_engine = engine.tunnels();
    assert_eq!(on_engine.len(), 3);
    assert!(
        engine.client_details().len() == 1 && !ok.client_id.is_empty(),
        "one channel"
    );

    conn.send(CloseTunnelReq {
        tunnel_id: id.clone(),
    })
    .await
    .unwrap();
    let Payload::CloseTunnelRsp(rsp) = next(&mut conn).await else {
        panic!("not a close_tunnel_rsp")
    };
    assert_eq!(rsp.tunnel_id, id);
    assert!(
        engine
            .tunnels()
            .iter()
            .all(|t| t.id.as_deref() != Some(&id))
    );
}

#[tokio::test]
async fn invalid_tunnels_are_refused() {
    let engine = engine().await;
    let (mut conn, _) = control(&engine).await;
    let cases = [
        (
            TunnelProperties {
                r#type: Some("datagram".into()),
                ..Default::default()
            },
            ErrorCode::FeatureNotAvailable,
        ),
        (
            TunnelProperties {
                protocol: Some("http".into()),
                port: Some(8080),
                ..Default::default()
            },
            ErrorCode::InvalidRequest,
        ),
        (
            TunnelProperties {
                protocol: Some("tcp".into()),
                port: Some(70_000),
                ..Default::default()
            },
            ErrorCode::InvalidRequest,
        ),
        (
            TunnelProperties {
                http_version: Some("h3".into()),
                ..Default::default()
            },
            ErrorCode::FeatureNotAvailable,
        ),
    ];
    for (properties, code) in cases {
        let answer = open_tunnel(&mut conn, properties.clone()).await;
        let open_tunnel_rsp::Payload::Error(e) = answer else {
            panic!("created {properties:?}")
        };
        assert_eq!(e.code, code as i32, "{properties:?}");
    }
    assert!(engine.tunnels().is_empty());
}

#[tokio::test]
async fn closing_the_channel_closes_its_tunnels() {
    let engine = engine().await;
    let (mut conn, _) = control(&engine).await;
    tunnel(&mut conn, TunnelProperties::default()).await;
    assert_eq!(engine.tunnels().len(), 1);
    conn.send(CloseControlChannelReq {}).await.unwrap();
    let Payload::CloseControlChannelRsp(_) = next(&mut conn).await else {
        panic!("not a close_control_channel_rsp")
    };
    assert!(matches!(guard(conn.recv()).await, Ok(None)), "clean end");
    assert!(engine.tunnels().is_empty());
}

#[tokio::test]
async fn malformed_frame_fault() {
    let engine = engine().await;
    let (mut conn, _) = control(&engine).await;
    engine.faults().send_malformed_frame();
    let err = guard(conn.recv()).await.unwrap_err();
    assert!(
        matches!(err, rstream_local_engine::Error::Protocol(_)),
        "{err}"
    );
}

#[tokio::test]
async fn oversize_frame_fault() {
    let engine = engine().await;
    let (mut conn, _) = control(&engine).await;
    engine.faults().send_oversize_frame();
    let err = guard(conn.recv()).await.unwrap_err();
    assert!(err.to_string().contains("65536"), "{err}");
}

#[tokio::test]
async fn unknown_message_fault() {
    let engine = engine().await;
    let (mut conn, _) = control(&engine).await;
    engine.faults().send_unknown_message();
    let message = guard(conn.recv()).await.unwrap().unwrap();
    assert_eq!(message.payload, None, "a frame with no known message");
}

#[tokio::test]
async fn abort_drops_every_channel_without_close_notify() {
    let engine = engine().await;
    let (mut a, _) = control(&engine).await;
    let (mut b, _) = control(&engine).await;
    tunnel(&mut a, TunnelProperties::default()).await;
    tunnel(&mut b, TunnelProperties::default()).await;
    engine.faults().abort_control_channels();
    assert!(engine.tunnels().is_empty(), "their tunnels went at once");
    for conn in [&mut a, &mut b] {
        // rustls reports a TCP close without close_notify as an error.
        assert!(guard(conn.recv()).await.is_err());
    }
    // New channels work.
    control(&engine).await;
}

#[tokio::test]
async fn restart_keeps_the_ports_and_drops_everything() {
    let engine = engine().await;
    let (mut conn, _) = control(&engine).await;
    tunnel(&mut conn, TunnelProperties::default()).await;
    let (engine_addr, edge_addr) = (engine.engine_addr(), engine.edge_addr());
    guard(engine.restart()).await.unwrap();
    assert!(matches!(guard(conn.recv()).await, Ok(None) | Err(_)));
    assert!(engine.tunnels().is_empty());
    assert_eq!(engine.engine_addr(), engine_addr);
    assert_eq!(engine.edge_addr(), edge_addr);
    let (mut again, _) = control(&engine).await;
    tunnel(&mut again, TunnelProperties::default()).await;
    // A runtime reconnects too.
    let client = engine.client_builder().build().unwrap();
    let control = guard(client.connect()).await.unwrap();
    guard(control.close()).await.unwrap();
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let engine = engine().await;
    let addr = engine.engine_addr();
    engine.shutdown().await;
    let conn = tokio::net::TcpStream::connect(addr).await;
    assert!(conn.is_err(), "nothing listens after shutdown");
}

#[tokio::test]
async fn proxy_conn_req_in_the_same_write_as_open_tunnel_rsp() {
    let engine = engine().await;
    let (mut conn, _) = control(&engine).await;
    let incoming = engine.faults().proxy_conn_req_with_open_tunnel_rsp();
    let created = tunnel(&mut conn, TunnelProperties::default()).await;
    // Both frames came in one write: the second is already buffered.
    assert!(
        !conn.buffered().is_empty(),
        "the ProxyConnReq arrived with the OpenTunnelRsp"
    );
    let Payload::ProxyConnReq(req) = next(&mut conn).await else {
        panic!("not a proxy_conn_req")
    };
    assert_eq!(req.tunnel_id, created.id.unwrap());
    // Play the runtime: the announced stream reaches the handle.
    let mut proxy = guard(RawConnection::connect(&engine)).await.unwrap();
    proxy
        .send(rstream_core::proto::ProxyReq {
            client_details: Some(details(req.secret.as_deref())),
            stream_id: req.stream_id.clone(),
            zero_rtt: Some(true),
        })
        .await
        .unwrap();
    let mut edge = guard(incoming.recv()).await.unwrap();
    use tokio::io::AsyncWriteExt;
    edge.write_all(b"ping").await.unwrap();
    assert_eq!(guard(proxy.read_some()).await.unwrap(), b"ping");
}

#[test]
fn handles_are_send_and_sync() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<LocalEngine>();
    send_sync::<rstream_local_engine::Faults>();
    send_sync::<rstream_local_engine::IncomingStream>();
    send_sync::<rstream_local_engine::Error>();
    send_sync::<RawConnection>();
}

#[tokio::test]
async fn tls_sessions_resume() {
    use rustls_pki_types::pem::PemObject;
    use std::sync::Arc;
    let engine = engine().await;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_slice_iter(engine.ca_pem().as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"rstrm/1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let mut kinds = Vec::new();
    for _ in 0..2 {
        let tcp = tokio::net::TcpStream::connect(engine.engine_addr())
            .await
            .unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = guard(connector.connect(name, tcp)).await.unwrap();
        kinds.push(tls.get_ref().1.handshake_kind());
        // Open a channel so the session tickets are read.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let req = rstream_core::proto::frame_bytes(
            &OpenControlChannelReq {
                client_details: Some(details(Some(TOKEN))),
                liveness: None,
            }
            .into(),
        )
        .unwrap();
        tls.write_all(&req).await.unwrap();
        let mut buf = [0u8; 256];
        let n = guard(tls.read(&mut buf)).await.unwrap();
        assert!(n > 0);
    }
    assert_eq!(kinds[0], Some(rustls::HandshakeKind::Full));
    assert_eq!(kinds[1], Some(rustls::HandshakeKind::Resumed));
}
