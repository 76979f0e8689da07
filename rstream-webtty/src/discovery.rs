//! WebTTY servers found in a project's tunnel inventory, read from the
//! tunnels' labels the way the JavaScript SDK's `parseWebTTYServers` reads
//! them (the Go reference differs on a few points, listed on
//! [`servers`]).

use std::collections::BTreeMap;
use std::fmt;

use rstream_core::api::TunnelItem;

use crate::Error;

/// `application-protocol` label value that marks a WebTTY server.
pub const APPLICATION_PROTOCOL: &str = "rstream.webtty";
/// Label keys a WebTTY server publishes and discovery reads.
pub mod labels {
    /// Marks the tunnel as a WebTTY server (value `rstream.webtty`).
    pub const APPLICATION_PROTOCOL: &str = "application-protocol";
    /// Comma-separated capabilities: `exec`, `fs`.
    pub const CAPABILITIES: &str = "rstream.webtty.capabilities";
    /// Path of the command endpoint.
    pub const EXEC_PATH: &str = "rstream.webtty.exec.path";
    /// Path of the WebDAV filesystem sidecar.
    pub const FS_PATH: &str = "rstream.webtty.fs.path";
    /// `read-write` or `read-only`.
    pub const FS_MODE: &str = "rstream.webtty.fs.mode";
    /// `webdav` or `webrtc`.
    pub const FS_BACKEND: &str = "rstream.webtty.fs.backend";
    /// `plain`, `websocket` or `webtransport`.
    pub const TRANSPORT: &str = "rstream.webtty.transport";
    /// Registered server id.
    pub const SERVER_ID: &str = "rstream.webtty.server_id";
    /// Registered server display name.
    pub const SERVER_NAME: &str = "rstream.webtty.server_name";
    /// The server's end-to-end encryption key id.
    pub const HOST_KEY_ID: &str = "rstream.webtty.host_key_id";
    /// `disabled` or `required`.
    pub const E2E: &str = "rstream.webtty.e2e";
    /// `none` or `required`.
    pub const CLIENT_PROOF: &str = "rstream.webtty.client_proof";
    /// `disabled`, `explicit_key` or `workspace_managed`.
    pub const ENCRYPTION_POLICY: &str = "rstream.webtty.encryption_policy";
    /// `spawn` or `login` (published, not read by discovery).
    pub const EXECUTION_MODE: &str = "rstream.webtty.execution.mode";
    /// Operating system family.
    pub const OS_FAMILY: &str = "rstream.webtty.os_family";
    /// Machine architecture.
    pub const ARCH: &str = "rstream.webtty.arch";
    /// `/etc/os-release` `ID`.
    pub const OS_ID: &str = "rstream.webtty.os_id";
    /// `/etc/os-release` `VERSION_ID`.
    pub const OS_VERSION_ID: &str = "rstream.webtty.os_version_id";
    /// `/etc/os-release` `VERSION_CODENAME`.
    pub const OS_VERSION_CODENAME: &str = "rstream.webtty.os_version_codename";
    /// `/etc/os-release` `PRETTY_NAME`.
    pub const OS_PRETTY_NAME: &str = "rstream.webtty.os_pretty_name";
    /// Kernel release.
    pub const KERNEL_RELEASE: &str = "rstream.webtty.kernel_release";
    /// Host name.
    pub const HOSTNAME: &str = "rstream.webtty.hostname";
    /// Prefix of custom labels (`rstream.webtty.label.<key>`).
    pub const CUSTOM_PREFIX: &str = "rstream.webtty.label.";
}

/// What a WebTTY server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    /// Commands and terminals.
    Exec,
    /// The WebDAV filesystem sidecar.
    Fs,
}

impl Capability {
    /// The label spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Exec => "exec",
            Capability::Fs => "fs",
        }
    }
}

/// How WebTTY messages travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Length-prefixed frames on a raw stream (native clients only).
    Plain,
    /// One WebSocket binary message per frame (the default).
    WebSocket,
    /// Length-prefixed frames on a WebTransport stream (HTTP/3).
    WebTransport,
}

