//! What the engine knows: control channels, tunnels, streams being set up,
//! fault switches, and the event feed of the HTTP API.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use rstream_core::proto::{ClientDetails, Message, TunnelProperties};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::Error;
use crate::streams::Upstream;

/// What a control channel's writer is asked to do.
#[derive(Debug)]
pub(crate) enum Out {
    /// Encode and write one message.
    Frame(Box<Message>),
    /// Write these bytes as they are, in one write.
    Raw(Vec<u8>),
    /// Write what is queued, close TLS cleanly and stop.
    Close,
}

/// One open control channel.
pub(crate) struct Channel {
    pub(crate) client_id: String,
    pub(crate) tx: mpsc::UnboundedSender<Out>,
    pub(crate) details: ClientDetails,
    pub(crate) cancel: CancellationToken,
    pub(crate) created_at: SystemTime,
}

/// One open tunnel.
pub(crate) struct Tunnel {
    pub(crate) props: TunnelProperties,
    pub(crate) channel: u64,
    pub(crate) client_id: String,
    pub(crate) seq: u64,
    /// Stops the TCP edge listener of a tcp tunnel.
    pub(crate) edge: Option<CancellationToken>,
}

/// A stream announced with a ProxyConnReq, waiting for its ProxyReq.
pub(crate) struct Pending {
    pub(crate) tunnel_id: String,
    pub(crate) secret: String,
    pub(crate) refuse: bool,
    pub(crate) tx: oneshot::Sender<Result<Upstream, Error>>,
}

/// Fault switches.
#[derive(Default)]
pub(crate) struct FaultState {
    pub(crate) pause_acks: bool,
    pub(crate) refuse_next: u32,
    pub(crate) delay_next: u32,
    pub(crate) stall_next: u32,
    pub(crate) delay: Duration,
    pub(crate) announce_with_open: Option<oneshot::Sender<Result<tokio::io::DuplexStream, Error>>>,
}

/// Mutable engine state.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) channels: HashMap<u64, Channel>,
    pub(crate) tunnels: HashMap<String, Tunnel>,
    pub(crate) pending: HashMap<String, Pending>,
    /// Established streams, by stream id: cancelling ends the splice.
    pub(crate) live: HashMap<String, CancellationToken>,
    pub(crate) client_details: Vec<ClientDetails>,
    pub(crate) proxy_req_tokens: Vec<String>,
    pub(crate) next: u64,
    /// Edge hostnames relayed straight to a TLS server (no tunnel).
    pub(crate) relays: HashMap<String, Relay>,
}

/// Where the edge relays a hostname when there is no tunnel: a TLS server.
#[derive(Clone)]
pub(crate) struct Relay {
    pub(crate) upstream: SocketAddr,
    pub(crate) tls: tokio_rustls::TlsConnector,
    pub(crate) server_name: rustls_pki_types::ServerName<'static>,
}

impl Out {
    /// One message to encode and write.
    pub(crate) fn frame(message: impl Into<Message>) -> Out {
        Out::Frame(Box::new(message.into()))
    }
}

/// How many client details and proxy tokens are remembered (the most
/// recent ones), so long benchmark runs do not grow without bound.
pub(crate) const RECORD_LIMIT: usize = 10_000;

fn record<T>(list: &mut Vec<T>, item: T) {
    if list.len() >= RECORD_LIMIT {
        list.drain(..RECORD_LIMIT / 10);
    }
    list.push(item);
}

impl State {
    pub(crate) fn record_details(&mut self, details: ClientDetails) {
        record(&mut self.client_details, details);
    }

    pub(crate) fn record_proxy_token(&mut self, token: String) {
        record(&mut self.proxy_req_tokens, token);
    }

    pub(crate) fn next_seq(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
}

/// Settings fixed at start.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) token: Option<String>,
    pub(crate) apps: Vec<TrustedApp>,
    pub(crate) client_certificates: bool,
    pub(crate) proxy_endpoint: bool,
    pub(crate) coalesce: bool,
}

