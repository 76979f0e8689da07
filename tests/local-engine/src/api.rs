//! A subset of the engine HTTP API, over TLS on the engine port (ALPN
//! `http/1.1`), with bearer auth: inventory, health and server-sent events.
//! A minimal HTTP/1.1 server: GET requests, keep-alive, no request bodies.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use bytes::{Buf, BytesMut};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::state::{Shared, event};
use crate::streams::ServerTls;

const MAX_HEAD: usize = 64 * 1024;
const IDLE: Duration = Duration::from_secs(60);
const SSE_KEEPALIVE: Duration = Duration::from_secs(15);

pub(crate) struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body_len: usize,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Request {
    /// The token of an `Authorization: Bearer` header.
    pub(crate) fn bearer(&self) -> Option<&str> {
        self.header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
    }

    /// The `rstream.token` query parameter.
    pub(crate) fn query_token(&self) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == QUERY_TOKEN)
            .map(|(_, v)| v.trim())
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn parse(head: &str) -> Option<Request> {
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let target = first.next()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let body_len = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    Some(Request {
        method,
        path: percent_decode(path),
        query,
        headers,
        body_len,
    })
}

fn response(status: &str, body: &Value) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Where mTLS clients look for the API that accepts their certificate.
const DISCOVERY_PATH: &str = "/.well-known/rstream/engine";

/// The discovery document: this engine's own API, which accepts client
/// certificates signed by its CA; cacheable for a minute.
fn discovery(shared: &Shared) -> Vec<u8> {
    let body = json!({
        "version": 1,
        "projectEndpoint": "localhost",
        "mtlsApiUrl": format!("https://localhost:{}/api", shared.engine_addr.port()),
        "capabilities": ["engine-api-mtls"],
    })
    .to_string();
    format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncache-control: max-age=60\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A token cancelled with `cancel`, or at `expiry`.
fn until(expiry: Option<Instant>, cancel: &CancellationToken) -> CancellationToken {
    let child = cancel.child_token();
    if let Some(expiry) = expiry {
        let timer = child.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep_until(expiry) => timer.cancel(),
                () = timer.cancelled() => {}
            }
        });
    }
    child
}

/// Serves HTTP requests on one TLS connection.
pub(crate) async fn serve(shared: Arc<Shared>, mut tls: ServerTls, cancel: CancellationToken) {
    let mut buf = BytesMut::with_capacity(4096);
    loop {
        let head = tokio::select! {
            h = tokio::time::timeout(IDLE, read_head(&mut tls, &mut buf)) => h,
            _ = cancel.cancelled() => return,
        };
        let Ok(Some(head)) = head else {
            return;
        };
        let Some(req) = parse(&head) else {
            let _ = tls
                .write_all(&response(
                    "400 Bad Request",
                    &json!({"error": "Bad request."}),
                ))
                .await;
            return;
        };
        // Drop any request body.
        let mut body = req.body_len;
        while body > 0 {
            if buf.is_empty() && tls.read_buf(&mut buf).await.unwrap_or(0) == 0 {
                return;
            }
            let n = body.min(buf.len());
            buf.advance(n);
            body -= n;
        }
        let close = req
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        // A certificate rustls verified against the engine's CA.
        let client_cert = tls
            .get_ref()
            .1
            .peer_certificates()
            .is_some_and(|chain| !chain.is_empty());
        let reply = match route(&shared, &req, client_cert) {
            Route::Reply(reply) => reply,
            Route::Sse(params, expiry) => {
                let stop = until(expiry, &cancel);
                sse(&shared, tls, &params, stop.clone()).await;
                stop.cancel();
                return;
            }
            Route::WebSocket(params, key, expiry) => {
                let stop = until(expiry, &cancel);
                websocket(&shared, tls, &params, &key, buf, stop.clone()).await;
                stop.cancel();
                return;
            }
        };
        if tls.write_all(&reply).await.is_err() || tls.flush().await.is_err() || close {
            let _ = tls.shutdown().await;
            return;
        }
    }
}

enum Route {
    Reply(Vec<u8>),
    /// An event stream, ended at the token's expiry if it has one.
    Sse(Value, Option<Instant>),
    WebSocket(Value, String, Option<Instant>),
}

/// The query parameter browsers (which cannot set headers on an
/// `EventSource`) put the token in.
const QUERY_TOKEN: &str = "rstream.token";

