//! Vectors computed with Python's `hashlib`, `hmac` and `cryptography`
//! (HKDF, ECDH on P-521) from the algorithm described in the module docs.

use super::*;

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
/// The application's P-521 key (PKCS#8 DER, hex).
const APP_SECRET: &str = "3081ee020100301006072a8648ce3d020106052b810400230481d63081d30201010442015b14046d\
    1b87a119f0f6fb884f7791c03526240032c133355164203d2b408174612f4fedb8bf6dac44f0e8f4\
    17487cfa4ffb9c8879fd5d25bce82840e95dfe2804a18189038186000400c396e6005f96aa80df8a\
    553b54033416b2f3a4f42b3992f2635b1fff626f047d9a9d1954127884825f35929599bc03ad8beb\
    e56e9f7f774515f7f49501b4f5fb5d015b80dc7b671561fb738bb0157a8d6ebd7409bb88f576d328\
    f0d4bbd423a12b75585f00ff0acaa80747083b2064f0031d70d070e6660d9829ac771853bfdcaa25\
    bf";
/// The cluster keyring's P-521 public key (SPKI DER, hex).
const SERVER_SPKI: &str = "30819b301006072a8648ce3d020106052b810400230381860004011be2612b5759990e6146cd4e46\
    dd8d2fc0ed8472db0dac99f532f80dc5771c306b5d08890df1a95224402503d0aed232abc9c39a17\
    dbe49584f1351590ff1086d40122f73c0d86db9fee9bd88a2b95c4e2de92045697943dade0d723ff\
    0dc1768af2df311f88417abb700da195e21497464a79ce24014701ca102792cbd9e2a6f58e07";
const APP_USER: &str = "v1:1700003600:app:proj-ep:client-1";
const APP_CRED: &str = "GLcqydmygp1gR2UGCFVgV4OWXYUkhs3oXPV4PiqMBPY=";
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
    let app = AppCredentials::new("client-1", APP_SECRET).expect("credentials");
    let creds = app_credentials(
        &app,
        SERVER_SPKI,
        &options().ttl(3600).turn_port(80).turns_port(443),
    )
    .expect("derives");
    assert_eq!(creds.username, APP_USER);
    assert_eq!(creds.credential.expose(), APP_CRED);
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
    let app = AppCredentials::new("client-1", APP_SECRET).expect("credentials");
    for key in [
        "",
        "zz",
        "00",
        P256_SPKI,
        &SERVER_SPKI[..SERVER_SPKI.len() - 2],
    ] {
        let error = app_credentials(&app, key, &options()).expect_err("refused");
        assert!(error.is_invalid(), "{error}");
    }
    let odd = AppCredentials::new("client:1", APP_SECRET).expect("credentials");
    assert!(
        app_credentials(&odd, SERVER_SPKI, &options())
            .unwrap_err()
            .is_invalid()
    );
    assert!(
        app_credentials(&app, SERVER_SPKI, &options().ttl(0))
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
