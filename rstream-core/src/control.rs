//! The control channel: one TLS connection to the engine that carries tunnel
//! requests, stream announcements and heartbeats.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::{Semaphore, mpsc, oneshot, watch};
use tracing::Instrument;

use crate::client::{read_frame, write_frame};
use crate::dial::{open_proxy_connection, refusal};
use crate::proto::{
    self, CloseControlChannelReq, CloseTunnelReq, ControlChannelLiveness, ErrorCode, Heartbeat,
    Message, OpenControlChannelReq, OpenTunnelReq, ProxyConnReq, ProxyConnRsp, ServerDetails,
    TunnelProperties, message::Payload, open_control_channel_rsp, open_tunnel_rsp,
};
use crate::transport::TlsConnection;
use crate::tunnel::{Tunnel, TunnelStatus};
use crate::{Client, Error, TunnelOptions, TunnelStream};

/// Proxy dials in flight at once per control channel.
pub(crate) const MAX_DIALS_IN_FLIGHT: usize = 64;
/// Proxy dials waiting for a slot before further streams are refused.
pub(crate) const MAX_DIALS_QUEUED: usize = 256;
/// Streams a tunnel holds before `accept()` takes them.
pub(crate) const ACCEPT_QUEUE: usize = 10;
/// How long a delivery waits for room in a full accept queue.
pub(crate) const ACCEPT_WAIT: Duration = Duration::from_secs(5);
/// The longest heartbeat timeout an engine may ask for.
const MAX_HEARTBEAT_TIMEOUT_MS: u32 = 900_000;

/// How a control channel (or one of its tunnels) ended.
#[derive(Clone, Debug)]
pub(crate) enum End {
    /// Closed on purpose, by us or by the engine.
    Closed,
    /// Failed: transport, protocol or liveness.
    Failed(Arc<Error>),
}

impl End {
    pub(crate) fn to_error(&self, what: &str) -> Error {
        match self {
            End::Closed => Error::Closed(format!("the {what} is closed")),
            End::Failed(e) => e.duplicate(),
        }
    }
}

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
        self.core.request_close();
    }
}

pub(crate) struct Core {
    client: Client,
    client_id: String,
    server_details: Option<ServerDetails>,
    liveness: Option<ControlChannelLiveness>,
    out: mpsc::UnboundedSender<Message>,
    state: Mutex<State>,
    ended: watch::Sender<Option<End>>,
    closing: AtomicBool,
    heartbeat_sent: AtomicU64,
    heartbeat_acked: AtomicU64,
    dial_slots: Arc<Semaphore>,
    dials_queued: AtomicUsize,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlChannel")
            .field("engine", &self.client.engine())
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    pending_opens: HashMap<String, oneshot::Sender<Result<TunnelParts, Error>>>,
    tunnels: HashMap<String, TunnelSlot>,
}

struct TunnelSlot {
    deliver: mpsc::Sender<TunnelStream>,
    status: Arc<TunnelStatus>,
}

/// What the reader hands to `create_tunnel` once the engine said yes.
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
        let liveness = match (interval_ms, ok.liveness) {
            (Some(ms), Some(l)) => {
                if l.heartbeat_interval_ms != ms
                    || l.heartbeat_timeout_ms < ms
                    || l.heartbeat_timeout_ms > MAX_HEARTBEAT_TIMEOUT_MS
                {
                    return Err(Error::protocol(format!(
                        "the engine answered an invalid liveness (interval {} ms, timeout {} ms) to a {ms} ms heartbeat request",
                        l.heartbeat_interval_ms, l.heartbeat_timeout_ms
                    )));
                }
                Some(l)
            }
            _ => None,
        };
        let (out, out_rx) = mpsc::unbounded_channel();
        let core = Arc::new(Core::new(
            client.clone(),
            ok.client_id,
            ok.server_details,
            liveness,
            out,
        ));
        let span = tracing::info_span!("control_channel", client_id = %core.client_id);
        tracing::debug!(parent: &span, liveness = ?core.liveness, "control channel open");
        let (rd, wr) = tokio::io::split(io);
        tokio::spawn(writer(core.clone(), wr, out_rx).instrument(span.clone()));
        tokio::spawn(reader(core.clone(), rd, buf).instrument(span));
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
        {
            let mut state = core.lock();
            if let Some(end) = core.ended.borrow().as_ref() {
                return Err(end.to_error("control channel"));
            }
            state.pending_opens.insert(request_id.clone(), tx);
        }
        core.send(
            OpenTunnelReq {
                request_id: request_id.clone(),
                tunnel_properties: Some(properties),
            }
            .into(),
        );
        let timeout = core.client.inner().operation_timeout;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(parts))) => Ok(Tunnel::new(self.clone(), parts)),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(core.end_error()),
            Err(_) => {
                core.lock().pending_opens.remove(&request_id);
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
        core.request_close();
        let timeout = core.client.inner().operation_timeout;
        let mut rx = core.ended.subscribe();
        let waited = tokio::time::timeout(timeout, rx.wait_for(Option::is_some)).await;
        if waited.is_err() {
            core.finish(End::Closed);
            return Err(Error::timeout("closing the control channel", timeout));
        }
        Ok(())
    }
}

