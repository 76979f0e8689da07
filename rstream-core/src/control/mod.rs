//! One control channel: a TLS connection to the engine that carries tunnel
//! requests, stream announcements and heartbeats, and the tunnels created on
//! it. Internal: the public [`ControlChannel`](crate::ControlChannel) is a
//! session that opens these one after the other and re-creates its tunnels
//! on each.
//!
//! The protocol logic is the pure [`state`] machine; this module is its
//! driver: a reader task feeds it frames, a ticker task its deadlines, a
//! writer task sends what it asks for, and announced streams are opened in
//! tasks of their own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument;

use crate::handshake::{open_proxy_connection, read_frame};
use crate::link::Link;
use crate::options::forwarding_address;
use crate::proto::{
    self, ControlChannelLiveness, ErrorCode, Message, OpenControlChannelReq, ProxyConnReq,
    ServerDetails, TunnelProperties, message::Payload, open_control_channel_rsp,
};
use crate::transport::TlsConnection;
use crate::{Error, TunnelOptions, TunnelStream};

pub(crate) mod state;

pub(crate) use state::End;
use state::{Action, ControlState, Liveness, Refusal};

/// Streams a tunnel holds before `accept()` takes them.
pub(crate) const ACCEPT_QUEUE: usize = 10;
/// How long a delivery waits for room in a full accept queue.
pub(crate) const ACCEPT_WAIT: Duration = Duration::from_secs(5);

/// One open control channel. Cheap to clone; closed when the last clone
/// (and the last [`ChannelTunnel`] on it) is dropped.
#[derive(Clone, Debug)]
pub(crate) struct Channel {
    handle: Arc<Handle>,
}

/// Closes the channel when the last user handle goes.
#[derive(Debug)]
struct Handle {
    core: Arc<Core>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.core.apply(|state| state.close());
    }
}

/// The shared side of a channel: the protocol state machine, and what its
/// actions act on. The reader and ticker tasks, the handles and the stream
/// openers all drive it through [`Core::apply`].
pub(crate) struct Core {
    link: Arc<Link>,
    client_id: String,
    server_details: Option<ServerDetails>,
    liveness: Option<ControlChannelLiveness>,
    out: mpsc::UnboundedSender<Message>,
    driven: Mutex<Driven>,
    ended: watch::Sender<Option<End>>,
}

/// The state machine and the I/O-side records its actions refer to.
struct Driven {
    state: ControlState,
    waiters: HashMap<String, (TunnelSink, oneshot::Sender<Result<TunnelParts, Error>>)>,
    tunnels: HashMap<String, TunnelSlot>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlChannel")
            .field("engine", &self.link.engine())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

struct TunnelSlot {
    deliver: mpsc::Sender<TunnelStream>,
    status: Arc<TunnelStatus>,
}

/// What a tunnel being created delivers its streams to, and who to tell
/// when the engine closes it.
pub(crate) struct TunnelSink {
    pub(crate) deliver: mpsc::Sender<TunnelStream>,
    pub(crate) on_closed: Option<Box<dyn FnOnce() + Send>>,
}

/// What `create_tunnel` gets once the engine said yes.
pub(crate) struct TunnelParts {
    properties: TunnelProperties,
    status: Arc<TunnelStatus>,
}

impl Channel {
    pub(crate) async fn open(link: Arc<Link>) -> Result<Channel, Error> {
        let inner = &*link;
        let timeout = inner.operation_timeout;
        let interval_ms = inner.heartbeat_interval.map(|d| d.as_millis() as u32);
        let request = OpenControlChannelReq {
            client_details: Some(link.client_details(inner.token.as_ref())),
            liveness: interval_ms.map(|ms| ControlChannelLiveness {
                heartbeat_interval_ms: ms,
                heartbeat_timeout_ms: 0,
            }),
        };
        let mut io = link.open_with(None, &request.into()).await?;
        let mut buf = BytesMut::new();
        let answer = tokio::time::timeout(timeout, read_frame(&mut io, &mut buf))
            .await
            .map_err(|_| Error::timeout("opening the control channel", timeout))??;
        let ok = match answer.payload {
            Some(Payload::OpenControlChannelRsp(rsp)) => match rsp.payload {
                Some(open_control_channel_rsp::Payload::Ok(ok)) => ok,
                Some(open_control_channel_rsp::Payload::Error(e)) => return Err(e.into()),
                None => {
                    return Err(Error::protocol(
                        "the engine sent an empty open_control_channel_rsp",
                    ));
                }
            },
            Some(other) => {
                return Err(Error::protocol(format!(
                    "expected open_control_channel_rsp, the engine sent {}",
                    other.name()
                )));
            }
            None => return Err(Error::protocol("the engine sent an empty frame")),
        };
        let negotiated = Liveness::negotiate(interval_ms, ok.liveness)?;
        let (out, out_rx) = mpsc::unbounded_channel();
        let heartbeat_interval = inner.heartbeat_interval;
        let core = Arc::new(Core {
            link: link.clone(),
            client_id: ok.client_id,
            server_details: ok.server_details,
            liveness: negotiated.and(ok.liveness),
            out,
            driven: Mutex::new(Driven {
                state: ControlState::new(Instant::now(), heartbeat_interval, negotiated),
                waiters: HashMap::new(),
                tunnels: HashMap::new(),
            }),
            ended: watch::channel(None).0,
        });
        let span = tracing::info_span!("control_channel", client_id = %core.client_id);
        tracing::debug!(parent: &span, liveness = ?core.liveness, "control channel open");
        let (rd, wr) = tokio::io::split(io);
        tokio::spawn(writer(core.clone(), wr, out_rx).instrument(span.clone()));
        tokio::spawn(reader(core.clone(), rd, buf).instrument(span.clone()));
        tokio::spawn(ticker(core.clone()).instrument(span));
        Ok(Channel {
            handle: Arc::new(Handle { core }),
        })
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.handle.core
    }

