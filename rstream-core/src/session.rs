//! [`ControlChannel`]: a client's session with the engine. It keeps one
//! control channel open at a time, reconnects by itself when it drops, and
//! re-creates all of its tunnels over each new one.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::Instrument;

use crate::control::{Channel, ChannelTunnel, End, TunnelSink};
use crate::link::Link;
use crate::proto::ErrorCode;
use crate::reconnect::{Backoff, should_retry};
use crate::tunnel::{Command, TunnelShared};
use crate::{EngineDetails, Heartbeat};
use crate::{Error, Protocol, Tunnel, TunnelOptions, TunnelState};

/// A session with the engine: a control channel that reconnects by itself,
/// and the tunnels created on it.
///
/// From [`Client::connect`](crate::Client::connect). It opens a control channel; when that channel
/// drops (network failure, engine restart, lost heartbeats) it opens a new
/// one as the client's [`ReconnectPolicy`](crate::ReconnectPolicy) says (by
/// default the first attempt at once, then 1 s doubling to 30 s) and creates
/// every tunnel of the session on it again, so that each [`Tunnel`] rides
/// over the reconnect. Authentication and request errors end the session
/// instead, and so does a policy that gives up; then every tunnel fails with
/// that error. Many tunnels share one session ([`create_tunnel`](Self::create_tunnel)).
///
/// Cheap to clone. The session lives while any clone, or any [`Tunnel`]
/// created on it, is alive; when the last one is dropped it closes its
/// control channel in the background. [`close`](Self::close) closes it now.
/// Streams already accepted or dialed are separate connections and keep
/// flowing either way.
#[derive(Clone, Debug)]
pub struct ControlChannel {
    inner: Arc<SessionHandle>,
}

/// What the handles share; dropping the last one closes the session.
#[derive(Debug)]
struct SessionHandle {
    link: Arc<Link>,
    commands: mpsc::UnboundedSender<Command>,
    channel: watch::Receiver<Option<Channel>>,
    ended: watch::Receiver<Option<End>>,
}

impl Drop for SessionHandle {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Close(None));
    }
}

impl ControlChannel {
    /// Starts a session; returns once its first control channel is open, or
    /// with the error that ended the session.
    pub(crate) async fn open(link: Arc<Link>) -> Result<ControlChannel, Error> {
        let control = ControlChannel::start(link);
        let mut channel = control.inner.channel.clone();
        let mut ended = control.inner.ended.clone();
        // Either resolves with an error once the session task is gone.
        tokio::select! {
            _ = channel.wait_for(Option::is_some) => {}
            _ = ended.wait_for(Option::is_some) => {}
        }
        match control.current() {
            Some(_) => Ok(control),
            None => Err(control.end_error()),
        }
    }

    /// Starts a session and returns at once; it connects in the background.
    pub(crate) fn start(link: Arc<Link>) -> ControlChannel {
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (channel_tx, channel) = watch::channel(None);
        let (ended_tx, ended) = watch::channel(None);
        let session = Session {
            backoff: Backoff::new(link.reconnect.clone()),
            link: link.clone(),
            commands: commands_rx,
            commands_tx: commands.clone(),
            tunnels: HashMap::new(),
            channel: channel_tx,
            ended: ended_tx,
            ever_online: false,
            attempt: 0,
        };
        tokio::spawn(session.run().instrument(tracing::info_span!("session")));
        ControlChannel {
            inner: Arc::new(SessionHandle {
                link,
                commands,
                channel,
                ended,
            }),
        }
    }

    /// A reference that does not keep the session alive.
    pub(crate) fn downgrade(&self) -> WeakControlChannel {
        WeakControlChannel(Arc::downgrade(&self.inner))
    }

    fn current(&self) -> Option<Channel> {
        self.inner.channel.borrow().clone()
    }

    fn end_error(&self) -> Error {
        self.inner
            .ended
            .borrow()
            .as_ref()
            .unwrap_or(&End::Closed)
            .to_error("control channel")
    }

    /// The id the engine gave this client on the current control channel
    /// (a new one after a reconnect; the last one once the session ended);
    /// empty while reconnecting.
    pub fn client_id(&self) -> String {
        self.current()
            .map(|c| c.client_id().to_owned())
            .unwrap_or_default()
    }

    /// What the engine said about itself on the current control channel.
    pub fn engine_details(&self) -> Option<EngineDetails> {
        self.current()
            .and_then(|c| c.server_details().map(EngineDetails::from))
    }

    /// The heartbeat negotiated on the current control channel; `None` in
    /// legacy mode (no heartbeat asked for) or while reconnecting.
    pub fn heartbeat(&self) -> Option<Heartbeat> {
        self.current()
            .and_then(|c| c.liveness())
            .map(Heartbeat::from)
    }

