//! `transport`: the tunnel transport mode, engine TLS settings and the
//! HTTP proxy, with the settings this runtime cannot honour refused.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::config::env::{ENV_LEGACY_QUIC, ENV_TRANSPORT};
use crate::config::file::{ProxyEntry, TlsEntry, TransportEntry, unsupported_transport_meaning};
use crate::config::values::{TransportMode, parse_transport_mode};
use crate::config::{ConfigOptions, ProxySettings, TlsSettings};
use crate::transport::{
    HTTPS_CLIENT_PROXY_VARIABLES, NO_PROXY_VARIABLES, PROXY_URL_VARIABLES, first_set,
};
use crate::{Error, Result, Secret};

/// A `transport` block of the config file together with how errors name it.
pub(crate) type LabelledTransport<'a> = (String, &'a TransportEntry);

/// Refuses what no precedence can make usable: `bind`, `dns`, `ipFamily`,
/// `mptcp`, a malformed `mode` and SOCKS5 proxies.
pub(crate) fn reject_unsupported(blocks: &[LabelledTransport<'_>]) -> Result<()> {
    for (path, block) in blocks {
        if let Some(key) = block.unsupported.first() {
            return Err(Error::config(format!(
                "{path}.{key} ({}) is not supported by the Rust runtime; remove it from the \
                 rstream config file",
                unsupported_transport_meaning(key)
            )));
        }
        if let Some(mode) = &block.mode {
            parse_transport_mode(mode, &format!("{path}.mode"))?;
        }
        if let Some(proxy) = &block.proxy {
            if proxy.socks5.is_some() {
                return Err(Error::config(format!(
                    "{path}.proxy.socks5: SOCKS5 proxies are not supported by the Rust runtime; \
                     use an HTTP proxy in {path}.proxy.http instead"
                )));
            }
        }
    }
    Ok(())
}

/// The mode a block asks for: `mode` wins over `useQuic`.
fn block_mode(path: &str, block: &TransportEntry) -> Result<Option<(TransportMode, String)>> {
    if let Some(mode) = &block.mode {
        let setting = format!("{path}.mode");
        return Ok(Some((parse_transport_mode(mode, &setting)?, setting)));
    }
    Ok(block.use_quic.map(|quic| {
        (
            TransportMode::from_use_quic(quic),
            format!("{path}.useQuic"),
        )
    }))
}

/// Resolves the tunnel transport and refuses QUIC.
///
/// `RSTREAM_TUNNEL_TRANSPORT` wins, then the legacy `RSTREAM_QUIC_TRANSPORT`,
/// then the context's block, then the environment's, then `auto`.
pub(crate) fn check_transport_mode(
    env_mode: Option<TransportMode>,
    legacy_quic: Option<bool>,
    context_block: Option<&LabelledTransport<'_>>,
    environment_block: Option<&LabelledTransport<'_>>,
) -> Result<()> {
    let mut chosen = env_mode.map(|mode| (mode, ENV_TRANSPORT.to_owned()));
    if chosen.is_none() {
        chosen = legacy_quic.map(|quic| {
            (
                TransportMode::from_use_quic(quic),
                ENV_LEGACY_QUIC.to_owned(),
            )
        });
    }
    for (path, block) in context_block.into_iter().chain(environment_block) {
        if chosen.is_none() {
            chosen = block_mode(path, block)?;
        }
    }
    match chosen {
        Some((TransportMode::Quic, source)) => Err(Error::config(format!(
            "{source} asks for the QUIC tunnel transport, which the Rust runtime does not \
             support; set it to tls or auto, or remove it"
        ))),
        _ => Ok(()),
    }
}

/// Engine TLS settings: explicit options over the context's `transport.tls`
/// over the inherited environment's.
pub(crate) fn engine_tls(
    options: &ConfigOptions,
    context: Option<&TlsEntry>,
    environment: Option<&TlsEntry>,
) -> TlsSettings {
    let layers: Vec<&TlsEntry> = context.into_iter().chain(environment).collect();
    let pick = |f: fn(&TlsEntry) -> Option<&String>| layers.iter().find_map(|l| f(l)).cloned();
    TlsSettings {
        ca_file: options
            .ca_file
            .clone()
            .filter(|p| !p.as_os_str().is_empty())
            .or_else(|| pick(|l| l.ca_file.as_ref()).map(PathBuf::from)),
        server_name: options
            .server_name
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .or_else(|| pick(|l| l.server_name.as_ref())),
        insecure_skip_verify: options
            .insecure_skip_verify
            .or_else(|| layers.iter().find_map(|l| l.insecure_skip_verify))
            .unwrap_or(false),
        ..TlsSettings::default()
    }
}

fn tls_from_entry(entry: &TlsEntry) -> TlsSettings {
    TlsSettings {
        ca_file: entry.ca_file.as_ref().map(PathBuf::from),
        server_name: entry.server_name.clone(),
        insecure_skip_verify: entry.insecure_skip_verify.unwrap_or(false),
        ..TlsSettings::default()
    }
}

/// The context's proxy settings laid field by field over the environment's.
fn merge_proxy(base: Option<&ProxyEntry>, over: Option<&ProxyEntry>) -> Option<ProxyEntry> {
    let (mut out, over) = match (base, over) {
        (None, None) => return None,
        (Some(base), None) => return Some(base.clone()),
        (None, Some(over)) => return Some(over.clone()),
        (Some(base), Some(over)) => (base.clone(), over),
    };
    fn lay<T: Clone>(slot: &mut Option<T>, value: &Option<T>) {
        if value.is_some() {
            slot.clone_from(value);
        }
    }
    lay(&mut out.http, &over.http);
    lay(&mut out.socks5, &over.socks5);
    lay(&mut out.username, &over.username);
    lay(&mut out.password, &over.password);
    lay(&mut out.from_environment, &over.from_environment);
    lay(&mut out.tls.ca_file, &over.tls.ca_file);
    lay(&mut out.tls.server_name, &over.tls.server_name);
    lay(
        &mut out.tls.insecure_skip_verify,
        &over.tls.insecure_skip_verify,
    );
    for (name, value) in &over.headers {
        match out
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1.clone_from(value),
            None => out.headers.push((name.clone(), value.clone())),
        }
    }
    Some(out)
}

