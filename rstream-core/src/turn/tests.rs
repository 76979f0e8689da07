//! Vectors computed with Python's `hashlib`, `hmac` and `cryptography`
//! (HKDF, ECDH on P-521) from the algorithm described in the module docs.

use super::*;
use std::sync::LazyLock;

use rstream_e2e::key_vector;

static APP_SECRET: LazyLock<String> = LazyLock::new(|| key_vector("turn_app", "client_secret"));
static SERVER_SPKI: LazyLock<String> =
    LazyLock::new(|| key_vector("turn_app", "server_public_key_spki"));
static APP_USER: LazyLock<String> = LazyLock::new(|| key_vector("turn_app", "username"));
static APP_CRED: LazyLock<String> = LazyLock::new(|| key_vector("turn_app", "credential"));

const NOW: u64 = 1_700_000_000;
const DOMAIN: &str = "cluster.example.rstream.test";

/// A PAT-shaped JWT: `{"type":"pat","token_endpoint":"a1b2c3d4","exp":NOW+7200,"iat":NOW}`.
const PAT_TOKEN: &str = "eyJhbGciOiJFUzUxMiIsInR5cCI6IkpXVCJ9.eyJ0eXBlIjoicGF0IiwidG9rZW5fZW5kcG9pbnQiOiJ\
    hMWIyYzNkNCIsImV4cCI6MTcwMDAwNzIwMCwiaWF0IjoxNzAwMDAwMDAwfQ.c2ln";
const PAT_USER: &str = "v1:1700000600:pat:proj-ep:a1b2c3d4";
const PAT_CRED: &str = "coWpTIBmh/CKSVjK54XWorhLVspe+niW/ubCPRdTjzs=";
/// `{"type":"pat","tokendpoint":"A1B2C3D4","exp":NOW+90}`: expires before the TTL.
const PAT2_TOKEN: &str = "eyJhbGciOiJub25lIn0.eyJ0eXBlIjoicGF0IiwidG9rZW5kcG9pbnQiOiJBMUIyQzNENCIsImV4cCI6\
    MTcwMDAwMDA5MH0.x";
const PAT2_CRED: &str = "tfB9FfgGbmChl5PL5l3komObq9pTPMhOpVG2/cENwFM=";
/// A P-256 public key: the wrong curve.
const P256_SPKI: &str = "3059301306072a8648ce3d020106082a8648ce3d03010703420004ce09eb3d791ae0a29f5c599541\
    13df7b0b2d1e89c0deb920b8475ea8118e663e3169410deb8b77ec971593c252354e3be0acfef852\
    82bbcd462f46138ee23474";

fn options() -> TurnOptions {
    TurnOptions::new(" proj-ep ", " Cluster.Example.RSTREAM.test ", NOW)
}

fn pat(token: &str) -> Secret {
    Secret::new(token)
}

#[test]
fn pat_mode_matches_the_python_vector() {
    let creds = pat_credentials(&pat(PAT_TOKEN), "a1b2c3d4", &options()).expect("derives");
    assert_eq!(creds.username, PAT_USER);
    assert_eq!(creds.credential.expose(), PAT_CRED);
    assert_eq!(creds.ttl, 600);
    assert_eq!(
        creds.urls,
        [
            format!("turn:{DOMAIN}:3478?transport=udp"),
            format!("turn:{DOMAIN}:3478?transport=tcp"),
            format!("turns:{DOMAIN}:5349?transport=udp"),
            format!("turns:{DOMAIN}:5349?transport=tcp"),
        ]
    );
    assert!(!format!("{creds:?}").contains(PAT_CRED));
}

#[test]
fn pat_credentials_end_with_the_token() {
    let creds =
        pat_credentials(&pat(PAT2_TOKEN), "A1B2C3D4", &options().ttl(3600)).expect("derives");
    assert_eq!(creds.username, "v1:1700000090:pat:proj-ep:A1B2C3D4");
    assert_eq!(creds.credential.expose(), PAT2_CRED);
    assert_eq!(creds.ttl, 90);
}

#[test]
fn app_mode_matches_the_python_vector() {
    let app = AppCredentials::new("client-1", APP_SECRET.as_str()).expect("credentials");
    let creds = app_credentials(
        &app,
        SERVER_SPKI.as_str(),
        &options().ttl(3600).turn_port(80).turns_port(443),
    )
    .expect("derives");
    assert_eq!(creds.username, APP_USER.as_str());
    assert_eq!(creds.credential.expose(), APP_CRED.as_str());
    assert_eq!(creds.ttl, 3600);
    assert_eq!(creds.urls[0], format!("turn:{DOMAIN}:80?transport=udp"));
    assert_eq!(creds.urls[3], format!("turns:{DOMAIN}:443?transport=tcp"));
}

