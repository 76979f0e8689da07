//! A local rstream engine on loopback, for developing and testing an
//! application that serves through rstream tunnels: offline, in your own
//! crate's tests and CI, with no account and no network.
//!
//! ```
//! use axum::{Router, routing::get};
//! use rstream_core::TunnelOptions;
//! use rstream_local_engine::LocalEngine;
//!
//! // In your crate: `#[tokio::test]` on this function.
//! async fn my_app_answers_through_a_tunnel() -> Result<(), Box<dyn std::error::Error>> {
//!     let engine = LocalEngine::builder().start().await?;
//!     let client = engine.client_builder().build()?; // address, CA and token set
//!     let control = client.connect().await?;
//!     let tunnel = control.create_tunnel(TunnelOptions::http().publish(true)).await?;
//!     let address = tunnel.forwarding_address();
//!
//!     let app = Router::new().route("/", get(|| async { "hello from my app" }));
//!     tokio::spawn(axum::serve(rstream_axum::TunnelListener::new(tunnel), app).into_future());
//!
//!     let response = engine.get(&address, "/").await?; // through the engine's HTTP edge
//!     assert_eq!((response.status, response.text().as_str()), (200, "hello from my app"));
//!     Ok(())
//! }
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() { my_app_answers_through_a_tunnel().await.unwrap() }
//! ```
//!
//! Add it with `cargo add --dev rstream-local-engine`; `cargo install
//! rstream-local-engine` gives the `rstream-local-engine` binary, which
//! starts the same engine and prints its addresses as one JSON line, for
//! the rstream SDKs of other languages and the CLI.
//!
//! **This is a development and test tool, never a production engine.** It
//! keeps everything in memory, trusts a CA it generates at start, enforces
//! no edge authentication, and exists to exercise rstream runtimes (ours and
//! the official SDKs) on loopback.
//!
//! [`LocalEngine`] speaks the engine side of the rstream runtime protocol
//! 1.4.5 over TLS (ALPN `rstrm/1`) on `127.0.0.1`:
//!
//! - control channels with token authentication, protocol version checks,
//!   liveness negotiation and heartbeat acknowledgements;
//! - tunnels: published http tunnels get a hostname under `localhost`,
//!   served by a plain-HTTP edge that routes by `Host`; tcp tunnels get their
//!   own TCP edge listener; private tunnels are dialed by id or name;
//! - streams announced with a per-stream secret and the real source address,
//!   in both zero-RTT modes, optionally through a separate proxy endpoint;
//! - a subset of the engine HTTP API (inventory, health, server-sent events)
//!   on the engine port, for clients offering ALPN `http/1.1`;
//! - fault injection ([`Faults`]) and restarts on the same ports.
//!
//! What runtimes see:
//!
//! - Tunnel ids look like `tun_<hex>`, client ids `cli_<hex>`, stream ids
//!   `str_<hex>`; every stream gets its own secret.
//! - A published http tunnel gets the hostname it asks for (refused with
//!   "Hostname is already in use." when taken), else `<name>.localhost`
//!   when its name makes a free DNS label, else `t<hex>.localhost`; its
//!   `port` is the HTTP edge's, so the forwarding address is
//!   `https://<hostname>:<edge port>` (the edge itself speaks plain HTTP:
//!   use [`LocalEngine::edge_url`]). The edge routes HTTP/1.x by `Host`;
//!   one edge connection goes to one tunnel.
//! - A tcp tunnel gets the port it asks for on `127.0.0.1` (refused with
//!   "TCP port is already in use." when taken) or one chosen by the OS, and
//!   the hostname `localhost`.
//! - Datagram tunnels, published tls tunnels and HTTP/3 are refused with
//!   `FEATURE_NOT_AVAILABLE`.
//! - Liveness: the engine echoes the requested interval with a timeout of
//!   three intervals, and acknowledges every heartbeat (unless paused).
//! - With zero-RTT off, the `ProxyRsp` goes out with the edge client's
//!   first bytes (see [`LocalEngineBuilder::zero_rtt_coalesce`]); a private
//!   dial with zero-RTT off gets its `StreamRsp` once the runtime's proxy
//!   connection is there; with zero-RTT on, a refused dial is just closed.
//! - Streams are spliced with no half-close: when either side ends, both
//!   are closed, after every byte before the end was delivered.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use rstream_local_engine::LocalEngine;
//!
//! let engine = LocalEngine::builder().token("tok_test").start().await?;
//! let client = rstream_core::Client::builder()
//!     .engine(engine.engine_address())
//!     .token("tok_test")
//!     .ca_pem(engine.ca_pem())
//!     .build()?;
//! let control = client.connect().await?;
//! # drop(control);
//! engine.shutdown().await;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod api;
mod control;
mod edge;
mod error;
mod faults;
mod pki;
pub mod raw;
mod request;
mod state;
mod streams;

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rstream_core::proto::{ClientDetails, TunnelProperties};
use tokio::io::DuplexStream;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use error::Error;
pub use faults::{Faults, IncomingStream};
pub use request::EdgeResponse;

