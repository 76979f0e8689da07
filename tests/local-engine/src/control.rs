//! The engine side of the control channel, and the dispatch of every new
//! TLS connection by its ALPN and first frame.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use rstream_core::proto::{
    self, ClientDetails, CloseControlChannelRsp, CloseTunnelRsp, ControlChannelLiveness, ErrorCode,
    Heartbeat, Message, OpenControlChannelReq, OpenControlChannelRsp, OpenTunnelReq, OpenTunnelRsp,
    ServerDetails, TunnelProperties, message::Payload, open_control_channel_rsp, open_tunnel_rsp,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::state::{Channel, Out, Shared, Tunnel, client_json, tunnel_json};
use crate::streams::{self, ServerTls};
use crate::{Error, api, edge};

/// How long a new connection may take to send its first frame.
const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(15);
/// The largest heartbeat timeout a runtime accepts.
const MAX_HEARTBEAT_TIMEOUT_MS: u32 = 900_000;

/// Reads one frame; `Ok(None)` on a clean end of stream between frames.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
) -> Result<Option<Message>, Error> {
    loop {
        match proto::decode_frame(buf) {
            Ok(Some(m)) => return Ok(Some(m)),
            Ok(None) => {}
            Err(e) => return Err(Error::Protocol(e.to_string())),
        }
        buf.reserve(8 * 1024);
        let n = rd
            .read_buf(buf)
            .await
            .map_err(|e| Error::io("reading a frame", e))?;
        if n == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(Error::Protocol("connection closed inside a frame".into()));
        }
    }
}

/// Encodes `message` as one frame.
pub(crate) fn frame(message: impl Into<Message>) -> Vec<u8> {
    proto::frame_bytes(&message.into())
        .map(|b| b.to_vec())
        .unwrap_or_default()
}

pub(crate) fn engine_error(code: ErrorCode, message: &str) -> proto::Error {
    proto::Error::new(code, message)
}

/// Accepts TLS connections on the engine (or proxy endpoint) port until
/// `cancel`.
pub(crate) async fn listen(
    shared: Arc<Shared>,
    listener: TcpListener,
    cancel: CancellationToken,
    proxy_listener: bool,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(shared.tls.clone());
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = cancel.cancelled() => return,
        };
        let Ok((tcp, peer)) = accepted else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        let acceptor = acceptor.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let conn = tokio::select! {
                c = tokio::time::timeout(FIRST_FRAME_TIMEOUT, acceptor.accept(tcp)) => c,
                _ = cancel.cancelled() => return,
            };
            let Ok(Ok(tls)) = conn else { return };
            let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
            if alpn.as_deref() != Some(rstream_core::proto::ALPN) {
                if !proxy_listener {
                    api::serve(shared, tls, cancel).await;
                }
                return;
            }
            let resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
            shared.handshakes[usize::from(resumed)]
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            dispatch(shared, tls, peer, cancel, proxy_listener).await;
        });
    }
}

/// Routes a new `rstrm/1` connection by its first frame.
async fn dispatch(
    shared: Arc<Shared>,
    mut tls: ServerTls,
    peer: SocketAddr,
    cancel: CancellationToken,
    proxy_listener: bool,
) {
    let mut buf = BytesMut::new();
    let first = tokio::select! {
        f = tokio::time::timeout(FIRST_FRAME_TIMEOUT, read_frame(&mut tls, &mut buf)) => f,
        _ = cancel.cancelled() => return,
    };
    let Ok(Ok(Some(message))) = first else {
        return;
    };
    match message.payload {
        Some(Payload::OpenControlChannelReq(req)) if !proxy_listener => {
            serve_control(shared, tls, req, buf, cancel).await;
        }
        Some(Payload::ProxyReq(req)) => {
            streams::on_proxy_req(shared, tls, req, buf, proxy_listener).await;
        }
        Some(Payload::StreamReq(req)) if !proxy_listener => {
            streams::on_stream_req(shared, tls, req, buf, peer.ip(), cancel).await;
        }
        _ => {
            let _ = tls.shutdown().await;
        }
    }
}

/// Checks the protocol version and the token of an opening channel.
fn check_open(shared: &Shared, details: &ClientDetails) -> Result<(), proto::Error> {
    let version = details.protocol_version.as_deref().unwrap_or("").trim();
    if version.is_empty() {
        return Err(engine_error(
            ErrorCode::ProtocolVersionMissing,
            "Protocol version is missing.",
        ));
    }
    let parts: Vec<&str> = version.split('.').collect();
    let numeric = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !numeric {
        return Err(engine_error(
            ErrorCode::ProtocolVersionInvalid,
            "Protocol version is invalid.",
        ));
    }
    if parts[0] != "1" {
        return Err(engine_error(
            ErrorCode::ProtocolVersionIncompatible,
            "Protocol version is incompatible.",
        ));
    }
    if !token_ok(shared, details) {
        return Err(engine_error(ErrorCode::Unauthorized, "Unauthorized."));
    }
    Ok(())
}

