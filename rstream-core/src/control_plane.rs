//! The rstream control plane: which engine serves a managed project, and
//! short-lived tokens. Needs the `control-plane` feature.
//!
//! ```no_run
//! # async fn run() -> rstream_core::Result<()> {
//! use rstream_core::auth::{Scope, TokenRequest, TokenResources, TunnelResource, TunnelScopes};
//! use rstream_core::control_plane::ControlPlane;
//!
//! let control_plane = ControlPlane::builder().token("tok_...").build()?;
//! let engine = control_plane.resolve_engine("my-project", Some("eu-west-3")).await?;
//! println!("engine: {engine}");
//! // Listing only, in project prj_123, for five minutes.
//! let list_only = TokenResources::tunnels(TunnelResource::scopes(
//!     TunnelScopes::new().list(Scope::Allowed(true)),
//! ));
//! let short = control_plane
//!     .create_token(&TokenRequest::new(list_only).project("prj_123").expires_in(300))
//!     .await?;
//! # let _ = short;
//! # Ok(()) }
//! ```

use std::fmt;
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use crate::auth::{AppCredentials, TokenRequest, TokenResources};
use crate::config::{ConfigOptions, Credentials, DEFAULT_API_URL, EngineAddress, ResolvedConfig};
use crate::http::{self, HttpSettings};
use crate::transport::{ProxySettings, TlsSettings};
use crate::{Client, ClientBuilder, Error, Secret};

mod hosted;

pub use hosted::{ProjectPage, ProjectQuery, ProjectRef, Whoami};

/// Default bound on one control-plane request.
pub const DEFAULT_CONTROL_PLANE_TIMEOUT: Duration = Duration::from_secs(15);

/// A client of the control-plane API (`https://rstream.io` by default).
/// Cheap to clone, `Send + Sync`; `Debug` hides the token and header values.
#[derive(Clone)]
pub struct ControlPlane {
    api_url: Url,
    token: Option<Secret>,
    /// When set, each request carries a fresh token minted from these.
    app: Option<AppCredentials>,
    headers: reqwest::header::HeaderMap,
    timeout: Duration,
    http: reqwest::Client,
    /// Where TURN keyring keys are fetched (default: the API URL).
    turn_keyring_url: Option<Url>,
}

impl fmt::Debug for ControlPlane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControlPlane")
            .field("api_url", &self.api_url.as_str())
            .field("token", &self.token)
            .field("app", &self.app)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Builds a [`ControlPlane`].
#[derive(Debug, Default)]
pub struct ControlPlaneBuilder {
    api_url: Option<String>,
    token: Option<Secret>,
    headers: Vec<(String, String)>,
    tls: TlsSettings,
    proxy: Option<ProxySettings>,
    timeout: Option<Duration>,
    turn_keyring_url: Option<String>,
}

impl ControlPlaneBuilder {
    /// The API URL (default `https://rstream.io`).
    pub fn api_url(mut self, url: impl Into<String>) -> Self {
        self.api_url = Some(url.into());
        self
    }

