//! [`Client`]: how to reach the engine and who we are.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{self, ConfigOptions, Credentials, MtlsIdentity, ResolvedConfig};
use crate::link::{Link, split_host_port};
use crate::session::WeakControlChannel;
use crate::transport::{ALPN_RSTRM, ClientIdentity, Connector, ProxySettings, TlsSettings};
use crate::{ControlChannel, Error, ReconnectPolicy, Secret, Tunnel, TunnelOptions, TunnelStream};

/// Default bound on every wait for the engine.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(30);
/// Default heartbeat interval.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);
/// The agent name this runtime reports to the engine.
pub const AGENT: &str = "rstream-rust-runtime";

/// A configured connection to an rstream engine.
///
/// Cheap to clone (an `Arc` inside), `Send + Sync`. Nothing touches the
/// network until [`connect`](Client::connect) or [`dial`](Client::dial).
///
/// ```no_run
/// # async fn run() -> rstream_core::Result<()> {
/// use rstream_core::{Client, TunnelOptions};
///
/// let client = Client::builder()
///     .engine("engine.example.com")
///     .token("tok_...")
///     .build()?;
/// let control = client.connect().await?;
/// let tunnel = control.create_tunnel(TunnelOptions::http().publish(true)).await?;
/// println!("serving at {}", tunnel.forwarding_address());
/// while let Some(stream) = tunnel.accept().await? {
///     println!("new stream from {:?}", stream.info().source_ip);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    inner: Arc<Link>,
    /// The session [`Client::tunnel`] adds tunnels to, while it lives.
    session: Arc<tokio::sync::Mutex<WeakControlChannel>>,
}

impl Client {
    /// Starts a [`ClientBuilder`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client from the standard configuration, exactly like the rstream
    /// CLI and the other SDKs: environment (`RSTREAM_ENGINE`,
    /// `RSTREAM_AUTHENTICATION_TOKEN`, ...), then the selected context of
    /// `~/.rstream/config.yaml` (or `RSTREAM_CONFIG`), then defaults.
    pub fn from_env() -> Result<Client, Error> {
        Client::from_config(&config::load(&ConfigOptions::default())?)
    }

    /// A client from an already resolved configuration; see [`config`].
    pub fn from_config(config: &ResolvedConfig) -> Result<Client, Error> {
        ClientBuilder::from_config(config)?.build()
    }

    #[cfg_attr(
        not(any(feature = "engine-api", feature = "control-plane")),
        allow(dead_code)
    )]
    pub(crate) fn inner(&self) -> &Arc<Link> {
        &self.inner
    }

    /// The engine address, `host:port`.
    pub fn engine(&self) -> String {
        self.inner.engine()
    }

    /// Starts a session with the engine: a control channel that reconnects
    /// by itself and re-creates its tunnels (see [`ControlChannel`]).
    /// Returns once the first control channel is open, or with the error
    /// that ended the session (bad credentials, an untrusted engine
    /// certificate, or what the [`ReconnectPolicy`] gave up on).
    pub async fn connect(&self) -> Result<ControlChannel, Error> {
        ControlChannel::open(self.inner.clone()).await
    }

    /// Creates a tunnel that rides over reconnects, on this client's shared
    /// session (started on first use; all of a client's `tunnel` calls share
    /// one control channel). Returns once the tunnel is online, or with the
    /// error that ended it: bad credentials, invalid options, an engine
    /// certificate that is not trusted (on the first connection), or the
    /// last failure once the [`ReconnectPolicy`] gave up. Other failures are
    /// retried, so wrap the call in a timeout if the engine may be
    /// unreachable for long, or use
    /// [`tunnel_in_background`](Self::tunnel_in_background).
    pub async fn tunnel(&self, options: TunnelOptions) -> Result<Tunnel, Error> {
        let tunnel = self.tunnel_in_background(options).await?;
        tunnel.online().await?;
        Ok(tunnel)
    }

    /// Adds a tunnel to this client's shared session and returns at once,
    /// before it is online; watch [`Tunnel::watch_state`] or await
    /// [`Tunnel::online`]. Must be called inside a Tokio runtime.
    pub async fn tunnel_in_background(&self, options: TunnelOptions) -> Result<Tunnel, Error> {
        options.validate()?;
        let mut session = self.session.lock().await;
        let control = match session.upgrade() {
            Some(control) => control,
            None => {
                let control = ControlChannel::start(self.inner.clone());
                *session = control.downgrade();
                control
            }
        };
        drop(session);
        control.create_tunnel_in_background(options)
    }

    /// Dials a private tunnel by name or id, with the client's zero-RTT
    /// default (on unless configured otherwise) and its token.
    pub async fn dial(&self, tunnel: &str) -> Result<TunnelStream, Error> {
        self.dial_with(tunnel, DialOptions::new()).await
    }

    /// Dials a private tunnel by name or id, as `options` say.
    ///
    /// With zero-RTT the stream is returned as soon as the request is
    /// sent, and an engine refusal shows up as the stream closing. Without
    /// it, the engine's answer is awaited and a refusal is an
    /// [`Error::Engine`] with the engine's code.
    pub async fn dial_with(
        &self,
        tunnel: &str,
        options: DialOptions,
    ) -> Result<TunnelStream, Error> {
        let zero_rtt = options.zero_rtt.unwrap_or(self.inner.zero_rtt);
        let token = options.token.as_ref().or(self.inner.token.as_ref());
        crate::handshake::dial(&self.inner, tunnel, zero_rtt, token).await
    }
}

