//! The YAML config file shared with the rstream CLI (`version: 1`), read
//! into plain entries. Nothing here decides precedence; see `resolve`.

use serde_yaml_ng::{Mapping, Value};

use crate::config::values::normalize_api_url;
use crate::{Error, Result};

/// The parts of the config file this runtime reads.
#[derive(Debug, Default)]
pub(crate) struct ConfigFile {
    pub(crate) default_context: Option<String>,
    pub(crate) contexts: Vec<ContextEntry>,
    pub(crate) environments: Vec<EnvironmentEntry>,
}

/// One entry of `contexts[]`.
#[derive(Debug)]
pub(crate) struct ContextEntry {
    /// How errors name this context: `context "prod"`.
    pub(crate) label: String,
    pub(crate) name: String,
    pub(crate) api_url: Option<String>,
    pub(crate) engine: Option<String>,
    pub(crate) project_endpoint: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) auth: AuthEntry,
    pub(crate) transport: TransportEntry,
}

/// One entry of `environments[]`.
#[derive(Debug)]
pub(crate) struct EnvironmentEntry {
    /// How errors name this environment: `environment "https://rstream.io"`.
    pub(crate) label: String,
    pub(crate) api_url: String,
    pub(crate) auth: AuthEntry,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) transport: TransportEntry,
}

/// `auth`: a stored token and/or a stored mTLS identity.
#[derive(Debug, Default)]
pub(crate) struct AuthEntry {
    pub(crate) token: Option<TokenEntry>,
    pub(crate) mtls: Option<MtlsEntry>,
}

/// `auth.token.storage`.
#[derive(Debug, Default)]
pub(crate) struct TokenEntry {
    pub(crate) kind: Option<String>,
    pub(crate) value: Option<String>,
}

/// `auth.mtls`.
#[derive(Debug, Default)]
pub(crate) struct MtlsEntry {
    pub(crate) certificate: Option<String>,
    pub(crate) certificate_file: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) key_file: Option<String>,
    /// `auth.mtls.storage` was present; holds its provider or kind, if any.
    pub(crate) storage: Option<String>,
}

/// `transport`.
#[derive(Debug, Default)]
pub(crate) struct TransportEntry {
    pub(crate) mode: Option<String>,
    pub(crate) use_quic: Option<bool>,
    /// Keys present that this runtime cannot honour, e.g. `dns`.
    pub(crate) unsupported: Vec<&'static str>,
    pub(crate) tls: TlsEntry,
    pub(crate) proxy: Option<ProxyEntry>,
}

/// `transport.tls` and `transport.proxy.tls`.
#[derive(Debug, Default, Clone)]
pub(crate) struct TlsEntry {
    pub(crate) ca_file: Option<String>,
    pub(crate) server_name: Option<String>,
    pub(crate) insecure_skip_verify: Option<bool>,
}

/// `transport.proxy`.
#[derive(Debug, Default, Clone)]
pub(crate) struct ProxyEntry {
    pub(crate) http: Option<String>,
    pub(crate) socks5: Option<String>,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) from_environment: Option<bool>,
    pub(crate) tls: TlsEntry,
}

/// Transport keys of the CLI schema that this runtime cannot honour, with
/// what each one is, for the error message.
const UNSUPPORTED_TRANSPORT_KEYS: &[(&str, &str)] = &[
    ("bind", "binding to a local interface or address"),
    ("dns", "custom DNS resolution"),
    ("ipFamily", "forcing an IP family"),
    ("mptcp", "multipath TCP"),
];

/// What an unsupported transport key means, for error messages.
pub(crate) fn unsupported_transport_meaning(key: &str) -> &'static str {
    UNSUPPORTED_TRANSPORT_KEYS
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("an unsupported option", |(_, meaning)| meaning)
}

impl ConfigFile {
    /// Parses the file's text. Blank text or a top level that is not a
    /// mapping yields an empty file, like the other SDKs.
    pub(crate) fn parse(text: &str) -> Result<Self> {
        if text.trim().is_empty() {
            return Ok(ConfigFile::default());
        }
        let not_yaml = |e: serde_yaml_ng::Error| {
            let place = e
                .location()
                .map(|l| format!(" at line {} column {}", l.line(), l.column()))
                .unwrap_or_default();
            Error::config(format!(
                "the rstream config file is not valid YAML{place}; fix the file or point \
                 RSTREAM_CONFIG at another one"
            ))
        };
        let mut value: Value = serde_yaml_ng::from_str(text).map_err(not_yaml)?;
        // `<<: *anchor` merge keys, as PyYAML's safe_load applies them.
        value.apply_merge().map_err(not_yaml)?;
        let Value::Mapping(root) = value else {
            return Ok(ConfigFile::default());
        };

        let default_context = match map(&root, "defaults", "")? {
            Some(defaults) => match map(defaults, "context", "defaults")? {
                Some(context) => string(context, "name", "defaults.context")?
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty()),
                None => None,
            },
            None => None,
        };

