//! What a tunnel should be: [`TunnelOptions`] and its local validation.

use std::collections::BTreeMap;

use crate::Error;
use crate::proto::TunnelProperties;

/// The application protocol a tunnel publishes. (The protocol also names
/// `dtls` and `quic`, for datagram tunnels, which this runtime does not
/// carry; they have no variant here.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Protocol {
    /// HTTP, published at `https://<hostname>`.
    Http,
    /// Raw TCP, published at `<host>:<port>`.
    Tcp,
    /// TLS, routed by SNI.
    Tls,
}

impl Protocol {
    /// The protocol's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Tcp => "tcp",
            Protocol::Tls => "tls",
        }
    }
}

/// The HTTP version the engine speaks to the tunnel. (HTTP/3, which needs
/// datagram tunnels, has no variant: this runtime does not carry them.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HttpVersion {
    /// HTTP/1.1.
    Http11,
    /// HTTP/2 over TLS.
    H2,
    /// HTTP/2 over cleartext (prior knowledge).
    H2c,
}

impl HttpVersion {
    /// The version's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http11 => "http/1.1",
            HttpVersion::H2 => "h2",
            HttpVersion::H2c => "h2c",
        }
    }
}

/// How the edge handles TLS for `tls` tunnels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsMode {
    /// The edge routes by SNI and passes TLS through to the application.
    Passthrough,
    /// The edge terminates TLS.
    Terminated,
}

impl TlsMode {
    /// The mode's wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Passthrough => "passthrough",
            TlsMode::Terminated => "terminated",
        }
    }
}

/// The properties of a tunnel to create.
///
/// Every read-write property of the protocol has a setter; unset properties
/// are left to the engine's defaults. Invalid combinations are refused by
/// [`ControlChannel::create_tunnel`](crate::ControlChannel::create_tunnel)
/// before anything is sent.
///
/// ```
/// use rstream_core::{HttpVersion, TunnelOptions};
///
/// let options = TunnelOptions::http()
///     .name("api")
///     .publish(true)
///     .http_version(HttpVersion::Http11)
///     .label("env", "dev");
/// assert!(options.validate().is_ok());
/// assert!(TunnelOptions::tcp().hostname("api.example.com").validate().is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TunnelOptions {
    name: Option<String>,
    tunnel_type: Option<String>,
    publish: Option<bool>,
    protocol: Option<Protocol>,
    labels: BTreeMap<String, String>,
    geoip: Vec<String>,
    trusted_ips: Vec<String>,
    tls_mode: Option<TlsMode>,
    tls_alpns: Vec<String>,
    tls_min_version: Option<String>,
    tls_ciphers: Vec<String>,
    mtls_auth: Option<bool>,
    http_version: Option<HttpVersion>,
    token_auth: Option<bool>,
    rstream_auth: Option<bool>,
    challenge_mode: Option<bool>,
    hostname: Option<String>,
    port: Option<u32>,
    upstream_tls: Option<bool>,
    allow_cross_region_routing: Option<bool>,
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.$name = Some(value);
            self
        }
    };
}

macro_rules! list_setter {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub fn $name<I, S>(mut self, values: I) -> Self
        where
            I: IntoIterator<Item = S>,
            S: Into<String>,
        {
            self.$name = values.into_iter().map(Into::into).collect();
            self
        }
    };
}

impl TunnelOptions {
    /// A bytestream tunnel with nothing else set: private unless published.
    pub fn new() -> Self {
        TunnelOptions::default()
    }

    /// An HTTP tunnel (not published until [`publish`](Self::publish)`(true)`).
    pub fn http() -> Self {
        TunnelOptions::new().protocol(Protocol::Http)
    }

    /// A published TCP tunnel.
    pub fn tcp() -> Self {
        TunnelOptions::new().protocol(Protocol::Tcp).publish(true)
    }

    /// A TLS tunnel (not published until [`publish`](Self::publish)`(true)`).
    pub fn tls() -> Self {
        TunnelOptions::new().protocol(Protocol::Tls)
    }