/// Whether `details` carry a token the engine accepts (always, with no
/// auth).
pub(crate) fn token_ok(shared: &Shared, details: &ClientDetails) -> bool {
    match &shared.settings.token {
        None => true,
        Some(_) => details
            .token
            .as_deref()
            .is_some_and(|token| shared.accepts(token).is_some()),
    }
}

fn server_details() -> ServerDetails {
    ServerDetails {
        agent: Some("rstream-local-engine".into()),
        channel: Some("test".into()),
        version: Some(env!("CARGO_PKG_VERSION").into()),
        plan: Some("local".into()),
        provider: Some("local".into()),
        region: Some("local".into()),
        update: None,
    }
}

/// Why a control channel's reader stopped.
enum Ending {
    /// The runtime asked to close.
    Graceful,
    /// EOF, error, abort, restart.
    Dropped,
}

/// Serves one control channel until it ends.
async fn serve_control(
    shared: Arc<Shared>,
    mut tls: ServerTls,
    req: OpenControlChannelReq,
    buf: BytesMut,
    cancel: CancellationToken,
) {
    let details = req.client_details.clone().unwrap_or_default();
    shared.lock().record_details(details.clone());
    if let Err(error) = check_open(&shared, &details) {
        let rsp = OpenControlChannelRsp {
            payload: Some(open_control_channel_rsp::Payload::Error(error)),
        };
        let _ = tls.write_all(&frame(rsp)).await;
        let _ = tls.flush().await;
        let _ = tokio::time::timeout(Duration::from_secs(1), tls.shutdown()).await;
        return;
    }
    let liveness = req
        .liveness
        .filter(|l| l.heartbeat_interval_ms > 0)
        .map(|l| ControlChannelLiveness {
            heartbeat_interval_ms: l.heartbeat_interval_ms,
            heartbeat_timeout_ms: l.heartbeat_interval_ms.saturating_mul(3).clamp(
                l.heartbeat_interval_ms,
                MAX_HEARTBEAT_TIMEOUT_MS.max(l.heartbeat_interval_ms),
            ),
        });
    let client_id = format!("cli_{}", uuid::Uuid::new_v4().simple());
    let rsp = OpenControlChannelRsp {
        payload: Some(open_control_channel_rsp::Payload::Ok(
            open_control_channel_rsp::Ok {
                client_id: client_id.clone(),
                server_details: Some(server_details()),
                liveness,
            },
        )),
    };
    if tls.write_all(&frame(rsp)).await.is_err() || tls.flush().await.is_err() {
        return;
    }

    let (tx, rx) = mpsc::unbounded_channel();
    let chan_cancel = cancel.child_token();
    let channel = Channel {
        client_id,
        tx: tx.clone(),
        details,
        cancel: chan_cancel.clone(),
        created_at: SystemTime::now(),
    };
    let channel_id = {
        let mut state = shared.lock();
        let id = state.next_seq();
        shared.emit("client.created", client_json(&channel));
        state.channels.insert(id, channel);
        id
    };
    let (rd, wr) = tokio::io::split(tls);
    let writer = tokio::spawn(write_loop(wr, rx, chan_cancel.clone()));
    let ending = read_loop(
        &shared,
        rd,
        buf,
        channel_id,
        &tx,
        liveness.is_some(),
        &chan_cancel,
    )
    .await;
    shared.remove_channel(channel_id);
    match ending {
        Ending::Graceful => {
            let _ = tx.send(Out::Close);
            let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
            chan_cancel.cancel();
        }
        Ending::Dropped => {
            chan_cancel.cancel();
            let _ = writer.await;
        }
    }
}

async fn write_loop(
    mut wr: WriteHalf<ServerTls>,
    mut rx: mpsc::UnboundedReceiver<Out>,
    cancel: CancellationToken,
) {
    loop {
        let out = tokio::select! {
            o = rx.recv() => o,
            _ = cancel.cancelled() => return,
        };
        let bytes = match out {
            Some(Out::Frame(m)) => match proto::frame_bytes(&m) {
                Ok(b) => b.to_vec(),
                Err(_) => continue,
            },
            Some(Out::Raw(b)) => b,
            Some(Out::Close) => {
                let _ = wr.flush().await;
                let _ = tokio::time::timeout(Duration::from_secs(1), wr.shutdown()).await;
                return;
            }
            None => return,
        };
        let written = tokio::select! {
            w = async {
                wr.write_all(&bytes).await?;
                wr.flush().await
            } => w,
            _ = cancel.cancelled() => return,
        };
        if written.is_err() {
            cancel.cancel();
            return;
        }
    }
}

