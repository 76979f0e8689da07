//! The actix-web extractor, through `actix_web::test`.
#![cfg(feature = "actix")]

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::{App, post, test, web};
use rstream_webhooks::{SIGNATURE_HEADER, Secret, Verifier, actix::VerifiedEvent, sign};

const SECRET: &str = "whsec_actix-tests";
const BODY: &str = r#"{"id":"evt_ac","type":"client.deleted","object":{"id":"cli_1"}}"#;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[post("/webhooks")]
async fn receive(VerifiedEvent(event): VerifiedEvent) -> String {
    format!("{} {}", event.event_type, event.id)
}

async fn send(
    verifier: Option<Verifier>,
    signature: Option<String>,
    body: String,
) -> (StatusCode, String) {
    let mut app = App::new().service(receive);
    if let Some(verifier) = verifier {
        app = app.app_data(web::Data::new(verifier));
    }
    let app = test::init_service(app).await;
    let mut request = test::TestRequest::post().uri("/webhooks").set_payload(body);
    if let Some(signature) = signature {
        request = request.insert_header((SIGNATURE_HEADER, signature));
    }
    let response = test::call_service(&app, request.to_request()).await;
    let status = response.status();
    let bytes = test::read_body(response).await;
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

fn verifier() -> Option<Verifier> {
    Some(Verifier::new(SECRET).max_body_bytes(256))
}

fn signed(body: &str, t: u64) -> Option<String> {
    Some(sign(body.as_bytes(), &Secret::new(SECRET), t).unwrap())
}

#[actix_web::test]
async fn valid_delivery_reaches_the_handler() {
    let (status, text) = send(verifier(), signed(BODY, now()), BODY.into()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(text, "client.deleted evt_ac");
}

#[actix_web::test]
async fn tampered_body_is_401() {
    let (status, text) = send(
        verifier(),
        signed(BODY, now()),
        BODY.replace("cli_1", "cli_X"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(text.contains("does not match"), "{text}");
}

#[actix_web::test]
async fn stale_delivery_is_401() {
    let (status, text) = send(verifier(), signed(BODY, now() - 301), BODY.into()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(text.contains("tolerance"), "{text}");
}

#[actix_web::test]
async fn missing_header_is_400() {
    let (status, text) = send(verifier(), None, BODY.into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(text, "missing rstream-signature header");
}

#[actix_web::test]
async fn signed_garbage_is_400() {
    let (status, _) = send(verifier(), signed("[]", now()), "[]".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn oversize_body_is_413() {
    let big = format!(
        r#"{{"id":"e","type":"tunnel.created","object":{{"pad":"{}"}}}}"#,
        "x".repeat(300)
    );
    let (status, text) = send(verifier(), signed(&big, now()), big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(text, "webhook body is larger than 256 bytes");
}

#[actix_web::test]
async fn missing_verifier_is_500() {
    let (status, text) = send(None, signed(BODY, now()), BODY.into()).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(text, "webhook receiver is not configured");
}

#[actix_web::test]
async fn oversize_body_under_a_small_content_length_is_413() {
    // The announced length passes; the limit is enforced while reading.
    let big = format!(
        r#"{{"id":"e","type":"tunnel.created","object":{{"pad":"{}"}}}}"#,
        "x".repeat(300)
    );
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(Verifier::new(SECRET).max_body_bytes(256)))
            .service(receive),
    )
    .await;
    let request = test::TestRequest::post()
        .uri("/webhooks")
        .set_payload(big.clone())
        .insert_header(("content-length", "10"))
        .insert_header((SIGNATURE_HEADER, signed(&big, now()).unwrap()))
        .to_request();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