        let mut contexts = Vec::new();
        for (index, item) in list(&root, "contexts")?.iter().enumerate() {
            if let Some(context) = parse_context(item, index)? {
                contexts.push(context);
            }
        }
        let mut environments = Vec::new();
        for (index, item) in list(&root, "environments")?.iter().enumerate() {
            if let Some(environment) = parse_environment(item, index)? {
                environments.push(environment);
            }
        }
        Ok(ConfigFile {
            default_context,
            contexts,
            environments,
        })
    }

    /// The environment whose `apiUrl` equals `api_url` (both normalised).
    pub(crate) fn environment(&self, api_url: &str) -> Option<&EnvironmentEntry> {
        self.environments.iter().find(|e| e.api_url == api_url)
    }
}

fn parse_context(item: &Value, index: usize) -> Result<Option<ContextEntry>> {
    let path = format!("contexts[{index}]");
    let Value::Mapping(entry) = item else {
        return Err(wrong_type(&path, "a mapping"));
    };
    let Some(name) = string(entry, "name", &path)?.filter(|n| !n.trim().is_empty()) else {
        // Contexts without a name cannot be selected; the other SDKs skip them.
        return Ok(None);
    };
    let label = format!("context {name:?}");
    let api_url = match string(entry, "apiUrl", &label)? {
        Some(url) if !url.trim().is_empty() => {
            Some(normalize_api_url(&url, &format!("{label} apiUrl"))?)
        }
        _ => None,
    };
    Ok(Some(ContextEntry {
        api_url,
        engine: trimmed(string(entry, "engine", &label)?),
        project_endpoint: trimmed(string(entry, "projectEndpoint", &label)?),
        region: trimmed(string(entry, "region", &label)?),
        auth: parse_auth(entry, &label)?,
        transport: parse_transport(entry, &label)?,
        name,
        label,
    }))
}

fn parse_environment(item: &Value, index: usize) -> Result<Option<EnvironmentEntry>> {
    let path = format!("environments[{index}]");
    let Value::Mapping(entry) = item else {
        return Err(wrong_type(&path, "a mapping"));
    };
    let Some(url) = string(entry, "apiUrl", &path)?.filter(|u| !u.trim().is_empty()) else {
        // An environment without apiUrl can never be inherited; skip it.
        return Ok(None);
    };
    let api_url = normalize_api_url(&url, &format!("{path}.apiUrl"))?;
    let label = format!("environment {api_url:?}");
    Ok(Some(EnvironmentEntry {
        auth: parse_auth(entry, &label)?,
        headers: string_pairs(entry, "headers", &label)?,
        transport: parse_transport(entry, &label)?,
        api_url,
        label,
    }))
}

fn parse_auth(entry: &Mapping, label: &str) -> Result<AuthEntry> {
    let Some(auth) = map(entry, "auth", label)? else {
        return Ok(AuthEntry::default());
    };
    let mut out = AuthEntry::default();
    let auth_path = join(label, "auth");
    if let Some(token) = map(auth, "token", &auth_path)? {
        let path = format!("{auth_path}.token.storage");
        if let Some(storage) =
            map(token, "storage", &format!("{auth_path}.token"))?.filter(|s| !s.is_empty())
        {
            out.token = Some(TokenEntry {
                kind: trimmed(string(storage, "kind", &path)?),
                value: trimmed(string(storage, "value", &path)?),
            });
        }
    }
    let path = format!("{auth_path}.mtls");
    if let Some(mtls) = map(auth, "mtls", &auth_path)?.filter(|m| !m.is_empty()) {
        let storage = match mtls.get("storage") {
            None | Some(Value::Null) => None,
            Some(Value::Mapping(storage)) if storage.is_empty() => None,
            Some(Value::Mapping(storage)) => {
                let spath = format!("{path}.storage");
                let provider = trimmed(string(storage, "provider", &spath)?);
                let kind = trimmed(string(storage, "kind", &spath)?);
                Some(provider.or(kind).unwrap_or_else(|| "configured".to_owned()))
            }
            Some(_) => return Err(wrong_type(&format!("{path}.storage"), "a mapping")),
        };
        out.mtls = Some(MtlsEntry {
            certificate: trimmed(string(mtls, "certificate", &path)?),
            certificate_file: trimmed(string(mtls, "certificateFile", &path)?),
            key: trimmed(string(mtls, "key", &path)?),
            key_file: trimmed(string(mtls, "keyFile", &path)?),
            storage,
        });
    }
    Ok(out)
}

