//! Streams: announcing them to the runtime (`ProxyConnReq`), matching the
//! runtime's proxy connection (`ProxyReq`), private dials (`StreamReq`), and
//! splicing bytes between the two ends.

use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use rstream_core::proto::{
    ErrorCode, IpAddress, ProxyConnReq, ProxyReq, ProxyRsp, StreamReq, StreamRsp, ip_address,
    stream_rsp,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::control::{engine_error, frame, token_ok};
use crate::state::{Out, Pending, Shared};

/// The server side of an engine TLS connection.
pub(crate) type ServerTls = tokio_rustls::server::TlsStream<TcpStream>;

/// How long the runtime has to open the proxy connection of a stream.
const SETUP_TIMEOUT: Duration = Duration::from_secs(25);
/// How long the engine waits for the first bytes of the edge client, to
/// write them in the same write as the `ProxyRsp`.
const COALESCE_WAIT: Duration = Duration::from_millis(500);
/// Read buffer of each splice direction.
const COPY_BUFFER: usize = 64 * 1024;
/// Buffer size of the in-memory pipes handed to tests.
const DUPLEX_BUFFER: usize = 256 * 1024;

/// The runtime's end of a stream: its proxy connection, matched.
pub(crate) struct Upstream {
    io: ServerTls,
    /// Bytes the runtime sent right behind its `ProxyReq`.
    leftover: BytesMut,
    zero_rtt: bool,
    stream_id: String,
    cancel: CancellationToken,
}

impl Upstream {
    pub(crate) fn stream_id(&self) -> &str {
        &self.stream_id
    }
}

fn ip_address(ip: IpAddr) -> IpAddress {
    IpAddress {
        addr: Some(match ip {
            IpAddr::V4(v4) => ip_address::Addr::V4(u32::from(v4)),
            IpAddr::V6(v6) => ip_address::Addr::V6(v6.octets().to_vec()),
        }),
    }
}

/// Registers a stream for `tunnel_id` and builds its `ProxyConnReq`.
///
/// Returns the message, the owning channel's queue, and a future resolving
/// to the runtime's proxy connection once it arrives.
#[allow(clippy::type_complexity)]
pub(crate) fn announce(
    shared: &Arc<Shared>,
    tunnel_id: &str,
    source_ip: IpAddr,
) -> Result<
    (
        ProxyConnReq,
        impl Future<Output = Result<Upstream, Error>> + Send + use<>,
    ),
    Error,
> {
    let (req, _tx, fut) = announce_inner(shared, tunnel_id, source_ip)?;
    Ok((req, fut))
}

#[allow(clippy::type_complexity)]
fn announce_inner(
    shared: &Arc<Shared>,
    tunnel_id: &str,
    source_ip: IpAddr,
) -> Result<
    (
        ProxyConnReq,
        mpsc::UnboundedSender<Out>,
        impl Future<Output = Result<Upstream, Error>> + Send + use<>,
    ),
    Error,
> {
    let stream_id = format!("str_{}", uuid::Uuid::new_v4().simple());
    let secret = format!("sec_{}", uuid::Uuid::new_v4().simple());
    let refuse = {
        let mut faults = shared.faults();
        if faults.refuse_next > 0 {
            faults.refuse_next -= 1;
            true
        } else {
            false
        }
    };
    let (tx, rx) = oneshot::channel();
    let channel_tx = {
        let mut state = shared.lock();
        let channel = state
            .tunnels
            .get(tunnel_id)
            .map(|t| t.channel)
            .ok_or_else(|| Error::TunnelNotFound(tunnel_id.to_owned()))?;
        let channel_tx = state
            .channels
            .get(&channel)
            .map(|c| c.tx.clone())
            .ok_or_else(|| Error::Closed("the tunnel's control channel is gone".into()))?;
        state.pending.insert(
            stream_id.clone(),
            Pending {
                tunnel_id: tunnel_id.to_owned(),
                secret: secret.clone(),
                refuse,
                tx,
            },
        );
        channel_tx
    };
    let req = ProxyConnReq {
        tunnel_id: tunnel_id.to_owned(),
        stream_id: stream_id.clone(),
        secret: Some(secret),
        source_ip: Some(ip_address(source_ip)),
        proxy_endpoint: shared.proxy_endpoint(),
    };
    // Forget the stream if nobody waits for it any more (timed out, or the
    // future was dropped).
    let forget = Forget {
        shared: shared.clone(),
        stream_id,
    };
    let fut = async move {
        let _forget = forget;
        match tokio::time::timeout(SETUP_TIMEOUT, rx).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(Error::Closed("the engine dropped the stream".into())),
            Err(_) => Err(Error::Timeout),
        }
    };
    Ok((req, channel_tx, fut))
}

