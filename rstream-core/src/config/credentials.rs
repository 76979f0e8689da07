//! Credentials: an explicit token or mTLS identity, else the one stored in
//! the selected context or the environment entry it inherits from; never a
//! stored one for an engine the config file did not choose.

use std::path::PathBuf;

use crate::config::engine::EngineAddress;
use crate::config::env::{ENV_MTLS_CERT, ENV_MTLS_KEY, ENV_TOKEN, EnvSettings};
use crate::config::file::{ContextEntry, EnvironmentEntry, MtlsEntry};
use crate::config::values::{check_token_expiry, non_blank};
use crate::config::{ConfigOptions, Credentials, MtlsIdentity};
use crate::{Error, Result, Secret};

/// A value together with the name of the setting it came from.
pub(crate) type Sourced<T> = (T, String);

/// Where the stored credentials may come from, and the engine override (if
/// any) that differs from the context's own engine.
pub(crate) struct CredentialSources<'a> {
    pub(crate) context: Option<&'a ContextEntry>,
    pub(crate) environment: Option<&'a EnvironmentEntry>,
    pub(crate) overriding_engine: Option<&'a Sourced<EngineAddress>>,
}

/// Picks the credentials. Explicit ones (options, then environment) win; an
/// explicit mTLS identity also hides a stored token. Stored credentials
/// meeting an engine override are refused (fail closed), token and mTLS
/// together are refused, and an expired JWT is refused.
pub(crate) fn resolve_credentials(
    options: &ConfigOptions,
    env: &EnvSettings,
    sources: &CredentialSources<'_>,
    now_unix: u64,
) -> Result<Credentials> {
    let explicit_token = options
        .token
        .as_ref()
        .and_then(|t| non_blank(Some(t.expose())))
        .map(|t| (Secret::new(t), "the token option".to_owned()))
        .or_else(|| env.token.clone().map(|t| (t, ENV_TOKEN.to_owned())))
        .filter(|_| !options.no_token);
    let explicit_mtls = explicit_mtls(options, env)?;

    let stored_token = if explicit_token.is_none() && explicit_mtls.is_none() && !options.no_token {
        stored_token(sources.context, sources.environment)?
    } else {
        None
    };
    if let (Some((engine, engine_source)), Some((_, token_source))) =
        (sources.overriding_engine, &stored_token)
    {
        return Err(Error::config(format!(
            "refusing to send the token stored in {token_source} to {engine}, an engine chosen \
             by {engine_source} rather than by the config file; pass the token explicitly (the \
             token option or {ENV_TOKEN}) or remove the engine override"
        )));
    }
    let stored_mtls = if explicit_mtls.is_none() {
        stored_mtls(sources.context, sources.environment)?
    } else {
        None
    };
    if let (Some((engine, engine_source)), Some((_, mtls_source))) =
        (sources.overriding_engine, &stored_mtls)
    {
        return Err(Error::config(format!(
            "refusing to present the mTLS identity stored in {mtls_source} to {engine}, an \
             engine chosen by {engine_source} rather than by the config file; give the \
             certificate and key explicitly (the mtls_cert_file and mtls_key_file options, or \
             {ENV_MTLS_CERT} and {ENV_MTLS_KEY}) or remove the engine override"
        )));
    }

    match (
        explicit_token.or(stored_token),
        explicit_mtls.or(stored_mtls),
    ) {
        (Some((_, token_source)), Some((_, mtls_source))) => Err(Error::config(format!(
            "both a token (from {token_source}) and an mTLS identity (from {mtls_source}) are \
             configured, but a connection authenticates with exactly one; remove one of them"
        ))),
        (Some((token, source)), None) => {
            check_token_expiry(token.expose(), now_unix, &source)?;
            Ok(Credentials::Token(token))
        }
        (None, Some((identity, _))) => Ok(Credentials::Mtls(identity)),
        (None, None) => Ok(Credentials::None),
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
            let source = "the mtls_cert_file and mtls_key_file options".to_owned();
            return Ok(Some((MtlsIdentity::Files { cert, key }, source)));
        }
        (Some(_), None) => return Err(half_options("mtls_cert_file", "mtls_key_file")),
        (None, Some(_)) => return Err(half_options("mtls_key_file", "mtls_cert_file")),
        (None, None) => {}
    }
    Ok(env.mtls.clone().map(|(cert, key)| {
        (
            MtlsIdentity::Files { cert, key },
            format!("{ENV_MTLS_CERT} and {ENV_MTLS_KEY}"),
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
    // As the Go reference reads it: `kind` is required and names the
    // storage exactly (`inline`); `provider` only qualifies a keychain.
    match token.kind.as_deref() {
        Some("inline") => {}
        Some(kind) => return Err(unsupported_storage(&format!("{setting}.kind"), kind)),
        None => {
            return Err(Error::config(format!(
                "{setting}.kind is missing; the stored token needs kind: inline (the only \
                 storage the Rust runtime reads), or pass the token with {ENV_TOKEN} or the \
                 token option"
            )));
        }
    }
    Ok(token.value.clone().map(|v| (Secret::new(v), setting)))
}

fn unsupported_storage(setting: &str, kind: &str) -> Error {
    Error::config(format!(
        "{setting} is {kind:?}, a token storage the Rust runtime cannot read (only kind: inline, \
         written in lowercase, is supported); pass the token with {ENV_TOKEN} or the token \
         option, or store it with kind: inline"
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
             certificateFile and keyFile, or {ENV_MTLS_CERT} and {ENV_MTLS_KEY}"
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
            cert: PathBuf::from(cert),
            key: PathBuf::from(key),
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