pub use state::TrustedApp;
use state::{Settings, Shared};

/// Counts of `rstrm/1` TLS handshakes, from [`LocalEngine::tls_handshakes`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlsHandshakes {
    /// Handshakes that ran in full (a certificate and a key exchange).
    pub full: u64,
    /// Handshakes that resumed an earlier session.
    pub resumed: u64,
}

/// Builds a [`LocalEngine`].
#[derive(Clone, Debug)]
pub struct LocalEngineBuilder {
    token: Option<String>,
    no_auth: bool,
    apps: Vec<TrustedApp>,
    client_certificates: bool,
    proxy_endpoint: bool,
    zero_rtt_coalesce: bool,
    engine_port: u16,
    edge_port: u16,
}

impl Default for LocalEngineBuilder {
    fn default() -> Self {
        LocalEngineBuilder {
            token: None,
            no_auth: false,
            apps: Vec::new(),
            client_certificates: false,
            proxy_endpoint: false,
            zero_rtt_coalesce: true,
            engine_port: 0,
            edge_port: 0,
        }
    }
}

impl LocalEngineBuilder {
    /// The token runtimes must present (default: a random one).
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self.no_auth = false;
        self
    }

    /// Also accept the tokens an application mints from its credentials
    /// (ES512 JWTs with `type: app`, as `rstream_core::auth` signs them):
    /// those whose `clientId` is `client_id`, whose signature verifies
    /// with `public_key_sec1` (see `AppCredentials::public_key_sec1`) and
    /// which have not expired. They are accepted on the control channel,
    /// for dials and on the API until their `exp`, and an event stream
    /// opened with one ends then.
    pub fn trust_app(mut self, client_id: &str, public_key_sec1: Vec<u8>) -> Self {
        self.apps.push(TrustedApp {
            client_id: client_id.to_owned(),
            public_key_sec1,
        });
        self
    }

    /// Let clients authenticate to the HTTP API with a certificate signed
    /// by the engine's CA (see [`LocalEngine::client_identity`]) instead of
    /// a token, and serve the discovery document mTLS clients read first
    /// (`GET /.well-known/rstream/engine`, naming `https://localhost:<engine
    /// port>/api` as the mTLS API). Off by default: the server then asks
    /// for no certificate.
    pub fn client_certificates(mut self, enabled: bool) -> Self {
        self.client_certificates = enabled;
        self
    }

    /// Accept any token, or none.
    pub fn no_auth(mut self) -> Self {
        self.token = None;
        self.no_auth = true;
        self
    }

    /// Redirect proxy connections to a separate endpoint (its own port on
    /// `localhost`), named in every `ProxyConnReq`; the engine port then
    /// refuses `ProxyReq`.
    pub fn proxy_endpoint(mut self, enabled: bool) -> Self {
        self.proxy_endpoint = enabled;
        self
    }

    /// When a runtime waits for a `ProxyRsp` (zero-RTT off), write it in the
    /// same write as the edge client's first bytes (default: on; the engine
    /// waits up to 500 ms for them).
    pub fn zero_rtt_coalesce(mut self, enabled: bool) -> Self {
        self.zero_rtt_coalesce = enabled;
        self
    }

    /// The engine port (default 0: chosen by the OS).
    pub fn engine_port(mut self, port: u16) -> Self {
        self.engine_port = port;
        self
    }

    /// The HTTP edge port (default 0: chosen by the OS).
    pub fn edge_port(mut self, port: u16) -> Self {
        self.edge_port = port;
        self
    }

    /// Generates the certificates, binds the ports on `127.0.0.1` and starts
    /// serving.
    pub async fn start(self) -> Result<LocalEngine, Error> {
        let token = match (self.no_auth, self.token) {
            (true, _) => None,
            (false, Some(t)) => Some(t),
            (false, None) => Some(format!("tok_local_{}", uuid::Uuid::new_v4().simple())),
        };
        let pki = Arc::new(pki::Pki::generate()?);
        let tls = pki.server_config(self.client_certificates)?;
        let engine = bind(self.engine_port).await?;
        let edge = bind(self.edge_port).await?;
        let proxy = if self.proxy_endpoint {
            Some(bind(0).await?)
        } else {
            None
        };
        let local = |l: &TcpListener| {
            l.local_addr()
                .map_err(|e| Error::io("reading a listener address", e))
        };
        let (events, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            settings: Settings {
                token,
                apps: self.apps,
                client_certificates: self.client_certificates,
                proxy_endpoint: self.proxy_endpoint,
                coalesce: self.zero_rtt_coalesce,
            },
            engine_addr: local(&engine)?,
            edge_addr: local(&edge)?,
            proxy_addr: proxy.as_ref().map(local).transpose()?,
            tls,
            state: Default::default(),
            faults: Default::default(),
            api_tokens: Default::default(),
            events,
            run: Mutex::new(CancellationToken::new()),
            handshakes: Default::default(),
        });
        let ca_file = CaFile::write(&pki.ca_pem)?;
        let tasks = spawn_listeners(&shared, engine, edge, proxy);
        Ok(LocalEngine {
            shared,
            pki: pki.clone(),
            ca_pem: pki.ca_pem.clone(),
            ca_file,
            tasks: Mutex::new(tasks),
        })
    }
}

