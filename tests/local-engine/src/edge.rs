//! The edges: plain HTTP routed by `Host`, and one TCP listener per
//! published tcp tunnel.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::state::Shared;
use crate::streams::{request_stream, splice};

/// The largest request head the HTTP edge reads before routing.
const MAX_HEAD: usize = 64 * 1024;
/// How long a client may take to send its request head (slow clients are
/// dropped with a 408; they never hold up other connections).
const LINGER: Duration = Duration::from_secs(2);
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the HTTP edge until `cancel`.
pub(crate) async fn serve_http(
    shared: Arc<Shared>,
    listener: TcpListener,
    cancel: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = cancel.cancelled() => return,
        };
        let Ok((tcp, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = http_conn(shared, tcp) => {}
                _ = cancel.cancelled() => {}
            }
        });
    }
}

async fn respond(mut tcp: TcpStream, status: &str, body: &str) {
    let text = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(text.as_bytes()).await;
    let _ = tcp.shutdown().await;
    // Lingering close: drain what the client still sends for a moment, so
    // closing with unread bytes does not reset the connection before the
    // client read the answer.
    let mut sink = vec![0u8; 16 * 1024];
    let _ = tokio::time::timeout(LINGER, async {
        while matches!(tcp.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// The `Host` of a request head, lowercase and without port. Only the head
/// is read: body bytes that came in the same reads may be anything.
pub(crate) fn host_of(head: &[u8]) -> Option<String> {
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(head.len());
    let text = std::str::from_utf8(&head[..end]).ok()?;
    let value = text.split("\r\n").skip(1).find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("host")
            .then(|| value.trim())
    })?;
    let host = match value.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => value,
    };
    Some(host.trim_end_matches('.').to_ascii_lowercase())
}

/// The token a request presents: an `Authorization: Bearer` header, else
/// the `rstream.token` query parameter.
pub(crate) fn request_token(head: &[u8]) -> Option<String> {
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(head.len());
    let req = crate::api::parse(std::str::from_utf8(&head[..end]).ok()?)?;
    req.bearer()
        .or_else(|| req.query_token())
        .map(str::to_owned)
}

async fn http_conn(shared: Arc<Shared>, mut tcp: TcpStream) {
    let peer = match tcp.peer_addr() {
        Ok(a) => a.ip(),
        Err(_) => return,
    };
    let mut head = BytesMut::with_capacity(4096);
    let complete = tokio::time::timeout(HEAD_TIMEOUT, async {
        loop {
            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                return true;
            }
            if head.len() >= MAX_HEAD {
                return false;
            }
            match tcp.read_buf(&mut head).await {
                Ok(0) | Err(_) => return false,
                Ok(_) => {}
            }
        }
    })
    .await;
    match complete {
        Ok(true) => {}
        Err(_) => {
            respond(tcp, "408 Request Timeout", "Request head too slow.\n").await;
            return;
        }
        Ok(false) if head.len() >= MAX_HEAD => {
            respond(
                tcp,
                "431 Request Header Fields Too Large",
                "Request head too large.\n",
            )
            .await;
            return;
        }
        Ok(false) => return,
    }
    let Some(host) = host_of(&head) else {
        respond(tcp, "400 Bad Request", "No Host header.\n").await;
        return;
    };
    let relay = shared.lock().relays.get(&host).cloned();
    if let Some(relay) = relay {
        return relay_tls(relay, tcp, head).await;
    }
    let tunnel = shared
        .lock()
        .tunnels
        .iter()
        .find(|(_, t)| {
            t.props.publish == Some(true)
                && t.props.protocol.as_deref() == Some("http")
                && t.props.hostname.as_deref() == Some(host.as_str())
        })
        .map(|(id, t)| (id.clone(), t.props.token_auth == Some(true)));
    if let Some((_, true)) = tunnel {
        // Token authentication: `rstream.token` in the query or a bearer
        // token, accepted like the engine's own credentials.
        let accepted = request_token(&head).is_some_and(|t| shared.accepts(&t).is_some());
        if !accepted {
            respond(
                tcp,
                "401 Unauthorized",
                "This tunnel requires a valid rstream token.\n",
            )
            .await;
            return;
        }
    }
    let Some((tunnel_id, _)) = tunnel else {
        respond(
            tcp,
            "404 Not Found",
            &format!("No tunnel is published at {host}.\n"),
        )
        .await;
        return;
    };
    match request_stream(&shared, &tunnel_id, peer).await {
        Ok(up) => splice(shared, up, tcp, head).await,
        Err(e) => {
            respond(
                tcp,
                "502 Bad Gateway",
                &format!("The tunnel did not take the request: {e}\n"),
            )
            .await
        }
    }
}

/// Relays one edge connection to a TLS server, the request head first: what
/// the engine does for a tunnel's stream, with a plain TLS server in place of
/// the runtime.
async fn relay_tls(relay: crate::state::Relay, mut tcp: TcpStream, head: BytesMut) {
    let upstream = async {
        let socket = TcpStream::connect(relay.upstream).await?;
        let _ = socket.set_nodelay(true);
        let mut tls = relay.tls.connect(relay.server_name, socket).await?;
        tls.write_all(&head).await?;
        Ok::<_, std::io::Error>(tls)
    };
    match upstream.await {
        Ok(mut tls) => {
            let _ = tokio::io::copy_bidirectional(&mut tcp, &mut tls).await;
        }
        Err(e) => {
            respond(
                tcp,
                "502 Bad Gateway",
                &format!("The relayed server did not answer: {e}\n"),
            )
            .await
        }
    }
}

/// Serves the TCP edge of one tcp tunnel until `cancel`.
pub(crate) async fn serve_tcp(
    shared: Arc<Shared>,
    listener: TcpListener,
    tunnel_id: String,
    cancel: CancellationToken,
) {
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
        // Established streams outlive the tunnel's listener: only a restart
        // or shutdown ends them.
        let run = shared.run_token();
        let tunnel_id = tunnel_id.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = async {
                    // A refused stream closes the client's connection.
                    if let Ok(up) = request_stream(&shared, &tunnel_id, peer.ip()).await {
                        splice(shared.clone(), up, tcp, BytesMut::new()).await;
                    }
                } => {}
                _ = run.cancelled() => {}
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{host_of, request_token};

    #[test]
    fn tokens_come_from_the_header_or_the_query() {
        let t = |head: &[u8]| request_token(head);
        assert_eq!(
            t(b"GET /x?a=1&rstream.token=tok%5Fq HTTP/1.1\r\nHost: h\r\n\r\n").as_deref(),
            Some("tok_q")
        );
        assert_eq!(
            t(b"GET / HTTP/1.1\r\nAuthorization: Bearer tok_h\r\n\r\n").as_deref(),
            Some("tok_h")
        );
        assert_eq!(t(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"), None);
    }

    #[test]
    fn hosts() {
        let head = b"GET / HTTP/1.1\r\nHOST: Web.LOCALHOST:8080\r\n\r\n";
        assert_eq!(host_of(head).as_deref(), Some("web.localhost"));
        assert_eq!(host_of(b"GET / HTTP/1.1\r\n\r\n"), None);
        // A binary body right behind the head does not hide the Host.
        let mut with_body = b"POST /echo HTTP/1.1\r\nHost: web.localhost\r\n\r\n".to_vec();
        with_body.extend_from_slice(&[0xff, 0xfe, 0x00, 0x80]);
        assert_eq!(host_of(&with_body).as_deref(), Some("web.localhost"));
    }
}