impl Core {
    fn new(
        client: Client,
        client_id: String,
        server_details: Option<ServerDetails>,
        liveness: Option<ControlChannelLiveness>,
        out: mpsc::UnboundedSender<Message>,
    ) -> Core {
        Core {
            client,
            client_id,
            server_details,
            liveness,
            out,
            state: Mutex::new(State::default()),
            ended: watch::channel(None).0,
            closing: AtomicBool::new(false),
            heartbeat_sent: AtomicU64::new(0),
            heartbeat_acked: AtomicU64::new(0),
            dial_slots: Arc::new(Semaphore::new(MAX_DIALS_IN_FLIGHT)),
            dials_queued: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a frame for the writer. Frames for an ended channel are dropped.
    pub(crate) fn send(&self, message: Message) {
        let _ = self.out.send(message);
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

    /// Sends `CloseControlChannelReq` once.
    fn request_close(&self) {
        if self.ended.borrow().is_none() && !self.closing.swap(true, Ordering::SeqCst) {
            self.send(CloseControlChannelReq {}.into());
        }
    }

    /// Asks the engine to close a tunnel.
    pub(crate) fn request_tunnel_close(&self, tunnel_id: &str) {
        self.send(
            CloseTunnelReq {
                tunnel_id: tunnel_id.to_owned(),
            }
            .into(),
        );
    }

    /// Ends the channel once: every waiter and tunnel learns why.
    fn finish(&self, end: End) {
        let mut first = false;
        self.ended.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(end.clone());
                first = true;
                true
            } else {
                false
            }
        });
        if !first {
            return;
        }
        match &end {
            End::Closed => tracing::debug!("control channel closed"),
            End::Failed(e) => tracing::warn!(error = %e, "control channel failed"),
        }
        let (pending, tunnels) = {
            let mut state = self.lock();
            (
                std::mem::take(&mut state.pending_opens),
                std::mem::take(&mut state.tunnels),
            )
        };
        for (_, waiter) in pending {
            let _ = waiter.send(Err(end.to_error("control channel")));
        }
        for (_, slot) in tunnels {
            slot.status.end(end.clone());
        }
    }

    fn fail(&self, error: Error) {
        self.finish(End::Failed(Arc::new(error)));
    }

    /// Handles one frame from the engine. An error fails the channel.
    fn handle(self: &Arc<Self>, message: Message) -> Result<(), Error> {
        match message.payload {
            Some(Payload::Heartbeat(hb)) => self.on_heartbeat(hb),
            Some(Payload::OpenTunnelRsp(rsp)) => {
                self.on_open_tunnel_rsp(rsp);
                Ok(())
            }
            Some(Payload::CloseTunnelRsp(rsp)) => {
                let slot = self.lock().tunnels.remove(&rsp.tunnel_id);
                if let Some(slot) = slot {
                    tracing::debug!(tunnel_id = %rsp.tunnel_id, "tunnel closed");
                    slot.status.end(End::Closed);
                }
                Ok(())
            }
            Some(Payload::ProxyConnReq(req)) => self.on_proxy_conn_req(req),
            Some(Payload::CloseControlChannelRsp(_)) => {
                self.finish(End::Closed);
                Ok(())
            }
            Some(Payload::ServerMessage(m)) => {
                tracing::info!(message = %m.message, "message from the engine");
                Ok(())
            }
            Some(other) => Err(Error::protocol(format!(
                "unexpected {} on the control channel",
                other.name()
            ))),
            None => Err(Error::protocol(
                "the engine sent a frame with no known message",
            )),
        }
    }

    fn on_heartbeat(&self, hb: Heartbeat) -> Result<(), Error> {
        if self.liveness.is_none() {
            if hb.sequence != 0 || hb.acknowledgement != 0 {
                return Err(Error::protocol(
                    "non-empty heartbeat on a legacy control channel",
                ));
            }
            return Ok(());
        }
        let sent = self.heartbeat_sent.load(Ordering::SeqCst);
        let acked = self.heartbeat_acked.load(Ordering::SeqCst);
        if hb.sequence != 0
            || hb.acknowledgement == 0
            || hb.acknowledgement <= acked
            || hb.acknowledgement > sent
        {
            return Err(Error::protocol(format!(
                "invalid heartbeat acknowledgement {} (sequence {}; last sent {sent}, last acknowledged {acked})",
                hb.acknowledgement, hb.sequence
            )));
        }
        self.heartbeat_acked
            .store(hb.acknowledgement, Ordering::SeqCst);
        Ok(())
    }

