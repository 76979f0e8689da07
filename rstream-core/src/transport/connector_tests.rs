//! The TLS client side against real rustls servers and CONNECT proxies on
//! loopback, with a CA generated for each test.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{ALPN_RSTRM, ClientIdentity, Connector, ProxySettings, TlsConnection, TlsSettings};
use crate::Error;
use base64::Engine as _;
use rcgen::{
    BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

// ---------------------------------------------------------------- helpers

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    super::tls::provider()
}

/// A CA with a server certificate and a client certificate, all as PEM.
struct Pki {
    ca_pem: String,
    server_cert_pem: String,
    server_key_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

impl Pki {
    fn new() -> Pki {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "rstream-rs test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf = |names: Vec<String>, usage: ExtendedKeyUsagePurpose| {
            let mut params = CertificateParams::new(names).unwrap();
            params.extended_key_usages = vec![usage];
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &issuer).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert_pem, server_key_pem) = leaf(
            vec!["localhost".into(), "engine.test".into(), "127.0.0.1".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let (client_cert_pem, client_key_pem) = leaf(
            vec!["client.test".into()],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        Pki {
            ca_pem: ca_cert.pem(),
            server_cert_pem,
            server_key_pem,
            client_cert_pem,
            client_key_pem,
        }
    }

    fn server_config(&self, client_auth: ClientAuth, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.server_cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_slice(self.server_key_pem.as_bytes()).unwrap();
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Required => {
                let mut roots = rustls::RootCertStore::empty();
                for ca in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
                    roots.add(ca.unwrap()).unwrap();
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider(),
                )
                .build()
                .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_single_cert(chain, key).unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(config)
    }
}

#[derive(Clone, Copy)]
enum ClientAuth {
    None,
    Required,
}

/// What the server saw of one successful handshake.
#[derive(Debug)]
struct Seen {
    sni: Option<String>,
    alpn: Option<Vec<u8>>,
    client_cert: Option<Vec<u8>>,
}

/// A TLS server on loopback: reports each handshake, greets with `hello`,
/// then echoes.
struct TestServer {
    addr: SocketAddr,
    seen: mpsc::UnboundedReceiver<Seen>,
}

impl TestServer {
    async fn start(config: Arc<rustls::ServerConfig>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, seen) = mpsc::unbounded_channel();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let conn = tls.get_ref().1;
                    let _ = tx.send(Seen {
                        sni: conn.server_name().map(str::to_owned),
                        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
                        client_cert: conn
                            .peer_certificates()
                            .and_then(|c| c.first())
                            .map(|c| c.to_vec()),
                    });
                    if tls.write_all(b"hello").await.is_err() {
                        return;
                    }
                    let _ = tls.flush().await;
                    let (mut r, mut w) = tokio::io::split(tls);
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        TestServer { addr, seen }
    }

    async fn next_seen(&mut self) -> Seen {
        tokio::time::timeout(Duration::from_secs(10), self.seen.recv())
            .await
            .expect("the server saw no handshake")
            .unwrap()
    }
}

/// Reads the greeting and checks one echo round trip.
async fn exchange(conn: &mut TlsConnection) {
    let mut greeting = [0u8; 5];
    conn.read_exact(&mut greeting).await.unwrap();
    assert_eq!(&greeting, b"hello");
    conn.write_all(b"ping").await.unwrap();
    let mut echo = [0u8; 4];
    conn.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"ping");
}

fn alpn() -> Vec<Vec<u8>> {
    vec![ALPN_RSTRM.to_vec()]
}

