//! mTLS engine-API discovery: a client that authenticates with a
//! certificate asks the engine, at `/.well-known/rstream/engine`, which API
//! accepts certificates, as the Go and Python SDKs do, and caches the
//! answer as the engine says (`Cache-Control`).

use std::time::{Duration, Instant};

use reqwest::Url;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::{Error, http};

/// Where the discovery document lives on the engine.
pub(crate) const DISCOVERY_PATH: &str = "/.well-known/rstream/engine";
/// The capability an engine API accepting certificates announces.
const CAPABILITY: &str = "engine-api-mtls";
/// The largest document read.
const MAX_DOCUMENT: usize = 16 * 1024;
/// How long one discovery request may take.
pub(crate) const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an answer is kept without `max-age`, and at most.
const DEFAULT_TTL: Duration = Duration::from_secs(3600);
const MAX_TTL: Duration = Duration::from_secs(86_400);

/// The discovered API of one engine, cached.
#[derive(Debug)]
pub(crate) struct Discovery {
    /// `https://<engine>/.well-known/rstream/engine`.
    document: Url,
    /// The API URL and until when it holds. Held across a lookup, so that
    /// concurrent requests share one.
    cached: Mutex<Option<(Url, Instant)>>,
}

impl Discovery {
    /// Discovery on the engine `base` (`https://<engine>/api`) names.
    pub(crate) fn new(base: &Url) -> Result<Self, Error> {
        let mut document = base.clone();
        document.set_path(DISCOVERY_PATH);
        document.set_query(None);
        Ok(Discovery {
            document,
            cached: Mutex::new(None),
        })
    }

    /// The mTLS API URL (`https://host[:port]/api`), from the cache or
    /// asked with `http` (a client that trusts the engine but presents no
    /// certificate).
    pub(crate) async fn api_url(&self, http: &reqwest::Client) -> Result<Url, Error> {
        let mut cached = self.cached.lock().await;
        if let Some((url, until)) = cached.as_ref() {
            if Instant::now() < *until {
                return Ok(url.clone());
            }
        }
        let (url, ttl) = self.fetch(http).await?;
        *cached = (!ttl.is_zero()).then(|| (url.clone(), Instant::now() + ttl));
        Ok(url)
    }

    async fn fetch(&self, http: &reqwest::Client) -> Result<(Url, Duration), Error> {
        let label = format!("GET {DISCOVERY_PATH}");
        let response = http
            .get(self.document.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(DISCOVERY_TIMEOUT)
            .send()
            .await
            .map_err(|e| http::transport_error(&label, e))?;
        let ttl = cache_lifetime(
            response
                .headers()
                .get(reqwest::header::CACHE_CONTROL)
                .and_then(|v| v.to_str().ok()),
        );
        let body = http::small_ok_body(&label, response, MAX_DOCUMENT).await?;
        let engine_host = self.document.host_str().unwrap_or_default();
        Ok((check_document(&body, engine_host)?, ttl))
    }
}

fn invalid(why: &str) -> Error {
    Error::protocol(format!("invalid engine API discovery document: {why}"))
}

/// The API URL a discovery document names, checked: version 1, the
/// `engine-api-mtls` capability, a project endpoint that is the engine
/// host's first label, and an `https://.../api` URL under it.
pub(crate) fn check_document(body: &[u8], engine_host: &str) -> Result<Url, Error> {
    let document: Value =
        serde_json::from_slice(body).map_err(|_| invalid("not a JSON document"))?;
    if document["version"].as_u64() != Some(1) {
        return Err(invalid("not version 1"));
    }
    let offers = document["capabilities"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c.as_str() == Some(CAPABILITY)));
    if !offers {
        return Err(invalid("the engine-api-mtls capability is missing"));
    }
    let endpoint = document["projectEndpoint"]
        .as_str()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| invalid("no projectEndpoint"))?;
    let first_label = |host: &str| host.split('.').next().unwrap_or_default().to_owned();
    if !first_label(engine_host).eq_ignore_ascii_case(endpoint) {
        return Err(invalid("the projectEndpoint is not this engine's"));
    }
    let text = document["mtlsApiUrl"]
        .as_str()
        .ok_or_else(|| invalid("no mtlsApiUrl"))?;
    let url = Url::parse(text).map_err(|_| invalid("the mtlsApiUrl is not a URL"))?;
    let well_formed = url.scheme() == "https"
        && url.path() == "/api"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !well_formed {
        return Err(invalid("the mtlsApiUrl is not https://host[:port]/api"));
    }
    let host = url.host_str().unwrap_or_default();
    if !first_label(host).eq_ignore_ascii_case(endpoint) {
        return Err(invalid("the mtlsApiUrl is not under the projectEndpoint"));
    }
    Ok(url)
}