    /// Whether the session has ended (closed, or failed for good).
    pub fn is_closed(&self) -> bool {
        self.inner.ended.borrow().is_some()
    }

    /// Waits until the session ends: `Ok` when it was closed on purpose, the
    /// error that ended it otherwise (authentication, or the reconnect
    /// policy gave up on a transport, protocol or liveness failure).
    pub async fn closed(&self) -> Result<(), Error> {
        crate::control::wait_end(self.inner.ended.clone()).await
    }

    /// Creates a tunnel on this session; returns once it is online, or with
    /// the error that refused it. Invalid options fail before anything is
    /// sent. Each wait for the engine is bounded by the operation timeout,
    /// and a timeout counts as a lost channel: while the session keeps
    /// reconnecting this waits, so wrap it in a timeout if the engine may be
    /// unreachable for long (or use
    /// [`create_tunnel_in_background`](Self::create_tunnel_in_background)).
    pub async fn create_tunnel(&self, options: TunnelOptions) -> Result<Tunnel, Error> {
        let tunnel = self.create_tunnel_in_background(options)?;
        tunnel.online().await?;
        Ok(tunnel)
    }

    /// Adds a tunnel to this session and returns at once; it is created as
    /// soon as the session is connected. Watch [`Tunnel::watch_state`] or
    /// await [`Tunnel::online`].
    pub fn create_tunnel_in_background(&self, options: TunnelOptions) -> Result<Tunnel, Error> {
        options.validate()?;
        if self.is_closed() {
            return Err(self.end_error());
        }
        let options = stable_options(&self.inner.link, options);
        let (shared, streams) = TunnelShared::new(options);
        self.inner
            .commands
            .send(Command::Add(shared.clone()))
            .map_err(|_| self.end_error())?;
        Ok(Tunnel::new(
            shared,
            streams,
            self.inner.commands.clone(),
            self.inner.link.operation_timeout,
            self.inner.clone(),
        ))
    }

    /// Closes the session: every tunnel is closed at the engine, then the
    /// control channel (each wait bounded by the operation timeout). Calling
    /// it again, or on a failed session, returns at once.
    pub async fn close(&self) -> Result<(), Error> {
        if self.is_closed() {
            return Ok(());
        }
        let (reply, done) = oneshot::channel();
        if self
            .inner
            .commands
            .send(Command::Close(Some(reply)))
            .is_err()
        {
            return Ok(());
        }
        let timeout = self.inner.link.operation_timeout * 2;
        tokio::time::timeout(timeout, done)
            .await
            .map_err(|_| Error::timeout("closing the control channel", timeout))?
            .ok();
        Ok(())
    }
}

/// A [`ControlChannel`] that does not keep its session alive: the client's
/// default session for [`Client::tunnel`].
#[derive(Debug, Default)]
pub(crate) struct WeakControlChannel(std::sync::Weak<SessionHandle>);

impl WeakControlChannel {
    /// The session, if it is still alive and has not ended.
    pub(crate) fn upgrade(&self) -> Option<ControlChannel> {
        let inner = self.0.upgrade()?;
        let control = ControlChannel { inner };
        (!control.is_closed()).then_some(control)
    }
}

/// Options that keep a published tunnel's address across reconnects: on a
/// managed engine host an unnamed published non-tcp tunnel gets a stable
/// hostname generated once.
fn stable_options(link: &Link, options: TunnelOptions) -> TunnelOptions {
    if options.is_published()
        && options.get_protocol() != Some(Protocol::Tcp)
        && options.get_hostname().is_none()
    {
        if let Some(hostname) = crate::stable_domain::generate(&link.engine()) {
            return options.hostname(hostname);
        }
    }
    options
}

/// One registered tunnel, as the session task sees it.
struct Registered {
    shared: Arc<TunnelShared>,
    /// Its creation on the current control channel.
    current: Option<ChannelTunnel>,
    /// Waiting to be created again (after a refusal worth retrying).
    retry_at: Option<Instant>,
    backoff: Backoff,
}

/// The session task.
struct Session {
    link: Arc<Link>,
    commands: mpsc::UnboundedReceiver<Command>,
    /// For the channel tunnels to report that the engine closed them.
    commands_tx: mpsc::UnboundedSender<Command>,
    tunnels: HashMap<u64, Registered>,
    channel: watch::Sender<Option<Channel>>,
    ended: watch::Sender<Option<End>>,
    backoff: Backoff,
    ever_online: bool,
    attempt: u32,
}

/// How serving one control channel ended.
enum Served {
    /// Closed on purpose: the session is over.
    Closed,
    /// Lost: reconnect (or give up) with this error.
    Lost(Error),
}

