//! Every case of `tests/vectors/webhook-vectors.json`, made with the official
//! Python SDK.

use std::time::Duration;

use rstream_webhooks::{EventType, Secret, Verifier, sign};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/webhook-vectors.json")).expect("vectors parse")
}

fn text<'a>(case: &'a Value, key: &str) -> &'a str {
    case[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {case}"))
}

/// The verify cases carry no secret of their own: they use the one of the
/// signature vectors.
fn vector_secret(vectors: &Value) -> String {
    let secrets: Vec<&str> = vectors["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| text(s, "secret"))
        .collect();
    assert!(secrets.windows(2).all(|w| w[0] == w[1]));
    secrets[0].to_owned()
}

#[test]
fn signatures_match_the_python_sdk() {
    let vectors = vectors();
    let cases = vectors["signatures"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let secret = Secret::new(text(case, "secret"));
        let timestamp = case["timestamp"].as_u64().unwrap();
        let header = sign(text(case, "body").as_bytes(), &secret, timestamp).unwrap();
        assert_eq!(header, text(case, "header"));
    }
}

#[test]
fn verify_cases_match_the_python_sdk() {
    let vectors = vectors();
    let secret = vector_secret(&vectors);
    let cases = vectors["verify_cases"].as_array().unwrap();
    assert!(cases.len() >= 14, "{} cases", cases.len());
    for case in cases {
        let name = text(case, "name");
        let verifier = Verifier::new(secret.as_str())
            .tolerance(Duration::from_secs(case["tolerance"].as_u64().unwrap()));
        let result = verifier.verify_at(
            text(case, "header"),
            text(case, "body").as_bytes(),
            case["received_at"].as_u64().unwrap(),
        );
        match text(case, "expect") {
            "ok" => {
                let event = result.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(event.id, "evt_01", "{name}");
                assert_eq!(event.event_type, EventType::TunnelCreated, "{name}");
                assert_eq!(event.project_id.as_deref(), Some("prj_1"), "{name}");
                assert_eq!(event.object["labels"]["env"], "prod", "{name}");
            }
            "reject" => {
                let error = result.err().unwrap_or_else(|| panic!("{name}: accepted"));
                let expected_status = match name {
                    "too_old" | "from_future" | "tampered_body" => 401,
                    _ => 400,
                };
                assert_eq!(error.status_code(), expected_status, "{name}: {error}");
            }
            other => panic!("{name}: unknown expectation {other}"),
        }
    }
}
