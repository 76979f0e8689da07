//! Streams through the local engine with the runtime's side played frame by
//! frame: ProxyConnReq contents, ProxyReq matching in both zero-RTT modes,
//! coalescing, redirects, refusals, splicing without half-close, private
//! dials, and the stream fault injections.

mod support;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use rstream_core::proto::{
    self, ErrorCode, ProxyConnReq, ProxyConnRsp, ProxyReq, StreamReq, TunnelProperties, ip_address,
    message::Payload, stream_rsp,
};
use rstream_local_engine::LocalEngine;
use rstream_local_engine::raw::{RawConnection, details};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A raw control channel with one private tunnel.
async fn owner(engine: &LocalEngine) -> (RawConnection, String) {
    let (mut conn, _) = control(engine).await;
    let t = tunnel(
        &mut conn,
        TunnelProperties {
            name: Some("svc".into()),
            ..Default::default()
        },
    )
    .await;
    (conn, t.id.unwrap())
}

async fn proxy_conn_req(conn: &mut RawConnection) -> ProxyConnReq {
    match next(conn).await {
        Payload::ProxyConnReq(req) => req,
        other => panic!("expected a proxy_conn_req, got {other:?}"),
    }
}

/// Plays the runtime's proxy connection for `req`.
async fn proxy_req(
    engine: &LocalEngine,
    req: &ProxyConnReq,
    secret: Option<&str>,
    zero_rtt: bool,
) -> RawConnection {
    let addr = match &req.proxy_endpoint {
        Some(endpoint) => {
            let port: u16 = endpoint.rsplit_once(':').unwrap().1.parse().unwrap();
            ([127, 0, 0, 1], port).into()
        }
        None => engine.engine_addr(),
    };
    let mut conn = guard(RawConnection::connect_to(engine, addr, &[b"rstrm/1"]))
        .await
        .unwrap();
    conn.send(ProxyReq {
        client_details: Some(details(secret.or(req.secret.as_deref()))),
        stream_id: req.stream_id.clone(),
        zero_rtt: Some(zero_rtt),
    })
    .await
    .unwrap();
    conn
}

async fn proxy_rsp(conn: &mut RawConnection) -> proto::ProxyRsp {
    match next(conn).await {
        Payload::ProxyRsp(rsp) => rsp,
        other => panic!("expected a proxy_rsp, got {other:?}"),
    }
}

#[tokio::test]
async fn proxy_conn_req_carries_secret_and_source() {
    let engine = engine().await;
    let (mut conn, id) = owner(&engine).await;
    let mut secrets = Vec::new();
    for source in ["198.51.100.4", "2001:db8::1"] {
        let source: IpAddr = source.parse().unwrap();
        let opening = tokio::spawn(engine.open_stream(&id, source));
        let req = proxy_conn_req(&mut conn).await;
        assert_eq!(req.tunnel_id, id);
        assert!(!req.stream_id.is_empty());
        let secret = req.secret.clone().expect("a secret");
        assert!(!secret.is_empty() && secret != TOKEN);
        secrets.push(secret);
        assert_eq!(req.proxy_endpoint, None);
        let addr = req.source_ip.clone().and_then(|a| a.addr).unwrap();
        let got: IpAddr = match addr {
            ip_address::Addr::V4(v4) => std::net::Ipv4Addr::from(v4).into(),
            ip_address::Addr::V6(v6) => <[u8; 16]>::try_from(v6.as_slice())
                .map(std::net::Ipv6Addr::from)
                .unwrap()
                .into(),
        };
        assert_eq!(got, source);
        let _proxy = proxy_req(&engine, &req, None, true).await;
        guard(opening).await.unwrap().unwrap();
    }
    assert_ne!(secrets[0], secrets[1], "one secret per stream");
    assert_eq!(engine.proxy_req_tokens(), secrets);
}

