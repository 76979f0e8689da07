//! The engine HTTP API: live inventory (tunnels, clients), health, and a
//! resuming stream of lifecycle events over server-sent events or
//! WebSocket. Needs the `engine-api` feature.
//!
//! An [`EngineApi`] is made from a [`Client`] and uses the same engine,
//! TLS settings (CA file or PEM, server name, insecure flag, mTLS identity),
//! proxy and token as the runtime, so whatever connects also lists and
//! watches.
//!
//! ```no_run
//! # async fn run() -> rstream_core::Result<()> {
//! use futures_util::StreamExt;
//! use rstream_core::Client;
//! use rstream_core::api::{TunnelFilters, WatchOptions};
//!
//! let client = Client::from_env()?;
//! let api = client.engine_api()?;
//! for tunnel in api.list_tunnels(&TunnelFilters::new().protocol("http"), Some(50)).await? {
//!     println!("{:?} {:?}", tunnel.id, tunnel.name);
//! }
//! let events = api.watch(WatchOptions::new().tunnels(TunnelFilters::new()));
//! futures_util::pin_mut!(events);
//! while let Some(event) = events.next().await {
//!     let event = event?; // only authentication and request errors end the stream
//!     println!("{} {:?}", event.kind, event.tunnel().and_then(|t| t.id));
//! }
//! # Ok(()) }
//! ```
//!
//! A watch that must outlive short-lived tokens takes a fresh one per
//! connection from a [`TokenProvider`] (here minted locally from
//! application credentials; list-only, so it may travel in the URL as the
//! JavaScript SDK sends it):
//!
//! ```no_run
//! # async fn run() -> rstream_core::Result<()> {
//! use rstream_core::api::WatchOptions;
//! use rstream_core::auth::{
//!     AppCredentials, Scope, TokenProvider, TokenRequest, TokenResources, TunnelResource,
//!     TunnelScopes,
//! };
//!
//! let credentials = AppCredentials::from_env()?.expect("RSTREAM_CLIENT_ID and _SECRET");
//! let list_only = TokenRequest::new(TokenResources::tunnels(TunnelResource::scopes(
//!     TunnelScopes::new().list(Scope::Allowed(true)),
//! )))
//! .project("prj_123")
//! .expires_in(120);
//! let api = rstream_core::Client::from_env()?
//!     .engine_api()?
//!     .with_token_provider(TokenProvider::minting(credentials, list_only)?)?;
//! let events = api.watch(WatchOptions::new().query_token(true));
//! # let _ = events; Ok(()) }
//! ```
//!
//! A client authenticating with a certificate and no token finds the API
//! that accepts certificates through the engine's discovery document; see
//! [`EngineApi::api_url`].

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use tokio::sync::OnceCell;

use crate::auth::TokenProvider;
use crate::http::{self, HttpSettings};
use crate::transport::{Connector, ProxySettings, TlsSettings};
use crate::{Client, Error};

mod discovery;
mod filters;
mod items;
mod sse;
mod watch;
mod websocket;

pub use filters::{ClientFilters, TunnelFilters};
pub use items::{ClientItem, EventKind, Health, InitialState, TunnelItem, WatchEvent};
pub use watch::{DEFAULT_WATCH_IDLE_TIMEOUT, WatchOptions, WatchTransport};

/// The query parameter that carries the token on the streaming endpoints
/// (`/api/sse`, `/api/websocket`) when headers cannot.
pub const QUERY_TOKEN_PARAMETER: &str = "rstream.token";

/// `base/<path...>`, each segment percent-encoded.
fn url_on(base: &Url, path: &[&str]) -> Result<Url, Error> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| Error::config("the engine API URL cannot take a path"))?
        .pop_if_empty()
        .extend(path);
    Ok(url)
}

/// Default bound on one inventory or health request.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// A client of one engine's HTTP API. Cheap to clone, `Send + Sync`.
#[derive(Clone)]
pub struct EngineApi {
    inner: Arc<Inner>,
}

struct Inner {
    /// `https://host:port/api`.
    base: Url,
    /// Asked for a token on every request and connection attempt.
    token: Option<TokenProvider>,
    tls: TlsSettings,
    proxy: Option<ProxySettings>,
    route: Route,
    connect_timeout: Duration,
    request_timeout: Duration,
    http: OnceCell<reqwest::Client>,
    /// Opens the TLS connections of WebSocket watches; built on first use.
    ws_connector: OnceCell<Connector>,
    /// For a client that authenticates with a certificate: where the API
    /// accepting it is found (shared by the clones of this client).
    discovery: Option<Arc<discovery::Discovery>>,
    /// The client asking for the discovery document (no certificate).
    discovery_http: OnceCell<reqwest::Client>,
}

