//! The command-line contract of the offline examples `turn-credentials` and
//! `mint-token`, checked by running the built binaries. Vectors computed
//! with Python's `hashlib`, `hmac` and `cryptography`.

use std::process::{Command, Output};

use rstream_core::auth::verify_es512;
use serde_json::Value;

const PAT_TOKEN: &str = "eyJhbGciOiJFUzUxMiIsInR5cCI6IkpXVCJ9.eyJ0eXBlIjoicGF0IiwidG9rZW5fZW5kcG9pbnQiOiJ\
    hMWIyYzNkNCIsImV4cCI6MTcwMDAwNzIwMCwiaWF0IjoxNzAwMDAwMDAwfQ.c2ln";
const PAT_USER: &str = "v1:1700000600:pat:proj-ep:a1b2c3d4";
const PAT_CRED: &str = "coWpTIBmh/CKSVjK54XWorhLVspe+niW/ubCPRdTjzs=";
const APP_SECRET: &str = "3081ee020100301006072a8648ce3d020106052b810400230481d63081d30201010442015b14046d\
    1b87a119f0f6fb884f7791c03526240032c133355164203d2b408174612f4fedb8bf6dac44f0e8f4\
    17487cfa4ffb9c8879fd5d25bce82840e95dfe2804a18189038186000400c396e6005f96aa80df8a\
    553b54033416b2f3a4f42b3992f2635b1fff626f047d9a9d1954127884825f35929599bc03ad8beb\
    e56e9f7f774515f7f49501b4f5fb5d015b80dc7b671561fb738bb0157a8d6ebd7409bb88f576d328\
    f0d4bbd423a12b75585f00ff0acaa80747083b2064f0031d70d070e6660d9829ac771853bfdcaa25\
    bf";
const SERVER_SPKI: &str = "30819b301006072a8648ce3d020106052b810400230381860004011be2612b5759990e6146cd4e46\
    dd8d2fc0ed8472db0dac99f532f80dc5771c306b5d08890df1a95224402503d0aed232abc9c39a17\
    dbe49584f1351590ff1086d40122f73c0d86db9fee9bd88a2b95c4e2de92045697943dade0d723ff\
    0dc1768af2df311f88417abb700da195e21497464a79ce24014701ca102792cbd9e2a6f58e07";
const APP_USER: &str = "v1:1700003600:app:proj-ep:client-1";
const APP_CRED: &str = "GLcqydmygp1gR2UGCFVgV4OWXYUkhs3oXPV4PiqMBPY=";
/// A P-521 key (PKCS#8 DER, hex) and its public point (SEC1, hex).
const MINT_SECRET: &str = "3081ee020100301006072a8648ce3d020106052b810400230481d63081d3020101044201b110d48c\
    35a47e4f027c95daa1c7ddaa84ee68ed71e0bd39a152066db0393e213e57ddc7071669c40a075cb6\
    eb6267c22a1f54771f2328dbc90f21d308fefd5fe7a1818903818600040054f2de0c0a92281172b8\
    c31b2512e1a420dee9ab17ddaca911c786d068e21023259f05f64a55813a30d6056a6aced95b242f\
    34955e745822af96200ea83e3e2aa8017ac3afe854fd32d35b279877a365e3bd0980bd36d2b2ecab\
    075c8b215ce519ecca9b5764e05b9d6e6af1759f561ca6a164876c467957f9ff5f26d54f907b4aec\
    a5";
const MINT_PUBLIC: &str = "040054f2de0c0a92281172b8c31b2512e1a420dee9ab17ddaca911c786d068e21023259f05f64a55\
    813a30d6056a6aced95b242f34955e745822af96200ea83e3e2aa8017ac3afe854fd32d35b279877\
    a365e3bd0980bd36d2b2ecab075c8b215ce519ecca9b5764e05b9d6e6af1759f561ca6a164876c46\
    7957f9ff5f26d54f907b4aeca5";

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
        APP_SECRET,
        "--server-public-key",
        SERVER_SPKI,
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
    assert_eq!(json["username"], APP_USER);
    assert_eq!(json["credential"], APP_CRED);
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
    let public = hex::decode(MINT_PUBLIC).expect("hex");
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
            MINT_SECRET,
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
            MINT_SECRET,
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
        &["--client-id", "cli", "--client-secret", MINT_SECRET][..],
        &[
            "--client-id",
            "cli",
            "--client-secret",
            MINT_SECRET,
            "--unscoped",
            "true",
            "--ttl",
            "0",
        ],
        &[
            "--client-id",
            "cli",
            "--client-secret",
            MINT_SECRET,
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
            !stderr.trim().is_empty() && !stderr.contains(&MINT_SECRET[..40]),
            "{stderr}"
        );
    }
}
