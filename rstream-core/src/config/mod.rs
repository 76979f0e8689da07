//! Configuration resolution, shared in meaning with the rstream CLI and the
//! other SDKs.
//!
//! Every setting is looked up in this order, first hit wins:
//!
//! 1. explicit options ([`ConfigOptions`]);
//! 2. the environment (`RSTREAM_ENGINE`, `RSTREAM_AUTHENTICATION_TOKEN`, ...);
//! 3. the selected context of the YAML config file (`RSTREAM_CONFIG`, else
//!    `~/.rstream/config.yaml`; the context is `RSTREAM_CONTEXT`, else
//!    `defaults.context.name`), together with the environment entry whose
//!    `apiUrl` the context names, from which it inherits `auth`, `headers`
//!    and `transport`;
//! 4. defaults (API URL `https://rstream.io`, engine port 443).
//!
//! [`resolve`] does this over plain values and never touches the process
//! environment or the file system; [`load`] is the thin wrapper that reads
//! both. Resolution fails closed: credentials stored in the config file are
//! never sent to an engine that an explicit override chose, and settings this
//! runtime cannot honour (QUIC, SOCKS5, custom DNS, keychain or PKCS#11
//! storage, ...) are refused with an error naming them rather than ignored.
//!
//! A config file that does not exist reads as an empty one, wherever it was
//! named; [`ConfigOptions::no_config_file`], [`ConfigOptions::no_token`] and
//! [`ConfigOptions::require_token`] are the Python SDK's explicit knobs. With
//! a region, [`ResolvedConfig::engine`] is `None`: the control plane picks
//! the regional engine (see `ClientBuilder::resolve`, feature
//! `control-plane`), never silently the context's own engine.
//!
//! # Compatibility with the other SDKs
//!
//! CI resolves 135 cases (file text, environment, explicit options) with
//! the official Python SDK 0.7.0 and with this module and compares engine,
//! credentials, project endpoint, region, API URL, TLS settings,
//! control-plane headers and the control-plane proxy, or the failure
//! (`tests/interop/config_differential.py`). Where the Python SDK and the Go
//! reference disagree, this module follows Go; these are the deliberate
//! differences from Python, each with the Go behaviour it follows (files and
//! functions of the Go SDK):
//!
//! | input | Python SDK 0.7.0 | here | Go reference |
//! |---|---|---|---|
//! | `RSTREAM_ENGINE=PROD.example.com` over a context engine `prod.example.com` with a stored token | same engine, token sent | an override: stored token refused | `config/resolve.go` `engineOverrideUsesStoredToken` compares the text as written |
//! | engine `[::1]:443` | refused | accepted | the address is dialled as `host:port` by `net.Dial`, which takes it |
//! | engine `host:` (empty port) | port 443 | refused | `net.SplitHostPort` refuses an empty port |
//! | token storage `kind: env` | accepted | refused | `config/resolve.go` `TokenFromAuth`: only `inline` (and a keychain) |
//! | token storage without `kind` (with or without `provider: inline`) | accepted | refused | `TokenFromAuth`: "token storage kind is required" |
//! | `kind: inline` beside `provider: macos` | refused | accepted | `TokenFromAuth` reads `kind` only |
//! | `transport.proxy` | refused as unsupported | applied | `config/transport.go` `FlattenTransportWithError` applies it |
//! | `transport.tls` (`caFile`, `serverName`, `insecureSkipVerify`) | ignored | applied; a CA file is added to the system roots | `config/transport.go` `EngineTLSConfig` / `tlsConfigFromSettings` |
//! | malformed shapes (`contexts: {}`, `engine: [x]`, `defaults: 3`) | ignored | refused, naming the key | `config/io.go` decodes into typed fields with yaml.v3, which fails |
//! | duplicate keys in a mapping | last one wins | refused | yaml.v3 refuses a key defined twice |
//! | `ALL_PROXY` alone, for the control plane | used (httpx) | not read | `controlplane/client.go` `NewClient` uses `net/http`, whose `ProxyFromEnvironment` reads `HTTPS_PROXY` and `NO_PROXY` only |
//!
//! Two differences are not backed by Go. A *quoted* YAML 1.1 boolean word
//! (`useQuic: 'no'`) is read as the boolean, because the YAML parser does
//! not report quoting; Python and Go refuse it. Unquoted words (`useQuic:
//! off`) are booleans in all three. And a `socks5://` proxy (in
//! `HTTPS_PROXY` or the file) is refused by name, where Go dials it: this
//! crate has no SOCKS client, and skipping the proxy silently would route
//! around a policy.
//!
//! # Proxies
//!
//! One model, [`ProxySettings`], resolved here once; nothing downstream
//! reads the process environment:
//!
//! - [`ResolvedConfig::proxy`], for the tunnels and the engine API, comes
//!   from `transport.proxy` (the context's fields over the inherited
//!   environment entry's). With `fromEnvironment: true`, the URL comes from
//!   `http` if set, else from the first of `HTTPS_PROXY`, `ALL_PROXY`,
//!   `HTTP_PROXY` (each also in lower case), and `NO_PROXY` (or
//!   `no_proxy`) lists the hosts reached directly — what
//!   [`ProxySettings::from_environment`] reads too.
//! - [`ResolvedConfig::api_proxy`], for the control plane, is that same
//!   proxy when the file names one, else `HTTPS_PROXY` with `NO_PROXY`:
//!   what Go's `net/http` (the Go SDK's control-plane client) reads for
//!   `https` when nothing else is configured.
//!
//! The runtime's connector and the HTTP clients apply `no_proxy` with the
//! same matcher.
//!
//! ```
//! use std::collections::HashMap;
//! use rstream_core::config::{resolve, ConfigOptions, Credentials};
//!
//! let env = HashMap::from([
//!     ("RSTREAM_ENGINE".to_owned(), "engine.example.com".to_owned()),
//!     ("RSTREAM_AUTHENTICATION_TOKEN".to_owned(), "opaque-token".to_owned()),
//! ]);
//! let config = resolve(&ConfigOptions::default(), &env, None, 1_700_000_000)?;
//! assert_eq!(config.engine.unwrap().to_string(), "engine.example.com:443");
//! assert!(matches!(config.credentials, Credentials::Token(_)));
//! # Ok::<(), rstream_core::Error>(())
//! ```