async fn bind(port: u16) -> Result<TcpListener, Error> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut last = None;
    // After a restart the old sockets may take a moment to go.
    for _ in 0..100 {
        let socket = TcpSocket::new_v4().map_err(|e| Error::io("creating a socket", e))?;
        socket
            .set_reuseaddr(true)
            .map_err(|e| Error::io("setting SO_REUSEADDR", e))?;
        match socket.bind(addr).and_then(|()| socket.listen(1024)) {
            Ok(l) => return Ok(l),
            Err(e) if port != 0 && e.kind() == std::io::ErrorKind::AddrInUse => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(Error::io(format!("binding {addr}"), e)),
        }
    }
    Err(Error::io(
        format!("binding {addr}"),
        last.unwrap_or_else(|| std::io::Error::other("address in use")),
    ))
}

fn spawn_listeners(
    shared: &Arc<Shared>,
    engine: TcpListener,
    edge: TcpListener,
    proxy: Option<TcpListener>,
) -> Vec<JoinHandle<()>> {
    let run = shared.run_token();
    let mut tasks = vec![
        tokio::spawn(control::listen(shared.clone(), engine, run.clone(), false)),
        tokio::spawn(edge::serve_http(shared.clone(), edge, run.clone())),
    ];
    if let Some(proxy) = proxy {
        tasks.push(tokio::spawn(control::listen(
            shared.clone(),
            proxy,
            run.clone(),
            true,
        )));
    }
    tasks
}

