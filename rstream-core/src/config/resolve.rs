//! The precedence rules: explicit options, then the environment, then the
//! selected context (and the environment entry it inherits from), then
//! defaults.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::engine::{EngineAddress, parse_labelled};
use crate::config::env::{
    ENV_CONTEXT, ENV_HEADERS, ENV_MTLS_CERT, ENV_REGION, ENV_TOKEN, EnvSettings,
};
use crate::config::file::{ConfigFile, ContextEntry, EnvironmentEntry, MtlsEntry};
use crate::config::transport::{
    check_transport_mode, engine_tls, reject_unsupported, resolve_proxy,
};
use crate::config::values::{
    check_token_expiry, merge_api_headers, non_blank, normalize_api_url, normalize_region,
};
use crate::config::{ConfigOptions, Credentials, DEFAULT_API_URL, MtlsIdentity, ResolvedConfig};
use crate::{Error, Result, Secret};

/// A value together with the name of the setting it came from.
type Sourced<T> = (T, String);

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
        Some(text) => ConfigFile::parse(text)?,
        None => ConfigFile::default(),
    };

    // Which context, which API URL, which inherited environment.
    let explicit_api_url = match non_blank(options.api_url.as_deref()) {
        Some(url) => Some(normalize_api_url(&url, "the api_url option")?),
        None => env_settings.api_url.clone(),
    };
    let context_name = non_blank(options.context.as_deref())
        .map(|n| (n, "the context option"))
        .or_else(|| env_settings.context.clone().map(|n| (n, ENV_CONTEXT)))
        .or_else(|| {
            file.default_context
                .clone()
                .map(|n| (n, "defaults.context.name"))
        });
    let context = match &context_name {
        Some((name, source)) => Some(select_context(
            &file,
            name,
            source,
            explicit_api_url.as_deref(),
        )?),
        None => None,
    };
    let api_url = explicit_api_url
        .or_else(|| context.and_then(|c| c.api_url.clone()))
        .unwrap_or_else(|| DEFAULT_API_URL.to_owned());
    let environment = context
        .filter(|c| c.api_url.is_some())
        .and_then(|_| file.environment(&api_url));

    // The engine.
    let explicit_engine: Option<Sourced<EngineAddress>> = match non_blank(options.engine.as_deref())
    {
        Some(engine) => Some((
            parse_labelled(&engine, "the engine option")?,
            "the engine option".to_owned(),
        )),
        None => env_settings
            .engine
            .clone()
            .map(|(e, name)| (e, name.to_owned())),
    };
    let context_engine = match context.and_then(|c| c.engine.as_deref().map(|e| (c, e))) {
        Some((c, engine)) => Some(parse_labelled(engine, &format!("{} engine", c.label))?),
        None => None,
    };
    // An override pointing at the context's own engine is no override.
    let overriding = explicit_engine
        .as_ref()
        .filter(|(engine, _)| context_engine.as_ref() != Some(engine));

    // Credentials.
    let explicit_token = options
        .token
        .as_ref()
        .and_then(|t| non_blank(Some(t.expose())))
        .map(|t| (Secret::new(t), "the token option".to_owned()))
        .or_else(|| {
            env_settings
                .token
                .clone()
                .map(|t| (t, ENV_TOKEN.to_owned()))
        });
    let explicit_mtls = explicit_mtls(options, &env_settings)?;

    let stored_token = if explicit_token.is_none() && explicit_mtls.is_none() {
        stored_token(context, environment)?
    } else {
        None
    };
    if let (Some((engine, engine_source)), Some((_, token_source))) = (overriding, &stored_token) {
        return Err(Error::config(format!(
            "refusing to send the token stored in {token_source} to {engine}, which \
             {engine_source} chose instead of that context's engine; pass the token explicitly \
             (the token option or {ENV_TOKEN}) or drop the engine override"
        )));
    }
    let stored_mtls = if explicit_mtls.is_none() {
        stored_mtls(context, environment)?
    } else {
        None
    };
    if let (Some((engine, engine_source)), Some((_, mtls_source))) = (overriding, &stored_mtls) {
        return Err(Error::config(format!(
            "refusing to present the mTLS identity stored in {mtls_source} to {engine}, which \
             {engine_source} chose instead of that context's engine; give the certificate and \
             key explicitly (the mtls_cert_file/mtls_key_file options or {ENV_MTLS_CERT} and \
             RSTREAM_MTLS_KEY_FILE) or drop the engine override"
        )));
    }
    let token = explicit_token.or(stored_token);
    let mtls = explicit_mtls.or(stored_mtls);
    let credentials = match (token, mtls) {
        (Some((_, token_source)), Some((_, mtls_source))) => {
            return Err(Error::config(format!(
                "token authentication (from {token_source}) and mTLS authentication (from \
                 {mtls_source}) cannot be used together; keep only one of them"
            )));
        }
        (Some((token, source)), None) => {
            check_token_expiry(token.expose(), now_unix, &source)?;
            Credentials::Token(token)
        }
        (None, Some((identity, _))) => Credentials::Mtls(identity),
        (None, None) => Credentials::None,
    };

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

    // Control-plane headers: environment entry, then the variable, then options.
    let mut api_headers = Vec::new();
    if let Some(e) = environment {
        merge_api_headers(
            &mut api_headers,
            &e.headers,
            &format!("{} headers", e.label),
        )?;
    }
    merge_api_headers(&mut api_headers, &env_settings.headers, ENV_HEADERS)?;
    merge_api_headers(
        &mut api_headers,
        &options.api_headers,
        "the api_headers option",
    )?;

    // Project endpoint and region.
    let project_endpoint = non_blank(options.project_endpoint.as_deref())
        .or_else(|| context.and_then(|c| c.project_endpoint.clone()));
    let region = if let Some(region) = non_blank(options.region.as_deref()) {
        normalize_region(Some(&region), "the region option")?
            .map(|r| (r, "the region option".to_owned()))
    } else if let Some(region) = env_settings.region.as_deref() {
        normalize_region(Some(region), ENV_REGION)?.map(|r| (r, ENV_REGION.to_owned()))
    } else if let Some(c) = context {
        let setting = format!("{} region", c.label);
        normalize_region(c.region.as_deref(), &setting)?.map(|r| (r, setting))
    } else {
        None
    };
    if let (Some((region, region_source)), Some((engine, engine_source))) =
        (&region, &explicit_engine)
    {
        return Err(Error::config(format!(
            "region {region:?} (from {region_source}) cannot be combined with the engine {engine} \
             set by {engine_source}; remove one of them"
        )));
    }
    if let (Some((region, region_source)), None) = (&region, &project_endpoint) {
        return Err(Error::config(format!(
            "region {region:?} (from {region_source}) needs a managed project endpoint; set the \
             project_endpoint option or projectEndpoint in the context, or remove the region"
        )));
    }

    Ok(ResolvedConfig {
        engine: explicit_engine.map(|(e, _)| e).or(context_engine),
        credentials,
        tls,
        proxy,
        api_url,
        api_headers,
        project_endpoint,
        region: region.map(|(r, _)| r),
        context_name: context.map(|c| c.name.clone()),
    })
}