impl Session {
    async fn run(mut self) {
        loop {
            let opened = tokio::select! {
                opened = Channel::open(self.link.clone()) => opened,
                closing = self.idle_command() => {
                    if closing {
                        return self.finish(End::Closed).await;
                    }
                    continue;
                }
            };
            let error = match opened {
                Ok(channel) => {
                    self.channel.send_replace(Some(channel.clone()));
                    match self.serve(&channel).await {
                        Served::Closed => return self.finish(End::Closed).await,
                        Served::Lost(e) => e,
                    }
                }
                Err(e) => e,
            };
            self.channel.send_replace(None);
            for tunnel in self.tunnels.values_mut() {
                tunnel.current = None;
            }
            let delay = if should_retry(&error, self.ever_online) {
                self.backoff.next_delay()
            } else {
                None
            };
            let Some(delay) = delay else {
                tracing::warn!(error = %error, "control channel lost for good");
                return self.finish(End::Failed(Arc::new(error))).await;
            };
            self.attempt += 1;
            tracing::warn!(attempt = self.attempt, error = %error, delay = ?delay, "reconnecting");
            let error = Arc::new(error);
            for tunnel in self.tunnels.values() {
                tunnel.shared.set_state(TunnelState::Reconnecting {
                    attempt: self.attempt,
                    last_error: error.clone(),
                    next_delay: delay,
                });
            }
            let wake = Instant::now() + delay;
            loop {
                tokio::select! {
                    () = tokio::time::sleep_until(wake) => break,
                    closing = self.idle_command() => if closing {
                        return self.finish(End::Closed).await;
                    },
                }
            }
        }
    }

    /// Handles one command while no channel is open; `true` when the session
    /// is to close.
    async fn idle_command(&mut self) -> bool {
        match self.commands.recv().await {
            None | Some(Command::Close(_)) => true,
            Some(Command::Add(shared)) => {
                self.register(shared);
                false
            }
            Some(Command::Remove { key, reply }) => {
                if let Some(tunnel) = self.tunnels.remove(&key) {
                    tunnel.shared.set_state(TunnelState::Closed);
                }
                if let Some(reply) = reply {
                    let _ = reply.send(Ok(()));
                }
                false
            }
            Some(Command::ClosedByEngine(_)) => false,
        }
    }

    fn register(&mut self, shared: Arc<TunnelShared>) {
        let backoff = Backoff::new(self.link.reconnect.clone());
        self.tunnels.insert(
            shared.key,
            Registered {
                shared,
                current: None,
                retry_at: None,
                backoff,
            },
        );
    }

    /// Creates every tunnel on `channel` and keeps them there until the
    /// channel is lost or the session closed.
    async fn serve(&mut self, channel: &Channel) -> Served {
        loop {
            // Create what is not on this channel yet and is due.
            let now = Instant::now();
            let due: Vec<u64> = self
                .tunnels
                .iter()
                .filter(|(_, t)| t.current.is_none() && t.retry_at.is_none_or(|at| at <= now))
                .map(|(key, _)| *key)
                .collect();
            for key in due {
                if let Err(lost) = self.create(channel, key).await {
                    return Served::Lost(lost);
                }
            }
            let next_retry = self.tunnels.values().filter_map(|t| t.retry_at).min();
            tokio::select! {
                ended = channel.closed() => {
                    return Served::Lost(match ended {
                        Err(e) => e,
                        Ok(()) => Error::engine(
                            ErrorCode::ServiceUnavailable as i32,
                            "the engine closed the control channel",
                        ),
                    });
                }
                () = sleep_until_opt(next_retry) => {}
                command = self.commands.recv() => match command {
                    None | Some(Command::Close(None)) => {
                        self.close_all(channel).await;
                        return Served::Closed;
                    }
                    Some(Command::Close(Some(reply))) => {
                        self.close_all(channel).await;
                        let _ = reply.send(());
                        return Served::Closed;
                    }
                    Some(Command::Add(shared)) => self.register(shared),
                    Some(Command::Remove { key, reply }) => {
                        let result = match self.tunnels.remove(&key) {
                            Some(tunnel) => {
                                let result = match &tunnel.current {
                                    Some(current) => current.close().await,
                                    None => Ok(()),
                                };
                                tunnel.shared.set_state(TunnelState::Closed);
                                result
                            }
                            None => Ok(()),
                        };
                        if let Some(reply) = reply {
                            let _ = reply.send(result);
                        }
                    }
                    Some(Command::ClosedByEngine(key)) => {
                        if let Some(tunnel) = self.tunnels.get_mut(&key) {
                            tracing::warn!(key, "the engine closed a tunnel; creating it again");
                            tunnel.current = None;
                            schedule_retry(tunnel, Error::engine(
                                ErrorCode::ServiceUnavailable as i32,
                                "the engine closed the tunnel",
                            ));
                        }
                    }
                },
            }
        }
    }