    /// The id the engine gave this client.
    pub(crate) fn client_id(&self) -> &str {
        &self.handle.core.client_id
    }

    /// What the engine said about itself.
    pub(crate) fn server_details(&self) -> Option<&ServerDetails> {
        self.handle.core.server_details.as_ref()
    }

    /// The negotiated heartbeat settings; `None` in legacy mode.
    pub(crate) fn liveness(&self) -> Option<ControlChannelLiveness> {
        self.handle.core.liveness
    }

    /// Whether the channel has ended (closed or failed).
    pub(crate) fn is_closed(&self) -> bool {
        self.handle.core.ended.borrow().is_some()
    }

    /// Waits until the channel ends: `Ok` when it was closed on purpose, the
    /// failure otherwise (transport error, protocol error, liveness expired).
    pub(crate) async fn closed(&self) -> Result<(), Error> {
        wait_end(self.handle.core.ended.subscribe()).await
    }

    /// Creates a tunnel whose streams go to `sink`. Invalid options fail
    /// before anything is sent; the wait for the engine is bounded by the
    /// operation timeout.
    pub(crate) async fn create_tunnel(
        &self,
        options: &TunnelOptions,
        sink: TunnelSink,
    ) -> Result<ChannelTunnel, Error> {
        let properties = options.to_properties()?;
        let core = &self.handle.core;
        let request_id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        core.try_apply(|driven| {
            driven.state.open_tunnel(request_id.clone(), properties)?;
            driven.waiters.insert(request_id.clone(), (sink, tx));
            Ok(())
        })?;
        let timeout = core.link.operation_timeout;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(parts))) => Ok(ChannelTunnel {
                inner: Arc::new(ChannelTunnelInner {
                    channel: self.clone(),
                    properties: parts.properties,
                    status: parts.status,
                }),
            }),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(core.end_error()),
            Err(_) => {
                core.try_apply(|driven| {
                    driven.waiters.remove(&request_id);
                    driven.state.abandon_open(&request_id);
                    Ok(())
                })
                .ok();
                Err(Error::timeout("creating a tunnel", timeout))
            }
        }
    }

    /// Closes the channel: asks the engine, waits (bounded by the operation
    /// timeout) for its answer, and ends every tunnel of the channel.
    /// Calling it again, or on a failed channel, returns at once.
    pub(crate) async fn close(&self) -> Result<(), Error> {
        let core = &self.handle.core;
        if core.ended.borrow().is_some() {
            return Ok(());
        }
        core.apply(|state| state.close());
        let timeout = core.link.operation_timeout;
        let mut rx = core.ended.subscribe();
        let waited = tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await;
        if waited.is_err() {
            core.apply(|state| state.force_closed());
            return Err(Error::timeout("closing the control channel", timeout));
        }
        Ok(())
    }
}

