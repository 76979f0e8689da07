//! The connection type handed to actix-http: a tunnel stream whose first bytes
//! were read to choose the protocol and are replayed before the rest.

use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_http::Protocol;
use rstream_core::StreamInfo;
use rstream_core::incoming::Connection;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use crate::activity::Activity;

/// The client connection preface that opens every HTTP/2 connection
/// (RFC 9113, section 3.4).
pub(crate) const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// A tunnel stream with bytes already read from it put back in front.
///
/// Reads end early (end-of-file) when its [`Activity`] says the connection
/// is idle while draining.
#[derive(Debug)]
pub(crate) struct TunnelIo<S = Connection> {
    stream: S,
    replay: Vec<u8>,
    replayed: usize,
    activity: Rc<Activity>,
}

impl TunnelIo<Connection> {
    /// What the engine said about the stream.
    pub(crate) fn info(&self) -> &StreamInfo {
        self.stream.info()
    }
}

impl<S> TunnelIo<S> {
    /// What the connection is doing.
    pub(crate) fn activity(&self) -> &Rc<Activity> {
        &self.activity
    }
}

impl<S: AsyncRead + Unpin> TunnelIo<S> {
    /// Reads just enough of `stream` to tell HTTP/2 prior knowledge from
    /// HTTP/1.x: the h2 preface, or the first byte that differs from it.
    ///
    /// Gives `None` when the peer closes, fails or stays silent for `timeout`
    /// before sending enough to decide (`None`: no limit).
    pub(crate) async fn detect(
        mut stream: S,
        timeout: Option<Duration>,
    ) -> Option<(TunnelIo<S>, Protocol)> {
        let mut replay = Vec::with_capacity(H2_PREFACE.len());
        let read = async {
            let mut buf = [0u8; 24];
            loop {
                let want = H2_PREFACE.len() - replay.len();
                let n = stream.read(&mut buf[..want]).await.ok()?;
                if n == 0 {
                    return None;
                }
                replay.extend_from_slice(&buf[..n]);
                if !H2_PREFACE.starts_with(&replay) {
                    return Some(Protocol::Http1);
                }
                if replay.len() == H2_PREFACE.len() {
                    return Some(Protocol::Http2);
                }
            }
        };
        let decided = match timeout {
            Some(timeout) => tokio::time::timeout(timeout, read).await.ok().flatten()?,
            None => read.await?,
        };
        Some((
            TunnelIo {
                stream,
                replay,
                replayed: 0,
                activity: Rc::default(),
            },
            decided,
        ))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TunnelIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.replayed < this.replay.len() {
            let rest = &this.replay[this.replayed..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.replayed += n;
            if this.replayed == this.replay.len() {
                this.replay = Vec::new();
                this.replayed = 0;
            }
            return Poll::Ready(Ok(()));
        }
        if this.activity.reads_should_end() {
            return Poll::Ready(Ok(()));
        }
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if read.is_pending() {
            this.activity.set_reader(cx.waker());
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TunnelIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    async fn detect_from(chunks: &[&[u8]]) -> Option<(Protocol, Vec<u8>)> {
        let (mut client, server) = tokio::io::duplex(1024);
        for chunk in chunks {
            client.write_all(chunk).await.unwrap();
        }
        drop(client);
        let (mut io, protocol) = TunnelIo::detect(server, Some(Duration::from_secs(5))).await?;
        let mut all = Vec::new();
        io.read_to_end(&mut all).await.unwrap();
        Some((protocol, all))
    }

    #[tokio::test]
    async fn http1_is_told_by_its_first_byte_and_replayed_whole() {
        let request: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let (protocol, bytes) = detect_from(&[request]).await.unwrap();
        assert_eq!(protocol, Protocol::Http1);
        assert_eq!(bytes, request);
    }

    #[tokio::test]
    async fn h2_preface_split_over_reads_is_recognised() {
        let (protocol, bytes) = detect_from(&[
            &H2_PREFACE[..3],
            &H2_PREFACE[3..10],
            &H2_PREFACE[10..],
            b"frames",
        ])
        .await
        .unwrap();
        assert_eq!(protocol, Protocol::Http2);
        assert_eq!(bytes, [H2_PREFACE, b"frames"].concat());
    }

    #[tokio::test]
    async fn a_method_sharing_the_prefix_is_http1() {
        let request: &[u8] = b"PRIVATE / HTTP/1.1\r\n\r\n";
        let (protocol, bytes) = detect_from(&[request]).await.unwrap();
        assert_eq!(protocol, Protocol::Http1);
        assert_eq!(bytes, request);
    }

    #[tokio::test]
    async fn reads_end_once_idle_while_draining() {
        let (mut client, server) = tokio::io::duplex(1024);
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let (mut io, _) = TunnelIo::detect(server, None).await.unwrap();
        let mut head = [0u8; 18];
        io.read_exact(&mut head).await.unwrap();
        let activity = Rc::clone(io.activity());
        let busy = activity.begin();
        activity.start_draining();
        // A request in flight: reads wait for the client.
        let read = tokio::time::timeout(Duration::from_millis(50), io.read(&mut head)).await;
        assert!(read.is_err());
        drop(busy);
        assert_eq!(io.read(&mut head).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn draining_waits_for_a_first_request() {
        let (mut client, server) = tokio::io::duplex(1024);
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let (mut io, _) = TunnelIo::detect(server, None).await.unwrap();
        io.activity().start_draining();
        let mut head = [0u8; 18];
        io.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"GET / HTTP/1.1\r\n\r\n");
    }

    #[tokio::test]
    async fn early_close_or_silence_gives_none() {
        assert!(detect_from(&[b"PRI * HT"]).await.is_none());
        assert!(detect_from(&[]).await.is_none());
        let (_client, server) = tokio::io::duplex(64);
        let silent = TunnelIo::detect(server, Some(Duration::from_millis(50))).await;
        assert!(silent.is_none());
    }
}