fn trusting(pki: &Pki) -> TlsSettings {
    TlsSettings {
        ca_pem: Some(pki.ca_pem.clone()),
        ..TlsSettings::default()
    }
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rstream-transport-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How the test proxy answers a `CONNECT`.
#[derive(Clone, Copy)]
enum ProxyAnswer {
    Tunnel,
    Refuse(&'static str),
}

/// A CONNECT proxy on loopback that reports each request head it receives.
struct TestProxy {
    addr: SocketAddr,
    heads: mpsc::UnboundedReceiver<String>,
}

impl TestProxy {
    async fn start(answer: ProxyAnswer, tls: Option<Arc<rustls::ServerConfig>>) -> TestProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, heads) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let tx = tx.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => serve_connect(tcp, answer, tx).await,
                        Some(config) => {
                            let acceptor = tokio_rustls::TlsAcceptor::from(config);
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                serve_connect(stream, answer, tx).await;
                            }
                        }
                    }
                });
            }
        });
        TestProxy { addr, heads }
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://localhost:{}", self.addr.port())
    }

    async fn next_head(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(10), self.heads.recv())
            .await
            .expect("the proxy saw no request")
            .unwrap()
    }
}

async fn serve_connect<S>(mut client: S, answer: ProxyAnswer, tx: mpsc::UnboundedSender<String>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let Ok(b) = client.read_u8().await else {
            return;
        };
        head.push(b);
    }
    let head = String::from_utf8(head).unwrap();
    let _ = tx.send(head.clone());
    if let ProxyAnswer::Refuse(status) = answer {
        let _ = client
            .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
            .await;
        return;
    }
    let target = head
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .unwrap()
        .to_owned();
    // The test only ever tunnels to loopback servers.
    let port = target.rsplit_once(':').unwrap().1;
    let Ok(mut upstream) = TcpStream::connect(format!("127.0.0.1:{port}")).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

// ------------------------------------------------------------------ tests

#[tokio::test]
async fn server_sees_alpn_and_sni() {
    let pki = Pki::new();
    let mut server = TestServer::start(pki.server_config(ClientAuth::None, &[ALPN_RSTRM])).await;
    let connector = Connector::new(&trusting(&pki), None, alpn()).unwrap();

    let mut conn = connector
        .connect("localhost", server.addr.port(), None, &[])
        .await
        .unwrap();
    assert_eq!(conn.get_ref().1.alpn_protocol(), Some(ALPN_RSTRM));
    exchange(&mut conn).await;
    let seen = server.next_seen().await;
    assert_eq!(seen.sni.as_deref(), Some("localhost"));
    assert_eq!(seen.alpn.as_deref(), Some(ALPN_RSTRM));
    assert!(seen.client_cert.is_none());
}

#[tokio::test]
async fn first_bytes_arrive_after_the_handshake_whatever_their_size() {
    let pki = Pki::new();
    let mut server = TestServer::start(pki.server_config(ClientAuth::None, &[ALPN_RSTRM])).await;
    let connector = Connector::new(&trusting(&pki), None, alpn()).unwrap();

    // A frame-sized start, sent with the handshake: the server echoes it
    // after its greeting without the client writing anything more.
    let mut conn = connector
        .connect("localhost", server.addr.port(), None, b"ping")
        .await
        .unwrap();
    let mut got = [0u8; 9];
    conn.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"helloping");
    server.next_seen().await;

    // More than rustls holds before the handshake (64 KiB): the part over
    // the limit is written once the handshake is done, all of it in order.
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let mut conn = connector
        .connect("localhost", server.addr.port(), None, &big)
        .await
        .unwrap();
    let mut greeting = [0u8; 5];
    conn.read_exact(&mut greeting).await.unwrap();
    assert_eq!(&greeting, b"hello");
    let mut echoed = vec![0u8; big.len()];
    conn.read_exact(&mut echoed).await.unwrap();
    assert!(echoed == big, "the echoed bytes differ from those sent");
}

#[tokio::test]
async fn server_name_override_and_connect_to() {
    let pki = Pki::new();
    let mut server = TestServer::start(pki.server_config(ClientAuth::None, &[ALPN_RSTRM])).await;
    let settings = TlsSettings {
        server_name: Some("engine.test".into()),
        ..trusting(&pki)
    };
    let connector = Connector::new(&settings, None, alpn()).unwrap();

    // The host does not resolve; the address override is what gets dialled.
    let mut conn = connector
        .connect("engine.invalid", 443, Some(server.addr), &[])
        .await
        .unwrap();
    exchange(&mut conn).await;
    assert_eq!(server.next_seen().await.sni.as_deref(), Some("engine.test"));

    // An explicit name wins over the settings' override.
    let mut conn = connector
        .connect_with_name("localhost", server.addr.port(), "localhost", None, &[])
        .await
        .unwrap();
    exchange(&mut conn).await;
    assert_eq!(server.next_seen().await.sni.as_deref(), Some("localhost"));

    // A name the certificate does not cover is refused, and the error says so.
    let err = connector
        .connect_with_name("localhost", server.addr.port(), "other.test", None, &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TlsRejected(_)), "{err}");
    assert!(err.to_string().contains("not valid for the name"), "{err}");
}

