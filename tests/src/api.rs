//! A subset of the engine HTTP API, over TLS on the engine port (ALPN
//! `http/1.1`), with bearer auth: inventory, health and server-sent events.
//! A minimal HTTP/1.1 server: GET requests, keep-alive, no request bodies.

use std::sync::Arc;
use std::time::Duration;

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

struct Request {
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

fn parse(head: &str) -> Option<Request> {
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
        if req.method != "GET" {
            let _ = tls
                .write_all(&response(
                    "405 Method Not Allowed",
                    &json!({"error": "Only GET is served."}),
                ))
                .await;
            continue;
        }
        if let Some(expected) = &shared.settings.token {
            let bearer = req
                .header("authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim);
            if bearer != Some(expected.as_str()) {
                let _ = tls
                    .write_all(&response(
                        "401 Unauthorized",
                        &json!({"error": "Unauthorized."}),
                    ))
                    .await;
                continue;
            }
        }
        let params: Value = match req.query.iter().find(|(k, _)| k == "params") {
            Some((_, v)) => match serde_json::from_str(v) {
                Ok(p) => p,
                Err(_) => {
                    let _ = tls
                        .write_all(&response(
                            "400 Bad Request",
                            &json!({"error": "params is not JSON."}),
                        ))
                        .await;
                    continue;
                }
            },
            None => json!({}),
        };
        let path = req.path.trim_end_matches('/');
        let reply = match path {
            "/api/health/live" | "/api/health/ready" => {
                response("200 OK", &json!({"status": "ok"}))
            }
            "/api/tunnels" => response(
                "200 OK",
                &Value::Array(select(shared.tunnel_list(), &params)),
            ),
            "/api/clients" => response(
                "200 OK",
                &Value::Array(select(shared.client_list(), &params)),
            ),
            "/api/sse" => {
                sse(&shared, tls, &params, cancel).await;
                return;
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
                    Some(item) => response("200 OK", &item),
                    None => response("404 Not Found", &json!({"error": "Not found."})),
                }
            }
        };
        if tls.write_all(&reply).await.is_err() || tls.flush().await.is_err() || close {
            let _ = tls.shutdown().await;
            return;
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

async fn sse(shared: &Arc<Shared>, mut tls: ServerTls, params: &Value, cancel: CancellationToken) {
    let watch = Watch::new(params);
    // Subscribe before the snapshot: nothing falls between them.
    let mut events = shared.events.subscribe();
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
    let initial = event(
        "state.initial",
        json!({"tunnels": tunnels, "clients": clients}),
    );
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

#[cfg(test)]
mod tests {
    use super::*;

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