/// Where requests for the base URL's host really go.
#[derive(Debug, Clone)]
enum Route {
    /// Resolve the host normally.
    Direct,
    /// Connect to this address.
    To(SocketAddr),
    /// Connect to what this `host:port` resolves to (the URL host is a
    /// server name override).
    Lookup(String, u16),
}

impl fmt::Debug for EngineApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineApi")
            .field("base", &self.inner.base.as_str())
            .field("token", &self.inner.token)
            .field("route", &self.inner.route)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of this engine's HTTP API, with the same TLS settings, proxy
    /// and token. Needs the `engine-api` feature.
    pub fn engine_api(&self) -> Result<EngineApi, Error> {
        EngineApi::new(self)
    }
}

impl EngineApi {
    /// The API of `client`'s engine (`https://<engine>/api`).
    pub fn new(client: &Client) -> Result<EngineApi, Error> {
        let inner = client.inner();
        let name = inner
            .tls
            .server_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        let (host, route) = match (name, inner.connect_to) {
            (Some(name), Some(addr)) => (name.to_owned(), Route::To(addr)),
            (Some(name), None) => (
                name.to_owned(),
                Route::Lookup(inner.host.clone(), inner.port),
            ),
            (None, Some(addr)) => (inner.host.clone(), Route::To(addr)),
            (None, None) => (inner.host.clone(), Route::Direct),
        };
        let authority = if host.contains(':') {
            format!("[{host}]:{}", inner.port)
        } else {
            format!("{host}:{}", inner.port)
        };
        let base = Url::parse(&format!("https://{authority}/api"))
            .map_err(|e| Error::config(format!("cannot form the engine API URL: {e}")))?;
        let mut tls = inner.tls.clone();
        // The URL host already is the server name.
        tls.server_name = None;
        // With a certificate and no token, the engine names the API that
        // accepts certificates (Go, Python: engine discovery).
        let discovery = match (&tls.client_identity, &inner.token) {
            (Some(_), None) => Some(Arc::new(discovery::Discovery::new(&base)?)),
            _ => None,
        };
        EngineApi::build(Inner {
            discovery,
            discovery_http: OnceCell::new(),
            base,
            token: inner.token.clone().map(TokenProvider::fixed),
            tls,
            proxy: inner.proxy.clone(),
            route,
            connect_timeout: crate::DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            http: OnceCell::new(),
            ws_connector: OnceCell::new(),
        })
    }

    /// The same API client, talking to the API at `url` instead (such as
    /// `https://engine-api.example.com/api`); `http://` is accepted for
    /// tests. TLS settings and token stay.
    pub fn with_base_url(&self, url: &str) -> Result<EngineApi, Error> {
        let mut base = Url::parse(url)
            .map_err(|e| Error::config(format!("invalid engine API URL {url:?}: {e}")))?;
        if !matches!(base.scheme(), "https" | "http") || base.host_str().is_none() {
            return Err(Error::config(format!(
                "invalid engine API URL {url:?}: expected https://host[:port]/api"
            )));
        }
        if base.path().ends_with('/') {
            let trimmed = base.path().trim_end_matches('/').to_owned();
            base.set_path(&trimmed);
        }
        EngineApi::build(Inner {
            base,
            route: Route::Direct,
            discovery: None,
            ..self.inner.settings()
        })
    }

    /// The same API client with another bound on each inventory or health
    /// request (default 15 s). Watches are not bounded.
    pub fn with_request_timeout(&self, timeout: Duration) -> Result<EngineApi, Error> {
        EngineApi::build(Inner {
            request_timeout: timeout,
            ..self.inner.settings()
        })
    }

    /// The same API client, asking `provider` for a token on every request
    /// and every watch connection instead of sending one fixed token. A
    /// watch on such a client outlives any one token: see
    /// [`EngineApi::watch`].
    pub fn with_token_provider(&self, provider: TokenProvider) -> Result<EngineApi, Error> {
        EngineApi::build(Inner {
            token: Some(provider),
            ..self.inner.settings()
        })
    }

    fn build(inner: Inner) -> Result<EngineApi, Error> {
        // Build now when no lookup is needed, so that bad TLS settings show
        // up here rather than on the first request.
        let resolve = match &inner.route {
            Route::Direct => Some(None),
            Route::To(addr) => Some(Some(*addr)),
            Route::Lookup(..) => None,
        };
        if let Some(resolve) = resolve {
            let client = inner.http_client(resolve)?;
            let _ = inner.http.set(client);
        }
        Ok(EngineApi {
            inner: Arc::new(inner),
        })
    }