fn parse_transport(entry: &Mapping, label: &str) -> Result<TransportEntry> {
    let path = join(label, "transport");
    let Some(transport) = map(entry, "transport", label)? else {
        return Ok(TransportEntry::default());
    };
    let unsupported = UNSUPPORTED_TRANSPORT_KEYS
        .iter()
        .map(|(key, _)| *key)
        .filter(|key| transport.contains_key(*key))
        .collect();
    let proxy_path = format!("{path}.proxy");
    let proxy = match map(transport, "proxy", &path)? {
        Some(proxy) => Some(ProxyEntry {
            http: trimmed(string(proxy, "http", &proxy_path)?),
            socks5: trimmed(string(proxy, "socks5", &proxy_path)?),
            username: string(proxy, "username", &proxy_path)?,
            password: string(proxy, "password", &proxy_path)?,
            headers: string_pairs(proxy, "headers", &proxy_path)?,
            from_environment: boolean(proxy, "fromEnvironment", &proxy_path)?,
            tls: parse_tls(proxy, &proxy_path)?,
        }),
        None => None,
    };
    Ok(TransportEntry {
        mode: trimmed(string(transport, "mode", &path)?),
        use_quic: boolean(transport, "useQuic", &path)?,
        unsupported,
        tls: parse_tls(transport, &path)?,
        proxy,
    })
}

fn parse_tls(parent: &Mapping, parent_path: &str) -> Result<TlsEntry> {
    let Some(tls) = map(parent, "tls", parent_path)? else {
        return Ok(TlsEntry::default());
    };
    let path = &join(parent_path, "tls");
    Ok(TlsEntry {
        ca_file: trimmed(string(tls, "caFile", path)?),
        server_name: trimmed(string(tls, "serverName", path)?),
        insecure_skip_verify: boolean(tls, "insecureSkipVerify", path)?,
    })
}

fn wrong_type(path: &str, expected: &str) -> Error {
    Error::config(format!(
        "{path} in the rstream config file must be {expected}; fix the file"
    ))
}

fn trimmed(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// A mapping under `key`; absent or null is `None`.
fn map<'a>(parent: &'a Mapping, key: &str, path: &str) -> Result<Option<&'a Mapping>> {
    match parent.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Mapping(m)) => Ok(Some(m)),
        Some(_) => Err(wrong_type(&join(path, key), "a mapping")),
    }
}

/// A sequence under `key`; absent or null is empty.
fn list<'a>(parent: &'a Mapping, key: &str) -> Result<&'a [Value]> {
    match parent.get(key) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Sequence(items)) => Ok(items),
        Some(_) => Err(wrong_type(key, "a list")),
    }
}

/// A string under `key`; numbers are taken as written. Absent or null is `None`.
fn string(parent: &Mapping, key: &str, path: &str) -> Result<Option<String>> {
    match parent.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(wrong_type(&join(path, key), "a string")),
    }
}

/// A boolean under `key`. Besides `true` and `false`, the YAML 1.1 words
/// PyYAML and Go's yaml.v3 read as booleans (`yes`, `no`, `on`, `off`, in
/// lower, title or upper case) are accepted. Absent or null is `None`.
fn boolean(parent: &Mapping, key: &str, path: &str) -> Result<Option<bool>> {
    const WORDS: &[(&str, bool)] = &[
        ("yes", true),
        ("Yes", true),
        ("YES", true),
        ("on", true),
        ("On", true),
        ("ON", true),
        ("no", false),
        ("No", false),
        ("NO", false),
        ("off", false),
        ("Off", false),
        ("OFF", false),
    ];
    match parent.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(word)) if WORDS.iter().any(|(w, _)| w == word) => {
            Ok(WORDS.iter().find(|(w, _)| w == word).map(|(_, b)| *b))
        }
        Some(_) => Err(wrong_type(&join(path, key), "true or false")),
    }
}

/// A mapping of header names to string values, in file order.
fn string_pairs(parent: &Mapping, key: &str, parent_path: &str) -> Result<Vec<(String, String)>> {
    let path = &join(parent_path, key);
    let Some(headers) = (match parent.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Mapping(m)) => Some(m),
        Some(_) => return Err(wrong_type(path, "a mapping of header names to strings")),
    }) else {
        return Ok(Vec::new());
    };
    headers
        .iter()
        .map(|(name, value)| match (name, value) {
            (Value::String(name), Value::String(value)) => Ok((name.clone(), value.clone())),
            _ => Err(wrong_type(path, "a mapping of header names to strings")),
        })
        .collect()
}

