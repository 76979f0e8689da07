//! Reads the process environment and the config file, then resolves.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::env::{ENV_CONFIG, var};
use crate::config::{ConfigOptions, ResolvedConfig, resolve};
use crate::{Error, Result};

/// Resolves the configuration from `options`, the process environment and
/// the config file.
///
/// The file is `options.config_file`, else `RSTREAM_CONFIG`, else
/// `~/.rstream/config.yaml`; none with `options.no_config_file`. A file
/// that does not exist counts as an empty one, wherever it was named, as
/// in the other SDKs: an application configured by environment only keeps
/// working when `RSTREAM_CONFIG` points at a file not written yet.
pub fn load(options: &ConfigOptions) -> Result<ResolvedConfig> {
    let env: HashMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let text = match config_path(options, &env) {
        Some(path) if !options.no_config_file => read_config(&path)?,
        _ => None,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    resolve(options, &env, text.as_deref(), now)
}

/// The config file to read.
pub(crate) fn config_path(
    options: &ConfigOptions,
    env: &HashMap<String, String>,
) -> Option<PathBuf> {
    if let Some(path) = options
        .config_file
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty())
    {
        return Some(path.clone());
    }
    if let Some(path) = var(env, ENV_CONFIG) {
        return Some(PathBuf::from(path));
    }
    let home = var(env, "HOME").or_else(|| var(env, "USERPROFILE"))?;
    Some(PathBuf::from(home).join(".rstream").join("config.yaml"))
}

/// The file's text; `None` when it does not exist.
pub(crate) fn read_config(path: &PathBuf) -> Result<Option<String>> {
    let shown = path.display();
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
            Error::config(format!(
                "the rstream config file {shown} is not UTF-8 text; fix or replace it"
            ))
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::config(format!(
            "cannot read the rstream config file {shown}: {e}; check its permissions"
        ))),
    }
}
