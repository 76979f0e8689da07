//! End-to-end tests of `resolve` over options, environment and file text.

use std::collections::HashMap;
use std::path::PathBuf;

use base64::Engine as _;

use super::*;
use crate::Error;

mod refusals;
mod tables;

const NOW: u64 = 1_700_000_000;

/// Every token, password and key in these fixtures contains `SECRET`, so
/// one check proves no error message or `Debug` output leaks them.
const FILE: &str = r#"
version: 1
defaults:
  context:
    name: prod
environments:
  - apiUrl: https://rstream.io/
    headers:
      x-team: edge
    auth:
      token:
        storage:
          kind: inline
          value: env-entry-SECRET
    transport:
      tls:
        caFile: env-ca.pem
  - apiUrl: https://staging.rstream.io
    auth:
      mtls:
        certificateFile: staging.pem
        keyFile: staging.key
    transport:
      proxy:
        http: http://proxy.staging.example.com:3128
        username: alice
        password: proxy-SECRET
        headers:
          X-Proxy-Team: edge
contexts:
  - name: prod
    apiUrl: https://rstream.io
    projectEndpoint: abc123
    engine: abc123.eu.rstream.io
    auth:
      token:
        storage:
          kind: inline
          value: context-SECRET
  - name: inherit
    apiUrl: https://rstream.io
    engine: inherit.rstream.io:8443
  - name: staging
    apiUrl: https://staging.rstream.io
    engine: staging.rstream.io
    transport:
      tls:
        serverName: engine.staging.internal
  - name: unlinked
    engine: unlinked.example.com
  - name: pem
    engine: pem.example.com
    auth:
      mtls:
        certificate: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        key: "-----BEGIN PRIVATE KEY-----\nkey-SECRET\n-----END PRIVATE KEY-----\n"
  - name: regional
    apiUrl: https://rstream.io
    projectEndpoint: abc123
    region: EU
  - name: orphan-region
    region: us-east
  - name: quic
    engine: quic.example.com
    transport:
      useQuic: true
  - name: quic-mode
    engine: quic.example.com
    transport:
      mode: quic
      useQuic: false
  - name: keychain
    auth:
      token:
        storage:
          kind: keychain
          service: io.rstream.auth
          account: api
  - name: pkcs11
    auth:
      mtls:
        storage:
          kind: pkcs11
          module: softhsm2.so
  - name: dns
    transport:
      dns:
        override: 1.1.1.1
  - name: socks
    transport:
      proxy:
        socks5: socks5://127.0.0.1:1080
  - name: socks-url
    transport:
      proxy:
        http: socks5h://127.0.0.1:1080
  - name: from-env-proxy
    transport:
      proxy:
        fromEnvironment: true
  - name: url-and-env-proxy
    transport:
      proxy:
        http: http://file-proxy:3128
        fromEnvironment: true
  - name: twin
    apiUrl: https://one.example.com
    engine: one.example.com
  - name: twin
    apiUrl: https://two.example.com
    engine: two.example.com
"#;

