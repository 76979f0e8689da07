//! HTTP `CONNECT` proxies: settings, environment lookup, `NO_PROXY` rules
//! and the tunnel request itself.

use std::fmt;
use std::io;
use std::sync::Arc;

use base64::Engine as _;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::no_proxy::no_proxy_matches;
use super::stream::ProxiedStream;
use super::{TlsSettings, tls};
use crate::{Error, Secret};

/// The largest proxy response head we read before giving up.
const MAX_RESPONSE_HEAD: usize = 16 * 1024;

/// An HTTP proxy that tunnels connections with `CONNECT`: the one proxy
/// model of the crate, used by the runtime, the engine-API client and the
/// control-plane client alike.
///
/// `url` is `http://host[:port]` or `https://host[:port]` (a bare
/// `host:port` means `http://`); the default ports are 80 and 443. User
/// and password may sit in the URL (percent-encoded) or in the fields
/// below, which win. They are sent as `Proxy-Authorization: Basic`.
/// Hosts matched by `no_proxy` (the `NO_PROXY` syntax: names, `.suffix`,
/// `*`, IP addresses, CIDR blocks, `:port`) are reached directly.
///
/// The settings are complete once built: nothing downstream reads the
/// process environment. [`ProxySettings::from_environment`] and the
/// configuration (`transport.proxy.fromEnvironment`) read it once, when
/// they are called.
///
/// `Debug` shows neither the password nor header values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ProxySettings {
    /// The proxy URL.
    pub url: String,
    /// User name for basic authentication.
    pub username: Option<String>,
    /// Password for basic authentication.
    pub password: Option<Secret>,
    /// Extra headers sent with every `CONNECT` request.
    pub headers: Vec<(String, String)>,
    /// Hosts reached without the proxy, in the `NO_PROXY` syntax.
    pub no_proxy: Option<String>,
    /// TLS settings for an `https://` proxy (its CA, name, client
    /// certificate). Unused for `http://` proxies.
    pub tls: TlsSettings,
}

/// The variables an explicit request for the environment's proxy
/// ([`ProxySettings::from_environment`], `transport.proxy.fromEnvironment`)
/// reads, first non-blank wins: the TLS destinations' variable, then the
/// catch-all one, then the plain-HTTP one as a last resort.
pub(crate) const PROXY_URL_VARIABLES: [&str; 6] = [
    "HTTPS_PROXY",
    "https_proxy",
    "ALL_PROXY",
    "all_proxy",
    "HTTP_PROXY",
    "http_proxy",
];

/// The variables an HTTPS client reads when nothing asked for a proxy, as
/// Go's `net/http` does for `https` requests (the control plane's default).
pub(crate) const HTTPS_CLIENT_PROXY_VARIABLES: [&str; 2] = ["HTTPS_PROXY", "https_proxy"];

/// The variables the direct-connection list is taken from.
pub(crate) const NO_PROXY_VARIABLES: [&str; 2] = ["NO_PROXY", "no_proxy"];