/// Checks a proxy URL: HTTP or HTTPS only, with a host. A URL without a
/// scheme is taken as `http://`.
pub(crate) fn check_proxy_url(url: &str, setting: &str) -> Result<String> {
    let url = url.trim();
    let with_scheme = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    let (scheme, rest) = with_scheme.split_once("://").unwrap_or(("", ""));
    let scheme = scheme.to_ascii_lowercase();
    if scheme.starts_with("socks") {
        return Err(Error::config(format!(
            "{setting} names a SOCKS proxy ({scheme}://), which the Rust runtime does not \
             support; use an http:// or https:// proxy"
        )));
    }
    if scheme != "http" && scheme != "https" {
        return Err(Error::config(format!(
            "{setting} uses the scheme {scheme:?}; a proxy URL must start with http:// or https://"
        )));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err(Error::config(format!(
            "{setting} has no host; write it as http://proxy.example.com:3128"
        )));
    }
    Ok(with_scheme)
}

/// Resolves `transport.proxy` (context over environment).
///
/// With `fromEnvironment: true`, the environment is read here, once: the
/// URL comes from `HTTPS_PROXY`, `ALL_PROXY` or `HTTP_PROXY` (first set,
/// each also in lower case) unless `http` gives one, and `NO_PROXY` (or
/// `no_proxy`) becomes the direct list.
pub(crate) fn resolve_proxy(
    env: &HashMap<String, String>,
    context: Option<(&str, &TransportEntry)>,
    environment: Option<(&str, &TransportEntry)>,
) -> Result<Option<ProxySettings>> {
    let merged = merge_proxy(
        environment.and_then(|(_, t)| t.proxy.as_ref()),
        context.and_then(|(_, t)| t.proxy.as_ref()),
    );
    let Some(proxy) = merged else {
        return Ok(None);
    };
    let path = context
        .filter(|(_, t)| t.proxy.is_some())
        .or(environment)
        .map_or_else(|| "transport".to_owned(), |(p, _)| p.to_owned());
    let path = format!("{path}.proxy");
    let from_environment = proxy.from_environment.unwrap_or(false);

    let url = match &proxy.http {
        Some(http) => Some(check_proxy_url(http, &format!("{path}.http"))?),
        None if from_environment => match first_set(&PROXY_URL_VARIABLES, lookup(env)) {
            Some((value, name)) => Some(check_proxy_url(&value, name)?),
            None => None,
        },
        None => {
            let has_other = proxy.username.is_some()
                || proxy.password.is_some()
                || !proxy.headers.is_empty()
                || proxy.tls.ca_file.is_some()
                || proxy.tls.server_name.is_some()
                || proxy.tls.insecure_skip_verify.is_some();
            if has_other {
                return Err(Error::config(format!(
                    "{path} has settings but no proxy: set {path}.http to the proxy URL, or \
                     {path}.fromEnvironment to true to use the environment's proxy"
                )));
            }
            None
        }
    };
    let Some(url) = url else {
        return Ok(None);
    };
    for (name, value) in &proxy.headers {
        if value.contains(['\r', '\n']) || name.trim().is_empty() {
            return Err(Error::config(format!(
                "{path}.headers: the header {name:?} has an empty name or a line break in its \
                 value; fix it"
            )));
        }
    }
    Ok(Some(ProxySettings {
        url,
        username: proxy.username.clone().filter(|u| !u.is_empty()),
        password: proxy
            .password
            .clone()
            .filter(|p| !p.is_empty())
            .map(Secret::new),
        headers: proxy.headers.clone(),
        no_proxy: if from_environment {
            first_set(&NO_PROXY_VARIABLES, lookup(env)).map(|(list, _)| list)
        } else {
            None
        },
        tls: tls_from_entry(&proxy.tls),
    }))
}

/// The proxy for the control-plane API: the configured one, else the one
/// `HTTPS_PROXY` names (with `NO_PROXY`), as Go's `net/http` reads the
/// environment for `https` requests by default.
pub(crate) fn resolve_api_proxy(
    env: &HashMap<String, String>,
    configured: Option<&ProxySettings>,
) -> Result<Option<ProxySettings>> {
    match configured {
        Some(proxy) => Ok(Some(proxy.clone())),
        None => ProxySettings::from_env_lookup(&HTTPS_CLIENT_PROXY_VARIABLES, lookup(env)),
    }
}

/// Looks a variable up in the environment map resolution was given.
fn lookup(env: &HashMap<String, String>) -> impl Fn(&str) -> Option<String> + '_ {
    |name| env.get(name).cloned()
}
