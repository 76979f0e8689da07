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
    let read = |vars: &[(&str, &str)]| {
        ProxySettings::from_env_lookup(&PROXY_URL_VARIABLES, env(vars)).unwrap()
    };
    assert_eq!(read(&[]), None);
    assert_eq!(read(&[("HTTPS_PROXY", "  ")]), None);

    let all = [
        ("HTTPS_PROXY", ""),
        ("https_proxy", "http://lower:1"),
        ("ALL_PROXY", "http://all:2"),
        ("HTTP_PROXY", "http://plain:3"),
    ];
    assert_eq!(read(&all).unwrap().url, "http://lower:1");
    assert_eq!(read(&all[2..]).unwrap().url, "http://all:2");
    assert_eq!(read(&all[3..]).unwrap().url, "http://plain:3");
    assert_eq!(
        read(&[("http_proxy", "http://p:4")]).unwrap().url,
        "http://p:4"
    );

    let settings = read(&[("HTTPS_PROXY", " http://upper:5 "), ("no_proxy", "x.test")]).unwrap();
    assert_eq!(settings.url, "http://upper:5");
    assert_eq!(settings.no_proxy.as_deref(), Some("x.test"));
    assert_eq!(
        read(&[("HTTPS_PROXY", "http://u:6")]).unwrap().no_proxy,
        None
    );

    // A bare host:port means http://, as curl and Go read it.
    assert_eq!(
        read(&[("HTTPS_PROXY", "corp:8080")]).unwrap().url,
        "http://corp:8080"
    );

    // An HTTPS client left to its defaults reads the TLS variable only.
    let default = ProxySettings::from_env_lookup(&HTTPS_CLIENT_PROXY_VARIABLES, env(&all[2..]));
    assert_eq!(default.unwrap(), None);
}

#[test]
fn environment_proxy_of_another_kind_is_refused() {
    let err = ProxySettings::from_env_lookup(
        &PROXY_URL_VARIABLES,
        env(&[("https_proxy", "socks5://s:1080")]),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(err.to_string().contains("https_proxy"), "{err}");
}

#[test]
fn no_proxy_bypasses() {
    let settings = ProxySettings::from_env_lookup(
        &PROXY_URL_VARIABLES,
        env(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("no_proxy", ".internal, 127.0.0.1"),
        ]),
    )
    .unwrap()
    .unwrap();
    let route = ProxyRoute::new(&settings).unwrap();
    assert!(route.endpoint_for("engine.internal", 443).is_none());
    assert!(route.endpoint_for("127.0.0.1", 443).is_none());
    assert!(route.endpoint_for("engine.rstream.io", 443).is_some());
    assert!(!settings.applies_to("engine.internal", 443));
    assert!(settings.applies_to("engine.rstream.io", 443));
}

#[test]
fn a_route_needs_a_url() {
    let route = ProxyRoute::new(&ProxySettings::new("http://explicit:1")).unwrap();
    let endpoint = route.endpoint_for("anything", 443).unwrap();
    assert_eq!(endpoint.display, "http://explicit:1");
    let err = ProxyRoute::new(&ProxySettings::default()).unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
}

#[test]
fn credentials_and_headers() {
    let settings = ProxySettings {
        url: "http://urluser:urlpass@proxy:3128".into(),
        password: Some("override".into()),
        ..ProxySettings::default()
    };
    let route = ProxyRoute::new(&settings).unwrap();
    let expected = base64::engine::general_purpose::STANDARD.encode("urluser:override");
    assert_eq!(
        route.endpoint.authorization.as_ref().unwrap().expose(),
        format!("Basic {expected}")
    );

    let only_password = ProxySettings {
        password: Some("x".into()),
        ..ProxySettings::new("http://proxy:3128")
    };
    assert!(ProxyRoute::new(&only_password).is_err());

    for (name, value) in [
        ("Bad Name", "v"),
        ("X-Ok", "a\r\nInjected: 1"),
        ("Host", "h"),
    ] {
        let settings = ProxySettings {
            headers: vec![(name.into(), value.into())],
            ..ProxySettings::new("http://proxy:3128")
        };
        let err = ProxyRoute::new(&settings).unwrap_err();
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