    /// The API base URL, like `https://engine.example.com:443/api`. A
    /// client that authenticates with a certificate (and no token) sends
    /// its requests to the API the engine names at
    /// `/.well-known/rstream/engine` instead; see [`EngineApi::api_url`].
    pub fn base_url(&self) -> &str {
        self.inner.base.as_str()
    }

    /// The API URL requests go to: the base URL, or for a client that
    /// authenticates with a certificate and no token, the mTLS API the
    /// engine names in its discovery document
    /// (`GET https://<engine>/.well-known/rstream/engine`, asked without
    /// presenting the certificate, cached as its `Cache-Control` says: an
    /// hour by default, a day at most). A missing or malformed document is
    /// an error; there is no fallback to the base URL.
    pub async fn api_url(&self) -> Result<Url, Error> {
        let Some(discovery) = &self.inner.discovery else {
            return Ok(self.inner.base.clone());
        };
        let http = self
            .inner
            .discovery_http
            .get_or_try_init(|| async {
                let mut tls = self.inner.tls.clone();
                tls.client_identity = None;
                let addr = self.route_addr().await?;
                self.inner.http_client_with(&tls, addr)
            })
            .await?;
        discovery.api_url(http).await
    }

    /// Lists live tunnels matching `filters`, at most `limit` of them.
    pub async fn list_tunnels(
        &self,
        filters: &TunnelFilters,
        limit: Option<u32>,
    ) -> Result<Vec<TunnelItem>, Error> {
        let filters = (*filters != TunnelFilters::default()).then_some(filters);
        let params = filters::list_params(filters, limit);
        self.get_json(&["tunnels"], params).await
    }

    /// Lists connected clients (runtimes) matching `filters`, at most
    /// `limit` of them.
    pub async fn list_clients(
        &self,
        filters: &ClientFilters,
        limit: Option<u32>,
    ) -> Result<Vec<ClientItem>, Error> {
        let filters = (*filters != ClientFilters::default()).then_some(filters);
        let params = filters::list_params(filters, limit);
        self.get_json(&["clients"], params).await
    }

    /// One live tunnel by id. An unknown id is an [`Error::Http`] with
    /// status 404.
    pub async fn get_tunnel(&self, id: &str) -> Result<TunnelItem, Error> {
        if id.trim().is_empty() {
            return Err(Error::config("a tunnel id is required"));
        }
        self.get_json(&["tunnels", id], None).await
    }

    /// Whether the engine is alive (`GET /api/health/live`). A non-2xx
    /// answer is an [`Error::Http`].
    pub async fn health(&self) -> Result<Health, Error> {
        self.probe("live").await
    }

    /// Whether the engine is ready to serve (`GET /api/health/ready`). A
    /// non-2xx answer is an [`Error::Http`].
    pub async fn ready(&self) -> Result<Health, Error> {
        self.probe("ready").await
    }

    async fn probe(&self, which: &str) -> Result<Health, Error> {
        let (label, response) = self.get(&["health", which], None).await?;
        let status = response.status().as_u16();
        let text = response
            .text()
            .await
            .map_err(|e| http::transport_error(&label, e))?;
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        Ok(Health { status, body })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &[&str],
        params: Option<String>,
    ) -> Result<T, Error> {
        let (label, response) = self.get(path, params).await?;
        http::json(&label, response).await
    }

    /// A bounded GET whose status was a success.
    async fn get(
        &self,
        path: &[&str],
        params: Option<String>,
    ) -> Result<(String, reqwest::Response), Error> {
        let (label, request) = self.request(path, params, false).await?;
        let timeout = self.inner.request_timeout;
        let response = request.timeout(timeout).send().await.map_err(|e| {
            match http::transport_error(&label, e) {
                Error::Timeout { operation, .. } => Error::timeout(operation, timeout),
                other => other,
            }
        })?;
        let response = http::check_status(&label, response).await?;
        Ok((label, response))
    }

    /// A GET request on `base/<path...>` with a fresh token and `params`,
    /// and its label for errors (`GET /api/tunnels`). The token travels as
    /// a bearer token, or with `token_in_query` as the `rstream.token`
    /// query parameter.
    pub(crate) async fn request(
        &self,
        path: &[&str],
        params: Option<String>,
        token_in_query: bool,
    ) -> Result<(String, reqwest::RequestBuilder), Error> {
        let url = url_on(&self.api_url().await?, path)?;
        let label = format!("GET {}", url.path());
        let mut request = self.http().await?.get(url);
        if let Some(params) = params {
            request = request.query(&[("params", params)]);
        }
        if let Some(token) = self.token().await? {
            request = if token_in_query {
                crate::auth::check_url_token(token.expose(), crate::auth::unix_now())?;
                request.query(&[(QUERY_TOKEN_PARAMETER, token.expose())])
            } else {
                request.bearer_auth(token.expose())
            };
        }
        Ok((label, request))
    }

