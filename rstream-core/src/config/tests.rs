//! End-to-end tests of `resolve` over options, environment and file text.

use std::collections::HashMap;
use std::path::PathBuf;

use base64::Engine as _;

use super::*;

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

use crate::Error;

fn precedence_cases() -> Vec<Case> {
    vec![
        case(
            "nothing configured gives defaults",
            Expect::Ok(|c| {
                assert_eq!(c.engine, None);
                assert_eq!(c.credentials, Credentials::None);
                assert_eq!(c.api_url, DEFAULT_API_URL);
                assert_eq!(c.context_name, None);
                assert!(c.api_headers.is_empty() && c.proxy.is_none());
                assert_eq!(c.tls, TlsSettings::default());
            }),
        )
        .file(None),
        case(
            "environment engine and token",
            Expect::Ok(|c| {
                assert_eq!(engine(c), "engine.example.com:443");
                assert_eq!(token(c), "env-SECRET");
            }),
        )
        .file(None)
        .env("RSTREAM_ENGINE", "Engine.Example.com")
        .env("RSTREAM_AUTHENTICATION_TOKEN", " env-SECRET "),
        case(
            "RSTREAM_ENGINE_ADDRESS is an alias",
            Expect::Ok(|c| {
                assert_eq!(engine(c), "alias.example.com:7000");
            }),
        )
        .file(None)
        .env("RSTREAM_ENGINE_ADDRESS", "alias.example.com:7000"),
        case(
            "RSTREAM_ENGINE wins over its alias",
            Expect::Ok(|c| {
                assert_eq!(engine(c), "main.example.com:443");
            }),
        )
        .file(None)
        .env("RSTREAM_ENGINE", "main.example.com")
        .env("RSTREAM_ENGINE_ADDRESS", "alias.example.com"),
        case(
            "options win over the environment",
            Expect::Ok(|c| {
                assert_eq!(engine(c), "option.example.com:9443");
                assert_eq!(token(c), "option-SECRET");
                assert_eq!(c.api_url, "https://option.example.com");
            }),
        )
        .env("RSTREAM_ENGINE", "env.example.com")
        .env("RSTREAM_AUTHENTICATION_TOKEN", "env-SECRET")
        .env("RSTREAM_API_URL", "https://env.example.com")
        .env("RSTREAM_CONTEXT", "unlinked")
        .options(|o| {
            o.engine = Some("option.example.com:9443".into());
            o.token = Some("option-SECRET".into());
            o.api_url = Some("https://option.example.com/".into());
        }),
        case(
            "the default context of the file",
            Expect::Ok(|c| {
                assert_eq!(c.context_name.as_deref(), Some("prod"));
                assert_eq!(engine(c), "abc123.eu.rstream.io:443");
                assert_eq!(token(c), "context-SECRET");
                assert_eq!(c.project_endpoint.as_deref(), Some("abc123"));
                assert_eq!(c.api_url, "https://rstream.io");
                assert_eq!(
                    c.api_headers,
                    vec![("X-Team".to_owned(), "edge".to_owned())]
                );
                assert_eq!(c.tls.ca_file, Some(PathBuf::from("env-ca.pem")));
            }),
        ),
        case(
            "a context inherits auth from its environment",
            Expect::Ok(|c| {
                assert_eq!(engine(c), "inherit.rstream.io:8443");
                assert_eq!(token(c), "env-entry-SECRET");
            }),
        )
        .env("RSTREAM_CONTEXT", "inherit"),
        case(
            "the context option wins over RSTREAM_CONTEXT",
            Expect::Ok(|c| {
                assert_eq!(c.context_name.as_deref(), Some("inherit"));
            }),
        )
        .env("RSTREAM_CONTEXT", "prod")
        .options(|o| o.context = Some("inherit".into())),
        case(
            "a context without apiUrl inherits nothing",
            Expect::Ok(|c| {
                assert_eq!(engine(c), "unlinked.example.com:443");
                assert_eq!(c.credentials, Credentials::None);
                assert!(c.api_headers.is_empty());
                assert_eq!(c.tls.ca_file, None);
            }),
        )
        .env("RSTREAM_CONTEXT", "unlinked"),
        case(
            "a context inherits mTLS, proxy and its own TLS name",
            Expect::Ok(|c| {
                assert_eq!(c.api_url, "https://staging.rstream.io");
                let expected = MtlsIdentity::Files {
                    cert: "staging.pem".into(),
                    key: "staging.key".into(),
                };
                assert_eq!(c.credentials, Credentials::Mtls(expected));
                assert_eq!(
                    c.tls.server_name.as_deref(),
                    Some("engine.staging.internal")
                );
                let proxy = c.proxy.as_ref().expect("proxy");
                assert_eq!(proxy.url, "http://proxy.staging.example.com:3128");
                assert_eq!(proxy.username.as_deref(), Some("alice"));
                assert_eq!(
                    proxy.password.as_ref().map(Secret::expose),
                    Some("proxy-SECRET")
                );
                assert!(!proxy.from_environment);
            }),
        )
        .env("RSTREAM_CONTEXT", "staging"),
        case(
            "inline PEM mTLS",
            Expect::Ok(|c| match &c.credentials {
                Credentials::Mtls(MtlsIdentity::Pem { cert_pem, key_pem }) => {
                    assert!(cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
                    assert!(key_pem.expose().contains("key-SECRET"));
                }
                other => panic!("{other:?}"),
            }),
        )
        .env("RSTREAM_CONTEXT", "pem"),
        case(
            "TLS options win over the file",
            Expect::Ok(|c| {
                assert_eq!(c.tls.ca_file, Some(PathBuf::from("mine.pem")));
                assert_eq!(c.tls.server_name.as_deref(), Some("mine.internal"));
                assert!(c.tls.insecure_skip_verify);
            }),
        )
        .env("RSTREAM_CONTEXT", "staging")
        .options(|o| {
            o.ca_file = Some("mine.pem".into());
            o.server_name = Some("mine.internal".into());
            o.insecure_skip_verify = Some(true);
        }),
        case(
            "an explicit API URL picks one of two same-named contexts",
            Expect::Ok(|c| {
                assert_eq!(engine(c), "two.example.com:443");
            }),
        )
        .env("RSTREAM_CONTEXT", "twin")
        .env("RSTREAM_API_URL", "https://two.example.com/"),
        case(
            "control-plane headers: variable over the environment entry",
            Expect::Ok(|c| {
                let expected = vec![
                    ("X-Team".to_owned(), "core".to_owned()),
                    ("X-Extra".to_owned(), "1".to_owned()),
                ];
                assert_eq!(c.api_headers, expected);
            }),
        )
        .env(
            "RSTREAM_CONTROL_PLANE_HEADERS",
            r#"{"X-TEAM":"core","x-extra":"1"}"#,
        ),
        case(
            "a region from the context",
            Expect::Ok(|c| {
                assert_eq!(c.region.as_deref(), Some("eu"));
                assert_eq!(c.engine, None, "the control plane names the engine");
                assert_eq!(c.project_endpoint.as_deref(), Some("abc123"));
            }),
        )
        .env("RSTREAM_CONTEXT", "regional"),
        case(
            "region auto means none",
            Expect::Ok(|c| assert_eq!(c.region, None)),
        )
        .env("RSTREAM_CONTEXT", "regional")
        .env("RSTREAM_REGION", "AUTO"),
        case(
            "an IPv6 engine",
            Expect::Ok(|c| {
                assert_eq!(engine(c), "[::1]:8443");
            }),
        )
        .file(None)
        .env("RSTREAM_ENGINE", "[::1]:8443"),
        case(
            "a JWT that has not expired",
            Expect::Ok(|c| {
                assert_eq!(token(c), jwt(NOW as i64 + 60));
            }),
        )
        .file(None)
        .env("RSTREAM_AUTHENTICATION_TOKEN", jwt(NOW as i64 + 60)),
    ]
}

fn fail_closed_cases() -> Vec<Case> {
    vec![
        case(
            "stored context token with an engine override from the environment",
            Expect::Err(&[
                "refusing",
                "context \"prod\" auth.token.storage",
                "RSTREAM_ENGINE",
                "evil.example.com:443",
            ]),
        )
        .env("RSTREAM_ENGINE", "evil.example.com"),
        case(
            "stored context token with an engine override from options",
            Expect::Err(&["refusing", "the engine option"]),
        )
        .options(|o| o.engine = Some("evil.example.com".into())),
        case(
            "stored environment-entry token with an engine override",
            Expect::Err(&[
                "refusing",
                "environment \"https://rstream.io\" auth.token.storage",
            ]),
        )
        .env("RSTREAM_CONTEXT", "inherit")
        .env("RSTREAM_ENGINE_ADDRESS", "evil.example.com"),
        case(
            "an engine override with an explicit token is fine",
            Expect::Ok(|c| {
                assert_eq!(engine(c), "other.example.com:443");
                assert_eq!(token(c), "env-SECRET");
            }),
        )
        .env("RSTREAM_ENGINE", "other.example.com")
        .env("RSTREAM_AUTHENTICATION_TOKEN", "env-SECRET"),
        case(
            "an override naming the context's own engine is no override",
            Expect::Ok(|c| {
                assert_eq!(token(c), "context-SECRET");
            }),
        )
        .env("RSTREAM_ENGINE", "ABC123.eu.rstream.io:443"),
        case(
            "stored mTLS with an engine override",
            Expect::Err(&[
                "refusing",
                "mTLS identity stored in environment \"https://staging.rstream.io\" auth.mtls",
            ]),
        )
        .env("RSTREAM_CONTEXT", "staging")
        .env("RSTREAM_ENGINE", "evil.example.com"),
        case(
            "an engine override with explicit mTLS files is fine",
            Expect::Ok(|c| {
                let expected = MtlsIdentity::Files {
                    cert: "me.pem".into(),
                    key: "me.key".into(),
                };
                assert_eq!(c.credentials, Credentials::Mtls(expected));
            }),
        )
        .env("RSTREAM_CONTEXT", "staging")
        .env("RSTREAM_ENGINE", "other.example.com")
        .env("RSTREAM_MTLS_CERT_FILE", "me.pem")
        .env("RSTREAM_MTLS_KEY_FILE", "me.key"),
        case(
            "explicit mTLS replaces a stored token without conflict",
            Expect::Ok(|c| {
                assert!(matches!(
                    c.credentials,
                    Credentials::Mtls(MtlsIdentity::Files { .. })
                ));
            }),
        )
        .options(|o| {
            o.mtls_cert_file = Some("me.pem".into());
            o.mtls_key_file = Some("me.key".into());
        }),
        case(
            "token and mTLS from the environment together",
            Expect::Err(&[
                "cannot be used together",
                "RSTREAM_AUTHENTICATION_TOKEN",
                "RSTREAM_MTLS_CERT_FILE",
            ]),
        )
        .file(None)
        .env("RSTREAM_AUTHENTICATION_TOKEN", "env-SECRET")
        .env("RSTREAM_MTLS_CERT_FILE", "me.pem")
        .env("RSTREAM_MTLS_KEY_FILE", "me.key"),
        case(
            "an explicit token does not hide stored mTLS",
            Expect::Err(&["cannot be used together", "the token option", "auth.mtls"]),
        )
        .env("RSTREAM_CONTEXT", "staging")
        .options(|o| o.token = Some("option-SECRET".into())),
    ]
}

fn refusal_cases() -> Vec<Case> {
    let expired_file = format!(
        "contexts:\n  - name: old\n    auth:\n      token:\n        storage:\n          value: {}\n",
        jwt(NOW as i64 - 1)
    );
    vec![
        case(
            "one mTLS variable without the other",
            Expect::Err(&["RSTREAM_MTLS_CERT_FILE is set but RSTREAM_MTLS_KEY_FILE is not"]),
        )
        .env("RSTREAM_MTLS_CERT_FILE", "me.pem"),
        case(
            "one mTLS option without the other",
            Expect::Err(&["mtls_key_file", "mtls_cert_file"]),
        )
        .options(|o| o.mtls_key_file = Some("me.key".into())),
        case(
            "an engine port out of range",
            Expect::Err(&["RSTREAM_ENGINE", "1 to 65535"]),
        )
        .env("RSTREAM_ENGINE", "engine.example.com:70000"),
        case(
            "an engine port of zero in the context",
            Expect::Err(&["context \"bad\" engine"]),
        )
        .file(Some(
            "contexts:\n  - name: bad\n    engine: bad.example.com:0\n".into(),
        ))
        .env("RSTREAM_CONTEXT", "bad"),
        case(
            "an engine with a scheme",
            Expect::Err(&["the engine option", "scheme"]),
        )
        .options(|o| o.engine = Some("https://engine.example.com".into())),
        case(
            "an expired JWT from the environment",
            Expect::Err(&["RSTREAM_AUTHENTICATION_TOKEN", "expired"]),
        )
        .file(None)
        .env("RSTREAM_AUTHENTICATION_TOKEN", jwt(NOW as i64)),
        case(
            "an expired JWT stored in the file",
            Expect::Err(&["context \"old\" auth.token.storage", "expired"]),
        )
        .file(Some(expired_file))
        .env("RSTREAM_CONTEXT", "old"),
        case(
            "useQuic true in the context",
            Expect::Err(&["context \"quic\" transport.useQuic", "QUIC"]),
        )
        .env("RSTREAM_CONTEXT", "quic"),
        case(
            "mode quic beats useQuic false",
            Expect::Err(&["context \"quic-mode\" transport.mode"]),
        )
        .env("RSTREAM_CONTEXT", "quic-mode"),
        case(
            "RSTREAM_TUNNEL_TRANSPORT=tls overrides useQuic",
            Expect::Ok(|c| {
                assert_eq!(engine(c), "quic.example.com:443");
            }),
        )
        .env("RSTREAM_CONTEXT", "quic")
        .env("RSTREAM_TUNNEL_TRANSPORT", "tls"),
        case(
            "RSTREAM_TUNNEL_TRANSPORT=quic",
            Expect::Err(&["RSTREAM_TUNNEL_TRANSPORT", "QUIC"]),
        )
        .env("RSTREAM_TUNNEL_TRANSPORT", "QUIC"),
        case(
            "RSTREAM_TUNNEL_TRANSPORT with a bad value",
            Expect::Err(&["RSTREAM_TUNNEL_TRANSPORT", "auto, tls or quic"]),
        )
        .env("RSTREAM_TUNNEL_TRANSPORT", "udp"),
        case(
            "legacy RSTREAM_QUIC_TRANSPORT=1",
            Expect::Err(&["RSTREAM_QUIC_TRANSPORT"]),
        )
        .env("RSTREAM_QUIC_TRANSPORT", "1"),
        case(
            "legacy RSTREAM_QUIC_TRANSPORT=0 overrides useQuic",
            Expect::Ok(|_| {}),
        )
        .env("RSTREAM_CONTEXT", "quic")
        .env("RSTREAM_QUIC_TRANSPORT", "0"),
        case(
            "keychain token storage",
            Expect::Err(&[
                "context \"keychain\" auth.token.storage.kind",
                "keychain",
                "RSTREAM_AUTHENTICATION_TOKEN",
            ]),
        )
        .env("RSTREAM_CONTEXT", "keychain"),
        case(
            "an explicit token skips unreadable token storage",
            Expect::Ok(|c| {
                assert_eq!(token(c), "env-SECRET");
            }),
        )
        .env("RSTREAM_CONTEXT", "keychain")
        .env("RSTREAM_AUTHENTICATION_TOKEN", "env-SECRET"),
        case(
            "PKCS#11 mTLS storage",
            Expect::Err(&["context \"pkcs11\" auth.mtls.storage", "pkcs11"]),
        )
        .env("RSTREAM_CONTEXT", "pkcs11"),
        case(
            "custom DNS",
            Expect::Err(&["context \"dns\" transport.dns", "DNS"]),
        )
        .env("RSTREAM_CONTEXT", "dns"),
        case(
            "a SOCKS5 proxy key",
            Expect::Err(&["transport.proxy.socks5", "SOCKS5"]),
        )
        .env("RSTREAM_CONTEXT", "socks"),
        case(
            "a SOCKS5 proxy URL",
            Expect::Err(&["transport.proxy.http", "SOCKS"]),
        )
        .env("RSTREAM_CONTEXT", "socks-url"),
        case(
            "a proxy from HTTPS_PROXY",
            Expect::Ok(|c| {
                let proxy = c.proxy.as_ref().expect("proxy");
                assert_eq!(proxy.url, "http://corp-proxy:8080");
                assert!(proxy.from_environment);
                assert_eq!(proxy.no_proxy.as_deref(), Some("localhost"));
            }),
        )
        .env("RSTREAM_CONTEXT", "from-env-proxy")
        .env("HTTPS_PROXY", "corp-proxy:8080")
        .env("NO_PROXY", "localhost"),
        case(
            "a SOCKS proxy in HTTPS_PROXY",
            Expect::Err(&["HTTPS_PROXY", "SOCKS"]),
        )
        .env("RSTREAM_CONTEXT", "from-env-proxy")
        .env("HTTPS_PROXY", "socks5://127.0.0.1:1080"),
        case(
            "fromEnvironment without HTTPS_PROXY means no proxy",
            Expect::Ok(|c| {
                assert!(c.proxy.is_none());
            }),
        )
        .env("RSTREAM_CONTEXT", "from-env-proxy"),
        case(
            "an unknown context",
            Expect::Err(&["\"nope\"", "RSTREAM_CONTEXT", "known contexts: prod"]),
        )
        .env("RSTREAM_CONTEXT", "nope"),
        case(
            "a context named without any file",
            Expect::Err(&["\"prod\"", "the context option", "no contexts"]),
        )
        .file(None)
        .options(|o| o.context = Some("prod".into())),
        case(
            "an ambiguous context",
            Expect::Err(&["\"twin\"", "ambiguous", "RSTREAM_API_URL"]),
        )
        .env("RSTREAM_CONTEXT", "twin"),
        case(
            "an invalid RSTREAM_API_URL",
            Expect::Err(&["RSTREAM_API_URL", "http(s)"]),
        )
        .env("RSTREAM_API_URL", "rstream.io"),
        case(
            "a region with an engine override",
            Expect::Err(&["region \"eu\"", "RSTREAM_ENGINE"]),
        )
        .env("RSTREAM_CONTEXT", "regional")
        .env("RSTREAM_AUTHENTICATION_TOKEN", "env-SECRET")
        .env("RSTREAM_ENGINE", "engine.example.com"),
        case(
            "a region without a project endpoint",
            Expect::Err(&["region \"us-east\"", "project endpoint"]),
        )
        .env("RSTREAM_CONTEXT", "orphan-region"),
        case(
            "an invalid region",
            Expect::Err(&["the region option", "not a valid region"]),
        )
        .file(None)
        .options(|o| o.region = Some("eu west".into())),
        case(
            "a reserved control-plane header",
            Expect::Err(&["RSTREAM_CONTROL_PLANE_HEADERS", "Authorization"]),
        )
        .env(
            "RSTREAM_CONTROL_PLANE_HEADERS",
            r#"{"Authorization":"Bearer SECRET"}"#,
        ),
        case(
            "a reserved header option",
            Expect::Err(&["the api_headers option", "Cookie"]),
        )
        .options(|o| o.api_headers = vec![("Cookie".into(), "SECRET".into())]),
        case("invalid YAML", Expect::Err(&["not valid YAML", "line"]))
            .file(Some("contexts: [\n  - name: x\n  value: SECRET".into())),
    ]
}

#[test]
fn precedence_table() {
    for case in precedence_cases() {
        case.run();
    }
}

#[test]
fn fail_closed_table() {
    for case in fail_closed_cases() {
        case.run();
    }
}

#[test]
fn refusal_table() {
    for case in refusal_cases() {
        case.run();
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
            from_environment: false,
            no_proxy: None,
            tls: TlsSettings::default(),
        }),
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
    assert_eq!(engine(&config), "alias.example.com:443");
    assert_eq!(config.credentials, Credentials::None);
}

