//! The `RSTREAM_*` environment variables, read from a plain map so that
//! resolution stays pure.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::config::values::{
    TransportMode, headers_from_json, non_blank, normalize_api_url, parse_transport_mode,
};
use crate::{Error, Result, Secret};

pub(crate) const ENV_CONFIG: &str = "RSTREAM_CONFIG";
pub(crate) const ENV_CONTEXT: &str = "RSTREAM_CONTEXT";
pub(crate) const ENV_ENGINE: &str = "RSTREAM_ENGINE";
pub(crate) const ENV_ENGINE_ALIAS: &str = "RSTREAM_ENGINE_ADDRESS";
pub(crate) const ENV_TOKEN: &str = "RSTREAM_AUTHENTICATION_TOKEN";
pub(crate) const ENV_MTLS_CERT: &str = "RSTREAM_MTLS_CERT_FILE";
pub(crate) const ENV_MTLS_KEY: &str = "RSTREAM_MTLS_KEY_FILE";
pub(crate) const ENV_API_URL: &str = "RSTREAM_API_URL";
pub(crate) const ENV_HEADERS: &str = "RSTREAM_CONTROL_PLANE_HEADERS";
pub(crate) const ENV_REGION: &str = "RSTREAM_REGION";
pub(crate) const ENV_TRANSPORT: &str = "RSTREAM_TUNNEL_TRANSPORT";
pub(crate) const ENV_LEGACY_QUIC: &str = "RSTREAM_QUIC_TRANSPORT";

/// The settings the environment gives, each checked and labelled with the
/// variable it came from.
#[derive(Debug, Default)]
pub(crate) struct EnvSettings {
    pub(crate) api_url: Option<String>,
    pub(crate) context: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    /// The engine as written, parsed only when no option overrides it.
    pub(crate) engine: Option<(String, &'static str)>,
    pub(crate) token: Option<Secret>,
    pub(crate) mtls: Option<(PathBuf, PathBuf)>,
    pub(crate) region: Option<String>,
    pub(crate) transport: Option<TransportMode>,
    /// `RSTREAM_QUIC_TRANSPORT`: `1` asks for QUIC, any other value for TLS.
    pub(crate) legacy_quic: Option<bool>,
}

/// A variable's value, trimmed; blank counts as unset.
pub(crate) fn var(env: &HashMap<String, String>, name: &str) -> Option<String> {
    non_blank(env.get(name).map(String::as_str))
}

impl EnvSettings {
    pub(crate) fn read(env: &HashMap<String, String>) -> Result<Self> {
        let api_url = var(env, ENV_API_URL)
            .map(|url| normalize_api_url(&url, ENV_API_URL))
            .transpose()?;
        let headers = match var(env, ENV_HEADERS) {
            Some(json) => headers_from_json(&json, ENV_HEADERS)?,
            None => Vec::new(),
        };
        // A set `RSTREAM_ENGINE` hides the alias even when blank (it then
        // means "no engine"), as in the Python SDK.
        let engine = if env.contains_key(ENV_ENGINE) {
            var(env, ENV_ENGINE).map(|engine| (engine, ENV_ENGINE))
        } else {
            var(env, ENV_ENGINE_ALIAS).map(|engine| (engine, ENV_ENGINE_ALIAS))
        };
        let mtls = match (var(env, ENV_MTLS_CERT), var(env, ENV_MTLS_KEY)) {
            (Some(cert), Some(key)) => Some((PathBuf::from(cert), PathBuf::from(key))),
            (None, None) => None,
            (Some(_), None) => return Err(half_pair(ENV_MTLS_CERT, ENV_MTLS_KEY)),
            (None, Some(_)) => return Err(half_pair(ENV_MTLS_KEY, ENV_MTLS_CERT)),
        };
        let transport = var(env, ENV_TRANSPORT)
            .map(|mode| parse_transport_mode(&mode, ENV_TRANSPORT))
            .transpose()?;
        Ok(EnvSettings {
            api_url,
            context: var(env, ENV_CONTEXT),
            headers,
            engine,
            token: var(env, ENV_TOKEN).map(Secret::new),
            mtls,
            region: var(env, ENV_REGION),
            transport,
            legacy_quic: var(env, ENV_LEGACY_QUIC).map(|v| v == "1"),
        })
    }
}

fn half_pair(set: &str, missing: &str) -> Error {
    Error::config(format!(
        "{set} is set but {missing} is not; mTLS needs both the certificate and the key file, \
         so set both or neither"
    ))
}
