//! Typed filters for inventory listings and watches, and how they travel
//! (one `params=<JSON>` query parameter).

use std::collections::BTreeMap;

use serde::Serialize;

/// Which tunnels to list or watch. Every field left `None` matches anything.
///
/// ```
/// use rstream_core::api::TunnelFilters;
///
/// let filters = TunnelFilters::new()
///     .protocol("http")
///     .publish(true)
///     .label("team", "payments") // label team=payments
///     .any_label_value("canary"); // label canary, whatever its value
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TunnelFilters {
    /// The tunnel id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The tunnel name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The tunnel type (`bytestream`, `datagram`).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub tunnel_type: Option<String>,
    /// The status (`online`, `offline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The id of the client (runtime) holding the tunnel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The owning user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The protocol (`http`, `tls`, `tcp`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// The published hostname.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Whether the tunnel is published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub publish: Option<bool>,
    /// The HTTP version (`http/1.1`, `h2c`, `h3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_version: Option<String>,
    /// Labels the tunnel must carry; a `None` value matches any value.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, Option<String>>,
}

impl TunnelFilters {
    /// No filter: every tunnel.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only the tunnel with this id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Only tunnels with this name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Only tunnels of this type (`bytestream`, `datagram`).
    pub fn tunnel_type(mut self, tunnel_type: impl Into<String>) -> Self {
        self.tunnel_type = Some(tunnel_type.into());
        self
    }

    /// Only tunnels with this status (`online`, `offline`).
    pub fn status(mut self, status: impl Into<String>) -> Self {
        self.status = Some(status.into());
        self
    }

    /// Only tunnels of this client.
    pub fn client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// Only tunnels of this user.
    pub fn user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// Only tunnels with this protocol (`http`, `tls`, `tcp`, ...).
    pub fn protocol(mut self, protocol: impl Into<String>) -> Self {
        self.protocol = Some(protocol.into());
        self
    }

    /// Only tunnels published under this hostname.
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = Some(hostname.into());
        self
    }

    /// Only published (`true`) or unpublished (`false`) tunnels.
    pub fn publish(mut self, publish: bool) -> Self {
        self.publish = Some(publish);
        self
    }

    /// Only tunnels with this HTTP version.
    pub fn http_version(mut self, http_version: impl Into<String>) -> Self {
        self.http_version = Some(http_version.into());
        self
    }

    /// Only tunnels whose label `key` is `value`.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), Some(value.into()));
        self
    }

    /// Only tunnels carrying label `key`, whatever its value.
    pub fn any_label_value(mut self, key: impl Into<String>) -> Self {
        self.labels.insert(key.into(), None);
        self
    }
}

/// Which clients (connected runtimes) to list or watch. Every field left
/// `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ClientFilters {
    /// The client id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The status (`online`, `offline`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The owning user.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The agent name (this crate reports `rstream-rust-runtime`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// The channel (`sdk`, `cli`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The agent version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The operating system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// The CPU architecture.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// The protocol version the client speaks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    /// Labels the client must carry; a `None` value matches any value.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, Option<String>>,
}

impl ClientFilters {
    /// No filter: every client.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only the client with this id.
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Only clients with this status (`online`, `offline`).
    pub fn status(mut self, status: impl Into<String>) -> Self {
        self.status = Some(status.into());
        self
    }

    /// Only clients of this user.
    pub fn user_id(mut self, user_id: impl Into<String>) -> Self {
        self.user_id = Some(user_id.into());
        self
    }

    /// Only clients reporting this agent name.
    pub fn agent(mut self, agent: impl Into<String>) -> Self {
        self.agent = Some(agent.into());
        self
    }