fn jwt(exp: i64) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!(
        "{}.{}.sig-SECRET",
        b64.encode(r#"{"alg":"none"}"#),
        b64.encode(format!(r#"{{"sub":"SECRET-subject","exp":{exp}}}"#))
    )
}

fn env_map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn token(config: &ResolvedConfig) -> &str {
    match &config.credentials {
        Credentials::Token(t) => t.expose(),
        other => panic!("expected a token, got {other:?}"),
    }
}

fn engine(config: &ResolvedConfig) -> String {
    config
        .engine
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default()
}

enum Expect {
    Ok(fn(&ResolvedConfig)),
    Err(&'static [&'static str]),
}

struct Case {
    name: &'static str,
    options: ConfigOptions,
    env: Vec<(&'static str, String)>,
    file: Option<String>,
    expect: Expect,
}

fn case(name: &'static str, expect: Expect) -> Case {
    Case {
        name,
        options: ConfigOptions::default(),
        env: Vec::new(),
        file: Some(FILE.to_owned()),
        expect,
    }
}

impl Case {
    fn env(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.env.push((name, value.into()));
        self
    }
    fn options(mut self, f: impl FnOnce(&mut ConfigOptions)) -> Self {
        f(&mut self.options);
        self
    }
    fn file(mut self, text: Option<String>) -> Self {
        self.file = text;
        self
    }
    fn run(&self) {
        let env: HashMap<String, String> = self
            .env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let result = resolve(&self.options, &env, self.file.as_deref(), NOW);
        match (&self.expect, result) {
            (Expect::Ok(check), Ok(config)) => {
                let shown = format!("{config:?}");
                assert!(
                    !shown.contains("SECRET"),
                    "{}: Debug leaks: {shown}",
                    self.name
                );
                check(&config);
            }
            (Expect::Ok(_), Err(e)) => panic!("{}: unexpected error: {e}", self.name),
            (Expect::Err(_), Ok(config)) => {
                panic!("{}: expected an error, got {config:?}", self.name)
            }
            (Expect::Err(needles), Err(e)) => {
                assert!(
                    matches!(e, Error::Config(_)),
                    "{}: not a config error: {e:?}",
                    self.name
                );
                let text = e.to_string();
                assert!(
                    !text.contains("SECRET"),
                    "{}: error leaks a secret: {text}",
                    self.name
                );
                for needle in *needles {
                    assert!(
                        text.contains(needle),
                        "{}: {text:?} lacks {needle:?}",
                        self.name
                    );
                }
            }
        }
    }
}

#[test]
fn debug_output_hides_every_secret() {
    let config = ResolvedConfig {
        engine: Some(EngineAddress::parse("e.example.com").unwrap()),
        credentials: Credentials::Mtls(MtlsIdentity::Pem {
            cert_pem: "cert".into(),
            key_pem: "key-SECRET".into(),
        }),
        tls: TlsSettings::default(),
        proxy: Some(ProxySettings {
            url: "http://user:pw-SECRET@proxy.example.com:3128/".into(),
            username: Some("user".into()),
            password: Some("pw-SECRET".into()),
            headers: vec![("Proxy-Authorization".into(), "Basic SECRET".into())],
            no_proxy: None,
            tls: TlsSettings::default(),
        }),
        api_proxy: None,
        api_url: DEFAULT_API_URL.into(),
        api_headers: vec![("X-Api-Key".into(), "SECRET".into())],
        project_endpoint: None,
        region: None,
        context_name: None,
    };
    let shown = format!("{config:?} {config:#?}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains("proxy.example.com:3128"), "{shown}");
    assert!(shown.contains("X-Api-Key"), "{shown}");
    let options = ConfigOptions {
        token: Some("tok-SECRET".into()),
        ..ConfigOptions::default()
    };
    assert!(!format!("{options:?}").contains("SECRET"));
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync + Clone + std::fmt::Debug>() {}
    check::<ConfigOptions>();
    check::<ResolvedConfig>();
    check::<Credentials>();
    check::<MtlsIdentity>();
    check::<ProxySettings>();
    check::<EngineAddress>();
}

#[test]
fn resolve_is_pure_and_repeatable() {
    let env = env_map(&[("RSTREAM_CONTEXT", "staging")]);
    let first = resolve(&ConfigOptions::default(), &env, Some(FILE), NOW).unwrap();
    let second = resolve(&ConfigOptions::default(), &env, Some(FILE), NOW).unwrap();
    assert_eq!(first, second);
}

#[test]
fn blank_values_count_as_unset() {
    let env = env_map(&[
        ("RSTREAM_ENGINE", "  "),
        ("RSTREAM_ENGINE_ADDRESS", "alias.example.com"),
        ("RSTREAM_AUTHENTICATION_TOKEN", ""),
        ("RSTREAM_CONTEXT", " "),
    ]);
    let options = ConfigOptions {
        token: Some(Secret::new("   ")),
        ..ConfigOptions::default()
    };
    let config = resolve(&options, &env, None, NOW).unwrap();
    // A set but blank RSTREAM_ENGINE means "no engine" and hides the alias.
    assert_eq!(config.engine, None);
    assert_eq!(config.credentials, Credentials::None);
    let alias_only = env_map(&[("RSTREAM_ENGINE_ADDRESS", "alias.example.com")]);
    let config = resolve(&options, &alias_only, None, NOW).unwrap();
    assert_eq!(engine(&config), "alias.example.com:443");
}

#[test]
fn config_file_location() {
    use super::load::config_path;
    let home = env_map(&[("HOME", "home-dir")]);
    let path = config_path(&ConfigOptions::default(), &home).unwrap();
    assert_eq!(
        path,
        PathBuf::from("home-dir")
            .join(".rstream")
            .join("config.yaml")
    );

    let env = env_map(&[
        ("HOME", "home-dir"),
        ("RSTREAM_CONFIG", "elsewhere/rstream.yaml"),
    ]);
    let path = config_path(&ConfigOptions::default(), &env).unwrap();
    assert_eq!(path, PathBuf::from("elsewhere/rstream.yaml"));

    let options = ConfigOptions {
        config_file: Some("mine.yaml".into()),
        ..ConfigOptions::default()
    };
    assert_eq!(
        config_path(&options, &env).unwrap(),
        PathBuf::from("mine.yaml")
    );
    assert!(config_path(&ConfigOptions::default(), &HashMap::new()).is_none());
}

#[test]
fn a_missing_file_reads_as_empty_wherever_it_was_named() {
    use super::load::read_config;
    let dir = std::env::temp_dir().join(format!("rstream-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("absent.yaml");
    assert_eq!(read_config(&missing).unwrap(), None);

    let present = dir.join("config.yaml");
    std::fs::write(&present, "defaults:\n  context:\n    name: x\n").unwrap();
    let text = read_config(&present).unwrap();
    assert!(text.unwrap().contains("name: x"));

    // A directory is not a file: a clear error, not "empty".
    let err = read_config(&dir).unwrap_err().to_string();
    assert!(err.contains("cannot read the rstream config file"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