use std::fmt;
use std::path::PathBuf;

use crate::Secret;

mod credentials;
mod engine;
mod env;
mod file;
mod load;
mod report;
mod resolve;
mod transport;
mod values;

#[cfg(test)]
mod tests;

pub use crate::transport::{ProxySettings, TlsSettings};
pub use engine::{DEFAULT_ENGINE_PORT, EngineAddress};
pub use load::load;
pub use report::ConfigReport;
pub use resolve::resolve;

/// The control-plane API used when nothing else is configured.
pub const DEFAULT_API_URL: &str = "https://rstream.io";

/// Settings given explicitly by the application. They win over the
/// environment and the config file. Every field is optional.
#[derive(Debug, Clone, Default)]
pub struct ConfigOptions {
    /// The engine, `host` or `host:port`. Overrides `RSTREAM_ENGINE` and the
    /// context's engine; stored credentials are then refused unless given
    /// explicitly too.
    pub engine: Option<String>,
    /// The authentication token.
    pub token: Option<Secret>,
    /// The mTLS client certificate file (PEM); needs `mtls_key_file`.
    pub mtls_cert_file: Option<PathBuf>,
    /// The mTLS private key file (PEM); needs `mtls_cert_file`.
    pub mtls_key_file: Option<PathBuf>,
    /// A CA bundle (PEM) added to the system roots to verify the engine.
    pub ca_file: Option<PathBuf>,
    /// The name to send as SNI and to verify the engine certificate against.
    pub server_name: Option<String>,
    /// Skip verification of the engine certificate (tests only).
    pub insecure_skip_verify: Option<bool>,
    /// The control-plane API URL.
    pub api_url: Option<String>,
    /// The config-file context to use.
    pub context: Option<String>,
    /// The config file to read instead of `RSTREAM_CONFIG` or the default.
    pub config_file: Option<PathBuf>,
    /// The managed project endpoint, resolved to an engine by the control plane.
    pub project_endpoint: Option<String>,
    /// The region of the project to use; `auto` means none.
    pub region: Option<String>,
    /// Extra headers for control-plane API requests; they win over
    /// `RSTREAM_CONTROL_PLANE_HEADERS` and the environment's `headers`.
    pub api_headers: Vec<(String, String)>,
    /// Read no config file at all: neither `config_file`, `RSTREAM_CONFIG`
    /// nor the default one; `RSTREAM_CONTEXT` is then ignored too.
    pub no_config_file: bool,
    /// Use no token, neither given nor stored (mTLS still applies). An
    /// engine override then never meets a stored token.
    pub no_token: bool,
    /// Fail unless a token or an mTLS identity is configured.
    pub require_token: bool,
}