/// The CA certificate in a temporary file, removed when the engine goes.
#[derive(Debug)]
struct CaFile {
    dir: PathBuf,
    path: PathBuf,
}

impl CaFile {
    fn write(pem: &str) -> Result<CaFile, Error> {
        let dir = std::env::temp_dir().join(format!(
            "rstream-local-engine-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating a temporary dir", e))?;
        let path = dir.join("ca.pem");
        std::fs::write(&path, pem).map_err(|e| Error::io("writing the CA file", e))?;
        Ok(CaFile { dir, path })
    }
}

impl Drop for CaFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A local rstream engine on loopback, for tests and examples. Never for
/// production.
///
/// Dropping it stops every task; [`shutdown`](Self::shutdown) also waits
/// for the listeners to close.
pub struct LocalEngine {
    shared: Arc<Shared>,
    ca_pem: String,
    ca_file: CaFile,
    pki: Arc<pki::Pki>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for LocalEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEngine")
            .field("engine", &self.shared.engine_addr)
            .field("edge", &self.shared.edge_addr)
            .field("proxy_endpoint", &self.shared.proxy_addr)
            .field("auth", &self.shared.settings.token.is_some())
            .finish()
    }
}

impl Drop for LocalEngine {
    fn drop(&mut self) {
        self.shared.run_token().cancel();
    }
}

impl LocalEngine {
    /// A builder with defaults: random token, OS-chosen ports, no proxy
    /// endpoint, coalesced `ProxyRsp`.
    pub fn builder() -> LocalEngineBuilder {
        LocalEngineBuilder::default()
    }

    /// The engine address for runtimes, `localhost:<port>` (the
    /// certificate covers `localhost`, `*.localhost` and `127.0.0.1`).
    pub fn engine_address(&self) -> String {
        format!("localhost:{}", self.shared.engine_addr.port())
    }

    /// The engine's socket address on `127.0.0.1`.
    pub fn engine_addr(&self) -> SocketAddr {
        self.shared.engine_addr
    }

    /// The plain-HTTP edge's socket address on `127.0.0.1`. Requests are
    /// routed by `Host: <hostname>[:port]` to published http tunnels.
    pub fn edge_addr(&self) -> SocketAddr {
        self.shared.edge_addr
    }

    /// The edge URL of a published http tunnel's hostname, like
    /// `http://web.localhost:<edge port>`.
    pub fn edge_url(&self, hostname: &str) -> String {
        format!("http://{hostname}:{}", self.shared.edge_addr.port())
    }

    /// Sends `GET path` through the edge to the published http tunnel at
    /// `target` (its forwarding address, a URL or a hostname) and reads the
    /// whole response: what a browser or `curl` would get from the engine.
    pub async fn get(&self, target: &str, path: &str) -> Result<EdgeResponse, Error> {
        self.request(target, "GET", path, b"").await
    }