#[test]
fn pat_mode_refusals() {
    let refused = |token: &str, endpoint: &str, options: TurnOptions| {
        let error = pat_credentials(&pat(token), endpoint, &options).expect_err("refused");
        assert!(error.is_invalid(), "{error}");
        assert!(!error.to_string().contains(PAT_CRED));
    };
    let jwt = |claims: &str| format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims));
    // Endpoint mismatch, missing or conflicting.
    refused(PAT_TOKEN, "ffffffff", options());
    refused(PAT_TOKEN, " ", options());
    refused(
        &jwt(
            r#"{"type":"pat","exp":1800000000,"token_endpoint":"a1b2c3d4","tokendpoint":"b1b2c3d4"}"#,
        ),
        "a1b2c3d4",
        options(),
    );
    // Not a PAT, no expiry, expired (exp == now included), malformed claims.
    refused(
        &jwt(r#"{"type":"app","exp":1800000000}"#),
        "a1b2c3d4",
        options(),
    );
    refused(&jwt(r#"{"type":"pat"}"#), "a1b2c3d4", options());
    refused(
        &jwt(r#"{"type":"pat","exp":1700000000}"#),
        "a1b2c3d4",
        options(),
    );
    refused(
        &jwt(r#"{"type":"pat","exp":"soon"}"#),
        "a1b2c3d4",
        options(),
    );
    refused(
        &jwt(r#"{"type":"pat","exp":1800000000,"token_endpoint":"xyz"}"#),
        "xyz",
        options(),
    );
    refused(
        &jwt(r#"{"type":"other","exp":1800000000}"#),
        "a1b2c3d4",
        options(),
    );
    refused("not-a-jwt", "a1b2c3d4", options());
    refused("a.!!!.c", "a1b2c3d4", options());
    refused("", "a1b2c3d4", options());
    // TTL, ports, domain and endpoint rules.
    refused(PAT_TOKEN, "a1b2c3d4", options().ttl(0));
    refused(PAT_TOKEN, "a1b2c3d4", options().ttl(3601));
    refused(PAT_TOKEN, "a1b2c3d4", options().turn_port(0));
    refused(PAT_TOKEN, "a1b2c3d4", options().turns_port(0));
    refused(PAT_TOKEN, "a1b2c3d4", TurnOptions::new("proj-ep", " ", NOW));
    refused(
        PAT_TOKEN,
        "a1b2c3d4",
        TurnOptions::new("proj-ep", "a..b", NOW),
    );
    refused(
        PAT_TOKEN,
        "a1b2c3d4",
        TurnOptions::new("proj-ep", "-a.b", NOW),
    );
    refused(
        PAT_TOKEN,
        "a1b2c3d4",
        TurnOptions::new("proj:ep", DOMAIN, NOW),
    );
    refused(PAT_TOKEN, "a1b2c3d4", TurnOptions::new("", DOMAIN, NOW));
}

#[test]
fn app_mode_refusals() {
    let app = AppCredentials::new("client-1", APP_SECRET.as_str()).expect("credentials");
    for key in [
        "",
        "zz",
        "00",
        P256_SPKI,
        &SERVER_SPKI.as_str()[..SERVER_SPKI.len() - 2],
    ] {
        let error = app_credentials(&app, key, &options()).expect_err("refused");
        assert!(error.is_invalid(), "{error}");
    }
    let odd = AppCredentials::new("client:1", APP_SECRET.as_str()).expect("credentials");
    assert!(
        app_credentials(&odd, SERVER_SPKI.as_str(), &options())
            .unwrap_err()
            .is_invalid()
    );
    assert!(
        app_credentials(&app, SERVER_SPKI.as_str(), &options().ttl(0))
            .unwrap_err()
            .is_invalid()
    );
}

#[test]
fn cluster_domain_from_engine_addresses() {
    let ok =
        |endpoint: &str, engine: &str| cluster_domain_from_engine(endpoint, engine).expect(engine);
    assert_eq!(ok("proj", "proj.eu-1.rstream.io:443"), "eu-1.rstream.io");
    assert_eq!(ok(" proj ", " PROJ.EU-1.rstream.io "), "eu-1.rstream.io");
    assert_eq!(ok("proj", "proj.c.example/path?q"), "c.example");
    for (endpoint, engine) in [
        ("proj", "other.eu-1.rstream.io:443"),
        ("proj", "proj.:443"),
        ("proj", "proj:443"),
        ("proj", "projx.eu-1.rstream.io"),
        ("proj", "[::1]:443"),
        ("proj", "proj.eu.io:https"),
        ("", "proj.eu.io"),
        ("proj", ""),
    ] {
        assert!(
            cluster_domain_from_engine(endpoint, engine)
                .unwrap_err()
                .is_invalid(),
            "{endpoint} {engine}"
        );
    }
}
