//! The stream handshakes, over the [`Link`] alone: private dial
//! (`StreamReq`) and the proxy connection that carries an accepted stream
//! (`ProxyReq`), both in zero-RTT or awaited mode, and the frame reading they
//! and the control channel share.

use std::net::IpAddr;
use std::time::Duration;

use bytes::BytesMut;
use tracing::Instrument;

use crate::link::Link;
use crate::proto::{
    self, Message, ProxyConnReq, ProxyReq, StreamReq, ip_address, message::Payload, stream_rsp,
};
use crate::{Error, Secret, StreamInfo, TunnelStream};
use tokio::io::{AsyncRead, AsyncReadExt};

/// How long one proxy dial may take before it is tried again.
pub(crate) const PROXY_DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How many times a proxy dial is tried (retrying only timeouts).
pub(crate) const PROXY_DIAL_ATTEMPTS: usize = 2;

pub(crate) async fn dial(
    link: &Link,
    tunnel: &str,
    zero_rtt: bool,
    token: Option<&Secret>,
) -> Result<TunnelStream, Error> {
    if tunnel.is_empty() {
        return Err(Error::config("dial needs a tunnel name or id"));
    }
    let span = tracing::debug_span!("dial", tunnel = %tunnel, zero_rtt);
    async move {
        let inner = link;
        let timeout = inner.operation_timeout;
        let work = async {
            let request = StreamReq {
                client_details: Some(link.client_details(token)),
                tunnel_id_name: tunnel.to_owned(),
                zero_rtt: Some(zero_rtt),
                datagram_channel: None,
            };
            let mut io = link.open_with(None, &request.into()).await?;
            let mut buf = BytesMut::new();
            let stream_id = if zero_rtt {
                String::new()
            } else {
                match read_frame(&mut io, &mut buf).await?.payload {
                    Some(Payload::StreamRsp(rsp)) => match rsp.payload {
                        Some(stream_rsp::Payload::StreamId(id)) => id,
                        Some(stream_rsp::Payload::Error(e)) => return Err(e.into()),
                        None => return Err(Error::protocol("the engine sent an empty stream_rsp")),
                    },
                    Some(other) => {
                        return Err(Error::protocol(format!(
                            "expected stream_rsp, the engine sent {}",
                            other.name()
                        )));
                    }
                    None => return Err(Error::protocol("the engine sent an empty frame")),
                }
            };
            tracing::debug!(stream_id = %stream_id, "dialed");
            Ok(TunnelStream::new(
                io,
                buf.freeze(),
                StreamInfo {
                    tunnel_id: tunnel.to_owned(),
                    stream_id,
                    source_ip: None,
                },
            ))
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or_else(|_| Err(Error::timeout(format!("dialing tunnel {tunnel}"), timeout)))
    }
    .instrument(span)
    .await
}

/// The address the engine reported for the client at the edge.
pub(crate) fn source_ip(request: &ProxyConnReq) -> Option<IpAddr> {
    match request.source_ip.as_ref()?.addr.as_ref()? {
        ip_address::Addr::V4(n) => Some(IpAddr::from(n.to_be_bytes())),
        ip_address::Addr::V6(bytes) => <[u8; 16]>::try_from(bytes.as_slice())
            .ok()
            .map(IpAddr::from),
    }
}

/// Opens the proxy connection for an accepted stream: connect (to the engine
/// or the redirected endpoint), `ProxyReq` with the stream secret, and with
/// zero-RTT off, the engine's `ProxyRsp`. A connect that times out is tried
/// once more.
pub(crate) async fn open_proxy_connection(
    link: &Link,
    request: &ProxyConnReq,
) -> Result<TunnelStream, Error> {
    let endpoint = request.proxy_endpoint.as_deref().filter(|e| !e.is_empty());
    let secret = request.secret.clone().map(Secret::new);
    if endpoint.is_some() && secret.as_ref().is_none_or(Secret::is_empty) {
        return Err(Error::protocol(
            "the engine redirected a stream to another endpoint without a secret",
        ));
    }
    let zero_rtt = link.zero_rtt;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let work = async {
            let proxy_req = ProxyReq {
                client_details: Some(link.client_details(secret.as_ref())),
                stream_id: request.stream_id.clone(),
                zero_rtt: Some(zero_rtt),
            };
            let mut io = link.open_with(endpoint, &proxy_req.into()).await?;
            let mut buf = BytesMut::new();
            if !zero_rtt {
                match read_frame(&mut io, &mut buf).await?.payload {
                    Some(Payload::ProxyRsp(rsp)) => {
                        if let Some(e) = rsp.error {
                            return Err(Error::from(e));
                        }
                    }
                    Some(other) => {
                        return Err(Error::protocol(format!(
                            "expected proxy_rsp, the engine sent {}",
                            other.name()
                        )));
                    }
                    None => return Err(Error::protocol("the engine sent an empty frame")),
                }
            }
            Ok(TunnelStream::new(
                io,
                buf.freeze(),
                StreamInfo {
                    tunnel_id: request.tunnel_id.clone(),
                    stream_id: request.stream_id.clone(),
                    source_ip: source_ip(request),
                },
            ))
        };
        match tokio::time::timeout(PROXY_DIAL_TIMEOUT, work).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) if e.is_timeout() && attempt < PROXY_DIAL_ATTEMPTS => continue,
            Ok(Err(e)) => return Err(e),
            Err(_) if attempt < PROXY_DIAL_ATTEMPTS => continue,
            Err(_) => {
                return Err(Error::timeout(
                    "opening the proxy connection for a stream",
                    PROXY_DIAL_TIMEOUT,
                ));
            }
        }
    }
}

/// Reads until one whole frame is in `buf` and decodes it; bytes after the
/// frame stay in `buf`.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
) -> Result<Message, Error> {
    loop {
        if let Some(message) = proto::decode_frame(buf)? {
            return Ok(message);
        }
        let n = io
            .read_buf(buf)
            .await
            .map_err(|e| Error::io("reading a frame", e))?;
        if n == 0 {
            return Err(Error::Closed(
                "the engine closed the connection before answering".into(),
            ));
        }
    }
}
