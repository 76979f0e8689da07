//! The control channel: one TLS connection to the engine that carries tunnel
//! requests, stream announcements and heartbeats.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument;

use crate::client::{read_frame, write_frame};
use crate::dial::open_proxy_connection;
use crate::proto::{
    self, ControlChannelLiveness, ErrorCode, Message, OpenControlChannelReq, ProxyConnReq,
    ServerDetails, TunnelProperties, message::Payload, open_control_channel_rsp,
};
use crate::transport::TlsConnection;
use crate::tunnel::{Tunnel, TunnelStatus};
use crate::{Client, Error, TunnelOptions, TunnelStream};

pub(crate) mod state;

pub(crate) use state::End;
use state::{Action, ControlState, Liveness, Refusal};

/// Streams a tunnel holds before `accept()` takes them.
pub(crate) const ACCEPT_QUEUE: usize = 10;
/// How long a delivery waits for room in a full accept queue.
pub(crate) const ACCEPT_WAIT: Duration = Duration::from_secs(5);

/// A control channel to the engine, from [`Client::connect`].
///
/// Cheap to clone. The channel stays open while any clone, or any
/// [`Tunnel`] created on it, is alive; when the last one is dropped the
/// channel is closed in the background. [`close`](Self::close) closes it now
/// and waits for the engine. Streams already accepted or dialed are separate
/// connections and keep flowing either way.
#[derive(Clone, Debug)]
pub struct ControlChannel {
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
    client: Client,
    client_id: String,
    server_details: Option<ServerDetails>,
    liveness: Option<ControlChannelLiveness>,
    out: mpsc::UnboundedSender<Message>,
    driven: Mutex<Driven>,
    ended: watch::Sender<Option<End>>,
    /// Wakes the ticker when a request may have moved the next deadline.
    tick: tokio::sync::Notify,
}

/// The state machine and the I/O-side records its actions refer to.
struct Driven {
    state: ControlState,
    waiters: HashMap<String, oneshot::Sender<Result<TunnelParts, Error>>>,
    tunnels: HashMap<String, TunnelSlot>,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlChannel")
            .field("engine", &self.client.engine())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

struct TunnelSlot {
    deliver: mpsc::Sender<TunnelStream>,
    status: Arc<TunnelStatus>,
}

/// What `create_tunnel` gets once the engine said yes.
pub(crate) struct TunnelParts {
    pub(crate) properties: TunnelProperties,
    pub(crate) streams: mpsc::Receiver<TunnelStream>,
    pub(crate) status: Arc<TunnelStatus>,
}

impl ControlChannel {
    pub(crate) async fn open(client: Client) -> Result<ControlChannel, Error> {
        let inner = client.inner();
        let timeout = inner.operation_timeout;
        let mut io = client.open_connection(None).await?;
        let interval_ms = inner.heartbeat_interval.map(|d| d.as_millis() as u32);
        let request = OpenControlChannelReq {
            client_details: Some(client.client_details(inner.token.as_ref())),
            liveness: interval_ms.map(|ms| ControlChannelLiveness {
                heartbeat_interval_ms: ms,
                heartbeat_timeout_ms: 0,
            }),
        };
        let mut buf = BytesMut::new();
        let answer = tokio::time::timeout(timeout, async {
            write_frame(&mut io, &request.into()).await?;
            read_frame(&mut io, &mut buf).await
        })
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
        let core = Arc::new(Core {
            client: client.clone(),
            client_id: ok.client_id,
            server_details: ok.server_details,
            liveness: negotiated.and(ok.liveness),
            out,
            driven: Mutex::new(Driven {
                state: ControlState::new(Instant::now(), inner.heartbeat_interval, negotiated),
                waiters: HashMap::new(),
                tunnels: HashMap::new(),
            }),
            ended: watch::channel(None).0,
            tick: tokio::sync::Notify::new(),
        });
        let span = tracing::info_span!("control_channel", client_id = %core.client_id);
        tracing::debug!(parent: &span, liveness = ?core.liveness, "control channel open");
        let (rd, wr) = tokio::io::split(io);
        tokio::spawn(writer(core.clone(), wr, out_rx).instrument(span.clone()));
        tokio::spawn(reader(core.clone(), rd, buf).instrument(span.clone()));
        tokio::spawn(ticker(core.clone()).instrument(span));
        Ok(ControlChannel {
            handle: Arc::new(Handle { core }),
        })
    }