    /// Sends one request (`Connection: close`, with `body` and its
    /// `Content-Length`) through the edge to the published http tunnel at
    /// `target`, and reads the whole response.
    pub async fn request(
        &self,
        target: &str,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<EdgeResponse, Error> {
        let host = request::hostname(target);
        request::send(self.shared.edge_addr, host, method, path, body).await
    }

    /// Routes edge requests for `hostname` to the TLS server at `upstream`
    /// (trusting the CA certificates in `ca_pem`, checking the name
    /// `server_name`) instead of to a tunnel: the edge relays the bytes over
    /// TLS, as it does to a runtime. A baseline that pays the same engine
    /// cost as a tunnel, for benchmarks ("relayed TLS").
    pub fn relay_to_tls(
        &self,
        hostname: &str,
        upstream: SocketAddr,
        ca_pem: &str,
        server_name: &str,
    ) -> Result<(), Error> {
        use rustls::pki_types::pem::PemObject;
        let tls_err = |e: &dyn std::fmt::Display| Error::Tls(e.to_string());
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots
                .add(cert.map_err(|e| tls_err(&e))?)
                .map_err(|e| tls_err(&e))?;
        }
        // The runtime's cipher preference, so both legs cost the same.
        let mut provider = rustls::crypto::ring::default_provider();
        provider
            .cipher_suites
            .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err(&e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let server_name = rustls::pki_types::ServerName::try_from(server_name.to_owned())
            .map_err(|e| tls_err(&e))?;
        self.shared.lock().relays.insert(
            hostname.to_ascii_lowercase(),
            state::Relay {
                upstream,
                tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
                server_name,
            },
        );
        Ok(())
    }

    /// How many streams are spliced between an edge client (or a dialer) and
    /// a runtime right now.
    pub fn open_streams(&self) -> usize {
        self.shared.lock().live.len()
    }

    /// Waits until no stream is spliced any more (every byte a runtime
    /// wrote has reached its edge client), at most `timeout`; returns
    /// whether that happened. For an app that serves through an in-process
    /// engine and wants to exit without cutting its last response.
    pub async fn streams_drained(&self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, async {
            while self.open_streams() > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .is_ok()
    }

    /// How many `rstrm/1` TLS handshakes (control channels, accepted and
    /// dialed streams) the engine completed so far, and how many of them
    /// resumed an earlier session: what a runtime's session resumption saves.
    pub fn tls_handshakes(&self) -> TlsHandshakes {
        use std::sync::atomic::Ordering;
        let [full, resumed] = &self.shared.handshakes;
        TlsHandshakes {
            full: full.load(Ordering::Relaxed),
            resumed: resumed.load(Ordering::Relaxed),
        }
    }

    /// The proxy endpoint's address, when enabled.
    pub fn proxy_endpoint_addr(&self) -> Option<SocketAddr> {
        self.shared.proxy_addr
    }

    /// The engine API base URL, `https://localhost:<engine port>/api`.
    pub fn api_url(&self) -> String {
        format!("https://localhost:{}/api", self.shared.engine_addr.port())
    }

    /// The CA certificate (PEM) that signed the engine's certificate.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// A file holding [`ca_pem`](Self::ca_pem), removed with the engine.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file.path
    }

    /// A new client certificate and key (PEM), signed by the engine's CA,
    /// named `name`; the API accepts it in place of a token when the engine
    /// was built with [`LocalEngineBuilder::client_certificates`].
    pub fn client_identity(&self, name: &str) -> Result<(String, String), Error> {
        self.pki.client_identity(name)
    }

    /// The token the engine accepts, or `None` with no auth.
    pub fn token(&self) -> Option<&str> {
        self.shared.settings.token.as_deref()
    }

    /// A new API token accepted for `ttl` from now, beside [`token`](Self::token):
    /// inventory requests and watches accept it (as a bearer token or as
    /// the `rstream.token` query parameter) until it expires, and an event
    /// stream opened with it ends when it does, as a short-lived token's
    /// would on a real engine.
    ///
    /// The token is shaped like a hosted project's short-lived watch token
    /// (a JWT whose claims say `type: app`, `iat`, `exp` and list-only
    /// tunnel resources), so that it meets the rules for a token in a URL;
    /// its signature is not a real one, and this engine checks only that
    /// it issued the token.
    pub fn issue_api_token(&self, ttl: Duration) -> String {
        use base64::Engine as _;
        let b64 = |text: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let claims = serde_json::json!({
            "type": "app",
            "clientId": "local-engine",
            "iat": now,
            "exp": now + ttl.as_secs() + 2,
            "resources": {"tunnels": {"scopes": {"tunnels": {"list": true}}}},
            "jti": uuid::Uuid::new_v4().simple().to_string(),
        });
        let token = format!(
            "{}.{}.{}",
            b64(r#"{"alg":"ES512","typ":"JWT"}"#.to_owned()),
            b64(claims.to_string()),
            b64("local-engine".to_owned())
        );
        let expiry = tokio::time::Instant::now() + ttl;
        self.shared
            .api_tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(token.clone(), expiry);
        token
    }

    /// A client builder aimed at this engine: address, CA and token set.
    pub fn client_builder(&self) -> rstream_core::ClientBuilder {
        let builder = rstream_core::Client::builder()
            .engine(self.engine_address())
            .ca_pem(self.ca_pem());
        match self.token() {
            Some(token) => builder.token(token),
            None => builder,
        }
    }

    /// The open tunnels' properties (id, hostname, port… as assigned),
    /// oldest first.
    pub fn tunnels(&self) -> Vec<TunnelProperties> {
        let state = self.shared.lock();
        let mut tunnels: Vec<_> = state.tunnels.values().collect();
        tunnels.sort_by_key(|t| t.seq);
        tunnels.into_iter().map(|t| t.props.clone()).collect()
    }

    /// The client details of every control channel request, as received
    /// (refused ones included), oldest first (the most recent 10,000).
    pub fn client_details(&self) -> Vec<ClientDetails> {
        self.shared.lock().client_details.clone()
    }

    /// The tokens seen in `ProxyReq` messages (the per-stream secrets when
    /// runtimes behave), oldest first (the most recent 10,000).
    pub fn proxy_req_tokens(&self) -> Vec<String> {
        self.shared.lock().proxy_req_tokens.clone()
    }

    /// Opens a stream to `tunnel_id` as if an edge client connected from
    /// `source_ip`: the engine sends a `ProxyConnReq` and waits for the
    /// runtime's proxy connection. Resolves to the edge client's end; fails
    /// when the tunnel is unknown or the stream is refused.
    ///
    /// The future borrows nothing from the engine.
    pub fn open_stream(
        &self,
        tunnel_id: &str,
        source_ip: IpAddr,
    ) -> impl Future<Output = Result<DuplexStream, Error>> + Send + use<> {
        let shared = self.shared.clone();
        let tunnel_id = tunnel_id.to_owned();
        async move {
            let up = streams::request_stream(&shared, &tunnel_id, source_ip).await?;
            Ok(streams::spawn_duplex(&shared, up))
        }
    }

    /// Fault injection.
    pub fn faults(&self) -> Faults {
        Faults::new(self.shared.clone())
    }

    fn stop_run(&self) -> Vec<JoinHandle<()>> {
        let old = {
            let mut run = self.shared.run.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(&mut *run, CancellationToken::new())
        };
        old.cancel();
        let channels: Vec<u64> = self.shared.lock().channels.keys().copied().collect();
        for id in channels {
            self.shared.remove_channel(id);
        }
        {
            let mut state = self.shared.lock();
            state.pending.clear();
            for (_, live) in state.live.drain() {
                live.cancel();
            }
        }
        std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Stops serving and drops every connection.
    pub async fn shutdown(&self) {
        for task in self.stop_run() {
            let _ = task.await;
        }
        self.shared.run_token().cancel();
    }

    /// Drops every connection and stream, forgets every tunnel, and serves
    /// again on the same ports (same certificates, same token).
    pub async fn restart(&self) -> Result<(), Error> {
        for task in self.stop_run() {
            let _ = task.await;
        }
        let engine = bind(self.shared.engine_addr.port()).await?;
        let edge = bind(self.shared.edge_addr.port()).await?;
        let proxy = match self.shared.proxy_addr {
            Some(a) => Some(bind(a.port()).await?),
            None => None,
        };
        let tasks = spawn_listeners(&self.shared, engine, edge, proxy);
        *self.tasks.lock().unwrap_or_else(|e| e.into_inner()) = tasks;
        Ok(())
    }
}