/// How one [`Client::dial_with`] differs from the client's defaults.
///
/// ```
/// use rstream_core::DialOptions;
/// // Awaited, with a token minted for this one dial (say, a user's).
/// let options = DialOptions::new().zero_rtt(false).token("tok_for_this_dial");
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DialOptions {
    /// Zero-RTT on or off; `None` takes the client's default.
    pub zero_rtt: Option<bool>,
    /// The token sent with this dial instead of the client's, as the
    /// Python and JavaScript SDKs' per-dial `token` does: the engine
    /// checks it, not the client's, against the tunnel.
    pub token: Option<Secret>,
}

impl DialOptions {
    /// The client's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Zero-RTT on or off for this dial.
    pub fn zero_rtt(mut self, enabled: bool) -> Self {
        self.zero_rtt = Some(enabled);
        self
    }

    /// Send `token` with this dial instead of the client's.
    pub fn token(mut self, token: impl Into<Secret>) -> Self {
        self.token = Some(token.into());
        self
    }
}

/// Builds a [`Client`].
#[derive(Debug, Default)]
pub struct ClientBuilder {
    engine: Option<String>,
    token: Option<Secret>,
    tls: TlsSettings,
    proxy: Option<ProxySettings>,
    connect_to: Option<SocketAddr>,
    connect_timeout: Option<Duration>,
    operation_timeout: Option<Duration>,
    heartbeat_interval: Option<Option<Duration>>,
    reconnect: Option<ReconnectPolicy>,
    zero_rtt: Option<bool>,
    tls_resumption: Option<bool>,
    agent: Option<(String, String)>,
}

impl ClientBuilder {
    /// A builder preset from a resolved configuration, to adjust before
    /// [`build`](Self::build).
    ///
    /// The configuration must name the engine. When it names only a managed
    /// project endpoint (or a region), use `ClientBuilder::resolve` (the
    /// `control-plane` feature), which asks the control plane for the engine.
    pub fn from_config(config: &ResolvedConfig) -> Result<ClientBuilder, Error> {
        let engine = match (&config.engine, &config.project_endpoint) {
            (Some(engine), _) => engine.to_string(),
            (None, Some(endpoint)) => {
                return Err(Error::config(format!(
                    "the configuration names project endpoint {endpoint:?} but no engine: \
                     resolve it through the control plane (ClientBuilder::resolve, feature \
                     control-plane), or set RSTREAM_ENGINE or the context's engine"
                )));
            }
            (None, None) => {
                return Err(Error::config(
                    "no engine configured: set RSTREAM_ENGINE or select a config context with an engine",
                ));
            }
        };
        Ok(ClientBuilder::from_config_with_engine(config, engine))
    }

    /// A builder preset from a resolved configuration, on a known engine.
    pub(crate) fn from_config_with_engine(
        config: &ResolvedConfig,
        engine: String,
    ) -> ClientBuilder {
        let mut builder = ClientBuilder::default().engine(engine);
        builder = match &config.credentials {
            Credentials::Token(token) => builder.token(token.clone()),
            Credentials::Mtls(MtlsIdentity::Files { cert, key }) => builder.mtls_files(cert, key),
            Credentials::Mtls(MtlsIdentity::Pem { cert_pem, key_pem }) => {
                builder.mtls_pem(cert_pem.clone(), key_pem.clone())
            }
            _ => builder,
        };
        builder.tls.ca_file = config.tls.ca_file.clone();
        builder.tls.server_name = config.tls.server_name.clone();
        builder.tls.insecure_skip_verify = config.tls.insecure_skip_verify;
        builder.proxy.clone_from(&config.proxy);
        builder
    }