    /// Only clients on this channel.
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = Some(channel.into());
        self
    }

    /// Only clients reporting this agent version.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Only clients on this operating system.
    pub fn os(mut self, os: impl Into<String>) -> Self {
        self.os = Some(os.into());
        self
    }

    /// Only clients on this CPU architecture.
    pub fn arch(mut self, arch: impl Into<String>) -> Self {
        self.arch = Some(arch.into());
        self
    }

    /// Only clients speaking this protocol version.
    pub fn protocol_version(mut self, protocol_version: impl Into<String>) -> Self {
        self.protocol_version = Some(protocol_version.into());
        self
    }

    /// Only clients whose label `key` is `value`.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), Some(value.into()));
        self
    }

    /// Only clients carrying label `key`, whatever its value.
    pub fn any_label_value(mut self, key: impl Into<String>) -> Self {
        self.labels.insert(key.into(), None);
        self
    }
}

#[derive(Serialize)]
struct ListParams<'a, F> {
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filters: Option<&'a F>,
}

#[derive(Serialize)]
struct WatchParams<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    tunnels: Option<&'a TunnelFilters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    clients: Option<&'a ClientFilters>,
}

/// The `params` JSON of a listing, or `None` when there is nothing to say.
pub(crate) fn list_params<F: Serialize>(filters: Option<&F>, limit: Option<u32>) -> Option<String> {
    if filters.is_none() && limit.is_none() {
        return None;
    }
    serde_json::to_string(&ListParams { limit, filters }).ok()
}

/// The `params` JSON of a watch, or `None` without filters.
pub(crate) fn watch_params(
    tunnels: Option<&TunnelFilters>,
    clients: Option<&ClientFilters>,
) -> Option<String> {
    if tunnels.is_none() && clients.is_none() {
        return None;
    }
    serde_json::to_string(&WatchParams { tunnels, clients }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn parsed(text: Option<String>) -> Value {
        serde_json::from_str(&text.expect("params")).expect("JSON")
    }

    #[test]
    fn tunnel_filters_to_params() {
        assert_eq!(list_params::<TunnelFilters>(None, None), None);
        assert_eq!(
            parsed(list_params::<TunnelFilters>(None, Some(5))),
            json!({"limit": 5})
        );
        assert_eq!(
            parsed(list_params(Some(&TunnelFilters::new()), None)),
            json!({"filters": {}})
        );
        let f = TunnelFilters::new()
            .id("t1")
            .name("web")
            .tunnel_type("bytestream")
            .status("online")
            .client_id("c1")
            .user_id("u1")
            .protocol("http")
            .hostname("a.example.com")
            .publish(false)
            .http_version("h2c")
            .label("team", "payments")
            .any_label_value("canary");
        assert_eq!(
            parsed(list_params(Some(&f), Some(10))),
            json!({
                "limit": 10,
                "filters": {
                    "id": "t1", "name": "web", "type": "bytestream", "status": "online",
                    "client_id": "c1", "user_id": "u1", "protocol": "http",
                    "hostname": "a.example.com", "publish": false, "http_version": "h2c",
                    "labels": {"team": "payments", "canary": null}
                }
            })
        );
    }

    #[test]
    fn client_filters_to_params() {
        let f = ClientFilters::new()
            .id("c1")
            .status("online")
            .user_id("u")
            .agent("rstream-rust-runtime")
            .channel("sdk")
            .version("0.1.0")
            .os("linux")
            .arch("x86_64")
            .protocol_version("1.4.5")
            .any_label_value("env");
        assert_eq!(
            parsed(list_params(Some(&f), None)),
            json!({"filters": {
                "id": "c1", "status": "online", "user_id": "u",
                "agent": "rstream-rust-runtime", "channel": "sdk", "version": "0.1.0",
                "os": "linux", "arch": "x86_64", "protocol_version": "1.4.5",
                "labels": {"env": null}
            }})
        );
    }

    #[test]
    fn watch_filters_to_params() {
        assert_eq!(watch_params(None, None), None);
        let t = TunnelFilters::new().name("web");
        assert_eq!(
            parsed(watch_params(Some(&t), None)),
            json!({"tunnels": {"name": "web"}})
        );
        let c = ClientFilters::new().label("env", "prod");
        assert_eq!(
            parsed(watch_params(Some(&t), Some(&c))),
            json!({"tunnels": {"name": "web"}, "clients": {"labels": {"env": "prod"}}})
        );
    }
}
