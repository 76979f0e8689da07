//! The one accept pipeline every serving path uses: guarded connections
//! from a tunnel's accepted streams.
//!
//! [`Incoming`] takes streams from any [`Accept`] source (a tunnel) and hands
//! them out as [`Connection`]s under the same [`ServeLimits`], whatever the
//! framework: `rstream_tower::serve`, `rstream_axum::TunnelListener` (and so
//! `axum::serve`) and `rstream_actix::serve` are all built on it, with the
//! same defaults and the same knob names.
//!
//! What it guards:
//!
//! - **Connection cap**: at most [`max_connections`](ServeLimits::max_connections)
//!   connections are open at once. Each [`Connection`] holds a permit,
//!   released when it is dropped; at the cap, no stream is taken from the
//!   tunnel until one ends (clients wait at the engine).
//! - **Slow or silent clients**: a connection must deliver its first bytes,
//!   and its whole first request head (HTTP/1.x: up to the blank line; HTTP/2:
//!   the connection preface), within the
//!   [`header_read_timeout`](ServeLimits::header_read_timeout); a read past
//!   that deadline fails with [`std::io::ErrorKind::TimedOut`], which ends the
//!   connection in every framework. Later requests on a kept-alive connection
//!   are bounded by the framework's own header timeout where it has one
//!   (tower and actix do; `axum::serve` does not).
//! - **End of the tunnel**: once the source ends (closed, or failed for good)
//!   [`Incoming::next`] says so once and [`Incoming::ended`] resolves, so a
//!   server can stop accepting and drain.
//!
//! ```no_run
//! # async fn run(tunnel: rstream_core::Tunnel) -> rstream_core::Result<()> {
//! use std::time::Duration;
//! use rstream_core::incoming::{Incoming, ServeLimits};
//!
//! let limits = ServeLimits::default().max_connections(256).header_read_timeout(Some(Duration::from_secs(10)));
//! let incoming = Incoming::with_limits(tunnel, limits);
//! while let Some(connection) = incoming.next().await? {
//!     tokio::spawn(async move {
//!         // serve `connection` (AsyncRead + AsyncWrite) with any protocol
//!         drop(connection); // releases its permit
//!     });
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::Sleep;

use crate::{Accept, Error, StreamInfo, TunnelStream};

/// How long a client may take to send its first request head unless
/// configured otherwise (also the framework's header timeout for later
/// requests, where it has one).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How many connections are served at once unless configured otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// How long a graceful shutdown waits for in-flight requests unless
/// configured otherwise.
pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(30);

/// The limits a serving path applies to a tunnel's connections: the same
/// knobs, with the same defaults, in `rstream_tower::serve`,
/// `rstream_axum::TunnelListener` and `rstream_actix::serve`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServeLimits {
    header_read_timeout: Option<Duration>,
    max_connections: usize,
    shutdown_deadline: Duration,
}

impl Default for ServeLimits {
    fn default() -> Self {
        ServeLimits {
            header_read_timeout: Some(DEFAULT_HEADER_READ_TIMEOUT),
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_deadline: DEFAULT_SHUTDOWN_DEADLINE,
        }
    }
}

impl ServeLimits {
    /// How long a client may take to send its first bytes and its first
    /// request head, and, where the framework allows, each later request's
    /// head ([`DEFAULT_HEADER_READ_TIMEOUT`] by default). `None` waits
    /// forever: only for trusted clients.
    pub fn header_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How many connections are served at once, all workers together
    /// ([`DEFAULT_MAX_CONNECTIONS`] by default). `0` is taken as `1`.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// How long a graceful shutdown waits for open connections before
    /// closing them ([`DEFAULT_SHUTDOWN_DEADLINE`] by default).
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.shutdown_deadline = deadline;
        self
    }

    /// The header read timeout; `None` when disabled.
    pub fn get_header_read_timeout(&self) -> Option<Duration> {
        self.header_read_timeout
    }

    /// The connection cap.
    pub fn get_max_connections(&self) -> usize {
        self.max_connections
    }

    /// The shutdown deadline.
    pub fn get_shutdown_deadline(&self) -> Duration {
        self.shutdown_deadline
    }
}

/// A tunnel's accepted streams as guarded [`Connection`]s; see the [module
/// docs](self).
pub struct Incoming<A> {
    acceptor: A,
    limits: ServeLimits,
    permits: Arc<Semaphore>,
    ended: watch::Sender<bool>,
}