    /// The engine, `host` (port 443) or `host:port`.
    pub fn engine(mut self, engine: impl Into<String>) -> Self {
        self.engine = Some(engine.into());
        self
    }

    /// Authenticate with this token.
    pub fn token(mut self, token: impl Into<Secret>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// Authenticate with a client certificate and key from PEM files.
    pub fn mtls_files(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.tls.client_identity = Some(ClientIdentity::Files {
            cert: cert.into(),
            key: key.into(),
        });
        self
    }

    /// Authenticate with a client certificate and key given as PEM text.
    pub fn mtls_pem(mut self, cert_pem: impl Into<String>, key_pem: impl Into<Secret>) -> Self {
        self.tls.client_identity = Some(ClientIdentity::Pem {
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
        });
        self
    }

    /// Trust the CAs in this PEM file, in addition to the system roots.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.ca_file = Some(path.into());
        self
    }

    /// Trust the CAs in this PEM text, in addition to the system roots.
    pub fn ca_pem(mut self, pem: impl Into<String>) -> Self {
        self.tls.ca_pem = Some(pem.into());
        self
    }

    /// Verify the engine's certificate for this name instead of the host.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.tls.server_name = Some(name.into());
        self
    }

    /// Accept any engine certificate. Only for tests against a throwaway engine.
    pub fn danger_insecure_skip_verify(mut self, insecure: bool) -> Self {
        self.tls.insecure_skip_verify = insecure;
        self
    }

    /// Reach the engine through an HTTP CONNECT proxy.
    pub fn proxy(mut self, proxy: ProxySettings) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Connect to this socket address instead of resolving the engine host,
    /// like curl's `--resolve`; TLS still verifies the engine host.
    pub fn connect_to(mut self, address: SocketAddr) -> Self {
        self.connect_to = Some(address);
        self
    }

    /// Bound on TCP connect + TLS handshake (default 15 s). Zero is refused
    /// by [`build`](Self::build), as in the other SDKs.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Bound on every wait for the engine (default 30 s). Zero is refused
    /// by [`build`](Self::build).
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = Some(timeout);
        self
    }

    /// Heartbeat interval (default 5 s; 1 s to 300 s, whole milliseconds).
    /// `None` runs the control channel in legacy mode, without liveness.
    pub fn heartbeat_interval(mut self, interval: Option<Duration>) -> Self {
        self.heartbeat_interval = Some(interval);
        self
    }

    /// How sessions and their tunnels reconnect after losing the engine (default:
    /// [`ReconnectPolicy::default`], first attempt at once, then 1 s
    /// doubling to 30 s). [`ReconnectPolicy::never`] surfaces the first
    /// loss instead.
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Self {
        self.reconnect = Some(policy);
        self
    }

    /// Default zero-RTT mode of accepted and dialed streams (default on).
    pub fn zero_rtt(mut self, zero_rtt: bool) -> Self {
        self.zero_rtt = Some(zero_rtt);
        self
    }

    /// TLS session resumption for every connection to the engine (default
    /// on). Each accepted or dialed stream opens its own TLS connection;
    /// with resumption, all but the first resume an earlier session from an
    /// in-memory ticket cache shared by the client and its clones, which
    /// skips the certificate exchange. Turn it off only to measure what it
    /// saves or to work around an engine that mishandles it.
    pub fn tls_resumption(mut self, enabled: bool) -> Self {
        self.tls_resumption = Some(enabled);
        self
    }

    /// Report another agent name and version to the engine (for tools built
    /// on this crate).
    pub fn agent(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.agent = Some((name.into(), version.into()));
        self
    }

    /// Checks the settings and builds the client (TLS configuration included).
    pub fn build(self) -> Result<Client, Error> {
        let engine = self.engine.ok_or_else(|| {
            Error::config("no engine configured: set RSTREAM_ENGINE or call ClientBuilder::engine")
        })?;
        let (host, port) = split_host_port(&engine)?;
        for (name, timeout) in [
            ("connect_timeout", self.connect_timeout),
            ("operation_timeout", self.operation_timeout),
        ] {
            if timeout == Some(Duration::ZERO) {
                return Err(Error::config(format!(
                    "{name} is zero, which would fail every attempt at once; give it a \
                     positive duration or leave the default"
                )));
            }
        }
        if self.token.is_some() && self.tls.client_identity.is_some() {
            return Err(Error::config(
                "a token and an mTLS certificate were both given: use one of them",
            ));
        }
        let heartbeat_interval = self
            .heartbeat_interval
            .unwrap_or(Some(DEFAULT_HEARTBEAT_INTERVAL));
        if let Some(interval) = heartbeat_interval {
            let ms = interval.as_millis();
            if !(1_000..=300_000).contains(&ms) || interval.subsec_nanos() % 1_000_000 != 0 {
                return Err(Error::config(format!(
                    "heartbeat interval {interval:?} must be whole milliseconds between 1 s and 300 s"
                )));
            }
        }
        let reconnect = self.reconnect.unwrap_or_default();
        reconnect.validate()?;
        let connect_timeout = self
            .connect_timeout
            .unwrap_or(crate::transport::DEFAULT_CONNECT_TIMEOUT);
        let connector = Connector::new(&self.tls, self.proxy.clone(), vec![ALPN_RSTRM.to_vec()])?
            .with_connect_timeout(connect_timeout)
            .with_tls_resumption(self.tls_resumption.unwrap_or(true));
        let (agent, version) = self
            .agent
            .unwrap_or_else(|| (AGENT.into(), env!("CARGO_PKG_VERSION").into()));
        Ok(Client {
            session: Default::default(),
            inner: Arc::new(Link {
                host,
                port,
                token: self.token,
                connect_to: self.connect_to,
                connector,
                operation_timeout: self.operation_timeout.unwrap_or(DEFAULT_OPERATION_TIMEOUT),
                heartbeat_interval,
                reconnect,
                zero_rtt: self.zero_rtt.unwrap_or(true),
                agent,
                version,
                tls: self.tls,
                proxy: self.proxy,
            }),
        })
    }
}