/// Finds the context `name`; with an explicit API URL, only contexts for that
/// URL or for none qualify.
fn select_context<'a>(
    file: &'a ConfigFile,
    name: &str,
    source: &str,
    api_url: Option<&str>,
) -> Result<&'a ContextEntry> {
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
        [one] => Ok(one),
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
                "context {name:?} (from {source}) was not found in the rstream config file{scope} \
                 ({choices}); choose an existing context or create it with the rstream CLI"
            )))
        }
        _ => Err(Error::config(format!(
            "context {name:?} (from {source}) is ambiguous: several contexts have that name; set \
             RSTREAM_API_URL or the api_url option to pick one, or rename them"
        ))),
    }
}

/// mTLS files given by the options or the environment (both or neither).
fn explicit_mtls(
    options: &ConfigOptions,
    env: &EnvSettings,
) -> Result<Option<Sourced<MtlsIdentity>>> {
    let given = |p: &Option<PathBuf>| p.clone().filter(|p| !p.as_os_str().is_empty());
    match (
        given(&options.mtls_cert_file),
        given(&options.mtls_key_file),
    ) {
        (Some(cert), Some(key)) => {
            return Ok(Some((
                MtlsIdentity::Files { cert, key },
                "the mtls_cert_file/mtls_key_file options".to_owned(),
            )));
        }
        (Some(_), None) => return Err(half_options("mtls_cert_file", "mtls_key_file")),
        (None, Some(_)) => return Err(half_options("mtls_key_file", "mtls_cert_file")),
        (None, None) => {}
    }
    Ok(env.mtls.clone().map(|(cert, key)| {
        (
            MtlsIdentity::Files { cert, key },
            format!("{ENV_MTLS_CERT}/RSTREAM_MTLS_KEY_FILE"),
        )
    }))
}