#[tokio::test]
async fn client_certificate_from_files_and_inline_pem() {
    let pki = Pki::new();
    let mut server =
        TestServer::start(pki.server_config(ClientAuth::Required, &[ALPN_RSTRM])).await;
    let expected = CertificateDer::from_pem_slice(pki.client_cert_pem.as_bytes())
        .unwrap()
        .to_vec();
    let dir = TempDir::new();
    let identities = [
        ClientIdentity::Files {
            cert: dir.write("client.pem", &pki.client_cert_pem),
            key: dir.write("client.key", &pki.client_key_pem),
        },
        ClientIdentity::Pem {
            cert_pem: pki.client_cert_pem.clone(),
            key_pem: pki.client_key_pem.clone().into(),
        },
    ];
    for identity in identities {
        let settings = TlsSettings {
            client_identity: Some(identity.clone()),
            ..trusting(&pki)
        };
        let connector = Connector::new(&settings, None, alpn()).unwrap();
        let mut conn = connector
            .connect("localhost", server.addr.port(), None, &[])
            .await
            .unwrap();
        exchange(&mut conn).await;
        let seen = server.next_seen().await;
        assert_eq!(
            seen.client_cert.as_deref(),
            Some(&expected[..]),
            "{identity:?}"
        );
    }

    // Without a certificate the server refuses: the error is a TLS one,
    // whether it surfaces during the handshake or on the first read.
    let connector = Connector::new(&trusting(&pki), None, alpn()).unwrap();
    match connector
        .connect("localhost", server.addr.port(), None, &[])
        .await
    {
        Err(err) => assert!(matches!(err, Error::Tls(_)), "{err}"),
        Ok(mut conn) => {
            let mut buf = [0u8; 5];
            assert!(conn.read_exact(&mut buf).await.is_err());
        }
    }
}

#[tokio::test]
async fn unknown_ca_fails_and_ca_file_is_added_to_system_roots() {
    let pki = Pki::new();
    let mut server = TestServer::start(pki.server_config(ClientAuth::None, &[ALPN_RSTRM])).await;

    // System roots only: our test CA is unknown.
    let system_only = Connector::new(&TlsSettings::default(), None, alpn()).unwrap();
    let err = system_only
        .connect("localhost", server.addr.port(), None, &[])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TlsRejected(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("not trusted"), "{text}");
    assert!(
        text.contains("CA file") && text.contains("insecure"),
        "{text}"
    );

    // The same roots plus the CA file: trusted.
    let dir = TempDir::new();
    let settings = TlsSettings {
        ca_file: Some(dir.write("ca.pem", &pki.ca_pem)),
        ..TlsSettings::default()
    };
    let with_ca = Connector::new(&settings, None, alpn()).unwrap();
    let mut conn = with_ca
        .connect("localhost", server.addr.port(), None, &[])
        .await
        .unwrap();
    exchange(&mut conn).await;
    server.next_seen().await;

    // An unreadable CA file is a configuration error naming the file.
    let missing = TlsSettings {
        ca_file: Some(dir.path().join("missing.pem")),
        ..TlsSettings::default()
    };
    let err = Connector::new(&missing, None, alpn()).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(err.to_string().contains("missing.pem"), "{err}");
}