/// The outcome of resolution: everything the runtime needs to reach the
/// engine and the control plane. `Debug` never shows secrets or header values.
#[derive(Clone, PartialEq, Eq)]
pub struct ResolvedConfig {
    /// The engine. `None` when only a project endpoint is known (the
    /// control plane then names the engine) or nothing is configured.
    pub engine: Option<EngineAddress>,
    /// How the runtime authenticates to the engine.
    pub credentials: Credentials,
    /// How the engine's certificate is verified.
    pub tls: TlsSettings,
    /// The HTTP proxy to reach the engine through (tunnels and the engine
    /// API), from `transport.proxy`, if any.
    pub proxy: Option<ProxySettings>,
    /// The HTTP proxy for the control-plane API: `proxy` when
    /// `transport.proxy` names one, else the one the environment names
    /// (`HTTPS_PROXY`, with `NO_PROXY`), as the other SDKs'
    /// HTTP clients do.
    pub api_proxy: Option<ProxySettings>,
    /// The control-plane API URL, without trailing slash.
    pub api_url: String,
    /// Extra headers for control-plane API requests, names canonicalised.
    pub api_headers: Vec<(String, String)>,
    /// The managed project endpoint, if known.
    pub project_endpoint: Option<String>,
    /// The selected region, lowercase; never `auto`.
    pub region: Option<String>,
    /// The name of the config-file context in use, if any.
    pub context_name: Option<String>,
}

/// How the runtime proves who it is to the engine.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// No credentials.
    #[default]
    None,
    /// A bearer token, sent in the client details of every handshake.
    Token(Secret),
    /// A TLS client certificate.
    Mtls(MtlsIdentity),
}

/// An mTLS client certificate and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MtlsIdentity {
    /// PEM files on disk.
    Files {
        /// The certificate (chain) file.
        cert: PathBuf,
        /// The private key file.
        key: PathBuf,
    },
    /// PEM text stored inline in the config file.
    Pem {
        /// The certificate (chain) in PEM.
        cert_pem: String,
        /// The private key in PEM.
        key_pem: Secret,
    },
}

/// Prints header names with their values hidden.
struct RedactedHeaders<'a>(&'a [(String, String)]);

impl fmt::Debug for RedactedHeaders<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(name, _)| (name, "<redacted>")))
            .finish()
    }
}

impl fmt::Debug for ResolvedConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedConfig")
            .field("engine", &self.engine.as_ref().map(ToString::to_string))
            .field("credentials", &self.credentials)
            .field("tls", &self.tls)
            .field("proxy", &self.proxy)
            .field("api_proxy", &self.api_proxy)
            .field("api_url", &self.api_url)
            .field("api_headers", &RedactedHeaders(&self.api_headers))
            .field("project_endpoint", &self.project_endpoint)
            .field("region", &self.region)
            .field("context_name", &self.context_name)
            .finish()
    }
}