    /// Creates tunnel `key` on `channel`. `Err` when the channel itself is
    /// lost; a refusal of the tunnel alone is handled here.
    async fn create(&mut self, channel: &Channel, key: u64) -> Result<(), Error> {
        let Some(tunnel) = self.tunnels.get(&key) else {
            return Ok(());
        };
        let shared = tunnel.shared.clone();
        let options = shared.options();
        let commands = self.commands_tx.clone();
        let sink = TunnelSink {
            deliver: shared.deliver.clone(),
            on_closed: Some(Box::new(move || {
                let _ = commands.send(Command::ClosedByEngine(key));
            })),
        };
        let created = channel.create_tunnel(&options, sink).await;
        let Some(tunnel) = self.tunnels.get_mut(&key) else {
            // Removed meanwhile: `created` is dropped, which closes it.
            return Ok(());
        };
        match created {
            Ok(current) => {
                // Ask for the same address next time.
                let properties = current.properties().clone();
                let mut options = options;
                if options.is_published() && options.get_hostname().is_none() {
                    if let Some(hostname) = properties.hostname.clone().filter(|h| !h.is_empty()) {
                        if options.get_protocol() != Some(Protocol::Tcp) {
                            options = options.hostname(hostname);
                        }
                    }
                }
                if options.get_protocol() == Some(Protocol::Tcp) {
                    if let Some(port) = properties.port {
                        options = options.port(port);
                    }
                }
                shared.set_options(options);
                let address = shared
                    .address
                    .get_or_init(|| current.forwarding_address())
                    .clone();
                shared.set_info(crate::TunnelInfo::from_properties(&properties));
                shared.ever_online.store(true, Ordering::SeqCst);
                tracing::info!(tunnel_id = %current.id(), address = %address, "tunnel online");
                shared.set_state(TunnelState::Online {
                    tunnel_id: current.id().to_owned(),
                    forwarding_address: address,
                });
                tunnel.current = Some(current);
                tunnel.retry_at = None;
                tunnel.backoff.reset();
                // A tunnel is back: the next loss starts the schedule over.
                self.backoff.reset();
                self.attempt = 0;
                self.ever_online = true;
                Ok(())
            }
            Err(e) if channel.is_closed() => Err(e),
            Err(e) if e.is_timeout() => Err(e),
            Err(e) if retry_refusal(&e, &shared) => {
                schedule_retry(tunnel, e);
                Ok(())
            }
            Err(e) => {
                tracing::warn!(error = %e, "the engine refused the tunnel");
                shared.set_state(TunnelState::Failed(Arc::new(e)));
                self.tunnels.remove(&key);
                Ok(())
            }
        }
    }

    /// Closes every tunnel at the engine, then the channel.
    async fn close_all(&mut self, channel: &Channel) {
        for (_, tunnel) in self.tunnels.drain() {
            if let Some(current) = &tunnel.current {
                let _ = current.close().await;
            }
            tunnel.shared.set_state(TunnelState::Closed);
        }
        let _ = channel.close().await;
    }

    /// Ends the session: tunnels left get `end`.
    async fn finish(mut self, end: End) {
        let state = match &end {
            End::Closed => TunnelState::Closed,
            End::Failed(e) => TunnelState::Failed(e.clone()),
        };
        for (_, tunnel) in self.tunnels.drain() {
            tunnel.shared.set_state(state.clone());
        }
        // The last channel stays readable (client id, server details).
        self.ended.send_replace(Some(end));
    }
}

/// Whether a refusal of one tunnel (the channel being fine) is worth
/// another try: what reconnecting retries, except that a request error
/// (2xxx) counts only for a tunnel that was online before — its hostname or
/// port still held by the previous connection, as the engine withdraws it.
fn retry_refusal(error: &Error, shared: &TunnelShared) -> bool {
    let was_online = shared.ever_online.load(Ordering::SeqCst);
    match error.engine_code() {
        Some(ErrorCode::InvalidRequest) => was_online,
        _ => should_retry(error, was_online),
    }
}

fn schedule_retry(tunnel: &mut Registered, error: Error) {
    let delay = tunnel
        .backoff
        .next_delay()
        .unwrap_or(Duration::from_secs(30));
    tracing::warn!(error = %error, delay = ?delay, "creating the tunnel again later");
    tunnel.retry_at = Some(Instant::now() + delay);
    tunnel.shared.set_state(TunnelState::Reconnecting {
        attempt: 1,
        last_error: Arc::new(error),
        next_delay: delay,
    });
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

// Compile-time checks: the handle can cross tasks and threads, as its docs promise.
const _: fn() = || {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<ControlChannel>();
    let _ = <ControlChannel as Clone>::clone;
};