/// Whether the request carries an accepted token: `Some(expiry)` (`None`
/// inside for the engine's own token, which does not expire), or `None`
/// when refused. A token in the query must also meet the rules for a token
/// in a URL (short-lived, list-only JWT), as a real engine enforces them.
fn authorize(shared: &Shared, req: &Request) -> Option<Option<Instant>> {
    if shared.settings.token.is_none() {
        return Some(None);
    }
    let token = match req.bearer() {
        Some(token) => token,
        None => {
            let token = req.query_token()?;
            rstream_core::auth::check_url_token(token, crate::state::unix_now()).ok()?;
            token
        }
    };
    shared.accepts(token)
}

/// Answers one request, or hands it to the event stream.
fn route(shared: &Shared, req: &Request, client_cert: bool) -> Route {
    let reply = |status: &str, body: Value| Route::Reply(response(status, &body));
    if req.method != "GET" {
        return reply(
            "405 Method Not Allowed",
            json!({"error": "Only GET is served."}),
        );
    }
    if shared.settings.client_certificates && req.path == DISCOVERY_PATH {
        return Route::Reply(discovery(shared));
    }
    let authorized = if client_cert && shared.settings.client_certificates {
        Some(None)
    } else {
        authorize(shared, req)
    };
    let Some(expiry) = authorized else {
        return reply("401 Unauthorized", json!({"error": "Unauthorized."}));
    };
    let params: Value = match req.query.iter().find(|(k, _)| k == "params") {
        Some((_, v)) => match serde_json::from_str(v) {
            Ok(p) => p,
            Err(_) => return reply("400 Bad Request", json!({"error": "params is not JSON."})),
        },
        None => json!({}),
    };
    let path = req.path.trim_end_matches('/');
    match path {
        "/api/health/live" | "/api/health/ready" => reply("200 OK", json!({"status": "ok"})),
        "/api/tunnels" => reply(
            "200 OK",
            Value::Array(select(shared.tunnel_list(), &params)),
        ),
        "/api/clients" => reply(
            "200 OK",
            Value::Array(select(shared.client_list(), &params)),
        ),
        "/api/sse" => Route::Sse(params, expiry),
        "/api/websocket" => {
            let upgrade = req
                .header("upgrade")
                .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
            match req.header("sec-websocket-key") {
                Some(key) if upgrade => Route::WebSocket(params, key.trim().to_owned(), expiry),
                _ => reply(
                    "400 Bad Request",
                    json!({"error": "A WebSocket upgrade is expected."}),
                ),
            }
        }
        _ => {
            let item = if let Some(id) = path.strip_prefix("/api/tunnels/") {
                find(shared.tunnel_list(), id)
            } else if let Some(id) = path.strip_prefix("/api/clients/") {
                find(shared.client_list(), id)
            } else {
                None
            };
            match item {
                Some(item) => reply("200 OK", item),
                None => reply("404 Not Found", json!({"error": "Not found."})),
            }
        }
    }
}