// Compile-time checks: the handle can cross tasks and threads, as its docs promise.
const _: fn() = || {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<Client>();
    send_sync::<ClientBuilder>();
    let _ = <Client as Clone>::clone;
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_config_maps_every_setting() {
        let env: std::collections::HashMap<String, String> = [
            ("RSTREAM_ENGINE", "engine.example.com:8443"),
            ("RSTREAM_AUTHENTICATION_TOKEN", "tok_abc"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let resolved = config::resolve(&ConfigOptions::default(), &env, None, 0).unwrap();
        let client = Client::from_config(&resolved).unwrap();
        assert_eq!(client.engine(), "engine.example.com:8443");
        assert_eq!(
            client.inner().token.as_ref().map(Secret::expose),
            Some("tok_abc")
        );
        assert!(!format!("{client:?}").contains("tok_abc"));

        let none =
            config::resolve(&ConfigOptions::default(), &Default::default(), None, 0).unwrap();
        let err = Client::from_config(&none).unwrap_err();
        assert!(err.to_string().contains("RSTREAM_ENGINE"), "{err}");
    }

    #[test]
    fn zero_timeouts_are_refused() {
        let base = || Client::builder().engine("engine.example.com");
        let err = base().connect_timeout(Duration::ZERO).build().unwrap_err();
        assert!(
            err.is_config() && err.to_string().contains("connect_timeout"),
            "{err}"
        );
        let err = base()
            .operation_timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("operation_timeout"), "{err}");
        base()
            .connect_timeout(Duration::from_millis(1))
            .build()
            .unwrap();
    }

    #[test]
    fn a_region_leaves_the_engine_to_the_control_plane() {
        let env: std::collections::HashMap<String, String> =
            [("RSTREAM_REGION", "eu"), ("RSTREAM_CONTEXT", "m")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
        let file = "contexts:\n  - name: m\n    engine: m.example.com\n    projectEndpoint: p1\n";
        let resolved = config::resolve(&ConfigOptions::default(), &env, Some(file), 0).unwrap();
        assert_eq!(resolved.engine, None);
        assert_eq!(resolved.region.as_deref(), Some("eu"));
        // Not silently the context's engine: the control plane must pick.
        let err = Client::from_config(&resolved).unwrap_err();
        assert!(err.to_string().contains("control plane"), "{err}");
    }

    #[test]
    fn host_port_forms() {
        let ok = [
            ("engine.example.com", ("engine.example.com", 443)),
            ("engine.example.com:8443", ("engine.example.com", 8443)),
            ("127.0.0.1:7000", ("127.0.0.1", 7000)),
            ("[::1]:7000", ("::1", 7000)),
            ("[::1]", ("::1", 443)),
            ("::1", ("::1", 443)),
        ];
        for (input, (host, port)) in ok {
            assert_eq!(
                split_host_port(input).unwrap(),
                (host.to_owned(), port),
                "{input}"
            );
        }
        for bad in ["", "host:0", "host:65536", "host:x", ":443", "[::1]x"] {
            assert!(split_host_port(bad).is_err(), "{bad}");
        }
    }
}