impl Transport {
    /// The label spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Plain => "plain",
            Transport::WebSocket => "websocket",
            Transport::WebTransport => "webtransport",
        }
    }

    fn parse(s: &str) -> Option<Transport> {
        match s {
            "plain" => Some(Transport::Plain),
            "websocket" => Some(Transport::WebSocket),
            "webtransport" => Some(Transport::WebTransport),
            _ => None,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the filesystem sidecar takes writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FsMode {
    /// Reads and writes.
    ReadWrite,
    /// Reads only.
    ReadOnly,
}

/// One WebTTY server found in the inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerInfo {
    /// The tunnel id.
    pub tunnel_id: String,
    /// The tunnel name, if any.
    pub tunnel_name: Option<String>,
    /// What to show: the server name, else the tunnel name, else its id.
    pub target: String,
    /// The dial target: `rstrm://` + server id, else tunnel name, else id.
    pub rstream_url: String,
    /// `online` (discovery keeps only online servers).
    pub status: String,
    /// Whether the tunnel is published.
    pub publish: bool,
    /// The workspace.
    pub workspace_id: Option<String>,
    /// The project.
    pub project_id: Option<String>,
    /// `http` or `webtty` (a managed server).
    pub tunnel_protocol: Option<String>,
    /// `bytestream` or `datagram`.
    pub tunnel_type: Option<String>,
    /// The tunnel's HTTP version.
    pub http_version: Option<String>,
    /// The advertised transport.
    pub transport: Option<Transport>,
    /// Set when the transport label holds an unknown value; resolving the
    /// transport then fails with it.
    pub transport_error: Option<String>,
    /// Whether the tunnel has the managed `webtty` protocol.
    pub managed: bool,
    /// Published host (`hostname[:port]`), empty for a private tunnel.
    pub host: String,
    /// Whether the edge requires a token.
    pub token_auth: bool,
    /// Registered server id.
    pub server_id: Option<String>,
    /// Registered server name.
    pub server_name: Option<String>,
    /// End-to-end encryption key id (base64url).
    pub host_key_id: Option<String>,
    /// `disabled` or `required`.
    pub e2e: Option<String>,
    /// `none` or `required`.
    pub client_proof: Option<String>,
    /// `disabled`, `explicit_key` or `workspace_managed`.
    pub encryption_policy: Option<String>,
    /// Capabilities, in the order exec, fs.
    pub capabilities: Vec<Capability>,
    /// Command endpoint path (with `exec`).
    pub exec_path: Option<String>,
    /// Filesystem sidecar path (with `fs`).
    pub fs_path: Option<String>,
    /// Filesystem mode (with `fs`).
    pub fs_mode: Option<FsMode>,
    /// `webdav` or `webrtc` (with `fs`).
    pub fs_backend: Option<String>,
    /// Operating system family.
    pub os_family: Option<String>,
    /// Machine architecture.
    pub arch: Option<String>,
    /// OS id.
    pub os_id: Option<String>,
    /// OS version id.
    pub os_version_id: Option<String>,
    /// OS version codename.
    pub os_version_codename: Option<String>,
    /// OS pretty name.
    pub os_pretty_name: Option<String>,
    /// Kernel release.
    pub kernel_release: Option<String>,
    /// Host name.
    pub hostname: Option<String>,
    /// Custom labels (`rstream.webtty.label.<key>`, prefix removed).
    pub labels: BTreeMap<String, String>,
}

/// Options of [`servers`].
#[derive(Debug, Clone, Copy, Default)]
pub struct DiscoveryOptions {
    /// Also list private (unpublished) servers; they are reached by a
    /// private dial, not a URL.
    pub include_private: bool,
}

/// The WebTTY servers among `tunnels`, in inventory order.
///
/// A tunnel counts when it is online, published (or `include_private`),
/// its protocol is `http` or `webtty` (or unset), and it is either a
/// `webtty` tunnel or carries `application-protocol: rstream.webtty`. As in
/// the JavaScript SDK, a server whose enumerated labels hold unknown values
/// is left out, and an unknown transport label keeps the server listed with
/// [`ServerInfo::transport_error`] set. The Go reference keeps every status
/// and private servers, checks the protocol of published tunnels only, and
/// copies unknown enumerated values; this follows the JavaScript SDK, whose
/// `parseWebTTYServers` the issue names.
pub fn servers<'a>(
    tunnels: impl IntoIterator<Item = &'a TunnelItem>,
    options: DiscoveryOptions,
) -> Vec<ServerInfo> {
    tunnels
        .into_iter()
        .filter_map(|t| ServerInfo::from_item(t, options))
        .collect()
}

