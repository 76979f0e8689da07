//! [`TunnelListener`]: an [`axum::serve::Listener`] over tunnel streams.

use std::fmt;
use std::future::Future;
use std::io;

use axum::serve::Listener;
use rstream_core::{Accept, TunnelStream};
use tokio::sync::watch;

use crate::TunnelAddr;

/// Accepted tunnel streams as an [`axum::serve::Listener`].
///
/// Its address type is [`TunnelAddr`]. Transient accept errors are retried;
/// once the acceptor has ended (closed, or failed for good) `accept` never
/// returns again and [`closed`](Self::closed) resolves: give that future to
/// `with_graceful_shutdown` so `axum::serve` returns (see the [crate
/// docs](crate#when-the-tunnel-ends)).
pub struct TunnelListener<A> {
    acceptor: A,
    ended: watch::Sender<bool>,
}

impl<A: fmt::Debug> fmt::Debug for TunnelListener<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TunnelListener")
            .field("acceptor", &self.acceptor)
            .field("ended", &*self.ended.borrow())
            .finish()
    }
}

impl<A: Accept> TunnelListener<A> {
    /// A listener over the streams of `acceptor`.
    pub fn new(acceptor: A) -> Self {
        TunnelListener {
            acceptor,
            ended: watch::channel(false).0,
        }
    }

    /// The acceptor this listener takes streams from.
    pub fn acceptor(&self) -> &A {
        &self.acceptor
    }

    /// A future that resolves once the acceptor has ended (closed, or failed
    /// for good) and the listener will yield no more connections, or once
    /// the listener is dropped. Take it before handing the listener to
    /// `axum::serve`.
    pub fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut ended = self.ended.subscribe();
        async move {
            let _ = ended.wait_for(|ended| *ended).await;
        }
    }

    /// Whether the acceptor has ended.
    pub fn is_closed(&self) -> bool {
        *self.ended.borrow()
    }

    async fn next(&mut self) -> (TunnelStream, TunnelAddr) {
        if !self.is_closed() {
            match self.acceptor.accept().await {
                Ok(Some(stream)) => {
                    let addr = TunnelAddr::new(stream.info().clone());
                    return (stream, addr);
                }
                Ok(None) => {
                    tracing::info!("the tunnel is closed; no more connections will be accepted");
                }
                Err(e) => {
                    tracing::error!(error = %e, "accepting tunnel streams failed for good");
                }
            }
            self.ended.send_replace(true);
        }
        std::future::pending().await
    }
}

impl<A: Accept> Listener for TunnelListener<A> {
    type Io = TunnelStream;
    type Addr = TunnelAddr;

    fn accept(&mut self) -> impl Future<Output = (TunnelStream, TunnelAddr)> + Send {
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
