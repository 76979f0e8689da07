//! A raw client speaking frames to an engine, for engine tests: it does
//! exactly what it is told, including things a runtime never does.

use std::sync::Arc;

use bytes::BytesMut;
use rstream_core::proto::{self, ClientDetails, Message, PROTOCOL_VERSION};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::{Error, LocalEngine};

/// One TLS connection to an engine, frame by frame.
#[derive(Debug)]
pub struct RawConnection {
    io: TlsStream<TcpStream>,
    buf: BytesMut,
}

/// Client details like a runtime's, with `token`.
pub fn details(token: Option<&str>) -> ClientDetails {
    ClientDetails {
        agent: Some("rstream-local-engine-raw".into()),
        channel: Some("test".into()),
        version: Some(env!("CARGO_PKG_VERSION").into()),
        os: Some(std::env::consts::OS.into()),
        arch: Some(std::env::consts::ARCH.into()),
        token: token.map(Into::into),
        protocol_version: Some(PROTOCOL_VERSION.into()),
    }
}

impl RawConnection {
    /// Connects to `engine` with ALPN `rstrm/1`.
    pub async fn connect(engine: &LocalEngine) -> Result<RawConnection, Error> {
        Self::connect_to(engine, engine.engine_addr(), &[rstream_core::proto::ALPN]).await
    }

    /// Connects to `addr` (an engine or proxy endpoint port of `engine`),
    /// verifying `localhost` against the engine's CA, offering `alpn`.
    pub async fn connect_to(
        engine: &LocalEngine,
        addr: std::net::SocketAddr,
        alpn: &[&[u8]],
    ) -> Result<RawConnection, Error> {
        Self::connect_named(engine, addr, "localhost", alpn).await
    }

    /// Connects to `addr`, verifying `server_name` (also sent as SNI)
    /// against the engine's CA, offering `alpn`.
    pub async fn connect_named(
        engine: &LocalEngine,
        addr: std::net::SocketAddr,
        server_name: &str,
        alpn: &[&[u8]],
    ) -> Result<RawConnection, Error> {
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(engine.ca_pem().as_bytes()) {
            let cert = cert.map_err(|e| Error::Tls(e.to_string()))?;
            roots.add(cert).map_err(|e| Error::Tls(e.to_string()))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|a| a.to_vec()).collect();
        let tcp = crate::control::tcp(addr).await?;
        let name =
            ServerName::try_from(server_name.to_owned()).map_err(|e| Error::Tls(e.to_string()))?;
        let io = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| Error::io("TLS handshake", e))?;
        Ok(RawConnection {
            io,
            buf: BytesMut::new(),
        })
    }

    /// The ALPN protocol the engine selected.
    pub fn alpn(&self) -> Option<Vec<u8>> {
        self.io.get_ref().1.alpn_protocol().map(<[u8]>::to_vec)
    }

    /// Bytes already read from the engine but not yet consumed as frames.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Sends one message as one frame.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), Error> {
        let bytes =
            proto::frame_bytes(&message.into()).map_err(|e| Error::Protocol(e.to_string()))?;
        self.send_raw(&bytes).await
    }

    /// Sends bytes as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.io
            .write_all(bytes)
            .await
            .map_err(|e| Error::io("writing", e))?;
        self.io.flush().await.map_err(|e| Error::io("flushing", e))
    }

    /// Reads one frame; `Ok(None)` when the engine closed the connection.
    pub async fn recv(&mut self) -> Result<Option<Message>, Error> {
        crate::control::read_frame(&mut self.io, &mut self.buf).await
    }

    /// Reads raw bytes (after the handshake frames), returning what was
    /// buffered first; an empty vector means end of stream.
    pub async fn read_some(&mut self) -> Result<Vec<u8>, Error> {
        if !self.buf.is_empty() {
            return Ok(self.buf.split().to_vec());
        }
        let mut tmp = vec![0u8; 64 * 1024];
        let n = self
            .io
            .read(&mut tmp)
            .await
            .map_err(|e| Error::io("reading", e))?;
        tmp.truncate(n);
        Ok(tmp)
    }

    /// Reads until the engine closes; returns everything read.
    pub async fn read_to_end(&mut self) -> Result<Vec<u8>, Error> {
        let mut out = self.buf.split().to_vec();
        self.io
            .read_to_end(&mut out)
            .await
            .map_err(|e| Error::io("reading", e))?;
        Ok(out)
    }

    /// Closes the TLS connection cleanly.
    pub async fn close(mut self) {
        let _ = self.io.shutdown().await;
    }
}