const E2E: &[&str] = &["disabled", "required"];
const CLIENT_PROOF: &[&str] = &["none", "required"];
const ENCRYPTION_POLICY: &[&str] = &["disabled", "explicit_key", "workspace_managed"];
const OS_FAMILY: &[&str] = &["linux", "macos", "windows", "netbsd", "openbsd", "freebsd"];
const FS_BACKEND: &[&str] = &["webdav", "webrtc"];
const TUNNEL_TYPE: &[&str] = &["bytestream", "datagram"];

impl ServerInfo {
    /// The server `item` describes, or `None` when it is not a (listable)
    /// WebTTY server.
    pub fn from_item(item: &TunnelItem, options: DiscoveryOptions) -> Option<ServerInfo> {
        let labels = &item.labels;
        if item.status.as_deref() != Some("online") {
            return None;
        }
        let publish = item.publish == Some(true);
        if !publish && !options.include_private {
            return None;
        }
        let protocol = item.protocol.as_deref();
        if protocol.is_some_and(|p| p != "http" && p != "webtty") {
            return None;
        }
        let managed = protocol == Some("webtty");
        if !managed
            && labels.get(labels::APPLICATION_PROTOCOL).map(String::as_str)
                != Some(APPLICATION_PROTOCOL)
        {
            return None;
        }
        // An enumerated label with an unknown value leaves the server out.
        let checked = |key: &str, allowed: &[&str]| -> Result<Option<String>, ()> {
            match labels.get(key) {
                None => Ok(None),
                Some(v) if allowed.contains(&v.as_str()) => Ok(Some(v.clone())),
                Some(_) => Err(()),
            }
        };
        let e2e = checked(labels::E2E, E2E).ok()?;
        let client_proof = checked(labels::CLIENT_PROOF, CLIENT_PROOF).ok()?;
        let encryption_policy = checked(labels::ENCRYPTION_POLICY, ENCRYPTION_POLICY).ok()?;
        let os_family = checked(labels::OS_FAMILY, OS_FAMILY).ok()?;
        if item
            .tunnel_type
            .as_deref()
            .is_some_and(|t| !TUNNEL_TYPE.contains(&t))
        {
            return None;
        }

        let capabilities = parse_capabilities(labels.get(labels::CAPABILITIES));
        let has = |c| capabilities.contains(&c);
        let label = |key: &str| labels.get(key).cloned();
        let (fs_path, fs_mode, fs_backend) = if has(Capability::Fs) {
            let mode = match labels.get(labels::FS_MODE).map(String::as_str) {
                None | Some("read-write") => FsMode::ReadWrite,
                Some("read-only") => FsMode::ReadOnly,
                Some(_) => return None,
            };
            let backend = checked(labels::FS_BACKEND, FS_BACKEND)
                .ok()?
                .unwrap_or_else(|| "webdav".to_owned());
            (
                Some(label(labels::FS_PATH).unwrap_or_else(|| "/fs".to_owned())),
                Some(mode),
                Some(backend),
            )
        } else {
            (None, None, None)
        };
        let exec_path = has(Capability::Exec)
            .then(|| label(labels::EXEC_PATH).unwrap_or_else(|| "/".to_owned()));
        let (transport, transport_error) = match labels.get(labels::TRANSPORT) {
            None => (None, None),
            Some(v) => match Transport::parse(v) {
                Some(t) => (Some(t), None),
                None => (
                    None,
                    Some("the server advertises an invalid WebTTY transport".to_owned()),
                ),
            },
        };

        let trimmed = |v: Option<&String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let tunnel_id = item.id.clone().unwrap_or_default();
        let tunnel_name = trimmed(item.name.as_ref());
        let server_id = trimmed(labels.get(labels::SERVER_ID));
        let server_name = trimmed(labels.get(labels::SERVER_NAME));
        let target = server_name
            .clone()
            .or_else(|| tunnel_name.clone())
            .unwrap_or_else(|| tunnel_id.clone());
        let rstream_url = format!(
            "rstrm://{}",
            server_id
                .clone()
                .or_else(|| tunnel_name.clone())
                .unwrap_or_else(|| tunnel_id.clone())
        );
        let custom = labels
            .iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix(labels::CUSTOM_PREFIX)?;
                (!key.is_empty()).then(|| (key.to_owned(), v.clone()))
            })
            .collect();
        Some(ServerInfo {
            tunnel_id,
            tunnel_name,
            target,
            rstream_url,
            status: "online".to_owned(),
            publish,
            workspace_id: item.workspace_id.clone(),
            project_id: item.project_id.clone(),
            tunnel_protocol: item.protocol.clone(),
            tunnel_type: item.tunnel_type.clone(),
            http_version: item.http_version.clone(),
            transport,
            transport_error,
            managed,
            host: format_host(item),
            token_auth: item.token_auth == Some(true),
            server_id,
            server_name,
            host_key_id: label(labels::HOST_KEY_ID),
            e2e,
            client_proof,
            encryption_policy,
            capabilities,
            exec_path,
            fs_path,
            fs_mode,
            fs_backend,
            os_family,
            arch: label(labels::ARCH),
            os_id: label(labels::OS_ID),
            os_version_id: label(labels::OS_VERSION_ID),
            os_version_codename: label(labels::OS_VERSION_CODENAME),
            os_pretty_name: label(labels::OS_PRETTY_NAME),
            kernel_release: label(labels::KERNEL_RELEASE),
            hostname: label(labels::HOSTNAME),
            labels: custom,
        })
    }

    /// Whether the server offers `capability`.
    pub fn has(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }

    /// The transport to use, given the one `requested` (if any): the
    /// advertised one, else WebTransport for a datagram tunnel, else the
    /// requested one, else WebSocket. Conflicts are errors.
    pub fn resolve_transport(&self, requested: Option<Transport>) -> Result<Transport, Error> {
        if let Some(e) = &self.transport_error {
            return Err(Error::Discovery(e.clone()));
        }
        let datagram = self.tunnel_type.as_deref() == Some("datagram");
        let advertised = self
            .transport
            .or(datagram.then_some(Transport::WebTransport));
        if let (Some(a), Some(t)) = (advertised, self.tunnel_type.as_deref()) {
            if (a == Transport::WebTransport) != (t == "datagram") {
                return Err(Error::Discovery(format!(
                    "the server's WebTTY transport {a} conflicts with its tunnel type {t}"
                )));
            }
        }
        if advertised == Some(Transport::WebTransport)
            && self.http_version.as_deref().is_some_and(|v| v != "h3")
        {
            return Err(Error::Discovery(
                "a WebTransport server needs HTTP/3".to_owned(),
            ));
        }
        match (requested, advertised) {
            (Some(r), Some(a)) if r != a => Err(Error::Discovery(format!(
                "the requested WebTTY transport {r} conflicts with the server's {a}"
            ))),
            (_, Some(a)) => Ok(a),
            (Some(r), None) => Ok(r),
            (None, None) => Ok(Transport::WebSocket),
        }
    }

    /// The `wss://` URL of the command endpoint of a published WebSocket
    /// server (the host and [`ServerInfo::exec_path`]). A private server is
    /// reached with a private dial instead ([`crate::Endpoint::private`]).
    pub fn url(&self) -> Result<String, Error> {
        match self.resolve_transport(None)? {
            Transport::WebSocket => {}
            other => {
                return Err(Error::Discovery(format!(
                    "the {other} WebTTY transport is not supported by this client"
                )));
            }
        }
        if !self.publish || self.host.is_empty() {
            return Err(Error::Discovery(format!(
                "{} is private: dial it ({})",
                self.target, self.rstream_url
            )));
        }
        let path = self.exec_path.as_deref().unwrap_or("/").trim();
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        Ok(format!("wss://{}{path}", self.host))
    }
}