/// The first non-blank of `names` in `env`, trimmed, with the name it came
/// from.
pub(crate) fn first_set(
    names: &[&'static str],
    env: impl Fn(&str) -> Option<String>,
) -> Option<(String, &'static str)> {
    names.iter().find_map(|name| {
        env(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
            .map(|value| (value, *name))
    })
}

impl ProxySettings {
    /// A proxy at `url`, without authentication or extra headers.
    pub fn new(url: impl Into<String>) -> Self {
        ProxySettings {
            url: url.into(),
            ..ProxySettings::default()
        }
    }

    /// The proxy the process environment names, read now: the first
    /// non-blank of `HTTPS_PROXY`, `ALL_PROXY` and `HTTP_PROXY` (each in
    /// upper, then lower case), with `NO_PROXY` (or `no_proxy`) as the
    /// direct list; a bare `host:port` means `http://`. `Ok(None)` when none
    /// is set. This is what `transport.proxy.fromEnvironment: true` reads.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the URL is not an `http://` or `https://`
    /// proxy (`socks5://`, say): it is refused rather than skipped.
    pub fn from_environment() -> Result<Option<Self>, Error> {
        Self::from_env_lookup(&PROXY_URL_VARIABLES, |name| std::env::var(name).ok())
    }

    /// The proxy the first set of `variables` names in `env`, with the
    /// `NO_PROXY` list.
    pub(crate) fn from_env_lookup(
        variables: &[&'static str],
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, Error> {
        let Some((url, name)) = first_set(variables, &env) else {
            return Ok(None);
        };
        parse_proxy_url(&url).map_err(|e| Error::config(format!("{name}: {e}")))?;
        let url = if url.contains("://") {
            url
        } else {
            format!("http://{url}")
        };
        Ok(Some(ProxySettings {
            url,
            no_proxy: first_set(&NO_PROXY_VARIABLES, &env).map(|(list, _)| list),
            ..ProxySettings::default()
        }))
    }

    /// Whether a connection to `host:port` goes through this proxy (it
    /// does unless `no_proxy` matches).
    pub fn applies_to(&self, host: &str, port: u16) -> bool {
        self.no_proxy
            .as_deref()
            .is_none_or(|list| !no_proxy_matches(list, host, port))
    }
}

impl fmt::Debug for ProxySettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("ProxySettings")
            .field("url", &redact_userinfo(&self.url))
            .field("username", &self.username)
            .field("password", &self.password)
            .field("headers", &header_names)
            .field("no_proxy", &self.no_proxy)
            .field("tls", &self.tls)
            .finish()
    }
}

/// The URL with any `user:password@` replaced, safe to print.
fn redact_userinfo(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (Some(s), r),
        None => (None, url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let shown = match rest[..end].rsplit_once('@') {
        Some((_, host)) => format!("<redacted>@{host}{}", &rest[end..]),
        None => rest.to_owned(),
    };
    match scheme {
        Some(s) => format!("{s}://{shown}"),
        None => shown,
    }
}

/// A proxy URL taken apart.
#[derive(Debug, PartialEq)]
struct ProxyUrl {
    tls: bool,
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
}

fn parse_proxy_url(url: &str) -> Result<ProxyUrl, Error> {
    let shown = redact_userinfo(url);
    let bad = |why: &str| Error::config(format!("invalid proxy URL `{shown}`: {why}"));
    let url = url.trim();
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("http".to_owned(), url),
    };
    let tls = match scheme.as_str() {
        "http" => false,
        "https" => true,
        _ => return Err(bad("only http:// and https:// proxies are supported")),
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let (host, after) = inner.split_once(']').ok_or_else(|| bad("unclosed `[`"))?;
        match after {
            "" => (host, None),
            p => (
                host,
                Some(p.strip_prefix(':').ok_or_else(|| bad("bad port"))?),
            ),
        }
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    let port = match port {
        None | Some("") => {
            if tls {
                443
            } else {
                80
            }
        }
        Some(p) => p.parse().map_err(|_| bad("bad port"))?,
    };
    let (username, password) = match userinfo {
        None => (None, None),
        Some(u) => match u.split_once(':') {
            Some((user, pass)) => (Some(percent_decode(user)), Some(percent_decode(pass))),
            None => (Some(percent_decode(u)), None),
        },
    };
    Ok(ProxyUrl {
        tls,
        host: host.to_owned(),
        port,
        username,
        password,
    })
}

fn percent_decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push(hi << 4 | lo);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where the proxy is and how to talk to it, fully checked.
pub(crate) struct ProxyEndpoint {
    /// `scheme://host:port`, without credentials, for messages.
    display: String,
    host: String,
    port: u16,
    tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
    authorization: Option<Secret>,
    headers: Vec<(String, String)>,
}

impl fmt::Debug for ProxyEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyEndpoint")
            .field("url", &self.display)
            .field("authenticated", &self.authorization.is_some())
            .field("extra_headers", &self.headers.len())
            .finish()
    }
}

/// The proxy to use and the hosts that bypass it.
#[derive(Debug)]
pub(crate) struct ProxyRoute {
    endpoint: ProxyEndpoint,
    settings: ProxySettings,
}

impl ProxyRoute {
    /// Checks the settings and prepares the proxy's TLS, once.
    pub(crate) fn new(settings: &ProxySettings) -> Result<ProxyRoute, Error> {
        let url = settings.url.trim();
        if url.is_empty() {
            return Err(Error::config(
                "the proxy URL is empty; set it, or use ProxySettings::from_environment",
            ));
        }
        let endpoint = ProxyEndpoint::new(url, settings)?;
        Ok(ProxyRoute {
            endpoint,
            settings: settings.clone(),
        })
    }

    /// The proxy for `host:port`, or `None` when `no_proxy` says to go direct.
    pub(crate) fn endpoint_for(&self, host: &str, port: u16) -> Option<&ProxyEndpoint> {
        self.settings
            .applies_to(host, port)
            .then_some(&self.endpoint)
    }
}

impl ProxyEndpoint {
    fn new(url: &str, settings: &ProxySettings) -> Result<Self, Error> {
        let parsed = parse_proxy_url(url)?;
        let username = settings.username.clone().or(parsed.username);
        let password = settings
            .password
            .as_ref()
            .map(|p| p.expose().to_owned())
            .or(parsed.password);
        let authorization = match (username, password) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(Error::config("a proxy password is set without a user name"));
            }
            (Some(user), pass) => {
                let raw = format!("{user}:{}", pass.unwrap_or_default());
                let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
                Some(Secret::new(format!("Basic {encoded}")))
            }
        };
        for (name, value) in &settings.headers {
            check_header(name, value, authorization.is_some())?;
        }
        let tls = if parsed.tls {
            let config = tls::client_config(&settings.tls, vec![b"http/1.1".to_vec()])?;
            let name = settings.tls.server_name.as_deref().unwrap_or(&parsed.host);
            Some((config, tls::server_name(name)?))
        } else {
            None
        };
        Ok(ProxyEndpoint {
            display: format!(
                "{}://{}",
                if parsed.tls { "https" } else { "http" },
                authority(&parsed.host, parsed.port)
            ),
            host: parsed.host,
            port: parsed.port,
            tls,
            authorization,
            headers: settings.headers.clone(),
        })
    }

    /// Opens a tunnel to `target` (a `host:port` authority) through the proxy.
    pub(crate) async fn open(&self, target: &str) -> Result<ProxiedStream, Error> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| Error::io(format!("connecting to the proxy {}", self.display), e))?;
        tcp.set_nodelay(true)
            .map_err(|e| Error::io("setting TCP_NODELAY", e))?;
        let mut stream = match &self.tls {
            None => ProxiedStream::Tcp(tcp),
            Some((config, name)) => {
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name.clone(), tcp)
                    .await
                    .map_err(|e| {
                        tls::handshake_error(
                            e,
                            &name.to_str(),
                            &format!("the proxy {}", self.display),
                        )
                    })?;
                ProxiedStream::ProxyTls(Box::new(tls))
            }
        };
        self.request_tunnel(&mut stream, target).await?;
        Ok(stream)
    }

    async fn request_tunnel<S>(&self, stream: &mut S, target: &str) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
        if let Some(auth) = &self.authorization {
            request.push_str("Proxy-Authorization: ");
            request.push_str(auth.expose());
            request.push_str("\r\n");
        }
        for (name, value) in &self.headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let context = || format!("asking the proxy {} for a tunnel to {target}", self.display);
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| Error::io(context(), e))?;
        stream.flush().await.map_err(|e| Error::io(context(), e))?;

        let head = read_response_head(stream)
            .await
            .map_err(|e| Error::io(context(), e))?;
        let (code, reason) = parse_status_line(&head).ok_or_else(|| {
            Error::io(
                context(),
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the proxy did not answer with HTTP",
                ),
            )
        })?;
        match code {
            200..=299 => Ok(()),
            407 => Err(Error::config(format!(
                "the proxy {} requires authentication (HTTP 407 {reason}); {}",
                self.display,
                if self.authorization.is_some() {
                    "it rejected the configured user name and password"
                } else {
                    "set the proxy user name and password"
                }
            ))),
            401 | 403 => Err(Error::config(format!(
                "the proxy {} refused the tunnel to {target} (HTTP {code} {reason})",
                self.display
            ))),
            _ => Err(Error::io(
                context(),
                io::Error::other(format!("the proxy answered HTTP {code} {reason}")),
            )),
        }
    }
}