async fn read_loop(
    shared: &Arc<Shared>,
    mut rd: ReadHalf<ServerTls>,
    mut buf: BytesMut,
    channel_id: u64,
    tx: &mpsc::UnboundedSender<Out>,
    negotiated: bool,
    cancel: &CancellationToken,
) -> Ending {
    loop {
        let frame = tokio::select! {
            f = read_frame(&mut rd, &mut buf) => f,
            _ = cancel.cancelled() => return Ending::Dropped,
        };
        let message = match frame {
            Ok(Some(m)) => m,
            Ok(None) | Err(_) => return Ending::Dropped,
        };
        match message.payload {
            Some(Payload::Heartbeat(hb)) => {
                if negotiated && hb.sequence > 0 && !shared.faults().pause_acks {
                    let _ = tx.send(Out::frame(Heartbeat {
                        sequence: 0,
                        acknowledgement: hb.sequence,
                    }));
                }
            }
            Some(Payload::OpenTunnelReq(req)) => open_tunnel(shared, channel_id, tx, req).await,
            Some(Payload::CloseTunnelReq(req)) => {
                let owned = shared
                    .lock()
                    .tunnels
                    .get(&req.tunnel_id)
                    .is_some_and(|t| t.channel == channel_id);
                if owned {
                    shared.remove_tunnel(&req.tunnel_id);
                }
                let _ = tx.send(Out::frame(CloseTunnelRsp {
                    tunnel_id: req.tunnel_id,
                }));
            }
            Some(Payload::ProxyConnRsp(rsp)) => {
                if let Some(error) = rsp.error {
                    let text = error
                        .message
                        .clone()
                        .unwrap_or_else(|| format!("code {}", error.code));
                    let (pending, live) = {
                        let mut state = shared.lock();
                        (
                            state.pending.remove(&rsp.stream_id),
                            state.live.remove(&rsp.stream_id),
                        )
                    };
                    if let Some(p) = pending {
                        let _ = p.tx.send(Err(Error::Refused(text)));
                    }
                    if let Some(live) = live {
                        live.cancel();
                    }
                }
            }
            Some(Payload::CloseControlChannelReq(_)) => {
                let _ = tx.send(Out::frame(CloseControlChannelRsp {}));
                return Ending::Graceful;
            }
            // Anything else on a control channel is a protocol error.
            _ => return Ending::Dropped,
        }
    }
}

/// A DNS label made of `name`, if it can be one.
fn label_of(name: &str) -> Option<String> {
    let label: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let label = label.trim_matches('-').to_owned();
    (!label.is_empty() && label.len() <= 63).then_some(label)
}

/// Validates and registers a tunnel, answers the request.
async fn open_tunnel(
    shared: &Arc<Shared>,
    channel_id: u64,
    tx: &mpsc::UnboundedSender<Out>,
    req: OpenTunnelReq,
) {
    let result = create_tunnel(
        shared,
        channel_id,
        req.tunnel_properties.unwrap_or_default(),
    )
    .await;
    let payload = match &result {
        Ok(props) => open_tunnel_rsp::Payload::TunnelProperties(props.clone()),
        Err(e) => open_tunnel_rsp::Payload::Error(e.clone()),
    };
    let mut bytes = frame(OpenTunnelRsp {
        request_id: req.request_id,
        payload: Some(payload),
    });
    // Fault: announce a stream in the same write as the answer.
    if let Ok(props) = &result {
        let waiter = shared.faults().announce_with_open.take();
        if let Some(waiter) = waiter {
            let tunnel_id = props.id.clone().unwrap_or_default();
            let source: IpAddr = [127, 0, 0, 1].into();
            match streams::announce(shared, &tunnel_id, source) {
                Ok((announce, upstream)) => {
                    bytes.extend_from_slice(&frame(announce));
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let result = match upstream.await {
                            Ok(up) => Ok(streams::spawn_duplex(&shared, up)),
                            Err(e) => Err(e),
                        };
                        let _ = waiter.send(result);
                    });
                }
                Err(e) => {
                    let _ = waiter.send(Err(e));
                }
            }
        }
    }
    let _ = tx.send(Out::Raw(bytes));
}