impl Core {
    fn lock(&self) -> MutexGuard<'_, Driven> {
        self.driven.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `input` on the state machine, then carries out the actions it
    /// produced, in order, before anything else can drive it.
    pub(crate) fn apply(self: &Arc<Self>, input: impl FnOnce(&mut ControlState)) {
        let _ = self.try_apply(|driven| {
            input(&mut driven.state);
            Ok(())
        });
    }

    fn try_apply<T>(
        self: &Arc<Self>,
        input: impl FnOnce(&mut Driven) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut driven = self.lock();
        let result = input(&mut driven);
        // Carrying an action out may feed the state machine again (a stream
        // refused on the spot, a tunnel nobody took): until it is quiet.
        loop {
            let actions = driven.state.take_actions();
            if actions.is_empty() {
                break;
            }
            for action in actions {
                self.carry_out(&mut driven, action);
            }
        }
        drop(driven);
        result
    }

    fn carry_out(self: &Arc<Self>, driven: &mut Driven, action: Action) {
        match action {
            Action::Send(message) => {
                let _ = self.out.send(message);
            }
            Action::OpenStream(request) => {
                let slot = driven
                    .tunnels
                    .get(&request.tunnel_id)
                    .map(|slot| (slot.deliver.clone(), slot.status.clone()));
                let Some((deliver, status)) = slot else {
                    // The tunnel ended while the stream waited for a slot.
                    driven.state.stream_finished(
                        request.stream_id,
                        Err(Refusal::new(
                            ErrorCode::ServiceUnavailable,
                            "Tunnel is closed.",
                        )),
                    );
                    return;
                };
                let core = self.clone();
                let span = tracing::debug_span!(
                    "stream",
                    tunnel_id = %request.tunnel_id,
                    stream_id = %request.stream_id,
                );
                tokio::spawn(
                    async move {
                        let stream_id = request.stream_id.clone();
                        let outcome = core.accept_stream(request, deliver, status).await;
                        core.apply(|state| state.stream_finished(stream_id, outcome));
                    }
                    .instrument(span),
                );
            }
            Action::TunnelOpened { request_id, result } => {
                let Some((sink, waiter)) = driven.waiters.remove(&request_id) else {
                    return;
                };
                let properties = match result {
                    Ok(properties) => properties,
                    Err(e) => {
                        let _ = waiter.send(Err(e));
                        return;
                    }
                };
                let id = properties.id.clone().unwrap_or_default();
                let status = Arc::new(TunnelStatus::new(id.clone(), sink.on_closed));
                let parts = TunnelParts {
                    properties,
                    status: status.clone(),
                };
                match waiter.send(Ok(parts)).is_ok() {
                    true => {
                        tracing::debug!(tunnel_id = %id, "tunnel created");
                        let deliver = sink.deliver;
                        driven.tunnels.insert(id, TunnelSlot { deliver, status });
                    }
                    // Nobody takes it: close it at once.
                    false => driven.state.close_tunnel(&id),
                }
            }
            Action::TunnelClosed { tunnel_id } => {
                if let Some(slot) = driven.tunnels.remove(&tunnel_id) {
                    tracing::debug!(tunnel_id = %tunnel_id, "tunnel closed");
                    slot.status.end(End::Closed);
                    slot.status.notify_closed();
                }
            }
            Action::ServerMessage(message) => {
                tracing::info!(message = %message, "message from the engine");
            }
            Action::End(end) => {
                match &end {
                    End::Closed => tracing::debug!("control channel closed"),
                    End::Failed(e) => tracing::warn!(error = %e, "control channel failed"),
                }
                self.ended.send_replace(Some(end.clone()));
                for (_, (_, waiter)) in driven.waiters.drain() {
                    let _ = waiter.send(Err(end.to_error("control channel")));
                }
                for (_, slot) in driven.tunnels.drain() {
                    slot.status.end(end.clone());
                }
            }
        }
    }

    pub(crate) fn end_error(&self) -> Error {
        self.ended
            .borrow()
            .as_ref()
            .unwrap_or(&End::Closed)
            .to_error("control channel")
    }

    pub(crate) fn operation_timeout(&self) -> Duration {
        self.link.operation_timeout
    }

