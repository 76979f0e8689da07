//! [`Tunnel`]: a tunnel on a control channel and the streams it accepts.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::Stream;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use crate::control::{End, TunnelParts};
use crate::options::forwarding_address;
use crate::proto::TunnelProperties;
use crate::{ControlChannel, Error, TunnelStream};

/// Where a tunnel's life stands; shared by the handle and the control task.
#[derive(Debug)]
pub(crate) struct TunnelStatus {
    id: String,
    end: watch::Sender<Option<End>>,
    close_sent: AtomicBool,
}

impl TunnelStatus {
    pub(crate) fn new(id: String) -> Self {
        TunnelStatus {
            id,
            end: watch::channel(None).0,
            close_sent: AtomicBool::new(false),
        }
    }

    pub(crate) fn end(&self, end: End) {
        self.end.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(end);
                true
            } else {
                false
            }
        });
    }

    pub(crate) fn is_ended(&self) -> bool {
        self.end.borrow().is_some()
    }
}

/// A tunnel created with [`ControlChannel::create_tunnel`].
///
/// Cheap to clone; clones share one accept queue. The tunnel lives until
/// [`close`](Self::close) is called, its control channel ends, or the last
/// clone is dropped: then it is closed in the background, the way dropping a
/// `TcpListener` stops listening. Streams already accepted keep flowing.
#[derive(Clone, Debug)]
pub struct Tunnel {
    inner: Arc<TunnelInner>,
}

#[derive(Debug)]
struct TunnelInner {
    control: ControlChannel,
    properties: TunnelProperties,
    streams: tokio::sync::Mutex<mpsc::Receiver<TunnelStream>>,
    status: Arc<TunnelStatus>,
    /// Set once `accept` has returned the channel's failure.
    failure_reported: AtomicBool,
}

impl Drop for TunnelInner {
    fn drop(&mut self) {
        if !self.status.is_ended() && !self.status.close_sent.swap(true, Ordering::SeqCst) {
            self.control.core().request_tunnel_close(&self.status.id);
        }
    }
}

impl Tunnel {
    pub(crate) fn new(control: ControlChannel, parts: TunnelParts) -> Self {
        Tunnel {
            inner: Arc::new(TunnelInner {
                control,
                properties: parts.properties,
                streams: tokio::sync::Mutex::new(parts.streams),
                status: parts.status,
                failure_reported: AtomicBool::new(false),
            }),
        }
    }

    /// The tunnel id the engine assigned.
    pub fn id(&self) -> &str {
        &self.inner.status.id
    }

    /// The tunnel's properties as the engine created them.
    pub fn properties(&self) -> &TunnelProperties {
        &self.inner.properties
    }

    /// Where the tunnel can be reached: `https://HOST` for a published http
    /// tunnel, `HOST:PORT (tcp)`, `HOST (tls)`, or `rstrm://NAME (unpublished)`.
    pub fn forwarding_address(&self) -> String {
        forwarding_address(&self.inner.properties)
    }

    /// The control channel this tunnel lives on.
    pub fn control(&self) -> &ControlChannel {
        &self.inner.control
    }

    /// Whether the tunnel has been closed or its control channel has ended.
    pub fn is_closed(&self) -> bool {
        self.inner.status.is_ended()
    }

    /// Waits for the next stream.
    ///
    /// Streams already queued are handed out first. Then, if the control
    /// channel failed, its failure is returned once; after that (and after a
    /// normal close) every call returns `Ok(None)`. An error here is final:
    /// the tunnel yields no more streams, even when the error says a retry
    /// could succeed (a retry means a new tunnel, which
    /// [`Client::supervise`](crate::Client::supervise) does for you).
    pub async fn accept(&self) -> Result<Option<TunnelStream>, Error> {
        let mut streams = self.inner.streams.lock().await;
        match streams.recv().await {
            Some(stream) => Ok(Some(stream)),
            None => match self.inner.status.end.borrow().as_ref() {
                Some(End::Failed(e))
                    if !self.inner.failure_reported.swap(true, Ordering::SeqCst) =>
                {
                    Err(e.duplicate())
                }
                _ => Ok(None),
            },
        }
    }