fn half_options(set: &str, missing: &str) -> Error {
    Error::config(format!(
        "the {set} option is set but {missing} is not; mTLS needs both the certificate and the \
         key file, so set both or neither"
    ))
}

/// The token stored in the context, else in its environment entry.
fn stored_token(
    context: Option<&ContextEntry>,
    environment: Option<&EnvironmentEntry>,
) -> Result<Option<Sourced<Secret>>> {
    let entry = context
        .and_then(|c| c.auth.token.as_ref().map(|t| (t, &c.label)))
        .or_else(|| environment.and_then(|e| e.auth.token.as_ref().map(|t| (t, &e.label))));
    let Some((token, label)) = entry else {
        return Ok(None);
    };
    let setting = format!("{label} auth.token.storage");
    if let Some(provider) = &token.provider {
        return Err(unsupported_storage(
            &format!("{setting}.provider"),
            provider,
        ));
    }
    match token.kind.as_deref() {
        None => {}
        Some(kind) if kind.eq_ignore_ascii_case("inline") => {}
        Some(kind) => return Err(unsupported_storage(&format!("{setting}.kind"), kind)),
    }
    Ok(token.value.clone().map(|v| (Secret::new(v), setting)))
}

fn unsupported_storage(setting: &str, kind: &str) -> Error {
    Error::config(format!(
        "{setting} is {kind:?}, a token storage the Rust runtime cannot read (only inline tokens \
         are supported); pass the token with {ENV_TOKEN} or the token option, or store it with \
         kind: inline"
    ))
}

/// The mTLS identity stored in the context, else in its environment entry.
fn stored_mtls(
    context: Option<&ContextEntry>,
    environment: Option<&EnvironmentEntry>,
) -> Result<Option<Sourced<MtlsIdentity>>> {
    let entry = context
        .and_then(|c| c.auth.mtls.as_ref().map(|m| (m, &c.label)))
        .or_else(|| environment.and_then(|e| e.auth.mtls.as_ref().map(|m| (m, &e.label))));
    let Some((mtls, label)) = entry else {
        return Ok(None);
    };
    let setting = format!("{label} auth.mtls");
    stored_identity(mtls, &setting).map(|identity| identity.map(|i| (i, setting)))
}

fn stored_identity(mtls: &MtlsEntry, setting: &str) -> Result<Option<MtlsIdentity>> {
    if let Some(storage) = &mtls.storage {
        return Err(Error::config(format!(
            "{setting}.storage uses {storage:?}, a key storage (keychain, PKCS#11, ...) the Rust \
             runtime cannot use; export the certificate and key to PEM files and set \
             certificateFile and keyFile, or {ENV_MTLS_CERT} and RSTREAM_MTLS_KEY_FILE"
        )));
    }
    let pair = |cert: &Option<String>, key: &Option<String>, names: (&str, &str)| match (cert, key)
    {
        (Some(c), Some(k)) => Ok(Some((c.clone(), k.clone()))),
        (None, None) => Ok(None),
        _ => Err(Error::config(format!(
            "{setting} sets only one of {} and {}; set both or neither",
            names.0, names.1
        ))),
    };
    if let Some((cert, key)) = pair(
        &mtls.certificate_file,
        &mtls.key_file,
        ("certificateFile", "keyFile"),
    )? {
        return Ok(Some(MtlsIdentity::Files {
            cert: Path::new(&cert).to_path_buf(),
            key: Path::new(&key).to_path_buf(),
        }));
    }
    if let Some((cert_pem, key_pem)) = pair(&mtls.certificate, &mtls.key, ("certificate", "key"))? {
        return Ok(Some(MtlsIdentity::Pem {
            cert_pem,
            key_pem: Secret::new(key_pem),
        }));
    }
    Ok(None)
}