#[tokio::test]
async fn zero_rtt_stream_splices_both_ways() {
    let engine = engine().await;
    let (mut conn, id) = owner(&engine).await;
    let opening = tokio::spawn(engine.open_stream(&id, "127.0.0.1".parse().unwrap()));
    let req = proxy_conn_req(&mut conn).await;
    let mut proxy = proxy_req(&engine, &req, None, true).await;
    // The runtime may write at once, right behind its ProxyReq.
    proxy.send_raw(b"server first").await.unwrap();
    let mut edge = guard(opening).await.unwrap().unwrap();
    let mut buf = [0u8; 12];
    guard(edge.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"server first");
    edge.write_all(b"client").await.unwrap();
    assert_eq!(guard(proxy.read_some()).await.unwrap(), b"client");
    conn.send(ProxyConnRsp {
        stream_id: req.stream_id,
        error: None,
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn proxy_rsp_is_coalesced_with_the_first_bytes() {
    let engine = engine().await;
    let (mut conn, id) = owner(&engine).await;
    let opening = tokio::spawn(engine.open_stream(&id, "127.0.0.1".parse().unwrap()));
    let req = proxy_conn_req(&mut conn).await;
    let mut proxy = proxy_req(&engine, &req, None, false).await;
    let mut edge = guard(opening).await.unwrap().unwrap();
    edge.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    let rsp = proxy_rsp(&mut proxy).await;
    assert_eq!(rsp.error, None);
    assert_eq!(
        proxy.buffered(),
        b"GET / HTTP/1.1\r\n\r\n",
        "the payload came in the same write as the ProxyRsp"
    );
}

#[tokio::test]
async fn proxy_rsp_alone_without_coalescing() {
    let engine = LocalEngine::builder()
        .token(TOKEN)
        .zero_rtt_coalesce(false)
        .start()
        .await
        .unwrap();
    let (mut conn, id) = owner(&engine).await;
    let opening = tokio::spawn(engine.open_stream(&id, "127.0.0.1".parse().unwrap()));
    let req = proxy_conn_req(&mut conn).await;
    let mut proxy = proxy_req(&engine, &req, None, false).await;
    // The answer comes before the edge client says anything.
    assert_eq!(proxy_rsp(&mut proxy).await.error, None);
    let mut edge = guard(opening).await.unwrap().unwrap();
    edge.write_all(b"later").await.unwrap();
    assert_eq!(guard(proxy.read_some()).await.unwrap(), b"later");
}

#[tokio::test]
async fn a_silent_edge_client_still_gets_the_proxy_rsp_sent() {
    let engine = engine().await;
    let (mut conn, id) = owner(&engine).await;
    let opening = tokio::spawn(engine.open_stream(&id, "127.0.0.1".parse().unwrap()));
    let req = proxy_conn_req(&mut conn).await;
    let mut proxy = proxy_req(&engine, &req, None, false).await;
    let mut edge = guard(opening).await.unwrap().unwrap();
    // Server-first protocols work: the engine stops waiting for the client.
    assert_eq!(proxy_rsp(&mut proxy).await.error, None);
    proxy.send_raw(b"banner").await.unwrap();
    let mut buf = [0u8; 6];
    guard(edge.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"banner");
}

#[tokio::test]
async fn wrong_secret_and_unknown_stream_are_refused() {
    let engine = engine().await;
    let (mut conn, id) = owner(&engine).await;
    let opening = tokio::spawn(engine.open_stream(&id, "127.0.0.1".parse().unwrap()));
    let req = proxy_conn_req(&mut conn).await;
    let mut wrong = proxy_req(&engine, &req, Some(TOKEN), false).await;
    let rsp = proxy_rsp(&mut wrong).await;
    assert_eq!(rsp.error.unwrap().code, ErrorCode::Unauthorized as i32);
    let mut unknown = proxy_req(
        &engine,
        &ProxyConnReq {
            stream_id: "str_unknown".into(),
            ..req.clone()
        },
        None,
        false,
    )
    .await;
    let rsp = proxy_rsp(&mut unknown).await;
    assert_eq!(rsp.error.unwrap().code, ErrorCode::InvalidStream as i32);
    // The right secret still works afterwards.
    let mut right = proxy_req(&engine, &req, None, true).await;
    let mut edge = guard(opening).await.unwrap().unwrap();
    edge.write_all(b"ok").await.unwrap();
    assert_eq!(guard(right.read_some()).await.unwrap(), b"ok");
}

#[tokio::test]
async fn proxy_conn_rsp_error_fails_the_stream() {
    let engine = engine().await;
    let (mut conn, id) = owner(&engine).await;
    let opening = tokio::spawn(engine.open_stream(&id, "127.0.0.1".parse().unwrap()));
    let req = proxy_conn_req(&mut conn).await;
    conn.send(ProxyConnRsp {
        stream_id: req.stream_id,
        error: Some(proto::Error::new(ErrorCode::ServiceUnavailable, "busy")),
    })
    .await
    .unwrap();
    let err = guard(opening).await.unwrap().unwrap_err();
    assert!(err.to_string().contains("busy"), "{err}");
}

#[tokio::test]
async fn proxy_conn_rsp_error_after_the_connection_closes_the_stream() {
    let engine = engine().await;
    let (mut conn, id) = owner(&engine).await;
    let opening = tokio::spawn(engine.open_stream(&id, "127.0.0.1".parse().unwrap()));
    let req = proxy_conn_req(&mut conn).await;
    let mut proxy = proxy_req(&engine, &req, None, true).await;
    let mut edge = guard(opening).await.unwrap().unwrap();
    conn.send(ProxyConnRsp {
        stream_id: req.stream_id,
        error: Some(proto::Error::new(
            ErrorCode::ServiceUnavailable,
            "queue full",
        )),
    })
    .await
    .unwrap();
    let mut rest = Vec::new();
    guard(edge.read_to_end(&mut rest)).await.unwrap();
    assert!(rest.is_empty());
    assert!(guard(proxy.read_to_end()).await.unwrap().is_empty());
}

#[tokio::test]
async fn unknown_tunnel_is_refused_at_once() {
    let engine = engine().await;
    let err = guard(engine.open_stream("tun_nope", "127.0.0.1".parse().unwrap()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, rstream_local_engine::Error::TunnelNotFound(_)),
        "{err}"
    );
}

#[tokio::test]
async fn no_half_close_either_way() {
    let engine = engine().await;
    let (mut conn, id) = owner(&engine).await;
    // The edge client ends: the runtime's side gets every byte, then the end.
    let opening = tokio::spawn(engine.open_stream(&id, "127.0.0.1".parse().unwrap()));
    let req = proxy_conn_req(&mut conn).await;
    let mut proxy = proxy_req(&engine, &req, None, true).await;
    let mut edge = guard(opening).await.unwrap().unwrap();
    edge.write_all(b"last words").await.unwrap();
    edge.shutdown().await.unwrap();
    assert_eq!(guard(proxy.read_to_end()).await.unwrap(), b"last words");
    // ...and the edge is closed for reading too.
    let mut rest = Vec::new();
    guard(edge.read_to_end(&mut rest)).await.unwrap();
    assert!(rest.is_empty());

    // The runtime ends: the edge gets every byte, then the end.
    let opening = tokio::spawn(engine.open_stream(&id, "127.0.0.1".parse().unwrap()));
    let req = proxy_conn_req(&mut conn).await;
    let mut proxy = proxy_req(&engine, &req, None, true).await;
    let mut edge = guard(opening).await.unwrap().unwrap();
    proxy.send_raw(b"goodbye").await.unwrap();
    proxy.close().await;
    let mut all = Vec::new();
    guard(edge.read_to_end(&mut all)).await.unwrap();
    assert_eq!(all, b"goodbye");
}

#[tokio::test]
async fn proxy_endpoint_redirect() {
    let engine = LocalEngine::builder()
        .token(TOKEN)
        .proxy_endpoint(true)
        .start()
        .await
        .unwrap();
    let endpoint = engine.proxy_endpoint_addr().expect("a proxy endpoint");
    let (mut conn, id) = owner(&engine).await;
    let opening = tokio::spawn(engine.open_stream(&id, "127.0.0.1".parse().unwrap()));
    let req = proxy_conn_req(&mut conn).await;
    assert_eq!(
        req.proxy_endpoint.as_deref(),
        Some(format!("localhost:{}", endpoint.port()).as_str())
    );
    // The engine port itself refuses proxy connections now.
    let mut direct = proxy_req(
        &engine,
        &ProxyConnReq {
            proxy_endpoint: None,
            ..req.clone()
        },
        None,
        false,
    )
    .await;
    assert!(proxy_rsp(&mut direct).await.error.is_some());
    let mut redirected = proxy_req(&engine, &req, None, true).await;
    let mut edge = guard(opening).await.unwrap().unwrap();
    edge.write_all(b"via endpoint").await.unwrap();
    assert_eq!(
        guard(redirected.read_some()).await.unwrap(),
        b"via endpoint"
    );
}

#[tokio::test]
async fn refuse_next_streams_fault() {
    let engine = engine().await;
    let (mut conn, id) = owner(&engine).await;
    engine.faults().refuse_next_streams(2);
    for zero_rtt in [false, true] {
        let opening = tokio::spawn(engine.open_stream(&id, "127.0.0.1".parse().unwrap()));
        let req = proxy_conn_req(&mut conn).await;
        let mut proxy = proxy_req(&engine, &req, None, zero_rtt).await;
        if !zero_rtt {
            let rsp = proxy_rsp(&mut proxy).await;
            assert_eq!(
                rsp.error.unwrap().code,
                ErrorCode::ServiceUnavailable as i32
            );
        }
        assert!(guard(proxy.read_to_end()).await.unwrap().is_empty());
        assert!(guard(opening).await.unwrap().is_err());
    }
    // The third goes through.
    let opening = tokio::spawn(engine.open_stream(&id, "127.0.0.1".parse().unwrap()));
    let req = proxy_conn_req(&mut conn).await;
    let _proxy = proxy_req(&engine, &req, None, true).await;
    assert!(guard(opening).await.unwrap().is_ok());
}

#[tokio::test]
async fn delay_next_streams_fault() {
    let engine = engine().await;
    let (mut conn, id) = owner(&engine).await;
    let delay = Duration::from_millis(300);
    engine.faults().delay_next_streams(1, delay);
    let started = Instant::now();
    let opening = tokio::spawn(engine.open_stream(&id, "127.0.0.1".parse().unwrap()));
    let req = proxy_conn_req(&mut conn).await;
    assert!(started.elapsed() >= delay, "announced after the delay");
    let _proxy = proxy_req(&engine, &req, None, true).await;
    assert!(guard(opening).await.unwrap().is_ok());
}

async fn dial(engine: &LocalEngine, target: &str, token: &str, zero_rtt: bool) -> RawConnection {
    let mut conn = guard(RawConnection::connect(engine)).await.unwrap();
    conn.send(StreamReq {
        client_details: Some(details(Some(token))),
        tunnel_id_name: target.into(),
        zero_rtt: Some(zero_rtt),
        datagram_channel: None,
    })
    .await
    .unwrap();
    conn
}

async fn stream_rsp(conn: &mut RawConnection) -> stream_rsp::Payload {
    match next(conn).await {
        Payload::StreamRsp(rsp) => rsp.payload.expect("a payload"),
        other => panic!("expected a stream_rsp, got {other:?}"),
    }
}

#[tokio::test]
async fn private_dial_by_name_and_id() {
    let engine = engine().await;
    let (mut conn, id) = owner(&engine).await;
    for (target, zero_rtt) in [
        ("svc", false),
        (id.as_str(), false),
        ("svc", true),
        (id.as_str(), true),
    ] {
        let mut dialer = dial(&engine, target, TOKEN, zero_rtt).await;
        if zero_rtt {
            dialer.send_raw(b"early").await.unwrap();
        }
        let req = proxy_conn_req(&mut conn).await;
        assert_eq!(req.tunnel_id, id);
        let addr = req.source_ip.clone().and_then(|a| a.addr);
        assert_eq!(
            addr,
            Some(ip_address::Addr::V4(u32::from(
                std::net::Ipv4Addr::LOCALHOST
            )))
        );
        let mut proxy = proxy_req(&engine, &req, None, true).await;
        if zero_rtt {
            assert_eq!(guard(proxy.read_some()).await.unwrap(), b"early");
        } else {
            let stream_rsp::Payload::StreamId(stream_id) = stream_rsp(&mut dialer).await else {
                panic!("refused")
            };
            assert_eq!(stream_id, req.stream_id);
        }
        proxy.send_raw(b"pong").await.unwrap();
        assert_eq!(guard(dialer.read_some()).await.unwrap(), b"pong");
    }
}

#[tokio::test]
async fn private_dial_errors() {
    let engine = engine().await;
    let (_conn, _id) = owner(&engine).await;
    let mut unknown = dial(&engine, "nope", TOKEN, false).await;
    let stream_rsp::Payload::Error(e) = stream_rsp(&mut unknown).await else {
        panic!("dialed an unknown tunnel")
    };
    assert_eq!(e.code, ErrorCode::TunnelNotFound as i32);
    let mut stranger = dial(&engine, "svc", "tok_wrong", false).await;
    let stream_rsp::Payload::Error(e) = stream_rsp(&mut stranger).await else {
        panic!("dialed with a wrong token")
    };
    assert_eq!(e.code, ErrorCode::Unauthorized as i32);
    // With zero-RTT a refusal is a closed connection with nothing in it.
    let mut silent = dial(&engine, "nope", TOKEN, true).await;
    assert!(guard(silent.read_to_end()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_runtime_refusal_fails_the_dial() {
    let engine = engine().await;
    let (mut conn, _id) = owner(&engine).await;
    let mut dialer = dial(&engine, "svc", TOKEN, false).await;
    let req = proxy_conn_req(&mut conn).await;
    conn.send(ProxyConnRsp {
        stream_id: req.stream_id,
        error: Some(proto::Error::new(ErrorCode::ServiceUnavailable, "no")),
    })
    .await
    .unwrap();
    let stream_rsp::Payload::Error(e) = stream_rsp(&mut dialer).await else {
        panic!("the dial succeeded")
    };
    assert_eq!(e.code, ErrorCode::ServiceUnavailable as i32);
}

#[tokio::test]
async fn an_abandoned_stream_is_forgotten() {
    let engine = engine().await;
    let (mut conn, id) = owner(&engine).await;
    let opening = tokio::spawn(engine.open_stream(&id, "127.0.0.1".parse().unwrap()));
    let req = proxy_conn_req(&mut conn).await;
    opening.abort();
    assert!(guard(opening).await.unwrap_err().is_cancelled());
    let mut late = proxy_req(&engine, &req, None, false).await;
    let rsp = proxy_rsp(&mut late).await;
    assert_eq!(rsp.error.unwrap().code, ErrorCode::InvalidStream as i32);
}

#[tokio::test]
async fn stall_next_proxy_connections_fault() {
    let engine = engine().await;
    let (mut conn, id) = owner(&engine).await;
    engine.faults().stall_next_proxy_connections(1);
    let opening = tokio::spawn(engine.open_stream(&id, "127.0.0.1".parse().unwrap()));
    let req = proxy_conn_req(&mut conn).await;
    let mut stalled = proxy_req(&engine, &req, None, false).await;
    // A retry of the same stream goes through.
    let mut retry = proxy_req(&engine, &req, None, false).await;
    assert_eq!(proxy_rsp(&mut retry).await.error, None);
    let mut edge = guard(opening).await.unwrap().unwrap();
    edge.write_all(b"after retry").await.unwrap();
    assert_eq!(guard(retry.read_some()).await.unwrap(), b"after retry");
    // The stalled connection got nothing at all.
    let silent = tokio::time::timeout(Duration::from_millis(200), stalled.read_some()).await;
    assert!(silent.is_err(), "{silent:?}");
    assert!(stalled.buffered().is_empty());
}

#[tokio::test]
async fn a_runtime_retries_a_stalled_proxy_dial() {
    // The runtime gives a proxy dial 10 s, then tries once more.
    let engine = engine().await;
    let client = engine.client_builder().zero_rtt(false).build().unwrap();
    let control = guard(client.connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(rstream_core::TunnelOptions::new()))
        .await
        .unwrap();
    engine.faults().stall_next_proxy_connections(1);
    let mut edge = guard(engine.open_stream(&tunnel.id(), "127.0.0.1".parse().unwrap()))
        .await
        .unwrap();
    edge.write_all(b"late").await.unwrap();
    let mut accepted = guard(tunnel.accept()).await.unwrap().unwrap();
    let mut buf = [0u8; 4];
    guard(accepted.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"late");
}
