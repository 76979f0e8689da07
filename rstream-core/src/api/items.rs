//! Typed inventory items and events. Decoding is lenient: unknown fields are
//! kept in `raw`, and a field of an unexpected type reads as absent.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde_json::{Map, Value};

/// One live tunnel, as the engine inventory reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "Map<String, Value>")]
#[non_exhaustive]
pub struct TunnelItem {
    /// The tunnel id.
    pub id: Option<String>,
    /// The tunnel name.
    pub name: Option<String>,
    /// `bytestream` or `datagram`.
    pub tunnel_type: Option<String>,
    /// `online` or `offline`.
    pub status: Option<String>,
    /// The client (runtime) holding the tunnel.
    pub client_id: Option<String>,
    /// The owning user.
    pub user_id: Option<String>,
    /// The workspace.
    pub workspace_id: Option<String>,
    /// The project.
    pub project_id: Option<String>,
    /// The protocol (`http`, `tls`, `tcp`, ...).
    pub protocol: Option<String>,
    /// Whether the tunnel is published.
    pub publish: Option<bool>,
    /// The published hostname.
    pub hostname: Option<String>,
    /// The deprecated published host.
    pub host: Option<String>,
    /// The published port (tls/tcp).
    pub port: Option<u16>,
    /// The HTTP version.
    pub http_version: Option<String>,
    /// Whether bearer-token authentication guards the published tunnel.
    pub token_auth: Option<bool>,
    /// When the tunnel was created, as the engine wrote it.
    pub creation_date: Option<String>,
    /// The cluster serving the tunnel.
    pub cluster_id: Option<String>,
    /// The hosted project's plan.
    pub plan: Option<String>,
    /// The infrastructure provider of the cluster.
    pub provider: Option<String>,
    /// The region of the cluster.
    pub region: Option<String>,
    /// Country codes allowed to reach the published tunnel (empty: any).
    pub geo_ip: Vec<String>,
    /// Addresses or CIDR blocks allowed to reach it (empty: any).
    pub trusted_ips: Vec<String>,
    /// `passthrough` or `terminated` TLS at the edge.
    pub tls_mode: Option<String>,
    /// ALPN protocols offered at the edge.
    pub tls_alpns: Vec<String>,
    /// The lowest TLS version accepted at the edge.
    pub tls_min_version: Option<String>,
    /// The cipher suites accepted at the edge.
    pub tls_ciphers: Vec<String>,
    /// Whether visitors must present a client certificate.
    pub mtls_auth: Option<bool>,
    /// Whether the edge reaches the upstream with TLS (HTTP tunnels).
    pub http_use_tls: Option<bool>,
    /// Whether the runtime's side of the stream is TLS.
    pub upstream_tls: Option<bool>,
    /// Whether rstream (account) authentication guards the tunnel.
    pub rstream_auth: Option<bool>,
    /// Whether visitors pass a challenge first.
    pub challenge_mode: Option<bool>,
    /// Whether datagrams are delivered reliably (datagram tunnels).
    pub datagram_guaranteed_delivery: Option<bool>,
    /// Whether visitors may be routed from other regions.
    pub allow_cross_region_routing: Option<bool>,
    /// The tunnel's labels (labels whose value is not a string are left out).
    pub labels: BTreeMap<String, String>,
    /// The whole object, unknown fields included.
    pub raw: Map<String, Value>,
}