    /// A token for the next request, if the client has any.
    pub(crate) async fn token(&self) -> Result<Option<crate::Secret>, Error> {
        match &self.inner.token {
            Some(provider) => provider.token().await.map(Some),
            None => Ok(None),
        }
    }

    /// `base/<path...>`, each segment percent-encoded.
    #[cfg(test)]
    pub(crate) fn url(&self, path: &[&str]) -> Result<Url, Error> {
        url_on(&self.inner.base, path)
    }

    /// Where requests for the base URL's host are sent, when not resolved
    /// normally.
    async fn route_addr(&self) -> Result<Option<SocketAddr>, Error> {
        Ok(match &self.inner.route {
            Route::Lookup(host, port) => Some(lookup(host, *port).await?),
            Route::To(addr) => Some(*addr),
            Route::Direct => None,
        })
    }

    async fn http(&self) -> Result<&reqwest::Client, Error> {
        self.inner
            .http
            .get_or_try_init(|| async {
                let addr = self.route_addr().await?;
                self.inner.http_client(addr)
            })
            .await
    }
}

impl Inner {
    /// The same settings, with clients yet to be built.
    fn settings(&self) -> Inner {
        Inner {
            base: self.base.clone(),
            token: self.token.clone(),
            tls: self.tls.clone(),
            proxy: self.proxy.clone(),
            route: self.route.clone(),
            connect_timeout: self.connect_timeout,
            request_timeout: self.request_timeout,
            http: OnceCell::new(),
            ws_connector: OnceCell::new(),
            discovery: self.discovery.clone(),
            discovery_http: OnceCell::new(),
        }
    }

    fn http_client(&self, resolve: Option<SocketAddr>) -> Result<reqwest::Client, Error> {
        self.http_client_with(&self.tls, resolve)
    }

    fn http_client_with(
        &self,
        tls: &TlsSettings,
        resolve: Option<SocketAddr>,
    ) -> Result<reqwest::Client, Error> {
        let host = self.base.host_str().unwrap_or_default().to_owned();
        http::client(&HttpSettings {
            tls: Some(tls),
            proxy: self.proxy.as_ref(),
            resolve: resolve.map(|addr| (host.as_str(), addr)),
            connect_timeout: Some(self.connect_timeout),
        })
    }
}

async fn lookup(host: &str, port: u16) -> Result<SocketAddr, Error> {
    tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Error::io(format!("resolving {host}"), e))?
        .next()
        .ok_or_else(|| {
            Error::io(
                format!("resolving {host}"),
                std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_routes() {
        let client = Client::builder()
            .engine("engine.example.com:8443")
            .token("tok_secret")
            .build()
            .unwrap();
        let api = client.engine_api().unwrap();
        assert_eq!(api.base_url(), "https://engine.example.com:8443/api");
        assert_eq!(
            api.url(&["tunnels", "a b/c"]).unwrap().as_str(),
            "https://engine.example.com:8443/api/tunnels/a%20b%2Fc"
        );
        assert!(!format!("{api:?}").contains("tok_secret"));

        let client = Client::builder()
            .engine("[::1]:7000")
            .connect_to("127.0.0.1:7000".parse().unwrap())
            .build()
            .unwrap();
        let api = client.engine_api().unwrap();
        assert_eq!(api.base_url(), "https://[::1]:7000/api");
        assert!(matches!(api.inner.route, Route::To(_)));

        let client = Client::builder()
            .engine("127.0.0.1:7000")
            .server_name("engine.test")
            .build()
            .unwrap();
        let api = client.engine_api().unwrap();
        assert_eq!(api.base_url(), "https://engine.test:7000/api");
        assert!(matches!(api.inner.route, Route::Lookup(..)));

        let other = api.with_base_url("http://127.0.0.1:9/api/").unwrap();
        assert_eq!(
            other.url(&["sse"]).unwrap().as_str(),
            "http://127.0.0.1:9/api/sse"
        );
        assert!(api.with_base_url("ftp://x/api").is_err());
        assert!(api.with_base_url("not a url").is_err());
    }

    #[test]
    fn bad_ca_fails_at_construction() {
        let client = Client::builder()
            .engine("engine.example.com")
            .ca_pem("not a certificate")
            .build();
        // The runtime already refuses it; the API never sees it.
        assert!(client.is_err());
    }

    #[test]
    fn public_types_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<EngineApi>();
        check::<TunnelFilters>();
        check::<ClientFilters>();
        check::<TunnelItem>();
        check::<ClientItem>();
        check::<WatchEvent>();
        check::<WatchOptions>();
    }
}
