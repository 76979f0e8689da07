//! TLS for the direct baselines: a self-signed certificate, server and client
//! configurations, and an `axum::serve` listener that runs each handshake in
//! the connection's own task.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::BoxError;

/// A self-signed certificate for `localhost` and `127.0.0.1`, as PEM.
pub(crate) struct SelfSigned {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
}

pub(crate) fn self_signed() -> Result<SelfSigned, BoxError> {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
    Ok(SelfSigned {
        cert_pem: key.cert.pem(),
        key_pem: key.signing_key.serialize_pem(),
    })
}

/// The same cipher-suite preference as the runtime's connections to the
/// engine (TLS 1.3 AES-128-GCM-SHA256 first), so that the baselines and
/// the tunnel use the same cipher.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    Arc::new(provider)
}

/// A server configuration with rustls' defaults (a session cache, so clients
/// can resume) and the given ALPN protocols.
pub(crate) fn server_config(
    cert_pem: &str,
    key_pem: &str,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, BoxError> {
    let chain =
        CertificateDer::pem_slice_iter(cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A client configuration trusting only `ca_pem` (resumption on, the default).
pub(crate) fn client_config(ca_pem: &str, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>, BoxError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert?)?;
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// A TCP listener whose connections speak TLS. The handshake is not run in
/// `accept` (that would serialise handshakes) but on first use of the
/// connection, in the task `axum::serve` spawns for it.
pub(crate) struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl TlsListener {
    pub(crate) fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> Self {
        TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(config),
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = LazyTls;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.tcp.accept().await {
                Ok((tcp, addr)) => {
                    let _ = tcp.set_nodelay(true);
                    return (LazyTls::Handshaking(self.acceptor.accept(tcp)), addr);
                }
                // Out of descriptors or similar: wait and retry.
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// A server-side TLS connection that completes its handshake on first use.
// Both big variants live inline: no allocation beyond what rustls makes.
#[allow(clippy::large_enum_variant)]
pub(crate) enum LazyTls {
    Handshaking(tokio_rustls::Accept<TcpStream>),
    Ready(tokio_rustls::server::TlsStream<TcpStream>),
    Failed,
}

impl LazyTls {
    fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<&mut tokio_rustls::server::TlsStream<TcpStream>>> {
        if let LazyTls::Handshaking(accept) = self {
            match ready!(Pin::new(accept).poll(cx)) {
                Ok(stream) => *self = LazyTls::Ready(stream),
                Err(e) => {
                    *self = LazyTls::Failed;
                    return Poll::Ready(Err(e));
                }
            }
        }
        match self {
            LazyTls::Ready(stream) => Poll::Ready(Ok(stream)),
            _ => Poll::Ready(Err(io::Error::other("the TLS handshake failed"))),
        }
    }
}

impl AsyncRead for LazyTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let stream = ready!(self.get_mut().poll_ready(cx))?;
        Pin::new(stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for LazyTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let stream = ready!(self.get_mut().poll_ready(cx))?;
        Pin::new(stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let stream = ready!(self.get_mut().poll_ready(cx))?;
        Pin::new(stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let stream = ready!(self.get_mut().poll_ready(cx))?;
        Pin::new(stream).poll_shutdown(cx)
    }
}
