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
/// `~/.rstream/config.yaml`. A missing default file simply means "no file";
/// a missing file that was named explicitly is an error.
pub fn load(options: &ConfigOptions) -> Result<ResolvedConfig> {
    let env: HashMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let text = match config_path(options, &env) {
        Some((path, named_by)) => read_config(&path, named_by)?,
        None => None,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    resolve(options, &env, text.as_deref(), now)
}

/// The config file to read and, when it was named explicitly, by what.
pub(crate) fn config_path(
    options: &ConfigOptions,
    env: &HashMap<String, String>,
) -> Option<(PathBuf, Option<&'static str>)> {
    if let Some(path) = options
        .config_file
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty())
    {
        return Some((path.clone(), Some("the config_file option")));
    }
    if let Some(path) = var(env, ENV_CONFIG) {
        return Some((PathBuf::from(path), Some(ENV_CONFIG)));
    }
    let home = var(env, "HOME").or_else(|| var(env, "USERPROFILE"))?;
    Some((
        PathBuf::from(home).join(".rstream").join("config.yaml"),
        None,
    ))
}

pub(crate) fn read_config(path: &PathBuf, named_by: Option<&str>) -> Result<Option<String>> {
    let shown = path.display();
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
            Error::config(format!(
                "the rstream config file {shown} is not UTF-8 text; fix or replace it"
            ))
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => match named_by {
            None => Ok(None),
            Some(source) => Err(Error::config(format!(
                "the rstream config file {shown} named by {source} does not exist; create it \
                 or point {source} at an existing file"
            ))),
        },
        Err(e) => Err(Error::config(format!(
            "cannot read the rstream config file {shown}: {e}; check its permissions"
        ))),
    }
}
