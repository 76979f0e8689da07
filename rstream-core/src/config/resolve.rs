//! The precedence rules: explicit options, then the environment, then the
//! selected context (and the environment entry it inherits from), then
//! defaults.

use std::collections::HashMap;

use crate::config::credentials::{CredentialSources, Sourced, resolve_credentials};
use crate::config::engine::{EngineAddress, parse_labelled};
use crate::config::env::{ENV_CONTEXT, ENV_HEADERS, ENV_REGION, EnvSettings};
use crate::config::file::{ConfigFile, ContextEntry, EnvironmentEntry};
use crate::config::transport::{
    check_transport_mode, engine_tls, reject_unsupported, resolve_api_proxy, resolve_proxy,
};
use crate::config::values::{
    check_project_endpoint, merge_api_headers, non_blank, normalize_api_url, normalize_region,
};
use crate::config::{ConfigOptions, Credentials, DEFAULT_API_URL, ResolvedConfig};
use crate::{Error, Result};

/// Resolves the configuration from explicit `options`, an environment map
/// (normally the process environment), the config file's text (`None` when
/// there is no file) and the current Unix time, used to refuse expired JWTs.
///
/// Pure: it reads no variable and no file. Every failure is an
/// [`Error::Config`] whose message names the setting to fix and never holds
/// a token, password or key.
pub fn resolve(
    options: &ConfigOptions,
    env: &HashMap<String, String>,
    file_text: Option<&str>,
    now_unix: u64,
) -> Result<ResolvedConfig> {
    let env_settings = EnvSettings::read(env)?;
    let file = match file_text {
        Some(text) if !options.no_config_file => ConfigFile::parse(text)?,
        _ => ConfigFile::default(),
    };

    // Which context, which API URL, which inherited environment entry.
    let explicit_api_url = match non_blank(options.api_url.as_deref()) {
        Some(url) => Some(normalize_api_url(&url, "the api_url option")?),
        None => env_settings.api_url.clone(),
    };
    let context = select_context(options, &env_settings, &file, explicit_api_url.as_deref())?;
    let api_url = explicit_api_url
        .or_else(|| context.and_then(|c| c.api_url.clone()))
        .unwrap_or_else(|| DEFAULT_API_URL.to_owned());
    let environment = context
        .filter(|c| c.api_url.is_some())
        .and_then(|_| file.environment(&api_url));

    // The engine: explicit (options, environment), else the context's.
    let explicit_engine: Option<Sourced<EngineAddress>> = match non_blank(options.engine.as_deref())
    {
        Some(engine) => {
            let source = "the engine option";
            Some((parse_labelled(&engine, source)?, source.to_owned()))
        }
        None => match &env_settings.engine {
            Some((engine, name)) => Some((parse_labelled(engine, name)?, (*name).to_owned())),
            None => None,
        },
    };
    let context_engine = match context.and_then(|c| c.engine.as_deref().map(|e| (c, e))) {
        Some((c, engine)) => Some(parse_labelled(engine, &format!("{} engine", c.label))?),
        None => None,
    };
    // An override is anything but the context's engine written the same
    // way: `x.example.com` and `x.example.com:443` differ, as in the Go
    // reference and the Python SDK.
    let explicit_engine_text = non_blank(options.engine.as_deref()).or_else(|| {
        env_settings
            .engine
            .as_ref()
            .map(|(e, _)| e.trim().to_owned())
    });
    let overrides = explicit_engine_text.is_some()
        && explicit_engine_text.as_deref() != context.and_then(|c| c.engine.as_deref());

    let credentials = resolve_credentials(
        options,
        &env_settings,
        &CredentialSources {
            context,
            environment,
            overriding_engine: explicit_engine.as_ref().filter(|_| overrides),
        },
        now_unix,
    )?;

    // Transport: unsupported settings, tunnel transport mode, TLS, proxy.
    let environment_block = environment.map(|e| (format!("{} transport", e.label), &e.transport));
    let context_block = context.map(|c| (format!("{} transport", c.label), &c.transport));
    let blocks: Vec<_> = environment_block
        .iter()
        .chain(&context_block)
        .cloned()
        .collect();
    reject_unsupported(&blocks)?;
    check_transport_mode(
        env_settings.transport,
        env_settings.legacy_quic,
        context_block.as_ref(),
        environment_block.as_ref(),
    )?;
    let tls = engine_tls(
        options,
        context.map(|c| &c.transport.tls),
        environment.map(|e| &e.transport.tls),
    );
    let proxy = resolve_proxy(
        env,
        context_block.as_ref().map(|(p, t)| (p.as_str(), *t)),
        environment_block.as_ref().map(|(p, t)| (p.as_str(), *t)),
    )?;
    let api_proxy = resolve_api_proxy(env, proxy.as_ref())?;

    let api_headers = api_headers(options, &env_settings, environment)?;
    let project_endpoint = match non_blank(options.project_endpoint.as_deref()) {
        Some(endpoint) => Some(check_project_endpoint(
            endpoint,
            "the project_endpoint option",
        )?),
        None => match context.and_then(|c| c.project_endpoint.clone().map(|p| (c, p))) {
            Some((c, endpoint)) => Some(check_project_endpoint(
                endpoint,
                &format!("{} projectEndpoint", c.label),
            )?),
            None => None,
        },
    };
    let region = region(options, &env_settings, context)?;
    if let Some((region, region_source)) = &region {
        if let Some((engine, engine_source)) = &explicit_engine {
            return Err(Error::config(format!(
                "region {region:?} (from {region_source}) asks the control plane to pick a \
                 regional engine, which conflicts with the engine {engine} set by \
                 {engine_source}; remove one of them"
            )));
        }
        if project_endpoint.is_none() {
            return Err(Error::config(format!(
                "region {region:?} (from {region_source}) only applies to a managed project, and \
                 no project endpoint is configured; set the project_endpoint option or \
                 projectEndpoint in the context, or remove the region"
            )));
        }
    }

    if options.require_token && credentials == Credentials::None {
        return Err(Error::config(
            "authentication is required but none is configured: set \
             RSTREAM_AUTHENTICATION_TOKEN (or the token option), RSTREAM_MTLS_CERT_FILE and \
             RSTREAM_MTLS_KEY_FILE, or select a context that stores credentials",
        ));
    }

    Ok(ResolvedConfig {
        // With a region, the control plane picks the regional engine; the
        // context's engine is not used (an explicit one was refused above).
        engine: match region {
            Some(_) => None,
            None => explicit_engine.map(|(e, _)| e).or(context_engine),
        },
        credentials,
        tls,
        proxy,
        api_proxy,
        api_url,
        api_headers,
        project_endpoint,
        region: region.map(|(r, _)| r),
        context_name: context.map(|c| c.name.clone()),
    })
}