impl<A: fmt::Debug> fmt::Debug for Incoming<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Incoming")
            .field("acceptor", &self.acceptor)
            .field("limits", &self.limits)
            .field(
                "open",
                &(self.limits.max_connections - self.permits.available_permits()),
            )
            .field("ended", &*self.ended.borrow())
            .finish()
    }
}

impl<A: Accept> Incoming<A> {
    /// Connections from `acceptor` under the default [`ServeLimits`].
    pub fn new(acceptor: A) -> Self {
        Incoming::with_limits(acceptor, ServeLimits::default())
    }

    /// Connections from `acceptor` under `limits`.
    pub fn with_limits(acceptor: A, limits: ServeLimits) -> Self {
        Incoming {
            permits: Arc::new(Semaphore::new(limits.max_connections)),
            acceptor,
            limits,
            ended: watch::channel(false).0,
        }
    }

    /// Waits for room under the connection cap, then for the next stream.
    ///
    /// `Ok(None)` once the source has ended normally, the source's error
    /// (returned once) when it ended on a failure; after either, every call
    /// returns `Ok(None)` at once and [`ended`](Self::ended) has resolved.
    /// Cancel-safe: a call dropped while waiting loses no stream.
    pub async fn next(&self) -> Result<Option<Connection>, Error> {
        if self.is_ended() {
            return Ok(None);
        }
        let permit = match self.permits.clone().acquire_owned().await {
            Ok(permit) => permit,
            // The semaphore is never closed.
            Err(_) => return Ok(None),
        };
        match self.acceptor.accept().await {
            Ok(Some(stream)) => Ok(Some(Connection::new(
                stream,
                self.limits.header_read_timeout,
                permit,
            ))),
            Ok(None) => {
                tracing::debug!("the tunnel ended; no more connections");
                self.ended.send_replace(true);
                Ok(None)
            }
            Err(e) => {
                tracing::debug!(error = %e, "accepting streams failed for good");
                self.ended.send_replace(true);
                Err(e)
            }
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &ServeLimits {
        &self.limits
    }

    /// The source of the streams.
    pub fn acceptor(&self) -> &A {
        &self.acceptor
    }

    /// How many connections handed out are still open.
    pub fn open_connections(&self) -> usize {
        self.limits.max_connections - self.permits.available_permits()
    }

    /// Whether the source has ended: no more connections will come.
    pub fn is_ended(&self) -> bool {
        *self.ended.borrow()
    }

    /// Resolves once the source has ended (or this `Incoming` is dropped).
    /// Take it before handing the `Incoming` to a server, to stop that
    /// server when the tunnel ends.
    pub fn ended(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut ended = self.ended.subscribe();
        async move {
            let _ = ended.wait_for(|ended| *ended).await;
        }
    }

    /// Waits until every connection handed out has been dropped, at most
    /// `deadline`; returns whether they all were.
    pub async fn drained(&self, deadline: Duration) -> bool {
        let all = u32::try_from(self.limits.max_connections).unwrap_or(u32::MAX);
        tokio::time::timeout(deadline, self.permits.acquire_many(all))
            .await
            .is_ok()
    }
}

/// One accepted stream under the pipeline's guards: the first-request-head
/// deadline and a connection permit, released when it is dropped.
///
/// Reads and writes go to the [`TunnelStream`]; see its docs for what
/// closing and dropping do (dropping closes the stream at the engine).
pub struct Connection {
    stream: TunnelStream,
    head: HeadDeadline,
    _permit: OwnedSemaphorePermit,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("info", self.stream.info())
            .field("head_received", &self.head.is_done())
            .finish()
    }
}

impl Connection {
    fn new(stream: TunnelStream, within: Option<Duration>, permit: OwnedSemaphorePermit) -> Self {
        Connection {
            stream,
            head: HeadDeadline::new(within),
            _permit: permit,
        }
    }

    /// What the engine told us about the stream: tunnel, stream id, source IP.
    pub fn info(&self) -> &StreamInfo {
        self.stream.info()
    }