impl From<Map<String, Value>> for TunnelItem {
    fn from(raw: Map<String, Value>) -> Self {
        TunnelItem {
            id: string(&raw, "id"),
            name: string(&raw, "name"),
            tunnel_type: string(&raw, "type"),
            status: string(&raw, "status"),
            client_id: string(&raw, "client_id"),
            user_id: string(&raw, "user_id"),
            workspace_id: string(&raw, "workspace_id"),
            project_id: string(&raw, "project_id"),
            protocol: string(&raw, "protocol"),
            publish: boolean(&raw, "publish"),
            hostname: string(&raw, "hostname"),
            host: string(&raw, "host"),
            port: raw
                .get("port")
                .and_then(Value::as_u64)
                .and_then(|p| u16::try_from(p).ok()),
            http_version: string(&raw, "http_version"),
            token_auth: boolean(&raw, "token_auth"),
            creation_date: string(&raw, "creation_date"),
            cluster_id: string(&raw, "cluster_id"),
            plan: string(&raw, "plan"),
            provider: string(&raw, "provider"),
            region: string(&raw, "region"),
            geo_ip: strings(&raw, "geo_ip"),
            trusted_ips: strings(&raw, "trusted_ips"),
            tls_mode: string(&raw, "tls_mode"),
            tls_alpns: strings(&raw, "tls_alpns"),
            tls_min_version: string(&raw, "tls_min_version"),
            tls_ciphers: strings(&raw, "tls_ciphers"),
            // Older engines said `mtls`.
            mtls_auth: boolean(&raw, "mtls_auth").or_else(|| boolean(&raw, "mtls")),
            http_use_tls: boolean(&raw, "http_use_tls"),
            upstream_tls: boolean(&raw, "upstream_tls"),
            rstream_auth: boolean(&raw, "rstream_auth"),
            challenge_mode: boolean(&raw, "challenge_mode"),
            datagram_guaranteed_delivery: boolean(&raw, "datagram_guaranteed_delivery"),
            allow_cross_region_routing: boolean(&raw, "allow_cross_region_routing"),
            labels: labels(&raw),
            raw,
        }
    }
}

/// One connected runtime (client), as the engine inventory reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "Map<String, Value>")]
#[non_exhaustive]
pub struct ClientItem {
    /// The client id.
    pub id: Option<String>,
    /// `online` or `offline`.
    pub status: Option<String>,
    /// The owning user.
    pub user_id: Option<String>,
    /// The workspace.
    pub workspace_id: Option<String>,
    /// The project.
    pub project_id: Option<String>,
    /// The agent name (top level, or under `details`).
    pub agent: Option<String>,
    /// The channel (`sdk`, `cli`, ...).
    pub channel: Option<String>,
    /// The agent version.
    pub version: Option<String>,
    /// The operating system.
    pub os: Option<String>,
    /// The CPU architecture.
    pub arch: Option<String>,
    /// The protocol version the client speaks.
    pub protocol_version: Option<String>,
    /// The cluster the client is connected to.
    pub cluster_id: Option<String>,
    /// The hosted project's plan.
    pub plan: Option<String>,
    /// The infrastructure provider of the cluster.
    pub provider: Option<String>,
    /// The region of the cluster.
    pub region: Option<String>,
    /// The client's labels (labels whose value is not a string are left out).
    pub labels: BTreeMap<String, String>,
    /// The whole object, unknown fields included.
    pub raw: Map<String, Value>,
}

impl From<Map<String, Value>> for ClientItem {
    fn from(raw: Map<String, Value>) -> Self {
        // Some engines nest the runtime's self-description under `details`.
        let details = raw.get("details").and_then(Value::as_object);
        let field = |key: &str| string(&raw, key).or_else(|| details.and_then(|d| string(d, key)));
        ClientItem {
            id: string(&raw, "id"),
            status: string(&raw, "status"),
            user_id: string(&raw, "user_id"),
            workspace_id: string(&raw, "workspace_id"),
            project_id: string(&raw, "project_id"),
            agent: field("agent"),
            channel: field("channel"),
            version: field("version"),
            os: field("os"),
            arch: field("arch"),
            protocol_version: field("protocol_version"),
            cluster_id: string(&raw, "cluster_id"),
            plan: string(&raw, "plan"),
            provider: string(&raw, "provider"),
            region: string(&raw, "region"),
            labels: labels(&raw),
            raw,
        }
    }
}

