//! The command-line contract of the offline examples `turn-credentials` and
//! `mint-token`, checked by running the built binaries. Vectors computed
//! with Python's `hashlib`, `hmac` and `cryptography`.

use std::process::{Command, Output};

use rstream_core::auth::verify_es512;
use serde_json::Value;
use std::sync::LazyLock;

use rstream_e2e::key_vector;

static APP_SECRET: LazyLock<String> = LazyLock::new(|| key_vector("turn_app", "client_secret"));
static SERVER_SPKI: LazyLock<String> =
    LazyLock::new(|| key_vector("turn_app", "server_public_key_spki"));
static APP_USER: LazyLock<String> = LazyLock::new(|| key_vector("turn_app", "username"));
static APP_CRED: LazyLock<String> = LazyLock::new(|| key_vector("turn_app", "credential"));
static MINT_SECRET: LazyLock<String> = LazyLock::new(|| key_vector("signing_key", "client_secret"));
static MINT_PUBLIC: LazyLock<String> =
    LazyLock::new(|| key_vector("signing_key", "public_key_sec1"));

const PAT_TOKEN: &str = "eyJhbGciOiJFUzUxMiIsInR5cCI6IkpXVCJ9.eyJ0eXBlIjoicGF0IiwidG9rZW5fZW5kcG9pbnQiOiJ\
    hMWIyYzNkNCIsImV4cCI6MTcwMDAwNzIwMCwiaWF0IjoxNzAwMDAwMDAwfQ.c2ln";
const PAT_USER: &str = "v1:1700000600:pat:proj-ep:a1b2c3d4";
const PAT_CRED: &str = "coWpTIBmh/CKSVjK54XWorhLVspe+niW/ubCPRdTjzs=";

fn run(bin: &str, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env_remove("RSTREAM_API_URL")
        .output()
        .expect("runs")
}

fn turn(args: &[&str]) -> (bool, Value) {
    let output = run(env!("CARGO_BIN_EXE_turn-credentials"), args);
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    assert_eq!(stdout.lines().count(), 1, "one JSON line: {stdout}");
    (
        output.status.success(),
        serde_json::from_str(&stdout).expect("json"),
    )
}

#[test]
fn turn_credentials_pat_mode() {
    let (ok, json) = turn(&[
        "--mode",
        "pat",
        "--token",
        PAT_TOKEN,
        "--project-endpoint",
        "proj-ep",
        "--token-endpoint",
        "a1b2c3d4",
        "--cluster-domain",
        "cluster.example.rstream.test",
        "--now",
        "1700000000",
        "--turn-port",
        "3479",
    ]);
    assert!(ok, "{json}");
    assert_eq!(json["username"], PAT_USER);
    assert_eq!(json["credential"], PAT_CRED);
    assert_eq!(json["ttl"], 600);
    assert_eq!(
        json["urls"][0],
        "turn:cluster.example.rstream.test:3479?transport=udp"
    );
    assert_eq!(
        json["urls"][3],
        "turns:cluster.example.rstream.test:5349?transport=tcp"
    );
    assert_eq!(json.as_object().map(|o| o.len()), Some(4));
}

#[test]
fn turn_credentials_app_mode() {
    let (ok, json) = turn(&[
        "--mode",
        "app",
        "--client-id",
        "client-1",
        "--client-secret",
        APP_SECRET.as_str(),
        "--server-public-key",
        SERVER_SPKI.as_str(),
        "--project-endpoint",
        "proj-ep",
        "--cluster-domain",
        "cluster.example.rstream.test",
        "--ttl",
        "3600",
        "--now",
        "1700000000",
    ]);
    assert!(ok, "{json}");
    assert_eq!(json["username"], APP_USER.as_str());
    assert_eq!(json["credential"], APP_CRED.as_str());
    assert_eq!(json["ttl"], 3600);
    assert_eq!(json["urls"].as_array().map(Vec::len), Some(4));
}

