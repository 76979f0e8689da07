//! [`Tunnel`]: a tunnel that rides over reconnects, and the streams it
//! accepts.
//!
//! A tunnel belongs to a [`ControlChannel`](crate::ControlChannel) session;
//! the session re-creates it on every new control channel and delivers its
//! streams to the one queue its [`Tunnel::accept`] reads, so nothing about a
//! reconnect reaches the application but [`TunnelState`] changes.

use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::Stream;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument;

use crate::{Error, TunnelInfo, TunnelOptions, TunnelStream};

/// What a tunnel is doing, for the application to watch and log.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum TunnelState {
    /// Being created for the first time.
    Connecting,
    /// The tunnel is up.
    Online {
        /// The id of the tunnel on the engine (new after every reconnect).
        tunnel_id: String,
        /// Where the tunnel is reachable.
        forwarding_address: String,
    },
    /// The tunnel is down and will be re-created after `next_delay`.
    Reconnecting {
        /// How many attempts failed in a row.
        attempt: u32,
        /// Why the last attempt or the last connection failed.
        last_error: Arc<Error>,
        /// How long until the next attempt.
        next_delay: Duration,
    },
    /// Stopped on an error that retrying would not fix, or on the last
    /// failure once the reconnect policy's attempts were spent.
    Failed(Arc<Error>),
    /// Closed by the application (or dropped).
    Closed,
}

impl TunnelState {
    /// Whether the tunnel has ended for good (closed or failed).
    pub fn is_terminal(&self) -> bool {
        matches!(self, TunnelState::Failed(_) | TunnelState::Closed)
    }
}

/// What a tunnel asks of its session.
pub(crate) enum Command {
    /// Create this tunnel (now and after every reconnect).
    Add(Arc<TunnelShared>),
    /// Close this tunnel; answer when the engine confirmed (or at once if
    /// the session is not connected).
    Remove {
        key: u64,
        reply: Option<oneshot::Sender<Result<(), Error>>>,
    },
    /// The engine closed this tunnel on its own: create it again.
    ClosedByEngine(u64),
    /// Close the session and every tunnel.
    Close(Option<oneshot::Sender<()>>),
}

/// The part of a tunnel its session works with.
#[derive(Debug)]
pub(crate) struct TunnelShared {
    pub(crate) key: u64,
    /// The options it is created with; after the first creation they ask for
    /// the same hostname (or port) again.
    pub(crate) options: Mutex<TunnelOptions>,
    pub(crate) deliver: mpsc::Sender<TunnelStream>,
    pub(crate) state: watch::Sender<TunnelState>,
    /// The forwarding address of the first creation, kept for good.
    pub(crate) address: OnceLock<String>,
    /// The latest creation, as the engine reported it.
    pub(crate) info: Mutex<Option<TunnelInfo>>,
    pub(crate) ever_online: AtomicBool,
}

impl TunnelShared {
    pub(crate) fn new(options: TunnelOptions) -> (Arc<TunnelShared>, mpsc::Receiver<TunnelStream>) {
        static KEYS: AtomicU64 = AtomicU64::new(1);
        let (deliver, streams) = mpsc::channel(crate::control::ACCEPT_QUEUE);
        let shared = Arc::new(TunnelShared {
            key: KEYS.fetch_add(1, Ordering::Relaxed),
            options: Mutex::new(options),
            deliver,
            state: watch::channel(TunnelState::Connecting).0,
            address: OnceLock::new(),
            info: Mutex::new(None),
            ever_online: AtomicBool::new(false),
        });
        (shared, streams)
    }