    /// The accepted streams as a [`futures_util::Stream`]; it ends when the
    /// tunnel closes and yields the failure if the control channel fails.
    pub fn streams(&self) -> impl Stream<Item = Result<TunnelStream, Error>> + Send + 'static {
        futures_util::stream::unfold(Some(self.clone()), |tunnel| async move {
            let tunnel = tunnel?;
            match tunnel.accept().await {
                Ok(Some(stream)) => Some((Ok(stream), Some(tunnel))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }

    /// Closes the tunnel and waits (bounded by the operation timeout) for the
    /// engine to confirm. Concurrent calls send one request; a call that
    /// timed out can be retried. Closing a closed tunnel returns at once.
    pub async fn close(&self) -> Result<(), Error> {
        let status = &self.inner.status;
        let core = self.inner.control.core();
        let mut end = status.end.subscribe();
        if end.borrow().is_some() {
            return Ok(());
        }
        if !status.close_sent.swap(true, Ordering::SeqCst) {
            core.request_tunnel_close(&status.id);
        }
        let timeout = core.operation_timeout();
        match tokio::time::timeout(timeout, end.wait_for(Option::is_some)).await {
            Ok(_) => Ok(()),
            Err(_) => {
                status.close_sent.store(false, Ordering::SeqCst);
                Err(Error::timeout("closing a tunnel", timeout))
            }
        }
    }

    /// Relays every accepted stream to a local TCP service, in both
    /// directions, until the tunnel closes (`Ok`) or its control channel
    /// fails (the error). A local service that refuses a connection closes
    /// that stream only.
    pub async fn forward_to(&self, address: impl Into<ForwardTarget>) -> Result<(), Error> {
        let target = address.into();
        while let Some(stream) = self.accept().await? {
            let target = target.clone();
            let span = tracing::debug_span!("forward", stream_id = %stream.info().stream_id);
            tokio::spawn(relay(stream, target).instrument(span));
        }
        Ok(())
    }
}

/// A local address to forward to: a socket address or a `host:port` string.
#[derive(Clone, Debug)]
pub struct ForwardTarget(ForwardAddr);

#[derive(Clone, Debug)]
enum ForwardAddr {
    Socket(SocketAddr),
    Host(String),
}

impl From<SocketAddr> for ForwardTarget {
    fn from(value: SocketAddr) -> Self {
        ForwardTarget(ForwardAddr::Socket(value))
    }
}

impl From<&str> for ForwardTarget {
    fn from(value: &str) -> Self {
        ForwardTarget(ForwardAddr::Host(value.to_owned()))
    }
}

impl From<String> for ForwardTarget {
    fn from(value: String) -> Self {
        ForwardTarget(ForwardAddr::Host(value))
    }
}

async fn relay(mut stream: TunnelStream, target: ForwardTarget) {
    let local = match &target.0 {
        ForwardAddr::Socket(a) => TcpStream::connect(a).await,
        ForwardAddr::Host(h) => TcpStream::connect(h.as_str()).await,
    };
    let mut local = match local {
        Ok(local) => local,
        Err(e) => {
            tracing::debug!(error = %e, "local service refused the connection");
            let _ = stream.shutdown().await;
            return;
        }
    };
    let _ = local.set_nodelay(true);
    match tokio::io::copy_bidirectional(&mut stream, &mut local).await {
        Ok((up, down)) => tracing::debug!(up, down, "forwarded stream ended"),
        Err(e) => tracing::debug!(error = %e, "forwarded stream failed"),
    }
}

/// A source of accepted streams: a [`Tunnel`], or a tunnel that reconnects
/// by itself. The framework crates (tower, axum, actix) serve anything that
/// implements it.
///
/// The contract: `Ok(Some(stream))` for each stream; `Ok(None)` when no more
/// will come; an `Err` is final as well (the source has ended because of
/// that error, and later calls return `Ok(None)`). A server loop therefore
/// stops on the first `Ok(None)` or `Err`, whatever
/// [`Error::is_retryable`] says: reconnecting is the source's job.
pub trait Accept: Send + Sync + 'static {
    /// Waits for the next stream; `Ok(None)` when no more will come, `Err`
    /// when the source ended with that error.
    fn accept(&self) -> impl Future<Output = Result<Option<TunnelStream>, Error>> + Send;
}

impl Accept for Tunnel {
    fn accept(&self) -> impl Future<Output = Result<Option<TunnelStream>, Error>> + Send {
        Tunnel::accept(self)
    }
}

// Compile-time checks: the handle can cross tasks and threads, as its docs promise.
const _: fn() = || {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Tunnel>();
    let _ = <Tunnel as Clone>::clone;
};
