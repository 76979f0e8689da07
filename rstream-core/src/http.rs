//! What the HTTP clients of the engine API and the control plane share:
//! building a `reqwest` client on this crate's TLS settings, and turning
//! responses and transport failures into [`Error`]s.

use std::net::SocketAddr;
use std::time::Duration;

use crate::transport::{ProxySettings, TlsSettings, tls};
use crate::{Error, Secret};

/// The longest part of an error body kept in an [`Error::Http`] message.
const MAX_ERROR_BODY: usize = 512;

/// The ALPN protocols offered to HTTP servers.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// Settings for one `reqwest` client.
#[derive(Debug, Default)]
pub(crate) struct HttpSettings<'a> {
    pub(crate) tls: Option<&'a TlsSettings>,
    pub(crate) proxy: Option<&'a ProxySettings>,
    /// Send requests for this host name to this address (for a server name
    /// override or `connect_to`).
    pub(crate) resolve: Option<(&'a str, SocketAddr)>,
    pub(crate) connect_timeout: Option<Duration>,
}

/// A `reqwest` client that trusts and presents what `settings.tls` says,
/// uses only the given proxy (reqwest's own reading of the environment is
/// off: the configuration has read it already) and follows no redirects.
pub(crate) fn client(settings: &HttpSettings<'_>) -> Result<reqwest::Client, Error> {
    let default_tls = TlsSettings::default();
    let tls_settings = settings.tls.unwrap_or(&default_tls);
    let config = tls::client_config(tls_settings, vec![ALPN_HTTP1.to_vec()])?;
    let mut builder = reqwest::Client::builder()
        .use_preconfigured_tls((*config).clone())
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(settings.connect_timeout.unwrap_or(Duration::from_secs(15)));
    builder = builder.no_proxy();
    if let Some(proxy) = settings.proxy {
        builder = builder.proxy(reqwest_proxy(proxy)?);
    }
    if let Some((host, addr)) = settings.resolve {
        builder = builder.resolve(host, addr);
    }
    builder
        .build()
        .map_err(|e| Error::config(format!("cannot build the HTTP client: {e}")))
}

/// The proxy settings as a `reqwest` proxy for HTTPS requests, bypassed
/// for the hosts `no_proxy` matches by the same rule the runtime applies.
fn reqwest_proxy(settings: &ProxySettings) -> Result<reqwest::Proxy, Error> {
    let url = settings.url.trim();
    let url = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    let url =
        reqwest::Url::parse(&url).map_err(|e| Error::config(format!("invalid proxy URL: {e}")))?;
    let rules = settings.clone();
    let mut proxy = reqwest::Proxy::custom(move |target| {
        let host = target.host_str()?;
        let port = target.port_or_known_default()?;
        (target.scheme() == "https" && rules.applies_to(host, port)).then(|| url.clone())
    });
    if let Some(user) = &settings.username {
        let password = settings.password.as_ref().map(Secret::expose).unwrap_or("");
        proxy = proxy.basic_auth(user, password);
    }
    if !settings.headers.is_empty() {
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &settings.headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| Error::config(format!("invalid proxy header name {name:?}")))?;
            let value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| Error::config(format!("invalid value for proxy header {name}")))?;
            headers.insert(name, value);
        }
        proxy = proxy.headers(headers);
    }
    Ok(proxy)
}

/// The body of a `200 OK` answer to `request`, at most `max` bytes (by
/// `Content-Length` and by what arrives): another status is an
/// [`Error::Http`] with its body, a larger body an [`Error::Protocol`].
pub(crate) async fn small_ok_body(
    request: &str,
    response: reqwest::Response,
    max: usize,
) -> Result<bytes::Bytes, Error> {
    if response.status() != reqwest::StatusCode::OK {
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        return Err(status_error(request, status, &body));
    }
    let too_large = || Error::protocol(format!("{request}: the answer is larger than {max} bytes"));
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(request, e))?;
    if body.len() > max {
        return Err(too_large());
    }
    Ok(body)
}

/// A transport failure of `request` (`GET /api/tunnels`, ...) as an error.
pub(crate) fn transport_error(request: &str, error: reqwest::Error) -> Error {
    // The URL may carry a token (`rstream.token`): never in a message.
    let error = error.without_url();
    if error.is_timeout() {
        return Error::timeout(request.to_owned(), Duration::ZERO);
    }
    if error.is_decode() {
        return Error::protocol(format!("{request}: unreadable response: {error}"));
    }
    // The chain holds the useful part (refused, reset, TLS alert, ...).
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    Error::io(request.to_owned(), std::io::Error::other(text))
}

/// The response if its status is a success, else an [`Error::Http`] with
/// its (shortened) body.
pub(crate) async fn check_status(
    request: &str,
    response: reqwest::Response,
) -> Result<reqwest::Response, Error> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    Err(status_error(request, status.as_u16(), &body))
}

/// An [`Error::Http`] for `status` with `body` as its message.
pub(crate) fn status_error(request: &str, status: u16, body: &str) -> Error {
    let body = body.trim();
    let message = if body.is_empty() {
        reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("no reason given")
            .to_owned()
    } else {
        shorten(body, MAX_ERROR_BODY)
    };
    Error::Http {
        status,
        request: request.to_owned(),
        message,
    }
}

/// The body parsed as JSON into `T`; a malformed body is a protocol error.
pub(crate) async fn json<T: serde::de::DeserializeOwned>(
    request: &str,
    response: reqwest::Response,
) -> Result<T, Error> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| transport_error(request, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::protocol(format!("{request}: unexpected response: {e}")))
}

/// `text` cut to at most `max` bytes on a character boundary.
fn shorten(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_errors() {
        let e = status_error("GET /api/tunnels", 401, "  ");
        assert!(e.is_unauthorized());
        assert!(e.to_string().contains("Unauthorized"), "{e}");
        let long = "é".repeat(600);
        let e = status_error("GET /x", 500, &long);
        assert!(e.is_retryable());
        assert!(e.to_string().len() < 600, "{e}");
    }

    #[test]
    fn proxy_mapping() {
        let mut p = ProxySettings::new("proxy.example.com:3128");
        p.username = Some("u".into());
        p.password = Some("p".into());
        p.headers = vec![("X-Team".into(), "a".into())];
        assert!(reqwest_proxy(&p).is_ok());
        p.headers = vec![("bad header".into(), "a".into())];
        assert!(reqwest_proxy(&p).is_err());
    }
}