async fn create_tunnel(
    shared: &Arc<Shared>,
    channel_id: u64,
    mut props: TunnelProperties,
) -> Result<TunnelProperties, proto::Error> {
    let invalid = |m: &str| engine_error(ErrorCode::InvalidRequest, m);
    match props.r#type.as_deref() {
        None | Some("") | Some("bytestream") => props.r#type = Some("bytestream".into()),
        Some("datagram") => {
            return Err(engine_error(
                ErrorCode::FeatureNotAvailable,
                "Datagram tunnels are not available on the local engine.",
            ));
        }
        Some(_) => return Err(invalid("Unknown tunnel type.")),
    }
    let protocol = props.protocol.clone().unwrap_or_default();
    if props.publish == Some(true) && protocol.is_empty() {
        props.protocol = Some("http".into());
    }
    let protocol = props.protocol.clone().unwrap_or_default();
    if !matches!(protocol.as_str(), "" | "http" | "tcp" | "tls") {
        return Err(engine_error(
            ErrorCode::FeatureNotAvailable,
            "This protocol is not available on the local engine.",
        ));
    }
    if props.port.is_some() && protocol != "tcp" {
        return Err(invalid("A port needs the tcp protocol."));
    }
    if props.http_version.as_deref() == Some("h3") {
        return Err(engine_error(
            ErrorCode::FeatureNotAvailable,
            "HTTP/3 is not available on the local engine.",
        ));
    }
    let id = format!("tun_{}", uuid::Uuid::new_v4().simple());
    props.id = Some(id.clone());
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    props.creation_date = Some(prost_types::Timestamp {
        seconds: i64::try_from(now.as_secs()).unwrap_or_default(),
        nanos: i32::try_from(now.subsec_nanos()).unwrap_or_default(),
    });
    let mut edge_listener = None;
    if protocol == "tcp" {
        props.publish = Some(true);
        let requested = props.port.unwrap_or(0);
        let port = u16::try_from(requested).map_err(|_| invalid("Invalid TCP port."))?;
        let listener = match TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => l,
            Err(_) => return Err(invalid("TCP port is already in use.")),
        };
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .map_err(|_| engine_error(ErrorCode::Internal, "Cannot bind a TCP port."))?;
        props.port = Some(u32::from(port));
        props.hostname = Some("localhost".into());
        edge_listener = Some(listener);
    } else if protocol == "tls" && props.publish == Some(true) {
        return Err(engine_error(
            ErrorCode::FeatureNotAvailable,
            "Published TLS tunnels are not available on the local engine.",
        ));
    }

    let mut state = shared.lock();
    let client_id = match state.channels.get(&channel_id) {
        Some(c) => c.client_id.clone(),
        None => {
            return Err(engine_error(
                ErrorCode::ServiceUnavailable,
                "Channel closed.",
            ));
        }
    };
    if protocol == "http" && props.publish == Some(true) {
        let taken = |state: &crate::state::State, host: &str| {
            state
                .tunnels
                .values()
                .any(|t| t.props.hostname.as_deref() == Some(host))
        };
        let hostname = match props.hostname.clone().filter(|h| !h.is_empty()) {
            Some(h) => {
                let h = h.to_ascii_lowercase();
                if taken(&state, &h) {
                    return Err(invalid("Hostname is already in use."));
                }
                h
            }
            None => {
                let by_name = props
                    .name
                    .as_deref()
                    .and_then(label_of)
                    .map(|l| format!("{l}.localhost"))
                    .filter(|h| !taken(&state, h));
                by_name.unwrap_or_else(|| format!("t{:08x}.localhost", rand::random::<u32>()))
            }
        };
        props.hostname = Some(hostname);
        props.port = Some(u32::from(shared.edge_addr.port()));
    }
    let seq = state.next_seq();
    let edge_cancel = edge_listener
        .as_ref()
        .map(|_| shared.run_token().child_token());
    let tunnel = Tunnel {
        props: props.clone(),
        channel: channel_id,
        client_id,
        seq,
        edge: edge_cancel.clone(),
    };
    shared.emit("tunnel.created", tunnel_json(&tunnel));
    state.tunnels.insert(id.clone(), tunnel);
    drop(state);
    if let (Some(listener), Some(cancel)) = (edge_listener, edge_cancel) {
        tokio::spawn(edge::serve_tcp(shared.clone(), listener, id, cancel));
    }
    Ok(props)
}

/// Connects `addr` for tests that speak raw TCP (used by [`crate::raw`]).
pub(crate) async fn tcp(addr: SocketAddr) -> Result<TcpStream, Error> {
    TcpStream::connect(addr)
        .await
        .map_err(|e| Error::io("connecting to the engine", e))
}