/// Removes a pending stream when dropped (a no-op once it was matched).
struct Forget {
    shared: Arc<Shared>,
    stream_id: String,
}

impl Drop for Forget {
    fn drop(&mut self) {
        self.shared.lock().pending.remove(&self.stream_id);
    }
}

/// Asks the runtime owning `tunnel_id` for a stream from `source_ip` and
/// waits for its proxy connection.
pub(crate) async fn request_stream(
    shared: &Arc<Shared>,
    tunnel_id: &str,
    source_ip: IpAddr,
) -> Result<Upstream, Error> {
    let delay = {
        let mut faults = shared.faults();
        if faults.delay_next > 0 {
            faults.delay_next -= 1;
            Some(faults.delay)
        } else {
            None
        }
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let (req, channel_tx, fut) = announce_inner(shared, tunnel_id, source_ip)?;
    let stream_id = req.stream_id.clone();
    if channel_tx.send(Out::frame(req)).is_err() {
        shared.lock().pending.remove(&stream_id);
        return Err(Error::Closed("the tunnel's control channel is gone".into()));
    }
    fut.await
}

/// Splices `up` to one end of a fresh in-memory pipe and returns the other.
pub(crate) fn spawn_duplex(shared: &Arc<Shared>, up: Upstream) -> DuplexStream {
    let (ours, theirs) = tokio::io::duplex(DUPLEX_BUFFER);
    tokio::spawn(splice(shared.clone(), up, theirs, BytesMut::new()));
    ours
}

async fn refuse_proxy(mut io: ServerTls, zero_rtt: bool, code: ErrorCode, message: &str) {
    if !zero_rtt {
        let rsp = ProxyRsp {
            error: Some(engine_error(code, message)),
        };
        let _ = io.write_all(&frame(rsp)).await;
        let _ = io.flush().await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), io.shutdown()).await;
}

/// A runtime's proxy connection: match it to its announced stream.
pub(crate) async fn on_proxy_req(
    shared: Arc<Shared>,
    io: ServerTls,
    req: ProxyReq,
    leftover: BytesMut,
    via_proxy_endpoint: bool,
) {
    let token = req
        .client_details
        .as_ref()
        .and_then(|d| d.token.clone())
        .unwrap_or_default();
    let zero_rtt = req.zero_rtt.unwrap_or(false);
    if shared.settings.proxy_endpoint && !via_proxy_endpoint {
        refuse_proxy(
            io,
            zero_rtt,
            ErrorCode::InvalidRequest,
            "Streams go through the proxy endpoint.",
        )
        .await;
        return;
    }
    let matched = {
        let mut state = shared.lock();
        state.record_proxy_token(token.clone());
        match state.pending.get(&req.stream_id) {
            Some(p) if !token.is_empty() && p.secret == token => Ok(()),
            Some(_) => Err((ErrorCode::Unauthorized, "Invalid stream secret.")),
            None => Err((ErrorCode::InvalidStream, "Unknown stream.")),
        }
    };
    if let Err((code, message)) = matched {
        refuse_proxy(io, zero_rtt, code, message).await;
        return;
    }
    let stall = {
        let mut faults = shared.faults();
        let stall = faults.stall_next > 0;
        faults.stall_next = faults.stall_next.saturating_sub(1);
        stall
    };
    if stall {
        // Fault: hold the connection and never answer; the stream stays
        // announced, so the runtime's retry can still take it.
        hold(&shared, io).await;
        return;
    }
    let Some(pending) = shared.lock().pending.remove(&req.stream_id) else {
        return;
    };
    if pending.refuse {
        let _ = pending
            .tx
            .send(Err(Error::Refused("refused by fault injection".into())));
        refuse_proxy(
            io,
            zero_rtt,
            ErrorCode::ServiceUnavailable,
            "Stream refused (fault injection).",
        )
        .await;
        return;
    }
    let cancel = shared.run_token().child_token();
    shared
        .lock()
        .live
        .insert(req.stream_id.clone(), cancel.clone());
    let up = Upstream {
        io,
        leftover,
        zero_rtt,
        stream_id: req.stream_id.clone(),
        cancel,
    };
    if pending.tx.send(Ok(up)).is_err() {
        shared.lock().live.remove(&req.stream_id);
    }
}

/// Keeps `io` open, reading and dropping whatever comes, until the peer
/// closes it or the engine stops.
async fn hold(shared: &Shared, mut io: ServerTls) {
    let cancel = shared.run_token();
    let mut sink = vec![0u8; 4096];
    loop {
        tokio::select! {
            r = io.read(&mut sink) => if matches!(r, Ok(0) | Err(_)) {
                return;
            },
            _ = cancel.cancelled() => return,
        }
    }
}