#[tokio::test]
async fn insecure_mode_only_when_asked() {
    let pki = Pki::new();
    let mut server = TestServer::start(pki.server_config(ClientAuth::None, &[ALPN_RSTRM])).await;

    let strict = Connector::new(&TlsSettings::default(), None, alpn()).unwrap();
    assert!(
        strict
            .connect("localhost", server.addr.port(), None, &[])
            .await
            .is_err()
    );

    let settings = TlsSettings {
        insecure_skip_verify: true,
        ..TlsSettings::default()
    };
    let insecure = Connector::new(&settings, None, alpn()).unwrap();
    // Any name is accepted too.
    let mut conn = insecure
        .connect_with_name("localhost", server.addr.port(), "whatever.test", None, &[])
        .await
        .unwrap();
    exchange(&mut conn).await;
    assert_eq!(
        server.next_seen().await.sni.as_deref(),
        Some("whatever.test")
    );
}

#[tokio::test]
async fn one_config_resumes_sessions() {
    let pki = Pki::new();
    let mut server = TestServer::start(pki.server_config(ClientAuth::None, &[ALPN_RSTRM])).await;
    let connector = Connector::new(&trusting(&pki), None, alpn()).unwrap();
    let clone = connector.clone();
    assert!(Arc::ptr_eq(
        &connector.client_config(),
        &clone.client_config()
    ));

    let mut first = connector
        .connect("localhost", server.addr.port(), None, &[])
        .await
        .unwrap();
    // Reading lets the client take in the session tickets sent after the handshake.
    exchange(&mut first).await;
    assert_eq!(
        first.get_ref().1.handshake_kind(),
        Some(rustls::HandshakeKind::Full)
    );
    let mut second = clone
        .connect("localhost", server.addr.port(), None, &[])
        .await
        .unwrap();
    exchange(&mut second).await;
    assert_eq!(
        second.get_ref().1.handshake_kind(),
        Some(rustls::HandshakeKind::Resumed)
    );
    server.next_seen().await;
    server.next_seen().await;
}

#[tokio::test]
async fn connect_proxy_carries_the_handshake() {
    let pki = Pki::new();
    let mut server = TestServer::start(pki.server_config(ClientAuth::None, &[ALPN_RSTRM])).await;
    let mut proxy = TestProxy::start(ProxyAnswer::Tunnel, None).await;
    let settings = ProxySettings {
        username: Some("alice".into()),
        password: Some("s3cret".into()),
        headers: vec![("X-Proxy-Tag".into(), "rstream-test".into())],
        ..ProxySettings::new(proxy.url("http"))
    };
    let connector = Connector::new(&trusting(&pki), Some(settings), alpn()).unwrap();

    let mut conn = connector
        .connect("localhost", server.addr.port(), None, &[])
        .await
        .unwrap();
    assert!(!conn.get_ref().0.is_proxy_tls());
    assert_eq!(
        conn.get_ref().0.tcp().peer_addr().unwrap().port(),
        proxy.addr.port()
    );
    exchange(&mut conn).await;

    let head = proxy.next_head().await;
    let target = format!("localhost:{}", server.addr.port());
    assert!(
        head.starts_with(&format!("CONNECT {target} HTTP/1.1\r\n")),
        "{head}"
    );
    assert!(head.contains(&format!("\r\nHost: {target}\r\n")), "{head}");
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    assert!(
        head.contains(&format!("\r\nProxy-Authorization: Basic {basic}\r\n")),
        "{head}"
    );
    assert!(head.contains("\r\nX-Proxy-Tag: rstream-test\r\n"), "{head}");
    assert_eq!(server.next_seen().await.sni.as_deref(), Some("localhost"));
}

#[tokio::test]
async fn https_proxy_carries_the_handshake() {
    let pki = Pki::new();
    let mut server = TestServer::start(pki.server_config(ClientAuth::None, &[ALPN_RSTRM])).await;
    let proxy_tls = pki.server_config(ClientAuth::None, &[b"http/1.1"]);
    let mut proxy = TestProxy::start(ProxyAnswer::Tunnel, Some(proxy_tls)).await;
    let settings = ProxySettings {
        tls: trusting(&pki),
        ..ProxySettings::new(proxy.url("https"))
    };
    let connector = Connector::new(&trusting(&pki), Some(settings), alpn()).unwrap();

    let mut conn = connector
        .connect("localhost", server.addr.port(), None, &[])
        .await
        .unwrap();
    assert!(conn.get_ref().0.is_proxy_tls());
    exchange(&mut conn).await;
    assert!(proxy.next_head().await.starts_with("CONNECT localhost:"));
    assert_eq!(server.next_seen().await.alpn.as_deref(), Some(ALPN_RSTRM));
}

