//! The tower layer, around a service that records what it receives.
#![cfg(feature = "tower")]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use rstream_webhooks::tower::VerifyWebhookLayer;
use rstream_webhooks::{SIGNATURE_HEADER, Secret, Verifier, WebhookEvent, sign};
use tower::{ServiceBuilder, ServiceExt, service_fn};

const SECRET: &str = "whsec_tower-tests";
const BODY: &str = r#"{"id":"evt_tw","type":"client.created","object":{"id":"cli_1"}}"#;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

type Seen = Arc<Mutex<Vec<(String, Bytes)>>>;

async fn send(request: Request<Full<Bytes>>) -> (StatusCode, String, Seen) {
    let seen: Seen = Arc::default();
    let recorder = seen.clone();
    let service = ServiceBuilder::new()
        .layer(VerifyWebhookLayer::new(
            Verifier::new(SECRET).max_body_bytes(256),
        ))
        .service(service_fn(move |req: Request<Full<Bytes>>| {
            let recorder = recorder.clone();
            async move {
                let event = req
                    .extensions()
                    .get::<WebhookEvent>()
                    .cloned()
                    .expect("event");
                let body = req.into_body().collect().await.unwrap().to_bytes();
                recorder.lock().unwrap().push((event.id, body));
                Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"handled"))))
            }
        }));
    let response = service.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap(), seen)
}

fn request(signature: Option<String>, body: &str) -> Request<Full<Bytes>> {
    let mut builder = Request::post("/hook");
    if let Some(signature) = signature {
        builder = builder.header(SIGNATURE_HEADER, signature);
    }
    builder
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap()
}

fn signed(body: &str, t: u64) -> Option<String> {
    Some(sign(body.as_bytes(), &Secret::new(SECRET), t).unwrap())
}

#[tokio::test]
async fn valid_delivery_passes_event_and_body_on() {
    let (status, text, seen) = send(request(signed(BODY, now()), BODY)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "handled");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "evt_tw");
    assert_eq!(seen[0].1, BODY.as_bytes());
}

#[tokio::test]
async fn rejections_never_reach_the_inner_service() {
    let big = format!(
        r#"{{"id":"e","type":"tunnel.created","object":{{"pad":"{}"}}}}"#,
        "x".repeat(300)
    );
    let cases = [
        (
            "tampered",
            request(signed(BODY, now()), &BODY.replace("cli_1", "cli_2")),
            401,
        ),
        ("stale", request(signed(BODY, now() - 1000), BODY), 401),
        ("future", request(signed(BODY, now() + 1000), BODY), 401),
        ("missing header", request(None, BODY), 400),
        ("malformed header", request(Some("t=1".into()), BODY), 400),
        (
            "not json",
            request(signed("not json", now()), "not json"),
            400,
        ),
        ("oversize", request(signed(&big, now()), &big), 413),
    ];
    for (name, request, expected) in cases {
        let (status, text, seen) = send(request).await;
        assert_eq!(status.as_u16(), expected, "{name}: {text}");
        assert!(!text.is_empty(), "{name}");
        assert!(seen.lock().unwrap().is_empty(), "{name}");
    }
}