/// How long an answer may be kept: `no-store` / `no-cache` none, else
/// `max-age` capped at a day, an hour without one, none when malformed.
pub(crate) fn cache_lifetime(header: Option<&str>) -> Duration {
    let Some(header) = header else {
        return DEFAULT_TTL;
    };
    let mut lifetime = DEFAULT_TTL;
    for directive in header.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Duration::ZERO;
        }
        if let Some(value) = lower.strip_prefix("max-age=") {
            lifetime = match value.trim_matches('"').parse::<u64>() {
                Ok(seconds) => Duration::from_secs(seconds).min(MAX_TTL),
                Err(_) => return Duration::ZERO,
            };
        }
    }
    lifetime
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(change: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut value = json!({
            "version": 1,
            "projectEndpoint": "abc123",
            "mtlsApiUrl": "https://abc123.mtls.example.net:8443/api",
            "capabilities": ["engine-api", "engine-api-mtls"]
        });
        change(&mut value);
        value.to_string().into_bytes()
    }

    #[test]
    fn a_well_formed_document_names_the_api() {
        let url = check_document(&doc(|_| {}), "abc123.engine.example.net").unwrap();
        assert_eq!(url.as_str(), "https://abc123.mtls.example.net:8443/api");
    }

    #[test]
    fn malformed_documents_are_refused() {
        let host = "abc123.engine.example.net";
        for (change, why) in [
            (
                Box::new(|v: &mut Value| v["version"] = json!(2)) as Box<dyn FnOnce(&mut Value)>,
                "version 1",
            ),
            (
                Box::new(|v: &mut Value| v["capabilities"] = json!(["engine-api"])),
                "capability",
            ),
            (
                Box::new(|v: &mut Value| v["projectEndpoint"] = json!("other")),
                "this engine's",
            ),
            (
                Box::new(|v: &mut Value| v["mtlsApiUrl"] = json!("http://abc123.x/api")),
                "https://",
            ),
            (
                Box::new(|v: &mut Value| v["mtlsApiUrl"] = json!("https://abc123.x/api/v2")),
                "https://",
            ),
            (
                Box::new(|v: &mut Value| v["mtlsApiUrl"] = json!("https://abc123.x/api?x=1")),
                "https://",
            ),
            (
                Box::new(|v: &mut Value| v["mtlsApiUrl"] = json!("https://u:p@abc123.x/api")),
                "https://",
            ),
            (
                Box::new(|v: &mut Value| v["mtlsApiUrl"] = json!("https://evil.x/api")),
                "under the",
            ),
            (
                Box::new(|v: &mut Value| v["mtlsApiUrl"] = json!(3)),
                "no mtlsApiUrl",
            ),
        ] {
            let error = check_document(&doc(change), host).unwrap_err();
            assert!(error.is_protocol(), "{error}");
            assert!(error.to_string().contains(why), "{why}: {error}");
        }
        assert!(check_document(b"[1, 2", host).is_err());
    }

    #[test]
    fn cache_lifetimes() {
        assert_eq!(cache_lifetime(None), DEFAULT_TTL);
        assert_eq!(
            cache_lifetime(Some("public, max-age=60")),
            Duration::from_secs(60)
        );
        assert_eq!(cache_lifetime(Some("max-age=999999")), MAX_TTL);
        assert_eq!(cache_lifetime(Some("max-age=60, no-store")), Duration::ZERO);
        assert_eq!(cache_lifetime(Some("No-Cache")), Duration::ZERO);
        assert_eq!(cache_lifetime(Some("max-age=soon")), Duration::ZERO);
        assert_eq!(cache_lifetime(Some("public")), DEFAULT_TTL);
    }
}