/// A private dial: route by tunnel id or name, then splice.
pub(crate) async fn on_stream_req(
    shared: Arc<Shared>,
    mut io: ServerTls,
    req: StreamReq,
    leftover: BytesMut,
    peer: IpAddr,
    cancel: CancellationToken,
) {
    let zero_rtt = req.zero_rtt.unwrap_or(false);
    let details = req.client_details.clone().unwrap_or_default();
    let target = req.tunnel_id_name.clone();
    let routed = if req.datagram_channel == Some(true) {
        Err(engine_error(
            ErrorCode::FeatureNotAvailable,
            "Datagram channels are not available on the local engine.",
        ))
    } else if !token_ok(&shared, &details) {
        Err(engine_error(ErrorCode::Unauthorized, "Unauthorized."))
    } else {
        let state = shared.lock();
        let by_id = state.tunnels.contains_key(&target).then(|| target.clone());
        let by_name = || {
            state
                .tunnels
                .iter()
                .filter(|(_, t)| t.props.name.as_deref() == Some(target.as_str()))
                .max_by_key(|(_, t)| t.seq)
                .map(|(id, _)| id.clone())
        };
        by_id
            .or_else(by_name)
            .ok_or_else(|| engine_error(ErrorCode::TunnelNotFound, "Tunnel not found."))
    };
    let upstream = match routed {
        Ok(tunnel_id) => tokio::select! {
            u = request_stream(&shared, &tunnel_id, peer) => u.map_err(|e| {
                engine_error(ErrorCode::ServiceUnavailable, &format!("The runtime did not take the stream: {e}"))
            }),
            _ = cancel.cancelled() => return,
        },
        Err(e) => Err(e),
    };
    match upstream {
        Ok(up) => {
            if !zero_rtt {
                let rsp = StreamRsp {
                    payload: Some(stream_rsp::Payload::StreamId(up.stream_id().to_owned())),
                };
                if io.write_all(&frame(rsp)).await.is_err() || io.flush().await.is_err() {
                    return;
                }
            }
            splice(shared, up, io, leftover).await;
        }
        Err(error) => {
            if !zero_rtt {
                let rsp = StreamRsp {
                    payload: Some(stream_rsp::Payload::Error(error)),
                };
                let _ = io.write_all(&frame(rsp)).await;
                let _ = io.flush().await;
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), io.shutdown()).await;
        }
    }
}

/// Answers the runtime if it waits for a `ProxyRsp` (in the same write as
/// the edge client's first bytes when coalescing), then copies bytes both
/// ways until either side ends; then both are closed.
pub(crate) async fn splice<E>(shared: Arc<Shared>, up: Upstream, mut edge: E, mut initial: BytesMut)
where
    E: AsyncRead + AsyncWrite + Unpin + Send,
{
    let Upstream {
        mut io,
        leftover,
        zero_rtt,
        stream_id,
        cancel,
    } = up;
    let coalesce = shared.settings.coalesce;
    let opened = async {
        let mut edge_ended = false;
        if !zero_rtt {
            let mut first = frame(ProxyRsp { error: None });
            if coalesce {
                if initial.is_empty() {
                    let mut tmp = vec![0u8; 16 * 1024];
                    match tokio::time::timeout(COALESCE_WAIT, edge.read(&mut tmp)).await {
                        Ok(Ok(n)) if n > 0 => initial.extend_from_slice(&tmp[..n]),
                        Ok(_) => edge_ended = true,
                        Err(_) => {}
                    }
                }
                first.extend_from_slice(&initial);
                initial.clear();
            }
            io.write_all(&first).await?;
        }
        if !initial.is_empty() {
            io.write_all(&initial).await?;
        }
        io.flush().await?;
        if !leftover.is_empty() {
            edge.write_all(&leftover).await?;
            edge.flush().await?;
        }
        Ok::<bool, std::io::Error>(!edge_ended)
    };
    let go_on = tokio::select! {
        r = opened => matches!(r, Ok(true)),
        _ = cancel.cancelled() => false,
    };
    let (ur, mut uw) = tokio::io::split(io);
    let (er, mut ew) = tokio::io::split(edge);
    let mut ur = tokio::io::BufReader::with_capacity(COPY_BUFFER, ur);
    let mut er = tokio::io::BufReader::with_capacity(COPY_BUFFER, er);
    if go_on {
        tokio::select! {
            _ = tokio::io::copy_buf(&mut er, &mut uw) => {}
            _ = tokio::io::copy_buf(&mut ur, &mut ew) => {}
            _ = cancel.cancelled() => {}
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), uw.shutdown()).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), ew.shutdown()).await;
    shared.lock().live.remove(&stream_id);
}