async fn read_head(tls: &mut ServerTls, buf: &mut BytesMut) -> Option<String> {
    loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = buf.split_to(at + 4);
            return String::from_utf8(head[..at].to_vec()).ok();
        }
        if buf.len() > MAX_HEAD {
            return None;
        }
        match tls.read_buf(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

fn find(items: Vec<Value>, id: &str) -> Option<Value> {
    items.into_iter().find(|i| i["id"].as_str() == Some(id))
}

/// Whether `item` passes `filters` (labels: a null value matches any value).
pub(crate) fn matches(item: &Value, filters: &Value) -> bool {
    let Some(filters) = filters.as_object() else {
        return true;
    };
    filters.iter().all(|(key, wanted)| {
        if key == "labels" {
            let Some(labels) = wanted.as_object() else {
                return true;
            };
            return labels.iter().all(|(k, v)| match item["labels"].get(k) {
                None => false,
                Some(have) => v.is_null() || have == v,
            });
        }
        wanted.is_null() || item.get(key) == Some(wanted)
    })
}

/// Applies `{"limit": N, "filters": {...}}`.
fn select(items: Vec<Value>, params: &Value) -> Vec<Value> {
    let filters = &params["filters"];
    let limit = params["limit"].as_u64().map_or(usize::MAX, |n| n as usize);
    items
        .into_iter()
        .filter(|i| matches(i, filters))
        .take(limit)
        .collect()
}

/// Which events an SSE subscriber wants: `None` = all of that kind.
struct Watch {
    tunnels: Option<Value>,
    clients: Option<Value>,
    any: bool,
}

impl Watch {
    fn new(params: &Value) -> Watch {
        let tunnels = params.get("tunnels").cloned();
        let clients = params.get("clients").cloned();
        let any = tunnels.is_none() && clients.is_none();
        Watch {
            tunnels,
            clients,
            any,
        }
    }

    fn wants(&self, ev: &Value) -> bool {
        let kind = ev["type"].as_str().unwrap_or("");
        let (filter, object) = if kind.starts_with("tunnel.") {
            (&self.tunnels, &ev["object"])
        } else if kind.starts_with("client.") {
            (&self.clients, &ev["object"])
        } else {
            return true;
        };
        match filter {
            None => self.any,
            Some(f) => matches(object, f),
        }
    }
}

/// The `state.initial` event for `watch`.
fn initial_event(shared: &Shared, watch: &Watch) -> Value {
    let tunnels: Vec<Value> = if watch.any || watch.tunnels.is_some() {
        shared
            .tunnel_list()
            .into_iter()
            .filter(|t| watch.tunnels.as_ref().is_none_or(|f| matches(t, f)))
            .collect()
    } else {
        Vec::new()
    };
    let clients: Vec<Value> = if watch.any || watch.clients.is_some() {
        shared
            .client_list()
            .into_iter()
            .filter(|c| watch.clients.as_ref().is_none_or(|f| matches(c, f)))
            .collect()
    } else {
        Vec::new()
    };
    event(
        "state.initial",
        json!({"tunnels": tunnels, "clients": clients}),
    )
}

async fn sse(shared: &Arc<Shared>, mut tls: ServerTls, params: &Value, cancel: CancellationToken) {
    let watch = Watch::new(params);
    // Subscribe before the snapshot: nothing falls between them.
    let mut events = shared.events.subscribe();
    let initial = initial_event(shared, &watch);
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
    let mut out = head.as_bytes().to_vec();
    out.extend_from_slice(format!("data: {initial}\n\n").as_bytes());
    if tls.write_all(&out).await.is_err() || tls.flush().await.is_err() {
        return;
    }
    loop {
        let next = tokio::select! {
            e = tokio::time::timeout(SSE_KEEPALIVE, events.recv()) => e,
            _ = cancel.cancelled() => return,
        };
        let chunk = match next {
            Ok(Ok(ev)) if watch.wants(&ev) => format!("data: {ev}\n\n"),
            Ok(Ok(_)) => continue,
            Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Err(broadcast::error::RecvError::Closed)) => return,
            Err(_) => ": keep-alive\n\n".to_owned(),
        };
        if tls.write_all(chunk.as_bytes()).await.is_err() || tls.flush().await.is_err() {
            return;
        }
    }
}

const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const WS_TEXT: u8 = 0x1;
const WS_CLOSE: u8 = 0x8;
const WS_PING: u8 = 0x9;
const WS_PONG: u8 = 0xA;
/// The largest client frame accepted (clients only send control frames).
const WS_MAX_FRAME: u64 = 64 * 1024;

/// `Sec-WebSocket-Accept` for `key`.
fn ws_accept(key: &str) -> String {
    use base64::Engine as _;
    use sha1::{Digest, Sha1};
    let mut hash = Sha1::new();
    hash.update(key.as_bytes());
    hash.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hash.finalize())
}

/// One unmasked server frame.
fn ws_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    let len = payload.len();
    if len < 126 {
        out.push(len as u8);
    } else if let Ok(len) = u16::try_from(len) {
        out.push(126);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
    out
}

/// Takes one client frame from `buf`: `None` when incomplete, `Err` when
/// too large.
fn ws_parse(buf: &mut BytesMut) -> Option<Result<(u8, Vec<u8>), ()>> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let mut len = u64::from(b1 & 0x7f);
    let mut pos = 2;
    if len == 126 {
        len = u64::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?));
        pos = 4;
    } else if len == 127 {
        len = u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?);
        pos = 10;
    }
    if len > WS_MAX_FRAME {
        return Some(Err(()));
    }
    let masked = b1 & 0x80 != 0;
    let mask: [u8; 4] = if masked {
        buf.get(pos..pos + 4)?.try_into().ok()?
    } else {
        [0; 4]
    };
    let start = pos + if masked { 4 } else { 0 };
    let end = start + len as usize;
    let mut payload = buf.get(start..end)?.to_vec();
    for (i, b) in payload.iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
    buf.advance(end);
    Some(Ok((b0 & 0x0f, payload)))
}