/// Everything the engine's tasks share.
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    pub(crate) engine_addr: SocketAddr,
    pub(crate) edge_addr: SocketAddr,
    pub(crate) proxy_addr: Option<SocketAddr>,
    pub(crate) tls: Arc<rustls::ServerConfig>,
    pub(crate) state: Mutex<State>,
    pub(crate) faults: Mutex<FaultState>,
    /// Short-lived API tokens handed out by `issue_api_token`, with the
    /// instant each stops being accepted.
    pub(crate) api_tokens: Mutex<HashMap<String, tokio::time::Instant>>,
    pub(crate) events: broadcast::Sender<Value>,
    /// Cancelled on restart and shutdown: ends every task of that run.
    pub(crate) run: Mutex<CancellationToken>,
    /// `rstrm/1` TLS handshakes completed: full, then resumed.
    pub(crate) handshakes: [std::sync::atomic::AtomicU64; 2],
}

/// An application whose minted tokens the engine accepts.
#[derive(Clone, Debug)]
pub struct TrustedApp {
    pub(crate) client_id: String,
    pub(crate) public_key_sec1: Vec<u8>,
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Shared {
    /// Whether `token` is accepted: `Some(None)` for one that does not
    /// expire (the engine's own), `Some(Some(instant))` for one that
    /// expires then (issued short-lived tokens, minted application
    /// tokens), `None` when refused. With no auth, everything is accepted.
    pub(crate) fn accepts(&self, token: &str) -> Option<Option<tokio::time::Instant>> {
        let Some(expected) = &self.settings.token else {
            return Some(None);
        };
        if token == expected {
            return Some(None);
        }
        let now = tokio::time::Instant::now();
        if let Some(expiry) = self
            .api_tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(token)
        {
            return (*expiry > now).then_some(Some(*expiry));
        }
        self.settings.apps.iter().find_map(|app| {
            let payload = rstream_core::auth::verify_es512(token, &app.public_key_sec1).ok()?;
            let claims: serde_json::Value = serde_json::from_slice(&payload).ok()?;
            if claims["type"] != "app" || claims["clientId"] != app.client_id.as_str() {
                return None;
            }
            let left = claims["exp"].as_u64()?.checked_sub(unix_now())?;
            (left > 0).then(|| Some(now + std::time::Duration::from_secs(left)))
        })
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultState> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn run_token(&self) -> CancellationToken {
        self.run.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The `host:port` a runtime is redirected to for its proxy connections.
    pub(crate) fn proxy_endpoint(&self) -> Option<String> {
        self.proxy_addr.map(|a| format!("localhost:{}", a.port()))
    }

    /// Publishes one event to the SSE feed.
    pub(crate) fn emit(&self, kind: &str, object: Value) {
        let _ = self.events.send(event(kind, object));
    }

    /// Removes a tunnel: stops its edge, fails its pending streams, emits
    /// `tunnel.deleted`. Returns whether it existed.
    pub(crate) fn remove_tunnel(&self, tunnel_id: &str) -> bool {
        let (removed, pending) = {
            let mut state = self.lock();
            let removed = state.tunnels.remove(tunnel_id);
            let ids: Vec<String> = state
                .pending
                .iter()
                .filter(|(_, p)| p.tunnel_id == tunnel_id)
                .map(|(id, _)| id.clone())
                .collect();
            let pending: Vec<Pending> = ids
                .iter()
                .filter_map(|id| state.pending.remove(id))
                .collect();
            (removed, pending)
        };
        for p in pending {
            let _ =
                p.tx.send(Err(Error::Closed("the tunnel was closed".into())));
        }
        match removed {
            Some(tunnel) => {
                if let Some(edge) = &tunnel.edge {
                    edge.cancel();
                }
                self.emit("tunnel.deleted", tunnel_json(&tunnel));
                true
            }
            None => false,
        }
    }

    /// Removes a control channel and every tunnel it owns.
    pub(crate) fn remove_channel(&self, channel_id: u64) {
        let (channel, tunnels) = {
            let mut state = self.lock();
            let channel = state.channels.remove(&channel_id);
            let tunnels: Vec<String> = state
                .tunnels
                .iter()
                .filter(|(_, t)| t.channel == channel_id)
                .map(|(id, _)| id.clone())
                .collect();
            (channel, tunnels)
        };
        for id in tunnels {
            self.remove_tunnel(&id);
        }
        if let Some(channel) = channel {
            self.emit("client.deleted", client_json(&channel));
        }
    }

    /// Inventory of tunnels, oldest first.
    pub(crate) fn tunnel_list(&self) -> Vec<Value> {
        let state = self.lock();
        let mut tunnels: Vec<&Tunnel> = state.tunnels.values().collect();
        tunnels.sort_by_key(|t| t.seq);
        tunnels.into_iter().map(tunnel_json).collect()
    }

    /// Inventory of clients (open control channels), oldest first.
    pub(crate) fn client_list(&self) -> Vec<Value> {
        let state = self.lock();
        let mut channels: Vec<(&u64, &Channel)> = state.channels.iter().collect();
        channels.sort_by_key(|(id, _)| **id);
        channels.into_iter().map(|(_, c)| client_json(c)).collect()
    }
}

const USER_ID: &str = "usr_local";
const WORKSPACE_ID: &str = "wsp_local";
const PROJECT_ID: &str = "prj_local";
const CLUSTER_ID: &str = "cls_local";

/// One event in the engine API's shape.
pub(crate) fn event(kind: &str, object: Value) -> Value {
    json!({
        "id": format!("evt_{}", uuid::Uuid::new_v4().simple()),
        "type": kind,
        "created_at": rfc3339(SystemTime::now()),
        "user_id": USER_ID,
        "workspace_id": WORKSPACE_ID,
        "project_id": PROJECT_ID,
        "cluster_id": CLUSTER_ID,
        "object": object,
    })
}

/// A tunnel as the inventory shows it: snake_case properties plus owner
/// and status.
pub(crate) fn tunnel_json(tunnel: &Tunnel) -> Value {
    let p = &tunnel.props;
    let mut out = serde_json::Map::new();
    let mut put = |key: &str, value: Value| {
        if !value.is_null() {
            out.insert(key.to_owned(), value);
        }
    };
    put("id", json!(p.id));
    if let Some(ts) = &p.creation_date {
        let time = SystemTime::UNIX_EPOCH
            + Duration::from_secs(u64::try_from(ts.seconds).unwrap_or_default());
        put("creation_date", json!(rfc3339(time)));
    }
    put("name", json!(p.name));
    put("type", json!(p.r#type));
    put("publish", json!(p.publish));
    put("protocol", json!(p.protocol));
    put("labels", json!(p.labels));
    if !p.geoip.is_empty() {
        put("geo_ip", json!(p.geoip));
    }
    if !p.trusted_ips.is_empty() {
        put("trusted_ips", json!(p.trusted_ips));
    }
    put("tls_mode", json!(p.tls_mode));
    put("http_version", json!(p.http_version));
    put("token_auth", json!(p.token_auth));
    put("rstream_auth", json!(p.rstream_auth));
    put("hostname", json!(p.hostname));
    put("port", json!(p.port));
    put("status", json!("online"));
    put("client_id", json!(tunnel.client_id));
    put("user_id", json!(USER_ID));
    put("workspace_id", json!(WORKSPACE_ID));
    put("project_id", json!(PROJECT_ID));
    Value::Object(out)
}

/// A client (control channel) as the inventory shows it. Never the token.
pub(crate) fn client_json(channel: &Channel) -> Value {
    let d = &channel.details;
    json!({
        "id": channel.client_id,
        "status": "online",
        "agent": d.agent,
        "channel": d.channel,
        "version": d.version,
        "os": d.os,
        "arch": d.arch,
        "protocol_version": d.protocol_version,
        "labels": {},
        "created_at": rfc3339(channel.created_at),
        "user_id": USER_ID,
        "workspace_id": WORKSPACE_ID,
        "project_id": PROJECT_ID,
    })
}

/// `time` as RFC 3339 UTC with second precision.
pub(crate) fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_210_096);
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56Z");
    }
}
