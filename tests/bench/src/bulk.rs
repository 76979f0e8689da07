//! Bulk transfer: one stream, the serving side writes as fast as it can, the
//! other side reads for a fixed time.

use std::time::{Duration, Instant};

use rstream_core::{Client, TunnelOptions};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::BoxError;
use crate::tls::{SelfSigned, client_config, server_config};

const CHUNK: usize = 64 * 1024;

/// Writes zeros until the peer goes away.
async fn source<W: AsyncWrite + Unpin>(mut io: W) {
    let buf = vec![0u8; CHUNK];
    while io.write_all(&buf).await.is_ok() {}
}

/// Reads for `warmup + duration`, returns MB/s (10^6 bytes) over `duration`.
async fn sink<R: AsyncRead + Unpin>(
    mut io: R,
    warmup: Duration,
    duration: Duration,
) -> Result<f64, BoxError> {
    let mut buf = vec![0u8; CHUNK];
    let start = Instant::now();
    let from = start + warmup;
    let until = from + duration;
    let mut counted = 0u64;
    loop {
        let n = tokio::time::timeout_at(until.into(), io.read(&mut buf)).await;
        let now = Instant::now();
        match n {
            Err(_) => break,
            Ok(Ok(0)) => return Err("the bulk source closed early".into()),
            Ok(Ok(n)) => {
                if now >= from {
                    counted += n as u64;
                }
            }
            Ok(Err(e)) => return Err(e.into()),
        }
        if now >= until {
            break;
        }
    }
    Ok(counted as f64 / duration.as_secs_f64() / 1e6)
}

/// MB/s over a raw TLS connection on loopback.
pub(crate) async fn raw_tls(
    cert: &SelfSigned,
    warmup: Duration,
    duration: Duration,
) -> Result<f64, BoxError> {
    let server = server_config(&cert.cert_pem, &cert.key_pem, &[])?;
    let client = client_config(&cert.cert_pem, &[])?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let acceptor = TlsAcceptor::from(server);
    let serve = tokio::spawn(async move {
        if let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            if let Ok(tls) = acceptor.accept(tcp).await {
                source(tls).await;
            }
        }
    });
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let tls = TlsConnector::from(client).connect(name, tcp).await?;
    let rate = sink(tls, warmup, duration).await;
    serve.abort();
    rate
}

/// MB/s through one stream dialed to a private tunnel of the local engine.
pub(crate) async fn tunnel(
    server: Client,
    dialer: Client,
    warmup: Duration,
    duration: Duration,
) -> Result<f64, BoxError> {
    let control = server.connect().await?;
    let name = "bench-bulk";
    let tunnel = control
        .create_tunnel(TunnelOptions::new().name(name))
        .await?;
    let serve = tokio::spawn(async move {
        while let Ok(Some(stream)) = tunnel.accept().await {
            tokio::spawn(source(stream));
        }
    });
    let stream = dialer.dial(name).await?;
    let rate = sink(stream, warmup, duration).await;
    serve.abort();
    drop(control);
    rate
}