    pub(crate) fn options(&self) -> TunnelOptions {
        self.options
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub(crate) fn set_options(&self, options: TunnelOptions) {
        *self.options.lock().unwrap_or_else(|e| e.into_inner()) = options;
    }

    pub(crate) fn set_info(&self, info: TunnelInfo) {
        *self.info.lock().unwrap_or_else(|e| e.into_inner()) = Some(info);
    }

    /// Moves to `state` unless the tunnel has already ended.
    pub(crate) fn set_state(&self, state: TunnelState) {
        self.state.send_if_modified(|current| {
            if current.is_terminal() {
                false
            } else {
                *current = state;
                true
            }
        });
    }
}

/// A tunnel: the streams the engine routes to it, across reconnects.
///
/// From [`Client::tunnel`](crate::Client::tunnel) or
/// [`ControlChannel::create_tunnel`](crate::ControlChannel::create_tunnel).
/// When the control channel drops, its session reconnects (as the client's
/// [`ReconnectPolicy`](crate::ReconnectPolicy) says) and creates the tunnel
/// again with the same properties; [`accept`](Self::accept) just waits
/// meanwhile, and [`forwarding_address`](Self::forwarding_address) stays
/// the same: a published tunnel asks for the hostname (or tcp port) it got
/// first, and on a managed engine host an unnamed published tunnel gets a
/// stable hostname generated once (see [`stable_domain`](crate::stable_domain)).
/// Watch [`state`](Self::state) to see reconnects.
///
/// Cheap to clone; clones share one accept queue. Closing: [`close`](Self::close),
/// or dropping the last clone, closes the tunnel at the engine (in the
/// background on drop), the way dropping a `TcpListener` stops listening;
/// a session whose last tunnel and handle are gone closes its control
/// channel. Streams already accepted are their own connections and keep
/// flowing through all of this, and through reconnects.
#[derive(Clone, Debug)]
pub struct Tunnel {
    inner: Arc<TunnelInner>,
}

struct TunnelInner {
    shared: Arc<TunnelShared>,
    commands: mpsc::UnboundedSender<Command>,
    streams: tokio::sync::Mutex<mpsc::Receiver<TunnelStream>>,
    /// Set once `accept` has returned the final failure.
    failure_reported: AtomicBool,
    operation_timeout: Duration,
    /// Keeps the session alive while the tunnel is.
    _session: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for TunnelInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnel")
            .field("state", &*self.shared.state.borrow())
            .field("forwarding_address", &self.shared.address.get())
            .finish_non_exhaustive()
    }
}

impl Drop for TunnelInner {
    fn drop(&mut self) {
        if !self.shared.state.borrow().is_terminal() {
            let _ = self.commands.send(Command::Remove {
                key: self.shared.key,
                reply: None,
            });
        }
    }
}

impl Tunnel {
    pub(crate) fn new(
        shared: Arc<TunnelShared>,
        streams: mpsc::Receiver<TunnelStream>,
        commands: mpsc::UnboundedSender<Command>,
        operation_timeout: Duration,
        session: Arc<dyn Any + Send + Sync>,
    ) -> Tunnel {
        Tunnel {
            inner: Arc::new(TunnelInner {
                shared,
                commands,
                streams: tokio::sync::Mutex::new(streams),
                failure_reported: AtomicBool::new(false),
                operation_timeout,
                _session: session,
            }),
        }
    }

    /// Waits until the tunnel is online (at once if it is), or returns the
    /// error that ended it.
    pub async fn online(&self) -> Result<(), Error> {
        let mut state = self.inner.shared.state.subscribe();
        let reached = state
            .wait_for(|s| matches!(s, TunnelState::Online { .. }) || s.is_terminal())
            .await
            .map(|s| s.clone());
        match reached {
            Ok(TunnelState::Online { .. }) => Ok(()),
            Ok(TunnelState::Failed(e)) => Err(e.duplicate()),
            _ => Err(Error::Closed("the tunnel is closed".into())),
        }
    }

    /// The tunnel id the engine assigned to its latest creation (a new one
    /// after every reconnect); empty before the first.
    pub fn id(&self) -> String {
        self.info().map(|info| info.id).unwrap_or_default()
    }