/// `context "a"` + `engine` → `context "a" engine`; `x.y` + `z` → `x.y.z`.
fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else if path.ends_with('"') {
        format!("{path} {key}")
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
version: 1
defaults:
  context:
    name: prod
environments:
  - apiUrl: https://rstream.io/
    headers:
      X-Team: edge
    auth:
      token:
        storage:
          kind: inline
          value: env-token
    transport:
      tls:
        caFile: ca.pem
      proxy:
        http: http://proxy.example.com:3128
        headers:
          X-Proxy: one
contexts:
  - name: prod
    apiUrl: https://rstream.io
    projectEndpoint: abc123
    engine: abc123.eu.rstream.io:443
    region: eu
    auth:
      mtls:
        certificateFile: client.pem
        keyFile: client.key
    transport:
      mode: tls
      useQuic: false
      tls:
        serverName: engine.internal
        insecureSkipVerify: false
  - apiUrl: https://nameless.example.com
"#;

    #[test]
    fn reads_the_whole_schema() {
        let file = ConfigFile::parse(FULL).unwrap();
        assert_eq!(file.default_context.as_deref(), Some("prod"));
        assert_eq!(file.contexts.len(), 1, "the nameless context is skipped");
        let ctx = &file.contexts[0];
        assert_eq!(ctx.api_url.as_deref(), Some("https://rstream.io"));
        assert_eq!(ctx.engine.as_deref(), Some("abc123.eu.rstream.io:443"));
        assert_eq!(ctx.project_endpoint.as_deref(), Some("abc123"));
        let mtls = ctx.auth.mtls.as_ref().unwrap();
        assert_eq!(mtls.certificate_file.as_deref(), Some("client.pem"));
        assert_eq!(ctx.transport.mode.as_deref(), Some("tls"));
        assert_eq!(ctx.transport.use_quic, Some(false));
        assert_eq!(
            ctx.transport.tls.server_name.as_deref(),
            Some("engine.internal")
        );

        let env = file.environment("https://rstream.io").unwrap();
        assert_eq!(env.headers, vec![("X-Team".to_owned(), "edge".to_owned())]);
        assert_eq!(
            env.auth.token.as_ref().unwrap().value.as_deref(),
            Some("env-token")
        );
        let proxy = env.transport.proxy.as_ref().unwrap();
        assert_eq!(proxy.http.as_deref(), Some("http://proxy.example.com:3128"));
        assert_eq!(env.transport.tls.ca_file.as_deref(), Some("ca.pem"));
    }

    #[test]
    fn merge_keys_are_applied() {
        let text =
            "base: &base\n  engine: shared.example.com\ncontexts:\n  - <<: *base\n    name: a\n";
        let file = ConfigFile::parse(text).unwrap();
        assert_eq!(
            file.contexts[0].engine.as_deref(),
            Some("shared.example.com")
        );
    }

    #[test]
    fn blank_and_non_mapping_files_are_empty() {
        for text in ["", "   \n", "just a string", "- a\n- b\n"] {
            let file = ConfigFile::parse(text).unwrap();
            assert!(
                file.contexts.is_empty() && file.default_context.is_none(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn malformed_files_are_refused_with_the_offending_key() {
        let cases = [
            ("contexts: [\n", "not valid YAML"),
            ("contexts: {}\n", "contexts"),
            ("contexts:\n  - 3\n", "contexts[0]"),
            (
                "contexts:\n  - name: a\n    engine: [x]\n",
                "context \"a\" engine",
            ),
            (
                "contexts:\n  - name: a\n    apiUrl: ftp://x\n",
                "context \"a\" apiUrl",
            ),
            (
                "contexts:\n  - name: a\n    transport:\n      useQuic: \"maybe\"\n",
                "useQuic",
            ),
            (
                "contexts:\n  - name: a\n    transport:\n      tls:\n        insecureSkipVerify: 1\n",
                "insecureSkipVerify",
            ),
            (
                "environments:\n  - apiUrl: https://x\n    headers: [a]\n",
                "headers",
            ),
        ];
        for (text, expected) in cases {
            let err = ConfigFile::parse(text).expect_err(text).to_string();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }

    #[test]
    fn unsupported_transport_keys_are_recorded() {
        let text = "contexts:\n  - name: a\n    transport:\n      dns:\n        override: 1.1.1.1\n      mptcp: false\n";
        let file = ConfigFile::parse(text).unwrap();
        assert_eq!(file.contexts[0].transport.unsupported, vec!["dns", "mptcp"]);
    }
}