/// `host:port`, with brackets around IPv6 addresses.
pub(crate) fn authority(host: &str, port: u16) -> String {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn check_header(name: &str, value: &str, has_auth: bool) -> Result<(), Error> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(Error::config(format!("invalid proxy header name `{name}`")));
    }
    if value.contains(['\r', '\n', '\0']) {
        return Err(Error::config(format!(
            "the value of proxy header `{name}` contains a line break"
        )));
    }
    if name.eq_ignore_ascii_case("host")
        || (has_auth && name.eq_ignore_ascii_case("proxy-authorization"))
    {
        return Err(Error::config(format!(
            "proxy header `{name}` is set by the runtime and cannot be overridden"
        )));
    }
    Ok(())
}

/// Reads up to and including the blank line ending the response head, one
/// byte at a time so that nothing after it is consumed.
async fn read_response_head<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(128);
    while !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        if head.len() >= MAX_RESPONSE_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the proxy's response head is too large",
            ));
        }
        match stream.read_u8().await {
            Ok(b) => head.push(b),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the proxy closed the connection before answering",
                ));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(head)
}

/// The status code and reason phrase of an HTTP/1.x response head.
fn parse_status_line(head: &[u8]) -> Option<(u16, String)> {
    let line = head.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?.trim_end();
    let mut parts = line.splitn(3, ' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let code = parts.next()?.parse().ok()?;
    let reason = parts.next().unwrap_or("").chars().take(100).collect();
    Some((code, reason))
}

#[cfg(test)]
#[path = "proxy_tests.rs"]
mod tests;
