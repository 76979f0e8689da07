//! The refusal table: settings that are malformed, unsafe together, or
//! beyond what this runtime can honour.

use super::*;

/// Smaller cases that need their own environment entry.
const EXTRA: &str = r#"
environments:
  - apiUrl: https://proxied.example.com
    transport:
      tls:
        insecureSkipVerify: true
      proxy:
        http: http://env-proxy.example.com:3128
        username: env-user
        headers:
          X-A: env
          X-B: env
contexts:
  - name: provider
    auth:
      token:
        storage:
          kind: inline
          provider: macos
          value: provider-SECRET
  - name: half
    auth:
      mtls:
        certificateFile: c.pem
  - name: both-forms
    auth:
      mtls:
        certificateFile: c.pem
        keyFile: k.pem
        certificate: inline-cert
        key: inline-key-SECRET
  - name: proxy-without-url
    transport:
      proxy:
        username: someone
  - name: proxied
    apiUrl: https://proxied.example.com
    transport:
      proxy:
        http: https://ctx-proxy.example.com
        headers:
          X-A: ctx
        tls:
          serverName: proxy.internal
"#;

fn refusal_cases() -> Vec<Case> {
    let expired_file = format!(
        "contexts:\n  - name: old\n    auth:\n      token:\n        storage:\n          kind: inline\n          value: {}\n",
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
            "an option engine hides a malformed RSTREAM_ENGINE",
            Expect::Ok(|c| assert_eq!(engine(c), "good.example.com:443")),
        )
        .file(None)
        .env("RSTREAM_ENGINE", "https://bad")
        .options(|o| o.engine = Some("good.example.com".into())),
        case(
            "a project endpoint that is a URL",
            Expect::Err(&["the project_endpoint option", "endpoint name alone"]),
        )
        .file(None)
        .options(|o| o.project_endpoint = Some("https://abc123.rstream.io/x".into())),
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
                assert_eq!(proxy.no_proxy.as_deref(), Some("localhost"));
                assert_eq!(c.api_proxy.as_ref(), Some(proxy));
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
                assert!(c.api_proxy.is_none());
            }),
        )
        .env("RSTREAM_CONTEXT", "from-env-proxy"),
        case(
            "fromEnvironment falls back to ALL_PROXY, then HTTP_PROXY",
            Expect::Ok(|c| {
                assert_eq!(c.proxy.as_ref().expect("proxy").url, "http://all:1");
                assert_eq!(c.api_proxy, c.proxy);
            }),
        )
        .env("RSTREAM_CONTEXT", "from-env-proxy")
        .env("ALL_PROXY", "http://all:1")
        .env("HTTP_PROXY", "http://plain:2"),
        case(
            "fromEnvironment with HTTP_PROXY alone",
            Expect::Ok(|c| {
                assert_eq!(c.proxy.as_ref().expect("proxy").url, "http://plain:2");
            }),
        )
        .env("RSTREAM_CONTEXT", "from-env-proxy")
        .env("http_proxy", "plain:2"),
        case(
            "without transport.proxy, the control plane reads HTTPS_PROXY only",
            Expect::Ok(|c| {
                assert!(c.proxy.is_none());
                assert!(c.api_proxy.is_none());
            }),
        )
        .env("ALL_PROXY", "http://all:1")
        .env("HTTP_PROXY", "http://plain:2"),
        case(
            "the file's URL wins over HTTPS_PROXY; NO_PROXY still applies",
            Expect::Ok(|c| {
                let proxy = c.proxy.as_ref().expect("proxy");
                assert_eq!(proxy.url, "http://file-proxy:3128");
                assert_eq!(proxy.no_proxy.as_deref(), Some(".internal"));
            }),
        )
        .env("RSTREAM_CONTEXT", "url-and-env-proxy")
        .env("https_proxy", "http://env-proxy:1")
        .env("no_proxy", ".internal"),
        case(
            "without transport.proxy, HTTPS_PROXY reaches the control plane only",
            Expect::Ok(|c| {
                assert!(c.proxy.is_none());
                let api = c.api_proxy.as_ref().expect("control-plane proxy");
                assert_eq!(api.url, "http://corp-proxy:8080");
                assert_eq!(api.no_proxy.as_deref(), Some("rstream.io"));
            }),
        )
        .env("HTTPS_PROXY", "http://corp-proxy:8080")
        .env("NO_PROXY", "rstream.io"),
        case(
            "without transport.proxy, a SOCKS HTTPS_PROXY is refused",
            Expect::Err(&["HTTPS_PROXY", "http://"]),
        )
        .env("HTTPS_PROXY", "socks5://127.0.0.1:1080"),
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
            Expect::Err(&["RSTREAM_API_URL", "https://"]),
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
            Expect::Err(&["region \"us-east\"", "no project endpoint"]),
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
        case(
            // The Go reference reads `kind` only; a provider beside inline is ignored.
            "a token storage provider beside kind inline",
            Expect::Ok(|c| assert_eq!(token(c), "provider-SECRET")),
        )
        .file(Some(EXTRA.into()))
        .env("RSTREAM_CONTEXT", "provider"),
        case(
            "a certificate file without its key",
            Expect::Err(&["context \"half\" auth.mtls", "certificateFile", "keyFile"]),
        )
        .file(Some(EXTRA.into()))
        .env("RSTREAM_CONTEXT", "half"),
        case(
            "mTLS files win over inline PEM",
            Expect::Ok(|c| {
                let expected = MtlsIdentity::Files {
                    cert: "c.pem".into(),
                    key: "k.pem".into(),
                };
                assert_eq!(c.credentials, Credentials::Mtls(expected));
            }),
        )
        .file(Some(EXTRA.into()))
        .env("RSTREAM_CONTEXT", "both-forms"),
        case(
            "proxy settings without a proxy",
            Expect::Err(&["transport.proxy", "fromEnvironment"]),
        )
        .file(Some(EXTRA.into()))
        .env("RSTREAM_CONTEXT", "proxy-without-url"),
        case(
            "context proxy fields lie over the environment entry's",
            Expect::Ok(|c| {
                let proxy = c.proxy.as_ref().expect("proxy");
                assert_eq!(proxy.url, "https://ctx-proxy.example.com");
                assert_eq!(proxy.username.as_deref(), Some("env-user"));
                let headers = vec![
                    ("X-A".to_owned(), "ctx".to_owned()),
                    ("X-B".to_owned(), "env".to_owned()),
                ];
                assert_eq!(proxy.headers, headers);
                assert_eq!(proxy.tls.server_name.as_deref(), Some("proxy.internal"));
                assert!(
                    c.tls.insecure_skip_verify,
                    "inherited from the environment entry"
                );
            }),
        )
        .file(Some(EXTRA.into()))
        .env("RSTREAM_CONTEXT", "proxied"),
        case("invalid YAML", Expect::Err(&["not valid YAML", "line"]))
            .file(Some("contexts: [\n  - name: x\n  value: SECRET".into())),
    ]
}

#[test]
fn refusal_table() {
    for case in refusal_cases() {
        case.run();
    }
}
