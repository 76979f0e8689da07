use std::collections::HashMap;

use super::*;

#[test]
fn proxy_urls() {
    let u = parse_proxy_url("http://proxy.corp:3128").unwrap();
    assert_eq!(
        (u.tls, u.host.as_str(), u.port),
        (false, "proxy.corp", 3128)
    );
    let u = parse_proxy_url("proxy.corp:8080").unwrap();
    assert_eq!((u.tls, u.port), (false, 8080));
    let u = parse_proxy_url("HTTPS://proxy.corp/").unwrap();
    assert_eq!((u.tls, u.port), (true, 443));
    let u = parse_proxy_url("http://proxy.corp").unwrap();
    assert_eq!(u.port, 80);
    let u = parse_proxy_url("http://us%40er:p%3Ass@[::1]:9000").unwrap();
    assert_eq!(u.host, "::1");
    assert_eq!(u.port, 9000);
    assert_eq!(u.username.as_deref(), Some("us@er"));
    assert_eq!(u.password.as_deref(), Some("p:ss"));
    assert!(parse_proxy_url("socks5://proxy:1080").is_err());
    assert!(parse_proxy_url("http://:80").is_err());
    assert!(parse_proxy_url("http://proxy:port").is_err());
}

#[test]
fn bad_url_error_does_not_show_the_password() {
    let err = parse_proxy_url("socks5://user:hunter2@proxy:1080").unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[test]
fn debug_hides_secrets() {
    let settings = ProxySettings {
        url: "http://user:hunter2@proxy:3128".into(),
        password: Some("sesame".into()),
        headers: vec![("X-Token".into(), "tok_abc".into())],
        ..ProxySettings::default()
    };
    let text = format!("{settings:?}");
    for secret in ["hunter2", "sesame", "tok_abc"] {
        assert!(!text.contains(secret), "{text}");
    }
    assert!(text.contains("X-Token"), "{text}");
}

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn environment_lookup_order() {
    let settings = ProxySettings::from_environment();
    let route = ProxyRoute::resolve(&settings, env(&[])).unwrap();
    assert!(route.is_none());

    let route = ProxyRoute::resolve(
        &settings,
        env(&[
            ("HTTPS_PROXY", ""),
            ("https_proxy", "http://lower:1"),
            ("ALL_PROXY", "http://all:2"),
        ]),
    )
    .unwrap()
    .unwrap();
    assert_eq!(route.endpoint.display, "http://lower:1");

    let route = ProxyRoute::resolve(&settings, env(&[("all_proxy", "http://all:2")]))
        .unwrap()
        .unwrap();
    assert_eq!(route.endpoint.display, "http://all:2");

    let fallback = ProxySettings {
        url: "http://configured:3".into(),
        from_environment: true,
        ..ProxySettings::default()
    };
    let route = ProxyRoute::resolve(&fallback, env(&[])).unwrap().unwrap();
    assert_eq!(route.endpoint.display, "http://configured:3");
}

#[test]
fn environment_no_proxy_bypasses() {
    let settings = ProxySettings::from_environment();
    let route = ProxyRoute::resolve(
        &settings,
        env(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("no_proxy", ".internal, 127.0.0.1"),
        ]),
    )
    .unwrap()
    .unwrap();
    assert!(route.endpoint_for("engine.internal", 443).is_none());
    assert!(route.endpoint_for("127.0.0.1", 443).is_none());
    assert!(route.endpoint_for("engine.rstream.io", 443).is_some());
}

#[test]
fn explicit_proxy_ignores_environment() {
    let settings = ProxySettings::new("http://explicit:1");
    let route = ProxyRoute::resolve(
        &settings,
        env(&[("HTTPS_PROXY", "http://env:2"), ("NO_PROXY", "*")]),
    )
    .unwrap()
    .unwrap();
    let endpoint = route.endpoint_for("anything", 443).unwrap();
    assert_eq!(endpoint.display, "http://explicit:1");
    assert!(ProxyRoute::resolve(&ProxySettings::default(), env(&[])).is_err());
}

#[test]
fn credentials_and_headers() {
    let settings = ProxySettings {
        url: "http://urluser:urlpass@proxy:3128".into(),
        password: Some("override".into()),
        ..ProxySettings::default()
    };
    let route = ProxyRoute::resolve(&settings, env(&[])).unwrap().unwrap();
    let expected = base64::engine::general_purpose::STANDARD.encode("urluser:override");
    assert_eq!(
        route.endpoint.authorization.as_ref().unwrap().expose(),
        format!("Basic {expected}")
    );

    let only_password = ProxySettings {
        password: Some("x".into()),
        ..ProxySettings::new("http://proxy:3128")
    };
    assert!(ProxyRoute::resolve(&only_password, env(&[])).is_err());

    for (name, value) in [
        ("Bad Name", "v"),
        ("X-Ok", "a\r\nInjected: 1"),
        ("Host", "h"),
    ] {
        let settings = ProxySettings {
            headers: vec![(name.into(), value.into())],
            ..ProxySettings::new("http://proxy:3128")
        };
        let err = ProxyRoute::resolve(&settings, env(&[])).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{name}: {err}");
    }
}

#[test]
fn status_lines() {
    assert_eq!(
        parse_status_line(b"HTTP/1.1 200 Connection established\r\n\r\n"),
        Some((200, "Connection established".into()))
    );
    assert_eq!(
        parse_status_line(b"HTTP/1.0 407\r\n\r\n"),
        Some((407, String::new()))
    );
    assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n\r\n"), None);
}

#[test]
fn authorities() {
    assert_eq!(authority("engine.test", 443), "engine.test:443");
    assert_eq!(authority("::1", 443), "[::1]:443");
    assert_eq!(authority("[::1]", 443), "[::1]:443");
}