    /// The tunnel's name; private tunnels can be dialed by it.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The public hostname to ask for.
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.hostname = Some(hostname.into());
        self
    }

    /// The tunnel type; only `bytestream` (the default) is supported.
    pub fn tunnel_type(mut self, tunnel_type: impl Into<String>) -> Self {
        self.tunnel_type = Some(tunnel_type.into());
        self
    }

    /// Adds one label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Replaces every label.
    pub fn labels<I, K, V>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.labels = labels
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }

    /// The minimum TLS version at the edge (for example `"1.2"`).
    pub fn tls_min_version(mut self, version: impl Into<String>) -> Self {
        self.tls_min_version = Some(version.into());
        self
    }

    setter!(
        /// Whether to publish the tunnel at a public address.
        publish: bool
    );
    setter!(
        /// The application protocol.
        protocol: Protocol
    );
    setter!(
        /// How the edge handles TLS.
        tls_mode: TlsMode
    );
    setter!(
        /// Require client certificates at the edge.
        mtls_auth: bool
    );
    setter!(
        /// The HTTP version the engine speaks to the tunnel.
        http_version: HttpVersion
    );
    setter!(
        /// Require an rstream token at the edge.
        token_auth: bool
    );
    setter!(
        /// Require an rstream login at the edge.
        rstream_auth: bool
    );
    setter!(
        /// Challenge clients at the edge.
        challenge_mode: bool
    );
    setter!(
        /// The public port of a TCP tunnel (1 to 65535).
        port: u32
    );
    setter!(
        /// Have the edge speak TLS to the application.
        upstream_tls: bool
    );
    setter!(
        /// Allow routing from other regions.
        allow_cross_region_routing: bool
    );
    list_setter!(
        /// Countries allowed to connect.
        geoip
    );
    list_setter!(
        /// Client addresses or networks allowed to connect.
        trusted_ips
    );
    list_setter!(
        /// ALPN protocols offered at the edge.
        tls_alpns
    );
    list_setter!(
        /// TLS cipher suites at the edge.
        tls_ciphers
    );

    /// The name, if set.
    pub fn get_name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The requested hostname, if set.
    pub fn get_hostname(&self) -> Option<&str> {
        self.hostname.as_deref()
    }

    /// The protocol, if set.
    pub fn get_protocol(&self) -> Option<Protocol> {
        self.protocol
    }

    /// Whether the tunnel is to be published.
    pub fn is_published(&self) -> bool {
        self.publish == Some(true)
    }

    /// Checks the rules the protocol puts on a tunnel request, without
    /// sending anything.
    pub fn validate(&self) -> Result<(), Error> {
        let unsupported = |what: &str| Err(Error::config(what.to_owned()));
        if let Some(t) = &self.tunnel_type {
            if t != "bytestream" {
                return unsupported(&format!(
                    "tunnel type {t:?} is not supported by this runtime: use \"bytestream\""
                ));
            }
        }
        if let Some(port) = self.port {
            if self.protocol != Some(Protocol::Tcp) {
                return unsupported("a tunnel port requires protocol tcp");
            }
            if !(1..=65_535).contains(&port) {
                return unsupported(&format!("tunnel port {port} is outside 1..65535"));
            }
        }
        if self.protocol == Some(Protocol::Tcp) {
            if self.publish == Some(false) {
                return unsupported("tcp tunnels are always published: drop publish(false)");
            }
            let forbidden = [
                ("hostname", self.hostname.is_some()),
                ("http_version", self.http_version.is_some()),
                ("tls_mode", self.tls_mode.is_some()),
                ("tls_alpns", !self.tls_alpns.is_empty()),
                ("tls_min_version", self.tls_min_version.is_some()),
                ("tls_ciphers", !self.tls_ciphers.is_empty()),
                ("mtls_auth", self.mtls_auth.is_some()),
                ("token_auth", self.token_auth.is_some()),
                ("rstream_auth", self.rstream_auth.is_some()),
                ("challenge_mode", self.challenge_mode.is_some()),
                ("upstream_tls", self.upstream_tls.is_some()),
            ];
            if let Some((name, _)) = forbidden.iter().find(|(_, set)| *set) {
                return unsupported(&format!("tcp tunnels take no {name} option"));
            }
        }
        Ok(())
    }

    /// The wire properties for an `OpenTunnelReq`, after validation.
    pub(crate) fn to_properties(&self) -> Result<TunnelProperties, Error> {
        self.validate()?;
        let publish = match self.protocol {
            Some(Protocol::Tcp) => Some(true),
            _ => self.publish,
        };
        Ok(TunnelProperties {
            name: self.name.clone(),
            r#type: Some(
                self.tunnel_type
                    .clone()
                    .unwrap_or_else(|| "bytestream".into()),
            ),
            publish,
            protocol: self.protocol.map(|p| p.as_str().to_owned()),
            labels: self
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            geoip: self.geoip.clone(),
            trusted_ips: self.trusted_ips.clone(),
            tls_mode: self.tls_mode.map(|m| m.as_str().to_owned()),
            tls_alpns: self.tls_alpns.clone(),
            tls_min_version: self.tls_min_version.clone(),
            tls_ciphers: self.tls_ciphers.clone(),
            mtls_auth: self.mtls_auth,
            http_version: self.http_version.map(|v| v.as_str().to_owned()),
            token_auth: self.token_auth,
            rstream_auth: self.rstream_auth,
            challenge_mode: self.challenge_mode,
            hostname: self.hostname.clone(),
            port: self.port,
            upstream_tls: self.upstream_tls,
            allow_cross_region_routing: self.allow_cross_region_routing,
            ..Default::default()
        })
    }
}