    fn on_open_tunnel_rsp(&self, rsp: proto::OpenTunnelRsp) {
        let waiter = self.lock().pending_opens.remove(&rsp.request_id);
        let result = match rsp.payload {
            Some(open_tunnel_rsp::Payload::TunnelProperties(properties)) => {
                match properties.id.as_deref() {
                    Some(id) if !id.is_empty() => Ok(properties),
                    _ => Err(Error::protocol("the engine created a tunnel without an id")),
                }
            }
            Some(open_tunnel_rsp::Payload::Error(e)) => Err(e.into()),
            None => Err(Error::protocol("the engine sent an empty open_tunnel_rsp")),
        };
        let Some(waiter) = waiter else {
            // Nobody waits any more (timed out): do not leave the tunnel open.
            if let Ok(properties) = result {
                self.request_tunnel_close(properties.id.as_deref().unwrap_or_default());
            }
            return;
        };
        let properties = match result {
            Ok(p) => p,
            Err(e) => {
                let _ = waiter.send(Err(e));
                return;
            }
        };
        // Register before the next frame: a ProxyConnReq may follow at once.
        let id = properties.id.clone().unwrap_or_default();
        let (deliver, streams) = mpsc::channel(ACCEPT_QUEUE);
        let status = Arc::new(TunnelStatus::new(id.clone()));
        self.lock().tunnels.insert(
            id.clone(),
            TunnelSlot {
                deliver,
                status: status.clone(),
            },
        );
        tracing::debug!(tunnel_id = %id, "tunnel created");
        let parts = TunnelParts {
            properties,
            streams,
            status,
        };
        if waiter.send(Ok(parts)).is_err() {
            self.lock().tunnels.remove(&id);
            self.request_tunnel_close(&id);
        }
    }

    fn refuse(&self, stream_id: &str, code: ErrorCode, message: &str) {
        tracing::debug!(stream_id, reason = message, "refusing a stream");
        self.send(
            ProxyConnRsp {
                stream_id: stream_id.to_owned(),
                error: Some(refusal(code, message)),
            }
            .into(),
        );
    }

    fn on_proxy_conn_req(self: &Arc<Self>, req: ProxyConnReq) -> Result<(), Error> {
        if req.stream_id.is_empty() {
            return Err(Error::protocol("proxy_conn_req without a stream id"));
        }
        let (deliver, status) = match self.lock().tunnels.get(&req.tunnel_id) {
            Some(slot) => (slot.deliver.clone(), slot.status.clone()),
            None => {
                self.refuse(
                    &req.stream_id,
                    ErrorCode::ServiceUnavailable,
                    "Tunnel not found.",
                );
                return Ok(());
            }
        };
        let permit = match self.dial_slots.clone().try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                let queued = self.dials_queued.fetch_add(1, Ordering::SeqCst);
                if queued >= MAX_DIALS_QUEUED {
                    self.dials_queued.fetch_sub(1, Ordering::SeqCst);
                    self.refuse(
                        &req.stream_id,
                        ErrorCode::CapacityExhausted,
                        "Too many streams in flight.",
                    );
                    return Ok(());
                }
                None
            }
        };
        let core = self.clone();
        let span =
            tracing::debug_span!("stream", tunnel_id = %req.tunnel_id, stream_id = %req.stream_id);
        tokio::spawn(
            async move {
                let _permit = match permit {
                    Some(p) => p,
                    None => {
                        let p = core.dial_slots.clone().acquire_owned().await;
                        core.dials_queued.fetch_sub(1, Ordering::SeqCst);
                        match p {
                            Ok(p) => p,
                            Err(_) => return,
                        }
                    }
                };
                core.accept_stream(req, deliver, status).await;
            }
            .instrument(span),
        );
        Ok(())
    }

    async fn accept_stream(
        &self,
        req: ProxyConnReq,
        deliver: mpsc::Sender<TunnelStream>,
        status: Arc<TunnelStatus>,
    ) {
        let stream = match open_proxy_connection(&self.client, &req).await {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(error = %e, "proxy connection failed");
                self.refuse(
                    &req.stream_id,
                    ErrorCode::ServiceUnavailable,
                    &format!("The runtime could not open the stream: {e}"),
                );
                return;
            }
        };
        if status.is_ended() {
            self.refuse(
                &req.stream_id,
                ErrorCode::ServiceUnavailable,
                "Tunnel is closed.",
            );
            return;
        }
        match deliver.send_timeout(stream, ACCEPT_WAIT).await {
            Ok(()) => {
                tracing::trace!("stream delivered");
                self.send(
                    ProxyConnRsp {
                        stream_id: req.stream_id,
                        error: None,
                    }
                    .into(),
                );
            }
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => self.refuse(
                &req.stream_id,
                ErrorCode::ServiceUnavailable,
                "The tunnel's accept queue is full.",
            ),
            Err(mpsc::error::SendTimeoutError::Closed(_)) => self.refuse(
                &req.stream_id,
                ErrorCode::ServiceUnavailable,
                "Tunnel is closed.",
            ),
        }
    }
}