    /// Asks the engine to close a tunnel.
    pub(crate) fn request_tunnel_close(self: &Arc<Self>, tunnel_id: &str) {
        self.apply(|state| state.close_tunnel(tunnel_id));
    }

    /// Opens an announced stream's proxy connection and delivers it to its
    /// tunnel; the outcome is what the engine is told.
    async fn accept_stream(
        &self,
        req: ProxyConnReq,
        deliver: mpsc::Sender<TunnelStream>,
        status: Arc<TunnelStatus>,
    ) -> Result<(), Refusal> {
        let unavailable = |message: &str| Refusal::new(ErrorCode::ServiceUnavailable, message);
        // The opening (TCP, TLS, the first frame) and the delivery (which
        // holds the stream) are boxed: inline they made this task's future
        // 5.3 KiB, copied by every move of the task; boxed it is 512 bytes.
        let stream = match Box::pin(open_proxy_connection(&self.link, &req)).await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(error = %e, "proxy connection failed");
                return Err(unavailable(&format!(
                    "The runtime could not open the stream: {e}"
                )));
            }
        };
        if status.is_ended() {
            return Err(unavailable("Tunnel is closed."));
        }
        match Box::pin(deliver.send_timeout(stream, ACCEPT_WAIT)).await {
            Ok(()) => {
                tracing::trace!("stream delivered");
                Ok(())
            }
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                Err(unavailable("The tunnel's accept queue is full."))
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => Err(unavailable("Tunnel is closed.")),
        }
    }
}

/// Writes queued frames, batched, until the channel ends.
async fn writer(
    core: Arc<Core>,
    mut wr: WriteHalf<TlsConnection>,
    mut out: mpsc::UnboundedReceiver<Message>,
) {
    let mut ended = core.ended.subscribe();
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        let first = tokio::select! {
            message = out.recv() => match message {
                Some(m) => m,
                None => break,
            },
            _ = ended.wait_for(Option::is_some) => break,
        };
        buf.clear();
        let mut result = proto::encode_frame(&first, &mut buf);
        while result.is_ok() && buf.len() < 64 * 1024 {
            match out.try_recv() {
                Ok(m) => result = proto::encode_frame(&m, &mut buf),
                Err(_) => break,
            }
        }
        if let Err(e) = result {
            core.apply(|state| state.on_transport_end(e.into()));
            break;
        }
        let written = async {
            wr.write_all(&buf).await?;
            wr.flush().await
        }
        .await;
        if let Err(e) = written {
            core.apply(|state| {
                state.on_transport_end(Error::io("writing to the control channel", e))
            });
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), wr.shutdown()).await;
}

/// Reads frames into the state machine until the channel ends.
async fn reader(core: Arc<Core>, mut rd: ReadHalf<TlsConnection>, mut buf: BytesMut) {
    let mut ended = core.ended.subscribe();
    loop {
        let frame = tokio::select! {
            frame = read_frame(&mut rd, &mut buf) => frame,
            _ = ended.wait_for(Option::is_some) => return,
        };
        match frame {
            Ok(message) => core.apply(|state| state.on_frame(Instant::now(), message)),
            Err(e) => {
                core.apply(|state| state.on_transport_end(e));
                return;
            }
        }
    }
}

/// Gives the state machine its timer ticks: heartbeats and liveness.
///
/// Input only ever moves the deadline later (a frame extends liveness), so
/// the ticker is never woken early: at a deadline that has since moved,
/// `on_tick` finds nothing due and it sleeps again. No wake-up per frame.
async fn ticker(core: Arc<Core>) {
    let mut ended = core.ended.subscribe();
    loop {
        let deadline = core.lock().state.next_deadline();
        let Some(deadline) = deadline else {
            // No heartbeat and no liveness: nothing to time.
            let _ = ended.wait_for(Option::is_some).await;
            return;
        };
        tokio::select! {
            () = tokio::time::sleep_until(deadline.into()) => {
                core.apply(|state| state.on_tick(Instant::now()));
            }
            _ = ended.wait_for(Option::is_some) => return,
        }
    }
}

/// Waits until `ended` holds an end (or its sender is gone, which counts as
/// closed): `Ok` for a close, the failure otherwise.
pub(crate) async fn wait_end(mut ended: watch::Receiver<Option<End>>) -> Result<(), Error> {
    let end = ended
        .wait_for(Option::is_some)
        .await
        .map(|end| end.clone())
        .ok()
        .flatten()
        .unwrap_or(End::Closed);
    match end {
        End::Closed => Ok(()),
        End::Failed(e) => Err(e.duplicate()),
    }
}

