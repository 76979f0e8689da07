//! The byte stream under the engine's TLS: plain TCP, or TLS to a proxy.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The transport a [`TlsConnection`](super::TlsConnection) runs over.
///
/// Either a TCP connection (to the engine, or to a plain HTTP proxy that
/// tunnels to it) or a TLS connection to an `https://` proxy that tunnels to
/// the engine. Reads and writes go straight to the inner stream.
#[derive(Debug)]
#[non_exhaustive]
pub(crate) enum ProxiedStream {
    /// TCP, straight to the engine or through a plain HTTP proxy.
    Tcp(TcpStream),
    /// TLS to an HTTPS proxy, which tunnels to the engine.
    ProxyTls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

#[cfg(test)]
impl ProxiedStream {
    /// The TCP connection underneath, to the engine or to the proxy.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            ProxiedStream::Tcp(s) => s,
            ProxiedStream::ProxyTls(s) => s.get_ref().0,
        }
    }

    /// Whether the connection goes through a proxy over TLS.
    pub(crate) fn is_proxy_tls(&self) -> bool {
        matches!(self, ProxiedStream::ProxyTls(_))
    }
}

impl ProxiedStream {
    /// Registers the TCP connection underneath with the reactor of the
    /// runtime this runs on (see `TunnelStream::move_to_current_runtime`).
    /// On error nothing has changed.
    pub(crate) fn move_to_current_runtime(&mut self) -> io::Result<()> {
        let tcp = match self {
            ProxiedStream::Tcp(s) => s,
            ProxiedStream::ProxyTls(s) => s.get_mut().0,
        };
        move_tcp(tcp)
    }
}

/// Replaces `tcp` by a duplicate of its socket registered with the current
/// runtime's reactor; dropping the old one deregisters it from its own. The
/// socket (and what the kernel buffers) is the same, and readiness is
/// reported afresh by the new registration.
fn move_tcp(tcp: &mut TcpStream) -> io::Result<()> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(io::Error::other(
            "moving a stream to the current runtime needs a Tokio runtime",
        ));
    }
    #[cfg(unix)]
    let dup = std::os::fd::AsFd::as_fd(&*tcp).try_clone_to_owned()?;
    #[cfg(windows)]
    let dup = std::os::windows::io::AsSocket::as_socket(&*tcp).try_clone_to_owned()?;
    let dup = std::net::TcpStream::from(dup);
    // Non-blocking mode belongs to the socket on Unix, not to one handle.
    #[cfg(windows)]
    dup.set_nonblocking(true)?;
    let moved = TcpStream::from_std(dup)?;
    *tcp = moved;
    Ok(())
}

impl AsyncRead for ProxiedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ProxiedStream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            ProxiedStream::ProxyTls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ProxiedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ProxiedStream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            ProxiedStream::ProxyTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ProxiedStream::Tcp(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            ProxiedStream::ProxyTls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ProxiedStream::Tcp(s) => s.is_write_vectored(),
            ProxiedStream::ProxyTls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ProxiedStream::Tcp(s) => Pin::new(s).poll_flush(cx),
            ProxiedStream::ProxyTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ProxiedStream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            ProxiedStream::ProxyTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