/// Writes queued frames and heartbeats until the channel ends.
async fn writer(
    core: Arc<Core>,
    mut wr: WriteHalf<TlsConnection>,
    mut out: mpsc::UnboundedReceiver<Message>,
) {
    let interval = core.client.inner().heartbeat_interval;
    let negotiated = core.liveness.is_some();
    let mut ticker = tokio::time::interval(interval.unwrap_or(Duration::from_secs(3600)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ended = core.ended.subscribe();
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        let first = tokio::select! {
            message = out.recv() => match message {
                Some(m) => m,
                None => break,
            },
            _ = ticker.tick(), if interval.is_some() => {
                let sequence = if negotiated {
                    core.heartbeat_sent.fetch_add(1, Ordering::SeqCst) + 1
                } else {
                    0
                };
                Heartbeat { sequence, acknowledgement: 0 }.into()
            }
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
            core.fail(e);
            break;
        }
        let written = async {
            wr.write_all(&buf).await?;
            wr.flush().await
        }
        .await;
        if let Err(e) = written {
            core.fail(Error::io("writing to the control channel", e));
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), wr.shutdown()).await;
}

/// Reads and handles frames until the channel ends; enforces liveness.
async fn reader(core: Arc<Core>, mut rd: ReadHalf<TlsConnection>, mut buf: BytesMut) {
    let liveness = core
        .liveness
        .map(|l| Duration::from_millis(u64::from(l.heartbeat_timeout_ms)));
    let mut ended = core.ended.subscribe();
    loop {
        let next = async {
            match liveness {
                Some(limit) => tokio::time::timeout(limit, read_frame(&mut rd, &mut buf))
                    .await
                    .unwrap_or_else(|_| {
                        Err(Error::timeout(
                            "waiting for the engine: control channel liveness expired",
                            limit,
                        ))
                    }),
                None => read_frame(&mut rd, &mut buf).await,
            }
        };
        let frame = tokio::select! {
            frame = next => frame,
            _ = ended.wait_for(Option::is_some) => return,
        };
        let outcome = frame.and_then(|message| core.handle(message));
        if let Err(e) = outcome {
            match e {
                Error::Closed(_) if core.closing.load(Ordering::SeqCst) => core.finish(End::Closed),
                // The engine went away: a transport failure, worth retrying.
                Error::Closed(_) => core.fail(Error::io(
                    "reading the control channel",
                    std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the engine closed the connection",
                    ),
                )),
                e => core.fail(e),
            }
            return;
        }
    }
}

/// Feeds `data`, read as frames from the engine, to the control channel's
/// message handler, the way the reader task does, until a frame is
/// incomplete or the handler fails the channel. For the fuzz targets only:
/// nothing is sent anywhere and no stream is opened.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub fn fuzz_handle_frames(data: &[u8]) {
    use std::sync::OnceLock;
    // Built once: a client reads the system's roots, far slower than a run.
    static CLIENT: OnceLock<Option<Client>> = OnceLock::new();
    let Some(client) = CLIENT.get_or_init(|| {
        Client::builder()
            .engine("127.0.0.1:9")
            .token("tok_fuzz")
            .build()
            .ok()
    }) else {
        return;
    };
    // A runtime per run: dropping it drops the stream tasks a run spawned.
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().build() else {
        return;
    };
    runtime.block_on(async {
        let (out, _sent) = mpsc::unbounded_channel();
        let liveness = ControlChannelLiveness {
            heartbeat_interval_ms: 1000,
            heartbeat_timeout_ms: 3000,
        };
        let core = Arc::new(Core::new(
            client.clone(),
            "c1".into(),
            None,
            Some(liveness),
            out,
        ));
        // A tunnel being opened, so open_tunnel_rsp frames have somewhere to go.
        let (pending, _answer) = oneshot::channel();
        core.lock().pending_opens.insert("r1".into(), pending);
        let mut buf = BytesMut::from(data);
        while let Ok(Some(message)) = proto::decode_frame(&mut buf) {
            if let Err(e) = core.handle(message) {
                core.fail(e);
                break;
            }
        }
    });
}

// Compile-time checks: the handle can cross tasks and threads, as its docs promise.
const _: fn() = || {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<ControlChannel>();
    let _ = <ControlChannel as Clone>::clone;
};