/// Where one tunnel of a channel stands; shared by its handle and the
/// driver.
pub(crate) struct TunnelStatus {
    id: String,
    end: watch::Sender<Option<End>>,
    close_sent: std::sync::atomic::AtomicBool,
    /// Told once when the engine closes the tunnel (not when the channel ends).
    on_closed: Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for TunnelStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelStatus")
            .field("id", &self.id)
            .field("end", &*self.end.borrow())
            .finish_non_exhaustive()
    }
}

impl TunnelStatus {
    fn new(id: String, on_closed: Option<Box<dyn FnOnce() + Send>>) -> Self {
        TunnelStatus {
            id,
            end: watch::channel(None).0,
            close_sent: std::sync::atomic::AtomicBool::new(false),
            on_closed: Mutex::new(on_closed),
        }
    }

    fn end(&self, end: End) {
        self.end.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(end);
                true
            } else {
                false
            }
        });
    }

    fn notify_closed(&self) {
        let callback = self
            .on_closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(callback) = callback {
            callback();
        }
    }

    pub(crate) fn is_ended(&self) -> bool {
        self.end.borrow().is_some()
    }
}

/// A tunnel on one control channel. Closed on the channel when the last
/// clone is dropped (unless it already ended).
#[derive(Clone, Debug)]
pub(crate) struct ChannelTunnel {
    inner: Arc<ChannelTunnelInner>,
}

#[derive(Debug)]
struct ChannelTunnelInner {
    channel: Channel,
    properties: TunnelProperties,
    status: Arc<TunnelStatus>,
}

impl Drop for ChannelTunnelInner {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        if !self.status.is_ended() && !self.status.close_sent.swap(true, Ordering::SeqCst) {
            self.channel.core().request_tunnel_close(&self.status.id);
        }
    }
}

impl ChannelTunnel {
    /// The tunnel id the engine assigned.
    pub(crate) fn id(&self) -> &str {
        &self.inner.status.id
    }

    /// The tunnel's properties as the engine created them.
    pub(crate) fn properties(&self) -> &TunnelProperties {
        &self.inner.properties
    }

    /// Where the tunnel can be reached.
    pub(crate) fn forwarding_address(&self) -> String {
        forwarding_address(&self.inner.properties)
    }

    /// Closes the tunnel and waits (bounded by the operation timeout) for the
    /// engine to confirm. Closing an ended tunnel returns at once.
    pub(crate) async fn close(&self) -> Result<(), Error> {
        use std::sync::atomic::Ordering;
        let status = &self.inner.status;
        let core = self.inner.channel.core();
        let mut end = status.end.subscribe();
        if end.borrow().is_some() {
            return Ok(());
        }
        // Closed on purpose: nobody is to be told that the engine closed it.
        status
            .on_closed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
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
}

/// Feeds `data`, read as frames from the engine, to the control channel's
/// state machine, the way the reader does, until a frame is incomplete or
/// the channel has ended, acting out "streams delivered" for every stream
/// it asks to open. For the fuzz targets only: no runtime, no I/O.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub fn fuzz_handle_frames(data: &[u8]) {
    let now = Instant::now();
    let liveness = Liveness {
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(3),
    };
    let mut state = ControlState::new(now, Some(liveness.interval), Some(liveness));
    // A tunnel being opened, so open_tunnel_rsp frames have somewhere to go.
    let _ = state.open_tunnel("r1".into(), TunnelProperties::default());
    let mut buf = BytesMut::from(data);
    let mut tick = now;
    while let Ok(Some(message)) = proto::decode_frame(&mut buf) {
        tick += Duration::from_millis(500);
        state.on_frame(tick, message);
        state.on_tick(tick);
        for action in state.take_actions() {
            if let Action::OpenStream(request) = action {
                state.stream_finished(request.stream_id, Ok(()));
            }
        }
        if state.ended().is_some() {
            break;
        }
    }
}

// Compile-time checks: the handle can cross tasks and threads, as its docs promise.
const _: fn() = || {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Channel>();
    send_sync::<ChannelTunnel>();
};