/// The answer of a health probe.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Health {
    /// The HTTP status (2xx: healthy).
    pub status: u16,
    /// The body, as JSON when it is JSON, else as a JSON string.
    pub body: Value,
}

/// The type of a [`WatchEvent`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// `state.initial`: the whole current state, sent first on every
    /// (re)connection of a watch.
    StateInitial,
    /// `client.created`.
    ClientCreated,
    /// `client.updated`.
    ClientUpdated,
    /// `client.deleted`.
    ClientDeleted,
    /// `tunnel.created`.
    TunnelCreated,
    /// `tunnel.updated`.
    TunnelUpdated,
    /// `tunnel.deleted`.
    TunnelDeleted,
    /// A type this version does not know.
    Other(String),
}

impl EventKind {
    /// Parses the wire name.
    pub fn parse(name: &str) -> EventKind {
        match name {
            "state.initial" => EventKind::StateInitial,
            "client.created" => EventKind::ClientCreated,
            "client.updated" => EventKind::ClientUpdated,
            "client.deleted" => EventKind::ClientDeleted,
            "tunnel.created" => EventKind::TunnelCreated,
            "tunnel.updated" => EventKind::TunnelUpdated,
            "tunnel.deleted" => EventKind::TunnelDeleted,
            other => EventKind::Other(other.to_owned()),
        }
    }

    /// The wire name, like `tunnel.created`.
    pub fn as_str(&self) -> &str {
        match self {
            EventKind::StateInitial => "state.initial",
            EventKind::ClientCreated => "client.created",
            EventKind::ClientUpdated => "client.updated",
            EventKind::ClientDeleted => "client.deleted",
            EventKind::TunnelCreated => "tunnel.created",
            EventKind::TunnelUpdated => "tunnel.updated",
            EventKind::TunnelDeleted => "tunnel.deleted",
            EventKind::Other(name) => name,
        }
    }

    /// Whether the object is a tunnel.
    pub fn is_tunnel(&self) -> bool {
        matches!(
            self,
            EventKind::TunnelCreated | EventKind::TunnelUpdated | EventKind::TunnelDeleted
        )
    }

    /// Whether the object is a client.
    pub fn is_client(&self) -> bool {
        matches!(
            self,
            EventKind::ClientCreated | EventKind::ClientUpdated | EventKind::ClientDeleted
        )
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// One real-time event from the engine.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WatchEvent {
    /// What happened.
    pub kind: EventKind,
    /// The event id.
    pub id: Option<String>,
    /// When it happened, as the engine wrote it.
    pub created_at: Option<String>,
    /// The user.
    pub user_id: Option<String>,
    /// The workspace.
    pub workspace_id: Option<String>,
    /// The project.
    pub project_id: Option<String>,
    /// The cluster.
    pub cluster_id: Option<String>,
    /// The object the event is about (`Null` when absent).
    pub object: Value,
}

impl WatchEvent {
    /// Decodes one event; `None` when `value` is not an object with a type.
    pub fn from_json(value: Value) -> Option<WatchEvent> {
        let Value::Object(mut raw) = value else {
            return None;
        };
        let kind = EventKind::parse(raw.get("type")?.as_str()?);
        Some(WatchEvent {
            kind,
            id: string(&raw, "id"),
            created_at: string(&raw, "created_at"),
            user_id: string(&raw, "user_id"),
            workspace_id: string(&raw, "workspace_id"),
            project_id: string(&raw, "project_id"),
            cluster_id: string(&raw, "cluster_id"),
            object: raw.remove("object").unwrap_or(Value::Null),
        })
    }

    /// The tunnel, for `tunnel.*` events.
    pub fn tunnel(&self) -> Option<TunnelItem> {
        match (&self.object, self.kind.is_tunnel()) {
            (Value::Object(map), true) => Some(TunnelItem::from(map.clone())),
            _ => None,
        }
    }

