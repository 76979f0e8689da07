//! The resolution tables: precedence, fail-closed credentials, refusals.
//! Each row names its case; a failing row panics with that name.

use super::*;

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
                assert_eq!(proxy.no_proxy, None);
                assert_eq!(c.api_proxy.as_ref(), Some(proxy));
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
        .env("RSTREAM_ENGINE", " abc123.eu.rstream.io "),
        case(
            "an override written differently from the context's engine is one",
            Expect::Err(&["refusing to send the token", "RSTREAM_ENGINE"]),
        )
        .env("RSTREAM_ENGINE", "abc123.eu.rstream.io:443"),
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
                "authenticates with exactly one",
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
            Expect::Err(&[
                "authenticates with exactly one",
                "the token option",
                "auth.mtls",
            ]),
        )
        .env("RSTREAM_CONTEXT", "staging")
        .options(|o| o.token = Some("option-SECRET".into())),
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
