//! The local engine's edges with a real runtime behind them: the HTTP edge
//! routed by Host (404 for unknown hosts, 502 for refused streams) and the
//! TCP edge of tcp tunnels.

mod support;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rstream_core::{Protocol, TunnelOptions};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Answers every stream with one HTTP response naming the path, the
/// source address and the stream's first bytes length.
fn serve_http(tunnel: rstream_core::Tunnel) {
    tokio::spawn(async move {
        while let Ok(Some(mut stream)) = tunnel.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head).into_owned();
                let path = text.split(' ').nth(1).unwrap_or("").to_owned();
                let source = stream
                    .info()
                    .source_ip
                    .map(|ip| ip.to_string())
                    .unwrap_or_default();
                let body = format!("path={path} source={source}");
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
}

async fn get(edge: SocketAddr, host: &str, path: &str) -> String {
    let mut conn = guard(TcpStream::connect(edge)).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = guard(conn.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn http_edge_routes_by_host() {
    let engine = engine().await;
    let control = guard(engine.client_builder().build().unwrap().connect())
        .await
        .unwrap();
    let web = guard(control.create_tunnel(TunnelOptions::http().publish(true).name("web")))
        .await
        .unwrap();
    let api = guard(control.create_tunnel(TunnelOptions::http().publish(true).name("api")))
        .await
        .unwrap();
    serve_http(web.clone());
    serve_http(api.clone());
    let port = engine.edge_addr().port();
    assert_eq!(
        web.forwarding_address(),
        format!("https://web.localhost:{port}")
    );
    assert_eq!(
        engine.edge_url("web.localhost"),
        format!("http://web.localhost:{port}")
    );

    let answer = get(engine.edge_addr(), &format!("web.localhost:{port}"), "/a").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("path=/a source=127.0.0.1"), "{answer}");
    let answer = get(engine.edge_addr(), "API.localhost", "/b").await;
    assert!(answer.ends_with("path=/b source=127.0.0.1"), "{answer}");

    let answer = get(engine.edge_addr(), "nobody.localhost", "/").await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");

    // A refused stream is a 502 for the edge client.
    engine.faults().refuse_next_streams(1);
    let answer = get(engine.edge_addr(), "web.localhost", "/").await;
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");

    // A closed tunnel is no longer routed.
    guard(web.close()).await.unwrap();
    let answer = get(engine.edge_addr(), "web.localhost", "/").await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
}

#[tokio::test]
async fn http_edge_with_a_fixed_port() {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let engine = rstream_local_engine::LocalEngine::builder()
        .token(TOKEN)
        .edge_port(port)
        .start()
        .await
        .unwrap();
    assert_eq!(engine.edge_addr().port(), port);
}

#[tokio::test]
async fn tcp_edge_per_tunnel() {
    let engine = engine().await;
    let control = guard(engine.client_builder().build().unwrap().connect())
        .await
        .unwrap();
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let wanted = free.local_addr().unwrap().port();
    drop(free);
    let tunnel = guard(control.create_tunnel(TunnelOptions::tcp().port(u32::from(wanted))))
        .await
        .unwrap();
    assert_eq!(tunnel.info().unwrap().protocol, Some(Protocol::Tcp));
    assert_eq!(tunnel.info().unwrap().port, Some(wanted));
    assert_eq!(
        tunnel.forwarding_address(),
        format!("localhost:{wanted} (tcp)")
    );

    // The same port again is refused.
    let err = guard(control.create_tunnel(TunnelOptions::tcp().port(u32::from(wanted))))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("TCP port is already in use"),
        "{err}"
    );

    let accepting = tokio::spawn({
        let tunnel = tunnel.clone();
        async move { tunnel.accept().await }
    });
    let addr = SocketAddr::from((IpAddr::V4(Ipv4Addr::LOCALHOST), wanted));
    let mut conn = guard(TcpStream::connect(addr)).await.unwrap();
    conn.write_all(b"hi").await.unwrap();
    let mut accepted = guard(accepting).await.unwrap().unwrap().unwrap();
    assert_eq!(
        accepted.info().source_ip,
        Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
    );
    let mut buf = [0u8; 2];
    guard(accepted.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"hi");

    // Closing the tunnel stops its listener; the established stream stays.
    guard(tunnel.close()).await.unwrap();
    guard(async {
        while TcpStream::connect(addr).await.is_ok() {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    accepted.write_all(b"still").await.unwrap();
    let mut buf = [0u8; 5];
    guard(conn.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"still");
}

#[tokio::test]
async fn a_slow_client_does_not_hold_up_others() {
    let engine = engine().await;
    let control = guard(engine.client_builder().build().unwrap().connect())
        .await
        .unwrap();
    let web = guard(control.create_tunnel(TunnelOptions::http().publish(true).name("slow")))
        .await
        .unwrap();
    serve_http(web);
    // Half a request head, never finished.
    let mut loris = guard(TcpStream::connect(engine.edge_addr())).await.unwrap();
    loris
        .write_all(b"GET / HTTP/1.1\r\nHost: slow.loc")
        .await
        .unwrap();
    for i in 0..3 {
        let answer = get(engine.edge_addr(), "slow.localhost", &format!("/{i}")).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    // The slow one is eventually told off and closed.
    let mut out = Vec::new();
    let _ = guard(loris.read_to_end(&mut out)).await;
    assert!(
        out.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

#[tokio::test]
async fn an_oversize_head_is_refused() {
    let engine = engine().await;
    let mut conn = guard(TcpStream::connect(engine.edge_addr())).await.unwrap();
    let mut request = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 70 * 1024));
    let _ = conn.write_all(&request).await;
    let mut out = Vec::new();
    let _ = guard(conn.read_to_end(&mut out)).await;
    assert!(
        out.starts_with(b"HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&out)
    );
}

#[tokio::test]
async fn a_runtime_refusal_is_a_502_at_the_edge() {
    use rstream_core::proto::{self, ErrorCode, ProxyConnRsp, TunnelProperties, message::Payload};
    let engine = engine().await;
    let (mut conn, _) = control(&engine).await;
    let t = tunnel(
        &mut conn,
        TunnelProperties {
            name: Some("refusing".into()),
            publish: Some(true),
            protocol: Some("http".into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(t.hostname.as_deref(), Some("refusing.localhost"));
    let request = tokio::spawn(get(engine.edge_addr(), "refusing.localhost", "/"));
    let Payload::ProxyConnReq(req) = next(&mut conn).await else {
        panic!("not a proxy_conn_req")
    };
    let addr = req.source_ip.and_then(|a| a.addr);
    assert_eq!(
        addr,
        Some(proto::ip_address::Addr::V4(u32::from(Ipv4Addr::LOCALHOST))),
        "the edge client's real address"
    );
    conn.send(ProxyConnRsp {
        stream_id: req.stream_id,
        error: Some(proto::Error::new(
            ErrorCode::ServiceUnavailable,
            "accept queue full",
        )),
    })
    .await
    .unwrap();
    let answer = guard(request).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 502"), "{answer}");
    assert!(answer.contains("accept queue full"), "{answer}");
}

#[tokio::test]
async fn a_relayed_hostname_reaches_a_tls_server_through_the_edge() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let engine = engine().await;
    // A plain TLS server answering one HTTP response per connection.
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let cert_pem = key.cert.pem();
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap()],
        PrivateKeyDer::from_pem_slice(key.signing_key.serialize_pem().as_bytes()).unwrap(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = vec![0u8; 4096];
                let n = tls.read(&mut head).await.unwrap_or(0);
                let seen = String::from_utf8_lossy(&head[..n]).into_owned();
                let body = if seen.starts_with("GET /relayed ") {
                    "over TLS"
                } else {
                    "?"
                };
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(response.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    engine
        .relay_to_tls("relayed.localhost", upstream, &cert_pem, "localhost")
        .unwrap();
    let response = guard(engine.get("relayed.localhost", "/relayed"))
        .await
        .unwrap();
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "over TLS")
    );
    // A CA that did not sign the server's certificate: the edge says so.
    let other = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    engine
        .relay_to_tls("wrong.localhost", upstream, &other.cert.pem(), "localhost")
        .unwrap();
    let response = guard(engine.get("wrong.localhost", "/relayed"))
        .await
        .unwrap();
    assert_eq!(response.status, 502);
}