    /// The client, for `client.*` events.
    pub fn client(&self) -> Option<ClientItem> {
        match (&self.object, self.kind.is_client()) {
            (Value::Object(map), true) => Some(ClientItem::from(map.clone())),
            _ => None,
        }
    }

    /// The state, for `state.initial` events.
    pub fn initial_state(&self) -> Option<InitialState> {
        match (&self.object, &self.kind) {
            (Value::Object(map), EventKind::StateInitial) => Some(InitialState::from(map)),
            _ => None,
        }
    }
}

/// The object of a `state.initial` event: everything live when the watch
/// (re)connected.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct InitialState {
    /// When the snapshot was taken, as the engine wrote it.
    pub snapshot_at: Option<String>,
    /// The live tunnels.
    pub tunnels: Vec<TunnelItem>,
    /// The live clients.
    pub clients: Vec<ClientItem>,
}

impl From<&Map<String, Value>> for InitialState {
    fn from(map: &Map<String, Value>) -> Self {
        let objects = |key: &str| -> Vec<Map<String, Value>> {
            map.get(key)
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(Value::as_object).cloned().collect())
                .unwrap_or_default()
        };
        InitialState {
            snapshot_at: string(map, "snapshot_at"),
            tunnels: objects("tunnels")
                .into_iter()
                .map(TunnelItem::from)
                .collect(),
            clients: objects("clients")
                .into_iter()
                .map(ClientItem::from)
                .collect(),
        }
    }
}

