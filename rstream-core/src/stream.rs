//! Accepted and dialed tunnel streams.

use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::transport::TlsConnection;

/// What the engine told us about a stream.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct StreamInfo {
    /// The tunnel the stream belongs to. For a dialed stream, the id or name
    /// that was dialed.
    pub tunnel_id: String,
    /// The engine's id for this stream. Empty for a zero-RTT dial, where the
    /// engine does not answer before the application bytes flow.
    pub stream_id: String,
    /// The address of the client at the engine's edge, when the engine
    /// reported one.
    pub source_ip: Option<IpAddr>,
}

/// One bidirectional byte stream through a tunnel: a connection accepted on a
/// [`Tunnel`](crate::Tunnel) or dialed with [`Client::dial`](crate::Client::dial).
///
/// It is its own TLS connection to the engine, so it keeps flowing when the
/// control channel that announced it goes away. Reading returns end-of-file
/// when the peer closes; the engine does not carry half-closes, so treat
/// end-of-file as the end of the whole stream. Shutting down the write side
/// sends a TLS `close_notify`, which closes the stream at the engine.
///
/// Dropping it closes the TCP connection without a `close_notify`: the
/// engine closes the stream all the same, after delivering what was already
/// written. Likewise a peer that goes away without a `close_notify` reads
/// here as a clean end-of-file, not an error (the engine does not send one
/// when the other side simply disconnects), so a truncated exchange must be
/// detected by the application protocol (HTTP does).
#[derive(Debug)]
pub struct TunnelStream {
    io: TlsConnection,
    /// Application bytes that arrived in the same read as the handshake frame.
    early: Bytes,
    info: StreamInfo,
}

impl TunnelStream {
    pub(crate) fn new(io: TlsConnection, early: Bytes, info: StreamInfo) -> Self {
        TunnelStream { io, early, info }
    }

    /// What the engine told us about this stream.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// The address of the client at the engine's edge, when known.
    pub fn source_ip(&self) -> Option<IpAddr> {
        self.info.source_ip
    }

    /// Hands the stream's socket to the I/O driver of the Tokio runtime
    /// this is called on.
    ///
    /// A stream's socket is registered with the runtime that opened it (the
    /// one running the tunnel). A server that serves streams on threads with
    /// runtimes of their own, as actix-web's workers are, calls this on the
    /// worker first: its reads and writes are then woken by the worker's own
    /// driver instead of through another thread. Nothing read or buffered is
    /// lost. Fails, leaving the stream as it was, outside a Tokio runtime or
    /// when the operating system refuses to duplicate or register the socket.
    pub fn move_to_current_runtime(&mut self) -> io::Result<()> {
        self.io.get_mut().0.move_to_current_runtime()
    }
}

impl AsyncRead for TunnelStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.early.is_empty() {
            let n = self.early.len().min(buf.remaining());
            buf.put_slice(&self.early[..n]);
            self.early.advance(n);
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut self.io).poll_read(cx, buf) {
            // A peer that goes away without close_notify ends the stream too:
            // everything it sent before has been read.
            Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => Poll::Ready(Ok(())),
            other => other,
        }
    }
}

impl AsyncWrite for TunnelStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

// Compile-time checks: streams move between tasks and are tokio I/O objects.
const _: fn() = || {
    fn send_sync<T: Send + Sync + 'static>() {}
    fn io<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static>() {}
    send_sync::<StreamInfo>();
    io::<TunnelStream>();
};