    /// The bearer token.
    pub fn token(mut self, token: impl Into<Secret>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// An extra header sent with every request (later ones win).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Trust the CAs in this PEM text, in addition to the system roots.
    pub fn ca_pem(mut self, pem: impl Into<String>) -> Self {
        self.tls.ca_pem = Some(pem.into());
        self
    }

    /// Send HTTPS requests through this proxy (except to the hosts its
    /// `no_proxy` matches). Without one, no proxy is used: the
    /// environment is read by [`ProxySettings::from_environment`] or by the
    /// configuration ([`ControlPlane::from_config`]), never here.
    pub fn proxy(mut self, proxy: ProxySettings) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Where TURN keyring keys are fetched from
    /// (`<url>/keyrings/turn/<realm>.spki.der.hex`); the API URL by default.
    pub fn turn_keyring_url(mut self, url: impl Into<String>) -> Self {
        self.turn_keyring_url = Some(url.into());
        self
    }

    /// Bound on each request (default 15 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Checks the settings and builds the client.
    pub fn build(self) -> Result<ControlPlane, Error> {
        let text = self.api_url.as_deref().unwrap_or(DEFAULT_API_URL).trim();
        let mut api_url = Url::parse(text)
            .map_err(|e| Error::config(format!("invalid control-plane API URL {text:?}: {e}")))?;
        if !matches!(api_url.scheme(), "https" | "http")
            || api_url.host_str().is_none()
            || api_url.query().is_some()
            || api_url.fragment().is_some()
            || !api_url.username().is_empty()
        {
            return Err(Error::config(format!(
                "invalid control-plane API URL {text:?}: expected https://host[:port]"
            )));
        }
        let path = api_url.path().trim_end_matches('/').to_owned();
        api_url.set_path(&path);
        let turn_keyring_url = match self.turn_keyring_url.as_deref().map(str::trim) {
            None => None,
            Some(text) => {
                let url = Url::parse(text).map_err(|e| {
                    Error::config(format!("invalid TURN keyring URL {text:?}: {e}"))
                })?;
                if !matches!(url.scheme(), "https" | "http")
                    || url.host_str().is_none()
                    || url.query().is_some()
                    || url.fragment().is_some()
                    || !url.username().is_empty()
                {
                    return Err(Error::config(format!(
                        "invalid TURN keyring URL {text:?}: expected https://host[:port][/path]"
                    )));
                }
                Some(url)
            }
        };
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &self.headers {
            let header =
                reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| {
                    Error::config(format!("invalid control-plane header name {name:?}"))
                })?;
            let value = reqwest::header::HeaderValue::from_str(value.trim()).map_err(|_| {
                Error::config(format!("invalid value for control-plane header {name}"))
            })?;
            headers.insert(header, value);
        }
        let http = http::client(&HttpSettings {
            tls: Some(&self.tls),
            proxy: self.proxy.as_ref(),
            ..HttpSettings::default()
        })?;
        Ok(ControlPlane {
            api_url,
            token: self.token,
            app: None,
            headers,
            timeout: self.timeout.unwrap_or(DEFAULT_CONTROL_PLANE_TIMEOUT),
            http,
            turn_keyring_url,
        })
    }
}

impl ControlPlane {
    /// Starts a [`ControlPlaneBuilder`].
    pub fn builder() -> ControlPlaneBuilder {
        ControlPlaneBuilder::default()
    }

    /// The control plane a resolved configuration names: its API URL, its
    /// control-plane headers, its proxy ([`ResolvedConfig::api_proxy`])
    /// and, when it authenticates with a token, that token.
    pub fn from_config(config: &ResolvedConfig) -> Result<ControlPlane, Error> {
        let mut builder = ControlPlane::builder().api_url(config.api_url.clone());
        if let Some(proxy) = &config.api_proxy {
            builder = builder.proxy(proxy.clone());
        }
        if let Credentials::Token(token) = &config.credentials {
            builder = builder.token(token.clone());
        }
        for (name, value) in &config.api_headers {
            builder = builder.header(name.clone(), value.clone());
        }
        builder.build()
    }

    /// The API URL, without trailing slash.
    pub fn api_url(&self) -> &str {
        self.api_url.as_str().trim_end_matches('/')
    }

    /// The managed project behind `endpoint`
    /// (`GET /api/projects/tunnels/resolve/{endpoint}`).
    pub async fn resolve_project(&self, endpoint: &str) -> Result<Project, Error> {
        let endpoint = endpoint.trim();
        if endpoint.is_empty() {
            return Err(Error::config("a project endpoint is required"));
        }
        let url = self.url(&["api", "projects", "tunnels", "resolve", endpoint])?;
        let label = format!("GET {}", url.path());
        let request = self.http.get(url);
        let response = self.send(&label, request).await?;
        let project: Project = http::json(&label, response).await?;
        project.check()?;
        Ok(project)
    }