#[test]
fn config_file_location() {
    use super::load::config_path;
    let home = env_map(&[("HOME", "home-dir")]);
    let (path, named) = config_path(&ConfigOptions::default(), &home).unwrap();
    assert_eq!(
        path,
        PathBuf::from("home-dir")
            .join(".rstream")
            .join("config.yaml")
    );
    assert_eq!(named, None);

    let env = env_map(&[
        ("HOME", "home-dir"),
        ("RSTREAM_CONFIG", "elsewhere/rstream.yaml"),
    ]);
    let (path, named) = config_path(&ConfigOptions::default(), &env).unwrap();
    assert_eq!(
        (path, named),
        (
            PathBuf::from("elsewhere/rstream.yaml"),
            Some("RSTREAM_CONFIG")
        )
    );

    let options = ConfigOptions {
        config_file: Some("mine.yaml".into()),
        ..ConfigOptions::default()
    };
    let (path, named) = config_path(&options, &env).unwrap();
    assert_eq!(
        (path, named),
        (PathBuf::from("mine.yaml"), Some("the config_file option"))
    );
    assert!(config_path(&ConfigOptions::default(), &HashMap::new()).is_none());
}

#[test]
fn missing_files_named_explicitly_are_errors() {
    use super::load::read_config;
    let dir = std::env::temp_dir().join(format!("rstream-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let missing = dir.join("absent.yaml");
    assert_eq!(read_config(&missing, None).unwrap(), None);
    let err = read_config(&missing, Some("RSTREAM_CONFIG"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("RSTREAM_CONFIG") && err.contains("does not exist"),
        "{err}"
    );

    let present = dir.join("config.yaml");
    std::fs::write(&present, "defaults:\n  context:\n    name: x\n").unwrap();
    let text = read_config(&present, Some("the config_file option")).unwrap();
    assert!(text.unwrap().contains("name: x"));
    std::fs::remove_dir_all(&dir).unwrap();
}