/// Events as WebSocket text messages, one JSON event each.
async fn websocket(
    shared: &Arc<Shared>,
    mut tls: ServerTls,
    params: &Value,
    key: &str,
    mut buf: BytesMut,
    cancel: CancellationToken,
) {
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {}\r\n\r\n",
        ws_accept(key)
    );
    let watch = Watch::new(params);
    let mut events = shared.events.subscribe();
    let initial = initial_event(shared, &watch);
    let mut out = head.into_bytes();
    out.extend(ws_frame(WS_TEXT, initial.to_string().as_bytes()));
    if tls.write_all(&out).await.is_err() || tls.flush().await.is_err() {
        return;
    }
    loop {
        let out = tokio::select! {
            e = tokio::time::timeout(SSE_KEEPALIVE, events.recv()) => match e {
                Ok(Ok(ev)) if watch.wants(&ev) => ws_frame(WS_TEXT, ev.to_string().as_bytes()),
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(broadcast::error::RecvError::Closed)) => return,
                Err(_) => ws_frame(WS_PING, b""),
            },
            n = tls.read_buf(&mut buf) => {
                if !matches!(n, Ok(n) if n > 0) {
                    return;
                }
                let mut out = Vec::new();
                let mut closing = false;
                while let Some(frame) = ws_parse(&mut buf) {
                    match frame {
                        Ok((WS_CLOSE, payload)) => {
                            out.extend(ws_frame(WS_CLOSE, payload.get(..2).unwrap_or_default()));
                            closing = true;
                            break;
                        }
                        Ok((WS_PING, payload)) => out.extend(ws_frame(WS_PONG, &payload)),
                        Ok(_) => {}
                        Err(()) => {
                            out.extend(ws_frame(WS_CLOSE, &1009u16.to_be_bytes()));
                            closing = true;
                            break;
                        }
                    }
                }
                if closing {
                    let _ = tls.write_all(&out).await;
                    let _ = tls.shutdown().await;
                    return;
                }
                out
            }
            _ = cancel.cancelled() => return,
        };
        if !out.is_empty() && (tls.write_all(&out).await.is_err() || tls.flush().await.is_err()) {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn websocket_accept_key() {
        // The example of RFC 6455, section 1.3.
        assert_eq!(
            ws_accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn websocket_frames_round_trip() {
        let mut masked = BytesMut::from(&[0x89u8, 0x82, 1, 2, 3, 4, b'h' ^ 1, b'i' ^ 2][..]);
        assert_eq!(ws_parse(&mut masked), Some(Ok((WS_PING, b"hi".to_vec()))));
        assert!(masked.is_empty());
        let mut partial = BytesMut::from(&[0x81u8, 0x85, 1][..]);
        assert_eq!(ws_parse(&mut partial), None);
        let mut huge = BytesMut::from(&[0x82u8, 0x7f, 0, 0, 0, 1, 0, 0, 0, 0][..]);
        assert_eq!(ws_parse(&mut huge), Some(Err(())));
        let long = vec![7u8; 300];
        let framed = ws_frame(WS_TEXT, &long);
        assert_eq!(&framed[..4], &[0x81, 126, 1, 44]);
    }

    #[test]
    fn label_filters() {
        let item = json!({"name": "a", "labels": {"env": "prod"}});
        assert!(matches(&item, &json!({"labels": {"env": null}})));
        assert!(matches(
            &item,
            &json!({"labels": {"env": "prod"}, "name": "a"})
        ));
        assert!(!matches(&item, &json!({"labels": {"env": "dev"}})));
        assert!(!matches(&item, &json!({"labels": {"team": null}})));
        assert!(!matches(&item, &json!({"name": "b"})));
    }

    #[test]
    fn queries() {
        let req =
            parse("GET /api/tunnels?params=%7B%22limit%22%3A1%7D HTTP/1.1\r\nHost: x").unwrap();
        assert_eq!(req.path, "/api/tunnels");
        assert_eq!(
            req.query,
            vec![("params".to_owned(), "{\"limit\":1}".to_owned())]
        );
    }
}