    /// The tunnel as the engine created it the latest time (id, name,
    /// hostname, port, labels, ...); `None` before the first creation.
    pub fn info(&self) -> Option<TunnelInfo> {
        self.inner
            .shared
            .info
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Where the tunnel can be reached: `https://HOST` for a published http
    /// tunnel, `HOST:PORT (tcp)`, `HOST (tls)`, or `rstrm://NAME (unpublished)`.
    /// The same for the tunnel's whole life, across reconnects. Empty only
    /// for a tunnel that was never online
    /// ([`Client::tunnel_in_background`](crate::Client::tunnel_in_background)).
    pub fn forwarding_address(&self) -> String {
        self.inner.shared.address.get().cloned().unwrap_or_default()
    }

    /// The current state.
    pub fn state(&self) -> TunnelState {
        self.inner.shared.state.borrow().clone()
    }

    /// A receiver that sees every state change.
    pub fn watch_state(&self) -> watch::Receiver<TunnelState> {
        self.inner.shared.state.subscribe()
    }

    /// Whether the tunnel has ended for good (closed, or failed and will not
    /// reconnect).
    pub fn is_closed(&self) -> bool {
        self.inner.shared.state.borrow().is_terminal()
    }

    /// Waits for the next stream, across reconnects: a dropped engine
    /// connection does not end it.
    ///
    /// Streams already queued are handed out first. Once the tunnel has
    /// ended, `Ok(None)`; if it ended on a failure (an authentication or
    /// request error, or the [`ReconnectPolicy`](crate::ReconnectPolicy)
    /// gave up), that error is returned once before. Cancel-safe.
    pub async fn accept(&self) -> Result<Option<TunnelStream>, Error> {
        let mut streams = self.inner.streams.lock().await;
        let mut state = self.inner.shared.state.subscribe();
        tokio::select! {
            biased;
            stream = streams.recv() => return Ok(stream),
            _ = state.wait_for(TunnelState::is_terminal) => {}
        }
        if let Ok(stream) = streams.try_recv() {
            return Ok(Some(stream));
        }
        match &*self.inner.shared.state.borrow() {
            TunnelState::Failed(e) if !self.inner.failure_reported.swap(true, Ordering::SeqCst) => {
                Err(e.duplicate())
            }
            _ => Ok(None),
        }
    }

    /// The accepted streams as a [`futures_util::Stream`]; it ends when the
    /// tunnel ends, after yielding the failure if it failed.
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

    /// Closes the tunnel: it is closed at the engine (waiting, bounded by the
    /// operation timeout, for the engine to confirm), [`accept`](Self::accept)
    /// hands out what is queued and then `Ok(None)`, and the state becomes
    /// [`TunnelState::Closed`]. Closing a closed or failed tunnel returns at
    /// once.
    pub async fn close(&self) -> Result<(), Error> {
        if self.is_closed() {
            return Ok(());
        }
        let (reply, answer) = oneshot::channel();
        let sent = self.inner.commands.send(Command::Remove {
            key: self.inner.shared.key,
            reply: Some(reply),
        });
        let result = match sent {
            Ok(()) => tokio::time::timeout(self.inner.operation_timeout * 2, answer)
                .await
                .map_err(|_| Error::timeout("closing a tunnel", self.inner.operation_timeout))
                .and_then(|r| r.unwrap_or(Ok(()))),
            Err(_) => Ok(()),
        };
        self.inner.shared.set_state(TunnelState::Closed);
        result
    }

    /// Relays every accepted stream to a local TCP service, in both
    /// directions, until the tunnel closes (`Ok`) or fails for good (the
    /// error). A local service that refuses a connection closes that stream
    /// only.
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

/// A source of accepted streams, like a [`Tunnel`]. The framework crates
/// (tower, axum, actix) serve anything that implements it.
///
/// The contract: `Ok(Some(stream))` for each stream; `Ok(None)` when no more
/// will come; an `Err` is final as well (the source has ended because of
/// that error, and later calls return `Ok(None)`). A server loop therefore
/// stops on the first `Ok(None)` or `Err`, whatever
/// [`Error::is_retryable`] says: reconnecting is the source's job (a
/// [`Tunnel`] does it).
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
    send_sync::<TunnelState>();
    let _ = <Tunnel as Clone>::clone;
};