fn string(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn boolean(map: &Map<String, Value>, key: &str) -> Option<bool> {
    map.get(key).and_then(Value::as_bool)
}

/// The strings of an array field (other elements left out); empty when
/// the field is absent or not an array.
fn strings(map: &Map<String, Value>, key: &str) -> Vec<String> {
    map.get(key)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn labels(map: &Map<String, Value>) -> BTreeMap<String, String> {
    map.get("labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tunnel_item_is_lenient() {
        let item: TunnelItem = serde_json::from_value(json!({
            "id": "t1", "name": "web", "type": "bytestream", "status": "online",
            "client_id": "c1", "protocol": "http", "publish": true, "port": 70000,
            "hostname": 42, "labels": {"team": "a", "weird": null},
            "brand_new_field": {"x": 1}
        }))
        .unwrap();
        assert_eq!(item.id.as_deref(), Some("t1"));
        assert_eq!(item.tunnel_type.as_deref(), Some("bytestream"));
        assert_eq!(item.publish, Some(true));
        assert_eq!(item.port, None);
        assert_eq!(item.hostname, None);
        assert_eq!(item.labels.len(), 1);
        assert!(item.raw.contains_key("brand_new_field"));
        assert!(serde_json::from_value::<TunnelItem>(json!([1])).is_err());
    }

    #[test]
    fn hosted_tunnel_fields_are_typed() {
        // Shaped like the JavaScript SDK's tunnel schema.
        let item: TunnelItem = serde_json::from_value(json!({
            "id": "t1", "client_id": "c1", "status": "online",
            "cluster_id": "cl-eu", "plan": "pro", "provider": "aws", "region": "eu-west",
            "geo_ip": ["FR", "DE", 7], "trusted_ips": ["10.0.0.0/8"],
            "tls_mode": "terminated", "tls_alpns": ["h2", "http/1.1"],
            "tls_min_version": "1.3", "tls_ciphers": ["TLS_AES_128_GCM_SHA256"],
            "mtls_auth": true, "http_use_tls": false, "upstream_tls": true,
            "token_auth": true, "rstream_auth": false, "challenge_mode": true,
            "datagram_guaranteed_delivery": false, "allow_cross_region_routing": true
        }))
        .unwrap();
        assert_eq!(item.cluster_id.as_deref(), Some("cl-eu"));
        assert_eq!(item.plan.as_deref(), Some("pro"));
        assert_eq!(item.provider.as_deref(), Some("aws"));
        assert_eq!(item.region.as_deref(), Some("eu-west"));
        assert_eq!(item.geo_ip, ["FR", "DE"]);
        assert_eq!(item.trusted_ips, ["10.0.0.0/8"]);
        assert_eq!(item.tls_mode.as_deref(), Some("terminated"));
        assert_eq!(item.tls_alpns, ["h2", "http/1.1"]);
        assert_eq!(item.tls_min_version.as_deref(), Some("1.3"));
        assert_eq!(item.tls_ciphers, ["TLS_AES_128_GCM_SHA256"]);
        assert_eq!(item.mtls_auth, Some(true));
        assert_eq!(item.http_use_tls, Some(false));
        assert_eq!(item.upstream_tls, Some(true));
        assert_eq!(item.token_auth, Some(true));
        assert_eq!(item.rstream_auth, Some(false));
        assert_eq!(item.challenge_mode, Some(true));
        assert_eq!(item.datagram_guaranteed_delivery, Some(false));
        assert_eq!(item.allow_cross_region_routing, Some(true));

        // The older name of the client-certificate flag.
        let old: TunnelItem = serde_json::from_value(json!({"mtls": false})).unwrap();
        assert_eq!(old.mtls_auth, Some(false));
        assert!(old.geo_ip.is_empty());

        let client: ClientItem = serde_json::from_value(json!({
            "id": "c1", "cluster_id": "cl-eu", "plan": "pro", "provider": "gcp", "region": "us"
        }))
        .unwrap();
        assert_eq!(client.cluster_id.as_deref(), Some("cl-eu"));
        assert_eq!(client.plan.as_deref(), Some("pro"));
        assert_eq!(client.provider.as_deref(), Some("gcp"));
        assert_eq!(client.region.as_deref(), Some("us"));
    }

    #[test]
    fn client_item_reads_details() {
        let item: ClientItem = serde_json::from_value(json!({
            "id": "c1", "status": "online",
            "details": {"agent": "rstream-rust-runtime", "os": "linux"},
            "os": "freebsd"
        }))
        .unwrap();
        assert_eq!(item.agent.as_deref(), Some("rstream-rust-runtime"));
        assert_eq!(item.os.as_deref(), Some("freebsd"));
    }

    #[test]
    fn events() {
        let e = WatchEvent::from_json(json!({
            "id": "e1", "type": "tunnel.created", "project_id": "p",
            "object": {"id": "t1", "name": "web"}
        }))
        .unwrap();
        assert_eq!(e.kind, EventKind::TunnelCreated);
        assert_eq!(e.tunnel().unwrap().name.as_deref(), Some("web"));
        assert!(e.client().is_none());
        assert!(e.initial_state().is_none());

        let e = WatchEvent::from_json(json!({
            "type": "state.initial",
            "object": {"snapshot_at": "now", "tunnels": [{"id": "t"}, 3], "clients": [{"id": "c"}]}
        }))
        .unwrap();
        let state = e.initial_state().unwrap();
        assert_eq!(state.tunnels.len(), 1);
        assert_eq!(state.clients[0].id.as_deref(), Some("c"));

        let e = WatchEvent::from_json(json!({"type": "stream.summary"})).unwrap();
        assert_eq!(e.kind, EventKind::Other("stream.summary".into()));
        assert_eq!(e.kind.to_string(), "stream.summary");
        assert_eq!(
            format!("{:<16}|", EventKind::TunnelCreated),
            "tunnel.created  |"
        );
        assert!(WatchEvent::from_json(json!({"id": "x"})).is_none());
        assert!(WatchEvent::from_json(json!("text")).is_none());
        for name in [
            "state.initial",
            "client.created",
            "client.updated",
            "client.deleted",
            "tunnel.created",
            "tunnel.updated",
            "tunnel.deleted",
        ] {
            assert_eq!(EventKind::parse(name).as_str(), name);
        }
    }
}