    pub(crate) fn core(&self) -> &Arc<Core> {
        &self.handle.core
    }

    /// The id the engine gave this client.
    pub fn client_id(&self) -> &str {
        &self.handle.core.client_id
    }

    /// What the engine said about itself.
    pub fn server_details(&self) -> Option<&ServerDetails> {
        self.handle.core.server_details.as_ref()
    }

    /// The negotiated heartbeat settings; `None` in legacy mode.
    pub fn liveness(&self) -> Option<ControlChannelLiveness> {
        self.handle.core.liveness
    }

    /// The client this channel was opened with.
    pub fn client(&self) -> &Client {
        &self.handle.core.client
    }

    /// Whether the channel has ended (closed or failed).
    pub fn is_closed(&self) -> bool {
        self.handle.core.ended.borrow().is_some()
    }

    /// Waits until the channel ends: `Ok` when it was closed on purpose, the
    /// failure otherwise (transport error, protocol error, liveness expired).
    pub async fn closed(&self) -> Result<(), Error> {
        let mut rx = self.handle.core.ended.subscribe();
        let end = rx
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

    /// Creates a tunnel. Invalid options fail before anything is sent; the
    /// wait for the engine is bounded by the operation timeout.
    pub async fn create_tunnel(&self, options: TunnelOptions) -> Result<Tunnel, Error> {
        let properties = options.to_properties()?;
        let core = &self.handle.core;
        let request_id = uuid::Uuid::new_v4().to_string();
        let (tx, rx) = oneshot::channel();
        core.try_apply(|driven| {
            driven.state.open_tunnel(request_id.clone(), properties)?;
            driven.waiters.insert(request_id.clone(), tx);
            Ok(())
        })?;
        let timeout = core.client.inner().operation_timeout;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(parts))) => Ok(Tunnel::new(self.clone(), parts)),
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
    pub async fn close(&self) -> Result<(), Error> {
        let core = &self.handle.core;
        if core.ended.borrow().is_some() {
            return Ok(());
        }
        core.apply(|state| state.close());
        let timeout = core.client.inner().operation_timeout;
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
        self.tick.notify_one();
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
                let waiter = driven.waiters.remove(&request_id);
                let properties = match result {
                    Ok(properties) => properties,
                    Err(e) => {
                        if let Some(waiter) = waiter {
                            let _ = waiter.send(Err(e));
                        }
                        return;
                    }
                };
                let id = properties.id.clone().unwrap_or_default();
                let (deliver, streams) = mpsc::channel(ACCEPT_QUEUE);
                let status = Arc::new(TunnelStatus::new(id.clone()));
                let parts = TunnelParts {
                    properties,
                    streams,
                    status: status.clone(),
                };
                let taken = waiter.is_some_and(|w| w.send(Ok(parts)).is_ok());
                match taken {
                    true => {
                        tracing::debug!(tunnel_id = %id, "tunnel created");
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
                for (_, waiter) in driven.waiters.drain() {
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
        self.client.inner().operation_timeout
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
        let stream = match open_proxy_connection(&self.client, &req).await {
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
        match deliver.send_timeout(stream, ACCEPT_WAIT).await {
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
            core.apply(|state| state.on_transport_end(e));
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
async fn ticker(core: Arc<Core>) {
    let mut ended = core.ended.subscribe();
    loop {
        let deadline = core.lock().state.next_deadline();
        let Some(deadline) = deadline else {
            if core.ended.borrow().is_some() {
                return;
            }
            tokio::select! {
                () = core.tick.notified() => continue,
                _ = ended.wait_for(Option::is_some) => return,
            }
        };
        tokio::select! {
            () = tokio::time::sleep_until(deadline.into()) => {
                core.apply(|state| state.on_tick(Instant::now()));
            }
            () = core.tick.notified() => {}
            _ = ended.wait_for(Option::is_some) => return,
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
    send_sync::<ControlChannel>();
    let _ = <ControlChannel as Clone>::clone;
};
