//! [`TunnelListener`]: an [`axum::serve::Listener`] over tunnel streams.

use std::fmt;
use std::future::Future;
use std::io;

use axum::serve::Listener;
use rstream_core::Accept;
use rstream_core::incoming::{Connection, Incoming, ServeLimits};

use crate::TunnelAddr;

/// Accepted tunnel streams as an [`axum::serve::Listener`], through the
/// accept pipeline every serving path shares
/// ([`rstream_core::incoming`]).
///
/// Its connections are guarded like `rstream_tower::serve`'s and
/// `rstream_actix::serve`'s, with the same [`ServeLimits`] and defaults: a
/// client that sends nothing, or not a whole first request head, within the
/// header read timeout is cut off, and at most `max_connections` are open at
/// once. (`axum::serve` itself sets no timer, so later requests on a
/// kept-alive connection are not timed; [`crate::serve`] is.)
///
/// Its address type is [`TunnelAddr`]. Once the tunnel has ended (closed,
/// or failed for good) `accept` never returns again and
/// [`closed`](Self::closed) resolves: give that future to
/// `with_graceful_shutdown` so `axum::serve` returns (see the [crate
/// docs](crate#when-the-tunnel-ends)).
pub struct TunnelListener<A> {
    incoming: Incoming<A>,
}

impl<A: fmt::Debug> fmt::Debug for TunnelListener<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TunnelListener")
            .field("incoming", &self.incoming)
            .finish()
    }
}

impl<A: Accept> TunnelListener<A> {
    /// A listener over the streams of `acceptor`, under the default limits.
    pub fn new(acceptor: A) -> Self {
        TunnelListener::with_limits(acceptor, ServeLimits::default())
    }

    /// A listener over the streams of `acceptor`, under `limits` (the
    /// shutdown deadline is not used: `axum::serve` has none).
    pub fn with_limits(acceptor: A, limits: ServeLimits) -> Self {
        TunnelListener {
            incoming: Incoming::with_limits(acceptor, limits),
        }
    }

    /// The acceptor this listener takes streams from.
    pub fn acceptor(&self) -> &A {
        self.incoming.acceptor()
    }

    /// The limits in force.
    pub fn limits(&self) -> &ServeLimits {
        self.incoming.limits()
    }

    /// A future that resolves once the acceptor has ended (closed, or failed
    /// for good) and the listener will yield no more connections, or once
    /// the listener is dropped. Take it before handing the listener to
    /// `axum::serve`.
    pub fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        self.incoming.ended()
    }

    /// Whether the acceptor has ended.
    pub fn is_closed(&self) -> bool {
        self.incoming.is_ended()
    }

    async fn next(&mut self) -> (Connection, TunnelAddr) {
        match self.incoming.next().await {
            Ok(Some(connection)) => {
                let addr = TunnelAddr::new(connection.info().clone());
                return (connection, addr);
            }
            Ok(None) => {
                tracing::info!("the tunnel is closed; no more connections will be accepted");
            }
            Err(e) => {
                tracing::error!(error = %e, "accepting tunnel streams failed for good");
            }
        }
        // axum's listener cannot report an end: `closed()` has resolved.
        std::future::pending().await
    }
}

impl<A: Accept> Listener for TunnelListener<A> {
    type Io = Connection;
    type Addr = TunnelAddr;

    fn accept(&mut self) -> impl Future<Output = (Connection, TunnelAddr)> + Send {
        self.next()
    }

    /// A tunnel has no local socket address: always an
    /// [`io::ErrorKind::Unsupported`] error.
    fn local_addr(&self) -> io::Result<TunnelAddr> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a tunnel listener has no local socket address; see the tunnel's forwarding address",
        ))
    }
}