    /// The engine serving project `endpoint`, in `region` when given (see
    /// [`Project::engine_address`]).
    pub async fn resolve_engine(
        &self,
        endpoint: &str,
        region: Option<&str>,
    ) -> Result<EngineAddress, Error> {
        self.resolve_project(endpoint).await?.engine_address(region)
    }

    /// Has the control plane mint a short-lived token
    /// (`POST /api/tokens`, as the Go SDK's `CreateToken`): the body is
    /// `{expires_in, permissions, resources}` with the same typed
    /// boundaries, checks and project binding as a token minted locally
    /// (see [`crate::auth`]); a request failing them is an
    /// [`Error::Invalid`] and nothing is sent.
    pub async fn create_token(&self, request: &TokenRequest) -> Result<Secret, Error> {
        let body = TokenBody::new(request)?;
        let url = self.url(&["api", "tokens"])?;
        let label = format!("POST {}", url.path());
        let response = self.send(&label, self.http.post(url).json(&body)).await?;
        #[derive(Deserialize)]
        struct Minted {
            token: String,
        }
        let minted: Minted = http::json(&label, response).await?;
        if minted.token.trim().is_empty() {
            return Err(Error::protocol(format!("{label}: the token is empty")));
        }
        Ok(Secret::from(minted.token))
    }

    fn url(&self, segments: &[&str]) -> Result<Url, Error> {
        let mut url = self.api_url.clone();
        url.path_segments_mut()
            .map_err(|()| Error::config("the control-plane API URL cannot take a path"))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn send(
        &self,
        label: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Error> {
        let mut request = request
            .headers(self.headers.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(self.timeout);
        if let Some(token) = self.bearer()? {
            request = request.bearer_auth(token.expose());
        }
        let response = request
            .send()
            .await
            .map_err(|e| match http::transport_error(label, e) {
                Error::Timeout { operation, .. } => Error::timeout(operation, self.timeout),
                other => other,
            })?;
        http::check_status(label, response).await
    }
}

impl ClientBuilder {
    /// A builder preset from a resolved configuration, asking the control
    /// plane for the engine when the configuration names a managed project
    /// endpoint but no engine, or a region. Needs the `control-plane`
    /// feature.
    ///
    /// The control plane is the configuration's (`apiUrl`, extra headers)
    /// and is called with the configuration's token.
    pub async fn resolve(config: &ResolvedConfig) -> Result<ClientBuilder, Error> {
        if let (Some(engine), None) = (&config.engine, &config.region) {
            return Ok(ClientBuilder::from_config_with_engine(
                config,
                engine.to_string(),
            ));
        }
        let Some(endpoint) = &config.project_endpoint else {
            return ClientBuilder::from_config(config);
        };
        let engine = ControlPlane::from_config(config)?
            .resolve_engine(endpoint, config.region.as_deref())
            .await?;
        Ok(ClientBuilder::from_config_with_engine(
            config,
            engine.to_string(),
        ))
    }
}

impl Client {
    /// Like [`Client::from_env`], but a configuration context naming only a
    /// managed project (`projectEndpoint`, optionally `region`) works too:
    /// the control plane names its engine. Needs the `control-plane`
    /// feature.
    pub async fn resolve_from_env() -> Result<Client, Error> {
        let config = crate::config::load(&ConfigOptions::default())?;
        ClientBuilder::resolve(&config).await?.build()
    }
}

/// A managed project, as the control plane describes it. Unknown fields are
/// ignored.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Project {
    /// The project id.
    #[serde(default)]
    pub id: Option<String>,
    /// The project endpoint (the first label of its engine host).
    pub endpoint: String,
    /// The cluster domain of its default engine.
    #[serde(default)]
    pub domain: Option<String>,
    /// The engine port of its default engine (443 when absent).
    #[serde(default)]
    pub engine_port: Option<u16>,
    /// The project URL.
    #[serde(default)]
    pub url: Option<String>,
    /// How the project routes traffic.
    #[serde(default)]
    pub routing: Option<String>,
    /// The owning workspace.
    #[serde(default)]
    pub workspace_id: Option<String>,
    /// The project name.
    #[serde(default)]
    pub name: Option<String>,
    /// The project status.
    #[serde(default)]
    pub status: Option<String>,
    /// The cloud provider.
    #[serde(default)]
    pub provider: Option<String>,
    /// The region.
    #[serde(default)]
    pub region: Option<String>,
    /// The plan.
    #[serde(default)]
    pub plan: Option<String>,
    /// The deployment kind.
    #[serde(default)]
    pub deployment: Option<String>,
    /// The host of the project's TURN relays.
    #[serde(default)]
    pub turn_domain: Option<String>,
    /// The TURN port of those relays.
    #[serde(default)]
    pub turn_port: Option<u16>,
    /// The TURNS port of those relays.
    #[serde(default)]
    pub turns_port: Option<u16>,
    /// The regional engines the project may use.
    #[serde(default)]
    pub regional_endpoints: Vec<RegionalEndpoint>,
}

/// One regional engine of a project.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RegionalEndpoint {
    /// The cloud provider.
    #[serde(default)]
    pub provider: Option<String>,
    /// The region name.
    pub region: String,
    /// The cluster domain of the regional engine.
    pub domain: String,
    /// Its engine port (443 when absent).
    #[serde(default)]
    pub engine_port: Option<u16>,
}

impl Project {
    fn check(&self) -> Result<(), Error> {
        if self.endpoint.trim().is_empty() {
            return Err(Error::protocol(
                "the control plane described a project without an endpoint",
            ));
        }
        Ok(())
    }

