//! The `resolve-config` example's contract: one JSON object on stdout and
//! exit 0, or `{"error": ...}` and exit 1; never the token itself.

use std::process::Command;

fn run(env: &[(&str, &str)]) -> (bool, serde_json::Value, String) {
    let home = std::env::temp_dir().join(format!("resolve-config-home-{}", std::process::id()));
    let mut command = Command::new(env!("CARGO_BIN_EXE_resolve-config"));
    command.env_clear().env("HOME", &home);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("the example runs");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 output");
    let value = serde_json::from_str(stdout.trim()).expect("one JSON object");
    (output.status.success(), value, stdout)
}

#[test]
fn prints_what_the_sdk_would_use() {
    let (ok, json, stdout) = run(&[
        ("RSTREAM_ENGINE", "Engine.Example.com:8443"),
        ("RSTREAM_AUTHENTICATION_TOKEN", "tok-visible-nowhere"),
        ("RSTREAM_CONFIG", "/nonexistent/rstream.yaml"),
    ]);
    assert!(ok, "{stdout}");
    assert_eq!(json["engine"], "engine.example.com:8443");
    assert_eq!(json["api_url"], "https://rstream.io");
    assert_eq!(json["insecure_skip_verify"], false);
    assert_eq!(json["token_sha256"].as_str().map(str::len), Some(64));
    assert!(json["mtls_cert_file"].is_null() && json["region"].is_null());
    assert!(!stdout.contains("tok-visible-nowhere"));
    let mut keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "api_url",
            "ca_file",
            "engine",
            "insecure_skip_verify",
            "mtls_cert_file",
            "mtls_key_file",
            "project_endpoint",
            "region",
            "server_name",
            "token_sha256"
        ]
    );
}

#[test]
fn prints_the_error_and_exits_1() {
    let (ok, json, stdout) = run(&[("RSTREAM_ENGINE", "https://engine.example.com")]);
    assert!(!ok, "{stdout}");
    let message = json["error"].as_str().expect("an error message");
    assert!(message.contains("RSTREAM_ENGINE"), "{message}");
}
