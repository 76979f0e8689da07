//! Sign and verify rstream webhooks.
//!
//! rstream signs each webhook delivery with the webhook's secret (`whsec_...`)
//! and sends the signature in the `rstream-signature` header. A receiver
//! builds one [`Verifier`] and checks every delivery with it before trusting
//! the body. With the `axum` feature, the [`VerifiedEvent`](crate#features)
//! extractor does it for a handler:
//!
#![cfg_attr(feature = "axum", doc = "```no_run")]
#![cfg_attr(not(feature = "axum"), doc = "```ignore")]
//! use axum::{Router, routing::post};
//! use rstream_webhooks::{Verifier, axum::VerifiedEvent};
//!
//! // Only signed, fresh, well-formed events reach the handler; anything else
//! // is answered 400, 401 or 413 with a short reason.
//! async fn receive(VerifiedEvent(event): VerifiedEvent) -> &'static str {
//!     println!("{} {} {:?}", event.event_type, event.id, event.object.get("id"));
//!     "ok"
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let secret = std::env::var("RSTREAM_WEBHOOK_SECRET").expect("set RSTREAM_WEBHOOK_SECRET");
//!     let app = Router::new()
//!         .route("/webhooks", post(receive))
//!         .with_state(Verifier::new(secret)); // the extractor reads it via FromRef
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//!     axum::serve(listener, app).await
//! }
//! ```
//!
//! Without a framework, verify the header and the raw body yourself:
//!
//! ```
//! use rstream_webhooks::{EventType, Verifier, generate_secret, sign};
//!
//! let secret = generate_secret();
//! let body = br#"{"id":"evt_1","type":"tunnel.created","object":{"id":"tun_1"}}"#;
//! let header = sign(body, &secret, 1_790_000_000)?; // what rstream sends
//!
//! let event = Verifier::new(secret).verify_at(&header, body, 1_790_000_010)?;
//! assert_eq!(event.event_type, EventType::TunnelCreated);
//! assert_eq!(event.object["id"], "tun_1");
//! # Ok::<(), rstream_webhooks::Error>(())
//! ```
//!
//! # The scheme
//!
//! `rstream-signature: t=<unix seconds>,v1=<hex>`, where the hex is
//! HMAC-SHA256 keyed with the secret's UTF-8 bytes (the whole `whsec_...`
//! string, not decoded) over `"<t>." + body`. Several `v1=` may be present
//! (during a secret rotation); one match is enough. Signatures are compared in
//! constant time and timestamps more than the tolerance (default 300 s) away
//! from the receiver's clock, either way, are refused. Each delivery also
//! carries `rstream-event-id`, `rstream-event-type`, `rstream-webhook-id` and
//! `rstream-delivery-id`; retries keep the event id, so deduplicate on
//! [`WebhookEvent::id`].
//!
//! # Features
//!
//! None is on by default.
//!
//! - `axum`: the `axum::VerifiedEvent` extractor, reading the [`Verifier`]
//!   from the router state through `FromRef`.
//! - `tower`: `tower::VerifyWebhookLayer`, middleware that verifies and hands
//!   the inner service the event as a request extension.
//! - `actix`: the `actix::VerifiedEvent` extractor, reading the [`Verifier`]
//!   from `web::Data<Verifier>`.
//!
//! All three read at most [`Verifier::max_body_bytes`] (1 MiB by default) and
//! answer with [`Error::status_code`] and a short plain-text reason. No error
//! message repeats the secret, a signature or the body.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, unreachable_pub)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod event;
mod headers;
mod secret;
mod signature;
mod verifier;

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod tower;

pub use error::Error;
pub use event::{EventType, WebhookEvent};
pub use headers::{
    DELIVERY_ID_HEADER, Delivery, EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER,
    WEBHOOK_ID_HEADER, build_headers,
};
pub use secret::{SECRET_PREFIX, Secret, generate_secret};
pub use signature::sign;
pub use verifier::{DEFAULT_MAX_BODY_BYTES, DEFAULT_TOLERANCE, Verifier};

/// Whether a `Content-Length` value announces more than `limit` bytes; used by
/// the adapters to refuse before reading.
#[cfg(any(feature = "axum", feature = "tower", feature = "actix"))]
fn content_length_exceeds(content_length: Option<&str>, limit: usize) -> bool {
    content_length
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|len| len > limit as u64)
}

#[cfg(test)]
mod tests {
    fn assert_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<crate::Verifier>();
        assert_send_sync::<crate::Secret>();
        assert_send_sync::<crate::WebhookEvent>();
        assert_send_sync::<crate::Error>();
        assert_send_sync::<crate::EventType>();
        #[cfg(feature = "axum")]
        assert_send_sync::<crate::axum::VerifiedEvent>();
        #[cfg(feature = "actix")]
        assert_send_sync::<crate::actix::VerifiedEvent>();
        #[cfg(feature = "tower")]
        assert_send_sync::<crate::tower::VerifyWebhook<()>>();
    }

    #[test]
    fn secrets_compare_by_value() {
        assert_eq!(
            crate::Secret::new("whsec_a"),
            crate::Secret::from("whsec_a")
        );
        assert_ne!(crate::Secret::new("whsec_a"), crate::Secret::new("whsec_b"));
        assert_ne!(
            crate::Secret::new("whsec_a"),
            crate::Secret::new("whsec_ab")
        );
    }
}