/// The address at which a tunnel with these properties is reachable, in the
/// same words as the rstream CLI: `https://HOST` for http, `HOST (tls)`,
/// `HOST (tcp)`, or `rstrm://NAME (unpublished)`.
pub(crate) fn forwarding_address(properties: &TunnelProperties) -> String {
    let protocol = properties.protocol.as_deref().unwrap_or("");
    let host = match (&properties.hostname, &properties.host) {
        (Some(hostname), _) if !hostname.is_empty() => {
            let with_port =
                matches!(protocol, "tls" | "tcp") || properties.port.is_some_and(|p| p != 443);
            match properties.port {
                Some(port) if with_port => Some(format!("{hostname}:{port}")),
                _ => Some(hostname.clone()),
            }
        }
        (_, Some(host)) if !host.is_empty() => Some(host.clone()),
        _ => None,
    };
    match (properties.publish == Some(true), host) {
        (true, Some(host)) => match protocol {
            "tls" => format!("{host} (tls)"),
            "tcp" => format!("{host} (tcp)"),
            _ => format!("https://{host}"),
        },
        _ => {
            let name = properties
                .name
                .as_deref()
                .filter(|n| !n.is_empty())
                .or(properties.id.as_deref())
                .unwrap_or("");
            format!("rstrm://{name} (unpublished)")
        }
    }
}

// Compile-time checks: the handle can cross tasks and threads, as its docs promise.
const _: fn() = || {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<TunnelOptions>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_rules() {
        let bad = [
            TunnelOptions::new().tunnel_type("datagram"),
            TunnelOptions::http().port(8080),
            TunnelOptions::tcp().port(0),
            TunnelOptions::tcp().port(70_000),
            TunnelOptions::tcp().publish(false),
            TunnelOptions::tcp().hostname("x.example.com"),
            TunnelOptions::tcp().token_auth(true),
            TunnelOptions::tcp().tls_mode(TlsMode::Terminated),
            TunnelOptions::tcp().http_version(HttpVersion::Http11),
        ];
        for options in bad {
            let err = options.validate().unwrap_err();
            assert!(matches!(err, Error::Config(_)), "{options:?}");
        }
        let good = [
            TunnelOptions::new(),
            TunnelOptions::http().publish(true).token_auth(true),
            TunnelOptions::tcp().port(10_042),
            TunnelOptions::tls()
                .tls_mode(TlsMode::Passthrough)
                .publish(true),
        ];
        for options in good {
            options.validate().unwrap();
        }
    }

    #[test]
    fn tcp_is_always_published_on_the_wire() {
        let props = TunnelOptions::new()
            .protocol(Protocol::Tcp)
            .to_properties()
            .unwrap();
        assert_eq!(props.publish, Some(true));
        assert_eq!(props.r#type.as_deref(), Some("bytestream"));
    }

    #[test]
    fn forwarding_addresses() {
        let p = |protocol: &str, publish: bool, hostname: Option<&str>, port: Option<u32>| {
            TunnelProperties {
                id: Some("tun_1".into()),
                protocol: Some(protocol.into()),
                publish: Some(publish),
                hostname: hostname.map(Into::into),
                port,
                ..Default::default()
            }
        };
        let cases = [
            (
                p("http", true, Some("a.example.com"), None),
                "https://a.example.com",
            ),
            (
                p("http", true, Some("a.example.com"), Some(443)),
                "https://a.example.com",
            ),
            (
                p("http", true, Some("a.localhost"), Some(8080)),
                "https://a.localhost:8080",
            ),
            (
                p("tls", true, Some("a.example.com"), Some(443)),
                "a.example.com:443 (tls)",
            ),
            (
                p("tcp", true, Some("t.example.com"), Some(10042)),
                "t.example.com:10042 (tcp)",
            ),
            (p("http", false, None, None), "rstrm://tun_1 (unpublished)"),
        ];
        for (props, want) in cases {
            assert_eq!(forwarding_address(&props), want);
        }
        let named = TunnelProperties {
            name: Some("api".into()),
            id: Some("tun_1".into()),
            ..Default::default()
        };
        assert_eq!(forwarding_address(&named), "rstrm://api (unpublished)");
        let legacy = TunnelProperties {
            publish: Some(true),
            protocol: Some("http".into()),
            host: Some("old.example.com".into()),
            ..Default::default()
        };
        assert_eq!(forwarding_address(&legacy), "https://old.example.com");
    }
}