    /// The engine to connect to: `<endpoint>.<domain>:<enginePort or 443>`,
    /// or, with a region (`auto` and blank mean none), the single regional
    /// endpoint of that region (compared without case). No match, or
    /// several, is an [`Error::Config`] naming the available regions.
    pub fn engine_address(&self, region: Option<&str>) -> Result<EngineAddress, Error> {
        let wanted = region
            .map(|r| r.trim().to_ascii_lowercase())
            .filter(|r| !r.is_empty() && r != "auto");
        let (domain, port) = match wanted {
            Some(wanted) => {
                let matches: Vec<&RegionalEndpoint> = self
                    .regional_endpoints
                    .iter()
                    .filter(|e| e.region.trim().to_ascii_lowercase() == wanted)
                    .collect();
                match matches.as_slice() {
                    [one] => (one.domain.as_str(), one.engine_port),
                    [] => {
                        let mut available: Vec<String> = self
                            .regional_endpoints
                            .iter()
                            .map(|e| e.region.trim().to_ascii_lowercase())
                            .filter(|r| !r.is_empty())
                            .collect();
                        available.sort();
                        available.dedup();
                        let choices = if available.is_empty() {
                            "the project has no regional endpoints".to_owned()
                        } else {
                            format!("available regions: {}", available.join(", "))
                        };
                        return Err(Error::config(format!(
                            "region {wanted:?} is not available for project {:?} ({choices}); \
                             choose another region or remove it",
                            self.endpoint
                        )));
                    }
                    _ => {
                        return Err(Error::config(format!(
                            "region {wanted:?} is ambiguous for project {:?}: several regional \
                             endpoints carry it",
                            self.endpoint
                        )));
                    }
                }
            }
            None => match self.domain.as_deref().map(str::trim) {
                Some(domain) if !domain.is_empty() => (domain, self.engine_port),
                _ => {
                    return Err(Error::protocol(format!(
                        "the control plane gave no engine domain for project {:?}",
                        self.endpoint
                    )));
                }
            },
        };
        let address = format!(
            "{}.{}:{}",
            self.endpoint.trim(),
            domain.trim().trim_end_matches('.'),
            port.unwrap_or(443)
        );
        EngineAddress::parse(&address).map_err(|_| {
            Error::protocol(format!(
                "the control plane described an unusable engine address {address:?}"
            ))
        })
    }
}

#[derive(Serialize)]
struct TokenBody {
    expires_in: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions: Option<Vec<String>>,
    resources: TokenResources,
}

impl TokenBody {
    /// The body of a token request, checked as a minted token's claims.
    fn new(request: &TokenRequest) -> Result<Self, Error> {
        let (expires_in, permissions, resources) = request.checked()?;
        Ok(TokenBody {
            expires_in,
            permissions,
            resources,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use serde_json::json;

    fn project(value: Value) -> Project {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn engine_without_region() {
        let p = project(json!({
            "id": "p1", "endpoint": "abc123", "domain": "eu.c.rstream.io", "enginePort": 8443,
            "routing": "global", "somethingNew": true
        }));
        assert_eq!(
            p.engine_address(None).unwrap().to_string(),
            "abc123.eu.c.rstream.io:8443"
        );
        assert_eq!(
            p.engine_address(Some("auto")).unwrap().to_string(),
            "abc123.eu.c.rstream.io:8443"
        );
        let p = project(json!({"endpoint": "abc123", "domain": "c.rstream.io"}));
        assert_eq!(
            p.engine_address(None).unwrap().to_string(),
            "abc123.c.rstream.io:443"
        );
        let p = project(json!({"endpoint": "abc123"}));
        assert!(p.engine_address(None).unwrap_err().is_protocol());
        let p = project(json!({"endpoint": "abc123", "domain": "bad_domain"}));
        assert!(p.engine_address(None).unwrap_err().is_protocol());
    }

    #[test]
    fn engine_with_region() {
        let p = project(json!({
            "endpoint": "abc123", "domain": "c.rstream.io",
            "regionalEndpoints": [
                {"provider": "aws", "region": "EU-West-3", "domain": "eu.c.rstream.io", "enginePort": 443},
                {"provider": "aws", "region": "us-east-1", "domain": "us.c.rstream.io"},
                {"provider": "gcp", "region": "dup", "domain": "a.c.rstream.io"},
                {"provider": "aws", "region": "dup", "domain": "b.c.rstream.io"}
            ]
        }));
        assert_eq!(
            p.engine_address(Some(" eu-west-3 ")).unwrap().to_string(),
            "abc123.eu.c.rstream.io:443"
        );
        assert_eq!(
            p.engine_address(Some("us-east-1")).unwrap().to_string(),
            "abc123.us.c.rstream.io:443"
        );
        let e = p.engine_address(Some("ap-south-1")).unwrap_err();
        assert!(matches!(e, Error::Config(_)));
        assert!(
            e.to_string()
                .contains("available regions: dup, eu-west-3, us-east-1"),
            "{e}"
        );
        let e = p.engine_address(Some("dup")).unwrap_err();
        assert!(e.to_string().contains("ambiguous"), "{e}");
        let bare = project(json!({"endpoint": "abc123", "domain": "c.rstream.io"}));
        let e = bare.engine_address(Some("eu")).unwrap_err();
        assert!(e.to_string().contains("no regional endpoints"), "{e}");
    }

    #[test]
    fn builder_checks() {
        let cp = ControlPlane::builder()
            .api_url("https://api.example.com/")
            .token("tok_secret")
            .header("X-Tenant", "a")
            .build()
            .unwrap();
        assert_eq!(cp.api_url(), "https://api.example.com");
        assert_eq!(
            cp.url(&["api", "projects", "tunnels", "resolve", "a/b"])
                .unwrap()
                .as_str(),
            "https://api.example.com/api/projects/tunnels/resolve/a%2Fb"
        );
        assert!(!format!("{cp:?}").contains("tok_secret"));
        for bad in ["ftp://x", "https://u:p@x", "https://x?q=1", "nope"] {
            assert!(
                ControlPlane::builder().api_url(bad).build().is_err(),
                "{bad}"
            );
        }
        assert!(
            ControlPlane::builder()
                .header("bad name", "v")
                .build()
                .is_err()
        );
        assert_eq!(
            ControlPlane::builder().build().unwrap().api_url(),
            "https://rstream.io"
        );
    }
}
