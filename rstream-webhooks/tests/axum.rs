//! The axum extractor, through a real `Router`.
#![cfg(feature = "axum")]

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::FromRef;
use axum::http::{Request, StatusCode};
use axum::{Router, routing::post};
use http_body_util::BodyExt;
use rstream_webhooks::{SIGNATURE_HEADER, Secret, Verifier, axum::VerifiedEvent, sign};
use tower::ServiceExt;

const SECRET: &str = "whsec_axum-tests";
const BODY: &str = r#"{"id":"evt_ax","type":"tunnel.deleted","object":{"id":"tun_1"}}"#;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// State with a verifier inside, to exercise `FromRef`.
#[derive(Clone)]
struct AppState {
    verifier: Verifier,
}

impl FromRef<AppState> for Verifier {
    fn from_ref(state: &AppState) -> Verifier {
        state.verifier.clone()
    }
}

async fn receive(VerifiedEvent(event): VerifiedEvent) -> String {
    format!("{} {}", event.event_type, event.id)
}

fn app() -> Router {
    Router::new()
        .route("/webhooks", post(receive))
        .with_state(AppState {
            verifier: Verifier::new(SECRET).max_body_bytes(256),
        })
}

async fn send(
    signature: Option<&str>,
    body: impl Into<Body>,
    length: Option<usize>,
) -> (StatusCode, String) {
    let mut request = Request::post("/webhooks");
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    if let Some(length) = length {
        request = request.header("content-length", length);
    }
    let response = app()
        .oneshot(request.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

fn signed(body: &str, t: u64) -> String {
    sign(body.as_bytes(), &Secret::new(SECRET), t).unwrap()
}

#[tokio::test]
async fn valid_delivery_reaches_the_handler() {
    let (status, text) = send(Some(&signed(BODY, now())), BODY, None).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(text, "tunnel.deleted evt_ax");
}

#[tokio::test]
async fn tampered_body_is_401() {
    let tampered = BODY.replace("tun_1", "tun_2");
    let (status, text) = send(Some(&signed(BODY, now())), tampered, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(text.contains("does not match"), "{text}");
}

#[tokio::test]
async fn stale_delivery_is_401() {
    let (status, text) = send(Some(&signed(BODY, now() - 301)), BODY, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(text.contains("tolerance"), "{text}");
}

#[tokio::test]
async fn missing_header_is_400() {
    let (status, text) = send(None, BODY, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(text, "missing rstream-signature header");
}

#[tokio::test]
async fn malformed_header_is_400() {
    let (status, text) = send(Some("t=now,v1=abc"), BODY, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text.starts_with("malformed rstream-signature header"),
        "{text}"
    );
}

#[tokio::test]
async fn signed_garbage_is_400() {
    let (status, _) = send(Some(&signed("not json", now())), "not json", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn oversize_body_is_413() {
    let big = format!(
        r#"{{"id":"e","type":"tunnel.created","object":{{"pad":"{}"}}}}"#,
        "x".repeat(300)
    );
    let signature = signed(&big, now());
    // Announced by Content-Length: refused before reading.
    let (status, text) = send(Some(&signature), big.clone(), Some(big.len())).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(text, "webhook body is larger than 256 bytes");
    // Not announced: refused while reading.
    let (status, _) = send(Some(&signature), big, None).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

/// The tower layer also wraps an axum `Router`; handlers read the event as
/// an extension.
#[cfg(feature = "tower")]
#[tokio::test]
async fn tower_layer_wraps_a_router() {
    use axum::Extension;
    use rstream_webhooks::{WebhookEvent, tower::VerifyWebhookLayer};

    async fn handler(Extension(event): Extension<WebhookEvent>, body: String) -> String {
        format!("{} {}", event.id, body.len())
    }
    let app = Router::new()
        .route("/hook", post(handler))
        .layer(VerifyWebhookLayer::new(Verifier::new(SECRET)));
    let request = |signature: String| {
        Request::post("/hook")
            .header(SIGNATURE_HEADER, signature)
            .body(Body::from(BODY))
            .unwrap()
    };
    let response = app
        .clone()
        .oneshot(request(signed(BODY, now())))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(bytes, format!("evt_ax {}", BODY.len()));
    let response = app
        .oneshot(request(signed(BODY, now() - 1000)))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