#[tokio::test]
async fn proxy_refusals_are_explained() {
    let pki = Pki::new();
    for (status, expect) in [
        (
            "407 Proxy Authentication Required",
            "set the proxy user name and password",
        ),
        ("403 Forbidden", "refused the tunnel"),
    ] {
        let mut proxy = TestProxy::start(ProxyAnswer::Refuse(status), None).await;
        let settings = ProxySettings::new(proxy.url("http"));
        let connector = Connector::new(&trusting(&pki), Some(settings), alpn()).unwrap();
        let err = connector
            .connect("localhost", 443, None, &[])
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Config(_)), "{text}");
        assert!(
            text.contains(&status[..3]) && text.contains(expect),
            "{text}"
        );
        proxy.next_head().await;
    }
}

#[tokio::test]
async fn connect_timeout_bounds_a_silent_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accept TCP, never answer the ClientHello.
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            held.push(tcp);
        }
    });
    let settings = TlsSettings {
        insecure_skip_verify: true,
        ..TlsSettings::default()
    };
    let connector = Connector::new(&settings, None, alpn())
        .unwrap()
        .with_connect_timeout(Duration::from_millis(200));
    let err = connector
        .connect("localhost", addr.port(), Some(addr), &[])
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");

    // The same bound covers a proxy that never answers the CONNECT.
    let proxy = ProxySettings::new(format!("http://127.0.0.1:{}", addr.port()));
    let connector = Connector::new(&settings, Some(proxy), alpn())
        .unwrap()
        .with_connect_timeout(Duration::from_millis(200));
    let err = connector
        .connect("localhost", 443, None, &[])
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    holder.abort();
}

/// The HTTP clients (engine API, control plane) take the same settings and
/// the same `no_proxy` rule as the runtime's connector.
#[cfg(any(feature = "engine-api", feature = "control-plane"))]
#[tokio::test]
async fn http_clients_follow_the_same_proxy_rules() {
    use crate::http::{HttpSettings, client};

    let pki = Pki::new();
    let tls = trusting(&pki);
    let mut server = TestServer::start(pki.server_config(ClientAuth::None, &[b"http/1.1"])).await;
    let mut proxy = TestProxy::start(ProxyAnswer::Tunnel, None).await;
    let url = format!("https://localhost:{}/api/whoami", server.addr.port());

    let settings = ProxySettings {
        username: Some("alice".into()),
        password: Some("s3cret".into()),
        headers: vec![("X-Proxy-Tag".into(), "http-client".into())],
        ..ProxySettings::new(proxy.url("http"))
    };
    let via_proxy = client(&HttpSettings {
        tls: Some(&tls),
        proxy: Some(&settings),
        ..HttpSettings::default()
    })
    .unwrap();
    // The test server speaks no HTTP; what matters is the way there.
    let _ = via_proxy.get(&url).send().await;
    let head = proxy.next_head().await;
    let target = format!("localhost:{}", server.addr.port());
    assert!(head.starts_with(&format!("CONNECT {target} ")), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("\r\nx-proxy-tag: http-client\r\n"), "{head}");
    let basic = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    assert!(
        head.contains(&format!("Basic {basic}\r\n"))
            && lower.contains("\r\nproxy-authorization: basic "),
        "{head}"
    );
    server.next_seen().await;

    let bypassing = ProxySettings {
        no_proxy: Some("example.com, localhost".into()),
        ..settings
    };
    let direct = client(&HttpSettings {
        tls: Some(&tls),
        proxy: Some(&bypassing),
        ..HttpSettings::default()
    })
    .unwrap();
    let _ = direct.get(&url).send().await;
    server.next_seen().await;
    assert!(
        proxy.heads.try_recv().is_err(),
        "NO_PROXY matched, yet the proxy was asked"
    );
}
