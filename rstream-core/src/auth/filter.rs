//! Filters and field selections over tunnel properties, as token scopes
//! carry them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// A condition on one string property.
///
/// On the wire a bare string means "equal to" (`"api"`), and the other forms
/// are one-key objects: `{"exact": ...}`, `{"oneof": [...]}`,
/// `{"regex": ...}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum StringFilter {
    /// Equal to this value (the short form).
    Value(String),
    /// Equal to this value (the explicit form).
    Exact {
        /// The value.
        exact: String,
    },
    /// Equal to one of these values.
    OneOf {
        /// The accepted values; at least one.
        oneof: Vec<String>,
    },
    /// Matching this regular expression (checked by the engine).
    Regex {
        /// The expression.
        regex: String,
    },
}

impl StringFilter {
    /// Equal to `value`.
    pub fn eq(value: impl Into<String>) -> Self {
        StringFilter::Value(value.into())
    }

    /// Equal to one of `values`.
    pub fn one_of<I, S>(values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        StringFilter::OneOf {
            oneof: values.into_iter().map(Into::into).collect(),
        }
    }

    /// Matching the regular expression `regex`.
    pub fn regex(regex: impl Into<String>) -> Self {
        StringFilter::Regex {
            regex: regex.into(),
        }
    }

    fn validate(&self, field: &str) -> Result<()> {
        match self {
            StringFilter::OneOf { oneof } if oneof.is_empty() => Err(Error::invalid(format!(
                "the filter on `{field}` lists no values in `oneof`"
            ))),
            _ => Ok(()),
        }
    }
}

/// Whether a tunnel is connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelStatus {
    /// Connected.
    Online,
    /// Not connected.
    Offline,
}

/// A tunnel's transport type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelType {
    /// Byte streams.
    Bytestream,
    /// Datagrams.
    Datagram,
}

/// A tunnel's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelProtocol {
    /// TLS.
    Tls,
    /// DTLS.
    Dtls,
    /// QUIC.
    Quic,
    /// HTTP.
    Http,
}

/// Where a published tunnel's TLS ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelTlsMode {
    /// At the upstream.
    Passthrough,
    /// At the engine.
    Terminated,
}

/// An HTTP tunnel's HTTP version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TunnelHttpVersion {
    /// HTTP/1.1.
    #[serde(rename = "http/1.1")]
    Http11,
    /// HTTP/2 over TLS.
    #[serde(rename = "h2")]
    H2,
    /// HTTP/2 in clear text.
    #[serde(rename = "h2c")]
    H2c,
    /// HTTP/3.
    #[serde(rename = "h3")]
    H3,
}