    /// [`TunnelStream::move_to_current_runtime`], for the guarded stream.
    pub fn move_to_current_runtime(&mut self) -> io::Result<()> {
        self.stream.move_to_current_runtime()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.head.is_done() {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.head.saw(&buf.filled()[before..]);
                Poll::Ready(result)
            }
            Poll::Pending => match this.head.poll_expired(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client did not send a request head within the header read timeout",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The HTTP/2 client connection preface (RFC 9113, section 3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Watches the bytes a connection reads until its first request head is
/// complete; until then, a deadline runs.
#[derive(Debug)]
struct HeadDeadline {
    /// `None` once the head is complete, or when there is no deadline.
    timer: Option<Pin<Box<Sleep>>>,
    /// How many bytes have been seen.
    seen: usize,
    /// The last bytes seen, to find a blank line split across reads.
    tail: [u8; 3],
    /// Whether the bytes so far could still be the HTTP/2 preface.
    maybe_h2: bool,
}

impl HeadDeadline {
    fn new(within: Option<Duration>) -> Self {
        HeadDeadline {
            timer: within.map(|d| Box::pin(tokio::time::sleep(d))),
            seen: 0,
            tail: [0; 3],
            maybe_h2: true,
        }
    }

    fn is_done(&self) -> bool {
        self.timer.is_none()
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        match self.timer.as_mut() {
            Some(timer) => timer.as_mut().poll(cx),
            None => Poll::Pending,
        }
    }

    /// Takes note of `bytes`, just read; disarms once the head is complete.
    fn saw(&mut self, bytes: &[u8]) {
        if self.timer.is_none() || bytes.is_empty() {
            return;
        }
        if self.maybe_h2 {
            let start = self.seen.min(H2_PREFACE.len());
            let want = &H2_PREFACE[start..];
            let n = want.len().min(bytes.len());
            if bytes[..n] != want[..n] {
                self.maybe_h2 = false;
            } else if start + n == H2_PREFACE.len() {
                // HTTP/2: the preface is complete; the framework's own
                // settings take over from here.
                self.timer = None;
                return;
            }
        }
        // HTTP/1.x: the head ends with an empty line, maybe split between
        // the previous read (its last bytes are kept) and this one.
        let kept = self.seen.min(3);
        let mut seam = [0u8; 6];
        let joined = kept + bytes.len().min(3);
        seam[..kept].copy_from_slice(&self.tail[3 - kept..]);
        seam[kept..joined].copy_from_slice(&bytes[..joined - kept]);
        let blank_line = |w: &[u8]| w == b"\r\n\r\n";
        if !self.maybe_h2
            && (seam[..joined].windows(4).any(blank_line) || bytes.windows(4).any(blank_line))
        {
            self.timer = None;
            return;
        }
        self.seen += bytes.len();
        // Keep the last three bytes of everything seen.
        let mut last = [0u8; 3];
        let from_bytes = bytes.len().min(3);
        let from_tail = 3 - from_bytes;
        last[..from_tail].copy_from_slice(&self.tail[3 - from_tail..]);
        last[from_tail..].copy_from_slice(&bytes[bytes.len() - from_bytes..]);
        self.tail = last;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(chunks: &[&[u8]]) -> bool {
        let mut head = HeadDeadline {
            timer: None,
            seen: 0,
            tail: [0; 3],
            maybe_h2: true,
        };
        // A far deadline, so `is_done` tells whether the head completed.
        head.timer = Some(Box::pin(tokio::time::sleep(Duration::from_secs(3600))));
        for chunk in chunks {
            head.saw(chunk);
        }
        head.is_done()
    }

    #[tokio::test]
    async fn finds_the_end_of_an_http1_head() {
        assert!(fed(&[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"]));
        assert!(fed(&[b"GET / HTTP/1.1\r\nHost: a\r\n", b"\r\n"]));
        assert!(fed(&[b"GET / HTTP/1.1\r\nHost: a\r", b"\n\r", b"\n"]));
        assert!(fed(&[b"G", b"E", b"T / HTTP/1.1\r\n\r\nbody"]));
        assert!(!fed(&[b"GET / HTTP/1.1\r\nHost: a\r\n"]));
        assert!(!fed(&[b"GET / HTTP/1.1\r\n", b"Host: a\r\n", b"X: y"]));
        assert!(!fed(&[]));
    }

    #[tokio::test]
    async fn an_h2_preface_completes_the_head() {
        assert!(fed(&[H2_PREFACE]));
        assert!(fed(&[
            &H2_PREFACE[..5],
            &H2_PREFACE[5..17],
            &H2_PREFACE[17..]
        ]));
        assert!(!fed(&[&H2_PREFACE[..20]]));
        // `PRI * HTTP/2.0\r\n\r\n` alone is not an HTTP/1 head either.
        assert!(!fed(&[&H2_PREFACE[..18]]));
        // Something that starts like the preface and then differs is HTTP/1.
        assert!(fed(&[b"PRI", b"NT / HTTP/1.1\r\n\r\n"]));
    }
}
