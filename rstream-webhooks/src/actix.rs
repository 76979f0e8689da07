//! actix-web extractor: [`VerifiedEvent`]. Needs the `actix` feature.
//!
//! The extractor reads the [`Verifier`] from `web::Data<Verifier>` (answering
//! 500 when the app has none) and reads the payload itself, up to
//! [`Verifier::max_body_bytes`], so actix's `PayloadConfig` does not apply.
//! Rejections are [`Error`]s, answered as `text/plain` with
//! [`Error::status_code`]: 400 for a missing or malformed header or body, 401
//! for a bad signature or a timestamp outside the tolerance, 413 for a body
//! over the limit.
//!
//! ```no_run
//! use actix_web::{App, HttpServer, post, web};
//! use rstream_webhooks::{Verifier, actix::VerifiedEvent};
//!
//! #[post("/webhooks")]
//! async fn receive(VerifiedEvent(event): VerifiedEvent) -> &'static str {
//!     println!("{} {}", event.event_type, event.id);
//!     "ok"
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let verifier = web::Data::new(Verifier::new("whsec_..."));
//! HttpServer::new(move || App::new().app_data(verifier.clone()).service(receive))
//!     .bind(("127.0.0.1", 8080))?
//!     .run()
//!     .await
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;

use ::actix_web::dev::Payload;
use ::actix_web::http::{StatusCode, header};
use ::actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::StreamExt as _;

use crate::{Error, SIGNATURE_HEADER, Verifier, WebhookEvent};

/// A webhook event whose signature was checked against the app's
/// `web::Data<Verifier>`.
#[derive(Debug, Clone)]
pub struct VerifiedEvent(pub WebhookEvent);

/// Why [`VerifiedEvent`] refused a request: the verification [`Error`], or
/// no `web::Data<Verifier>` registered on the app (answered 500).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The request did not verify.
    #[error(transparent)]
    Webhook(#[from] Error),
    /// The app has no `web::Data<Verifier>`.
    #[error("webhook receiver is not configured")]
    MissingVerifier,
}

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        match self {
            Rejection::Webhook(error) => {
                StatusCode::from_u16(error.status_code()).unwrap_or(StatusCode::BAD_REQUEST)
            }
            Rejection::MissingVerifier => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
            .body(self.to_string())
    }
}

impl FromRequest for VerifiedEvent {
    type Error = Rejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Rejection>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let verifier = req.app_data::<web::Data<Verifier>>().cloned();
        let signature = req
            .headers()
            .get(SIGNATURE_HEADER)
            .map(|value| value.to_str().map(str::to_owned));
        let content_length = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut payload = payload.take();
        Box::pin(async move {
            let verifier = verifier.ok_or(Rejection::MissingVerifier)?;
            let limit = verifier.get_max_body_bytes();
            let signature = match signature {
                None => return Err(Error::MissingHeader.into()),
                Some(Err(_)) => return Err(Error::MalformedHeader("not visible ASCII").into()),
                Some(Ok(signature)) => signature,
            };
            if crate::content_length_exceeds(content_length.as_deref(), limit) {
                return Err(Error::BodyTooLarge { limit }.into());
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk.map_err(|_| Error::BodyUnreadable)?;
                if body.len() + chunk.len() > limit {
                    return Err(Error::BodyTooLarge { limit }.into());
                }
                body.extend_from_slice(&chunk);
            }
            Ok(VerifiedEvent(verifier.verify(&signature, &body)?))
        })
    }
}