/// Declares [`TunnelFilter`] and [`TunnelSelect`] from one list of the
/// tunnel's properties, in the order the wire format lists them.
macro_rules! tunnel_properties {
    ($( $(#[$doc:meta])* $field:ident: $ty:ty, creatable: $creatable:literal; )*) => {
        /// Conditions on a tunnel's properties, all of which must hold.
        ///
        /// Fields left `None` are not constrained. Serialised as one JSON
        /// object, properties in the order the other SDKs list them. Unknown
        /// properties are refused when parsing, so a typo cannot widen a
        /// token.
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[non_exhaustive]
        pub struct TunnelFilter {
            $(
                $(#[$doc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }

        /// Which tunnel properties a listing may return (`true`) or must
        /// hide (`false`); properties left `None` follow the engine's
        /// default.
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        #[non_exhaustive]
        pub struct TunnelSelect {
            $(
                #[doc = concat!("Whether `", stringify!($field), "` is returned.")]
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<bool>,
            )*
        }

        impl TunnelFilter {
            /// The names of the constrained properties that a filter on
            /// *creating* tunnels may not name (they are set by the engine).
            fn uncreatable_fields(&self) -> Vec<&'static str> {
                let mut names = Vec::new();
                $(
                    if !$creatable && self.$field.is_some() {
                        names.push(stringify!($field));
                    }
                )*
                names
            }
        }
    };
}

tunnel_properties! {
    /// The id of the client that created the tunnel.
    client_id: StringFilter, creatable: false;
    /// The owning user.
    user_id: StringFilter, creatable: false;
    /// The owning workspace.
    workspace_id: StringFilter, creatable: false;
    /// The owning project.
    project_id: StringFilter, creatable: false;
    /// The cluster.
    cluster_id: StringFilter, creatable: false;
    /// The plan.
    plan: StringFilter, creatable: false;
    /// The provider.
    provider: StringFilter, creatable: false;
    /// The region.
    region: StringFilter, creatable: false;
    /// Online or offline.
    status: TunnelStatus, creatable: false;
    /// The tunnel id.
    id: StringFilter, creatable: false;
    /// The creation date (an ISO 8601 date and time).
    creation_date: String, creatable: false;
    /// The tunnel name.
    name: StringFilter, creatable: true;
    /// Byte stream or datagram.
    r#type: TunnelType, creatable: true;
    /// Whether the tunnel is published.
    publish: bool, creatable: true;
    /// The protocol.
    protocol: TunnelProtocol, creatable: true;
    /// Labels, each with its own condition.
    labels: BTreeMap<String, StringFilter>, creatable: true;
    /// Countries allowed by the tunnel's geo-IP filter, exactly.
    geo_ip: Vec<String>, creatable: true;
    /// Trusted IP ranges, exactly.
    trusted_ips: Vec<String>, creatable: true;
    /// The host.
    host: StringFilter, creatable: true;
    /// The public host name.
    hostname: StringFilter, creatable: true;
    /// The port, 1 to 65535.
    port: u16, creatable: true;
    /// Where TLS ends.
    tls_mode: TunnelTlsMode, creatable: true;
    /// TLS ALPN protocols, exactly.
    tls_alpns: Vec<String>, creatable: true;
    /// The minimum TLS version.
    tls_min_version: StringFilter, creatable: true;
    /// TLS cipher suites, exactly.
    tls_ciphers: Vec<String>, creatable: true;
    /// Whether clients must present a certificate.
    mtls_auth: bool, creatable: true;
    /// The HTTP version.
    http_version: TunnelHttpVersion, creatable: true;
    /// Whether HTTP goes over TLS.
    http_use_tls: bool, creatable: true;
    /// Whether the upstream speaks TLS.
    upstream_tls: bool, creatable: true;
    /// Whether token authentication is on.
    token_auth: bool, creatable: true;
    /// Whether rstream authentication is on.
    rstream_auth: bool, creatable: true;
    /// Whether the challenge page is on.
    challenge_mode: bool, creatable: true;
}

impl TunnelFilter {
    /// A filter constraining nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks the filter; `for_create` also refuses the properties that
    /// only the engine sets.
    pub(crate) fn validate(&self, for_create: bool) -> Result<()> {
        if for_create {
            let fields = self.uncreatable_fields();
            if !fields.is_empty() {
                return Err(Error::invalid(format!(
                    "a `create` filter cannot constrain {}: the engine sets them",
                    fields.join(", ")
                )));
            }
        }
        if self.port == Some(0) {
            return Err(Error::invalid("the filter's `port` must be 1 to 65535"));
        }
        if matches!(&self.creation_date, Some(d) if d.trim().is_empty()) {
            return Err(Error::invalid("the filter's `creation_date` is empty"));
        }
        let strings = [
            ("client_id", &self.client_id),
            ("user_id", &self.user_id),
            ("workspace_id", &self.workspace_id),
            ("project_id", &self.project_id),
            ("cluster_id", &self.cluster_id),
            ("plan", &self.plan),
            ("provider", &self.provider),
            ("region", &self.region),
            ("id", &self.id),
            ("name", &self.name),
            ("host", &self.host),
            ("hostname", &self.hostname),
            ("tls_min_version", &self.tls_min_version),
        ];
        for (name, filter) in strings {
            if let Some(filter) = filter {
                filter.validate(name)?;
            }
        }
        for (label, filter) in self.labels.iter().flatten() {
            filter.validate(&format!("labels.{label}"))?;
        }
        Ok(())
    }
}

impl TunnelSelect {
    /// A selection that says nothing yet.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Conditions on a connection's parameters (the `params` of a `connect`
/// scope).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ConnectParams {
    /// The requested HTTP path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<StringFilter>,
}

impl ConnectParams {
    /// Parameters constraining nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Constrains the path.
    pub fn path(mut self, path: StringFilter) -> Self {
        self.path = Some(path);
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        match &self.path {
            Some(path) => path.validate("params.path"),
            None => Ok(()),
        }
    }
}