#[test]
fn turn_credentials_errors_are_json_and_exit_1() {
    for args in [
        // TTL out of range.
        &[
            "--mode",
            "pat",
            "--token",
            PAT_TOKEN,
            "--project-endpoint",
            "proj-ep",
            "--token-endpoint",
            "a1b2c3d4",
            "--cluster-domain",
            "c.example",
            "--ttl",
            "3601",
        ][..],
        // Wrong token endpoint.
        &[
            "--mode",
            "pat",
            "--token",
            PAT_TOKEN,
            "--project-endpoint",
            "proj-ep",
            "--token-endpoint",
            "ffffffff",
            "--cluster-domain",
            "c.example",
        ],
        // A port out of range, an unknown mode, a missing option, an unknown one.
        &["--mode", "pat", "--turn-port", "70000"],
        &[
            "--mode",
            "tls",
            "--project-endpoint",
            "p",
            "--cluster-domain",
            "c",
        ],
        &[
            "--mode",
            "app",
            "--project-endpoint",
            "p",
            "--cluster-domain",
            "c",
        ],
        &["--bogus", "1"],
    ] {
        let (ok, json) = turn(args);
        assert!(!ok, "{args:?}");
        assert!(
            json["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{json}"
        );
        assert!(!json.to_string().contains(PAT_TOKEN), "{json}");
    }
}

fn claims(token: &str) -> Value {
    let public = hex::decode(MINT_PUBLIC.as_str()).expect("hex");
    let payload = verify_es512(token, &public).expect("signed with the client secret");
    serde_json::from_slice(&payload).expect("json")
}

#[test]
fn mint_token_prints_one_verifiable_token() {
    let resources = r#"{"tunnels":{"projects":["prj_1"],"scopes":{"tunnels":{"list":true}}}}"#;
    let output = run(
        env!("CARGO_BIN_EXE_mint-token"),
        &[
            "--client-id",
            "cli",
            "--client-secret",
            MINT_SECRET.as_str(),
            "--ttl",
            "120",
            "--resources",
            resources,
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("utf-8");
    assert_eq!(stdout.lines().count(), 1);
    let claims = claims(stdout.trim_end());
    assert_eq!(claims["clientId"], "cli");
    assert_eq!(claims["type"], "app");
    assert_eq!(
        claims["exp"]
            .as_u64()
            .zip(claims["iat"].as_u64())
            .map(|(e, i)| e - i),
        Some(120)
    );
    assert_eq!(
        claims["resources"],
        serde_json::from_str::<Value>(resources).expect("json")
    );
    assert_eq!(claims["permissions"], Value::Null);
}

#[test]
fn mint_token_binds_the_default_scopes_to_the_project() {
    let output = run(
        env!("CARGO_BIN_EXE_mint-token"),
        &[
            "--client-id",
            "cli",
            "--client-secret",
            MINT_SECRET.as_str(),
            "--project-id",
            "prj_9",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).expect("utf-8");
    claims(token.trim_end());
    // The signed bytes, in the JavaScript SDK's key order.
    let payload = token.split('.').nth(1).expect("payload");
    let payload = String::from_utf8(
        base64::engine::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .expect("base64url"),
    )
    .expect("utf-8");
    assert!(
        payload.starts_with(
            r#"{"metadata":{},"permissions":null,"resources":{"tunnels":{"projects":["prj_9"],"scopes":{"tunnels":{"create":true,"connect":true,"list":true}}}},"clientId":"cli","exp":"#
        ),
        "{payload}"
    );
}

#[test]
fn mint_token_errors_go_to_stderr_and_exit_1() {
    for args in [
        // Scope-only without a project, a bad lifetime, a bad boundary, a bad key.
        &[
            "--client-id",
            "cli",
            "--client-secret",
            MINT_SECRET.as_str(),
        ][..],
        &[
            "--client-id",
            "cli",
            "--client-secret",
            MINT_SECRET.as_str(),
            "--unscoped",
            "true",
            "--ttl",
            "0",
        ],
        &[
            "--client-id",
            "cli",
            "--client-secret",
            MINT_SECRET.as_str(),
            "--resources",
            r#"{"tunnels":{"AND":[]}}"#,
        ],
        &[
            "--client-id",
            "cli",
            "--client-secret",
            "abcd",
            "--project-id",
            "p",
        ],
    ] {
        let output = run(env!("CARGO_BIN_EXE_mint-token"), args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.trim().is_empty() && !stderr.contains(&MINT_SECRET.as_str()[..40]),
            "{stderr}"
        );
    }
}