/// Capabilities from the label: known ones, deduplicated, in the order
/// exec, fs; `exec` alone when none is known.
fn parse_capabilities(label: Option<&String>) -> Vec<Capability> {
    let items: Vec<&str> = label
        .map(|l| l.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let mut out: Vec<Capability> = [Capability::Exec, Capability::Fs]
        .into_iter()
        .filter(|c| items.contains(&c.as_str()))
        .collect();
    if out.is_empty() {
        out.push(Capability::Exec);
    }
    out
}

/// `hostname`, with `:port` unless it is 443 (or unset); the deprecated
/// `host` when there is no hostname.
fn format_host(item: &TunnelItem) -> String {
    match item.hostname.as_deref().filter(|h| !h.is_empty()) {
        Some(h) => match item.port {
            None | Some(0) | Some(443) => h.to_owned(),
            Some(port) => format!("{h}:{port}"),
        },
        None => item.host.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn item(value: Value) -> TunnelItem {
        serde_json::from_value(value).unwrap()
    }

    fn base(labels: Value) -> Value {
        json!({
            "id": "tunnel-id", "status": "online", "client_id": "client-id", "type": "bytestream",
            "publish": true, "protocol": "http", "labels": labels,
            "host": "allocated.example.test:443",
            "hostname": "webtty-project.t.cluster.example.test", "port": 443, "token_auth": true
        })
    }

    fn one(value: Value, options: DiscoveryOptions) -> Option<ServerInfo> {
        ServerInfo::from_item(&item(value), options)
    }

    #[test]
    fn a_server_with_every_capability() {
        let s = one(
            base(json!({
                "application-protocol": "rstream.webtty",
                "rstream.webtty.capabilities": "exec,fs",
                "rstream.webtty.exec.path": "/",
                "rstream.webtty.fs.path": "/fs",
                "rstream.webtty.fs.mode": "read-write"
            })),
            DiscoveryOptions::default(),
        )
        .unwrap();
        assert_eq!(s.host, "webtty-project.t.cluster.example.test");
        assert_eq!(s.capabilities, [Capability::Exec, Capability::Fs]);
        assert_eq!(s.exec_path.as_deref(), Some("/"));
        assert_eq!(s.fs_path.as_deref(), Some("/fs"));
        assert_eq!(s.fs_mode, Some(FsMode::ReadWrite));
        assert_eq!(s.fs_backend.as_deref(), Some("webdav"));
        assert!(s.token_auth && s.publish && !s.managed);
        assert_eq!(s.target, "tunnel-id");
        assert_eq!(s.rstream_url, "rstrm://tunnel-id");
        assert_eq!(
            s.url().unwrap(),
            "wss://webtty-project.t.cluster.example.test/"
        );
    }

    #[test]
    fn a_legacy_server_has_exec_only() {
        let s = one(
            base(json!({"application-protocol": "rstream.webtty"})),
            DiscoveryOptions::default(),
        )
        .unwrap();
        assert_eq!(s.capabilities, [Capability::Exec]);
        assert_eq!(s.exec_path.as_deref(), Some("/"));
        assert_eq!((s.fs_path, s.fs_mode), (None, None));
    }

    #[test]
    fn capabilities_are_deduplicated_and_ordered() {
        let s = one(
            base(json!({
                "application-protocol": "rstream.webtty",
                "rstream.webtty.capabilities": "fs,unknown,exec,fs"
            })),
            DiscoveryOptions::default(),
        )
        .unwrap();
        assert_eq!(s.capabilities, [Capability::Exec, Capability::Fs]);
        assert_eq!(s.fs_path.as_deref(), Some("/fs"));
        let unknown_only = parse_capabilities(Some(&"ssh, x".to_owned()));
        assert_eq!(unknown_only, [Capability::Exec]);
    }

    #[test]
    fn hosts_follow_the_reference() {
        let host = |v: Value| format_host(&item(v));
        assert_eq!(
            host(json!({"host": "allocated.example.test:443",
                        "hostname": "app-project.t.cluster.example.test", "port": 443})),
            "app-project.t.cluster.example.test"
        );
        assert_eq!(
            host(json!({"host": "allocated.example.test:443",
                        "hostname": "app-project.t.cluster.example.test", "port": 8443})),
            "app-project.t.cluster.example.test:8443"
        );
        assert_eq!(
            host(json!({"host": "allocated.example.test:443"})),
            "allocated.example.test:443"
        );
    }

    #[test]
    fn what_is_not_listed() {
        let webtty = json!({"application-protocol": "rstream.webtty"});
        let mut offline = base(webtty.clone());
        offline["status"] = json!("offline");
        let mut private = base(webtty.clone());
        private["publish"] = json!(false);
        let mut tls = base(webtty.clone());
        tls["protocol"] = json!("tls");
        let other = base(json!({"application-protocol": "other.protocol"}));
        let bad_enum = base(json!({"application-protocol": "rstream.webtty",
                                   "rstream.webtty.e2e": "maybe"}));
        let bad_os = base(json!({"application-protocol": "rstream.webtty",
                                 "rstream.webtty.os_family": "plan9"}));
        for case in [offline, private.clone(), tls, other, bad_enum, bad_os] {
            assert_eq!(
                one(case.clone(), DiscoveryOptions::default()),
                None,
                "{case}"
            );
        }
        // Private servers are listed on request, without a URL.
        let s = one(
            private,
            DiscoveryOptions {
                include_private: true,
            },
        )
        .unwrap();
        assert!(!s.publish);
        assert!(
            s.url()
                .unwrap_err()
                .to_string()
                .contains("rstrm://tunnel-id")
        );
    }

    #[test]
    fn managed_and_registered_servers() {
        let s = one(
            json!({"id": "managed-tunnel-1", "name": "managed-prod-01", "status": "online",
                   "protocol": "webtty", "publish": true, "hostname": "managed.example.net",
                   "token_auth": true,
                   "labels": {"rstream.webtty.server_id": "webtty-server-1",
                              "rstream.webtty.server_name": "production-shell",
                              "rstream.webtty.e2e": "required",
                              "rstream.webtty.client_proof": "required",
                              "rstream.webtty.encryption_policy": "workspace_managed",
                              "rstream.webtty.label.env": "prod",
                              "rstream.webtty.label.": "dropped"}}),
            DiscoveryOptions::default(),
        )
        .unwrap();
        assert!(s.managed);
        assert_eq!(s.target, "production-shell");
        assert_eq!(s.rstream_url, "rstrm://webtty-server-1");
        assert_eq!(s.host, "managed.example.net");
        assert_eq!(s.e2e.as_deref(), Some("required"));
        assert_eq!(s.encryption_policy.as_deref(), Some("workspace_managed"));
        assert_eq!(
            s.labels,
            BTreeMap::from([("env".to_owned(), "prod".to_owned())])
        );
    }

    #[test]
    fn transports_resolve_like_the_reference() {
        for (transport, datagram) in [
            ("plain", false),
            ("websocket", false),
            ("webtransport", true),
        ] {
            let mut v = base(json!({"application-protocol": "rstream.webtty",
                                    "rstream.webtty.transport": transport,
                                    "rstream.webtty.exec.path": "/terminal"}));
            if datagram {
                v["type"] = json!("datagram");
            }
            let s = one(v, DiscoveryOptions::default()).unwrap();
            let t = Transport::parse(transport).unwrap();
            assert_eq!(s.transport, Some(t));
            assert_eq!(s.resolve_transport(None).unwrap(), t);
            assert_eq!(s.resolve_transport(Some(t)).unwrap(), t);
            let other = if t == Transport::Plain {
                Transport::WebSocket
            } else {
                Transport::Plain
            };
            assert!(
                s.resolve_transport(Some(other))
                    .unwrap_err()
                    .to_string()
                    .contains("conflicts")
            );
            if t == Transport::WebSocket {
                assert_eq!(
                    s.url().unwrap(),
                    "wss://webtty-project.t.cluster.example.test/terminal"
                );
            } else {
                assert!(s.url().is_err());
            }
        }
        // Legacy servers: no transport label.
        let legacy = one(
            base(json!({"application-protocol": "rstream.webtty"})),
            DiscoveryOptions::default(),
        )
        .unwrap();
        assert_eq!(
            legacy.resolve_transport(None).unwrap(),
            Transport::WebSocket
        );
        assert_eq!(
            legacy.resolve_transport(Some(Transport::Plain)).unwrap(),
            Transport::Plain
        );
        let mut datagram = legacy.clone();
        datagram.tunnel_type = Some("datagram".into());
        assert_eq!(
            datagram.resolve_transport(None).unwrap(),
            Transport::WebTransport
        );
        assert!(
            datagram
                .resolve_transport(Some(Transport::WebSocket))
                .is_err()
        );
        datagram.http_version = Some("http/1.1".into());
        assert!(
            datagram
                .resolve_transport(None)
                .unwrap_err()
                .to_string()
                .contains("HTTP/3")
        );
        // An unknown transport keeps the server listed but unusable.
        for bad in ["future", ""] {
            let s = one(
                base(json!({"application-protocol": "rstream.webtty",
                            "rstream.webtty.transport": bad})),
                DiscoveryOptions::default(),
            )
            .unwrap();
            assert!(s.transport_error.is_some());
            assert!(
                s.url()
                    .unwrap_err()
                    .to_string()
                    .contains("invalid WebTTY transport")
            );
        }
    }
}