/// The selected context: the option, else `RSTREAM_CONTEXT`, else
/// `defaults.context.name`. With an explicit API URL, only contexts for that
/// URL or for none qualify. A named context that cannot be found is an error.
fn select_context<'a>(
    options: &ConfigOptions,
    env: &EnvSettings,
    file: &'a ConfigFile,
    api_url: Option<&str>,
) -> Result<Option<&'a ContextEntry>> {
    if options.no_config_file {
        return Ok(None);
    }
    let named = non_blank(options.context.as_deref())
        .map(|n| (n, "the context option"))
        .or_else(|| env.context.clone().map(|n| (n, ENV_CONTEXT)))
        .or_else(|| (file.default_context.clone()).map(|n| (n, "defaults.context.name")));
    let Some((name, source)) = named else {
        return Ok(None);
    };
    let matches: Vec<&ContextEntry> = file
        .contexts
        .iter()
        .filter(|c| c.name == name)
        .filter(|c| match (api_url, c.api_url.as_deref()) {
            (Some(wanted), Some(own)) => wanted == own,
            _ => true,
        })
        .collect();
    match matches.as_slice() {
        [one] => Ok(Some(one)),
        [] => {
            let known: Vec<&str> = file.contexts.iter().map(|c| c.name.as_str()).collect();
            let scope = api_url
                .map(|u| format!(" for API URL {u}"))
                .unwrap_or_default();
            let choices = if known.is_empty() {
                "the file has no contexts".to_owned()
            } else {
                format!("known contexts: {}", known.join(", "))
            };
            Err(Error::config(format!(
                "context {name:?} (from {source}) was not found in the rstream config \
                 file{scope} ({choices}); choose an existing context or create it with the \
                 rstream CLI"
            )))
        }
        _ => Err(Error::config(format!(
            "context {name:?} (from {source}) is ambiguous: several contexts have that name; set \
             RSTREAM_API_URL or the api_url option to pick one, or rename them"
        ))),
    }
}

/// Control-plane headers: the inherited environment entry's, then
/// `RSTREAM_CONTROL_PLANE_HEADERS`, then the option, later ones winning.
fn api_headers(
    options: &ConfigOptions,
    env: &EnvSettings,
    environment: Option<&EnvironmentEntry>,
) -> Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    if let Some(e) = environment {
        merge_api_headers(&mut headers, &e.headers, &format!("{} headers", e.label))?;
    }
    merge_api_headers(&mut headers, &env.headers, ENV_HEADERS)?;
    merge_api_headers(&mut headers, &options.api_headers, "the api_headers option")?;
    Ok(headers)
}

/// The region: the option, else `RSTREAM_REGION`, else the context's;
/// `auto` means none.
fn region(
    options: &ConfigOptions,
    env: &EnvSettings,
    context: Option<&ContextEntry>,
) -> Result<Option<Sourced<String>>> {
    let (value, source) = if let Some(region) = non_blank(options.region.as_deref()) {
        (Some(region), "the region option".to_owned())
    } else if let Some(region) = &env.region {
        (Some(region.clone()), ENV_REGION.to_owned())
    } else if let Some(c) = context {
        (c.region.clone(), format!("{} region", c.label))
    } else {
        return Ok(None);
    };
    Ok(normalize_region(value.as_deref(), &source)?.map(|r| (r, source)))
}
