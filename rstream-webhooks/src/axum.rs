//! axum extractor: [`VerifiedEvent`]. Needs the `axum` feature.
//!
//! The extractor reads the [`Verifier`] from the router state through
//! [`FromRef`], so the state can be the verifier itself or any struct with a
//! `FromRef` impl for it. It consumes the body, so it goes last among a
//! handler's arguments.
//!
//! Rejections are [`Error`]s, answered as `text/plain` with
//! [`Error::status_code`]: 400 for a missing or malformed header or body, 401
//! for a bad signature or a timestamp outside the tolerance, 413 for a body
//! over [`Verifier::max_body_bytes`].

use ::axum::extract::{FromRef, FromRequest, Request};
use ::axum::http::{StatusCode, header};
use ::axum::response::{IntoResponse, Response};

use crate::{Error, SIGNATURE_HEADER, Verifier, WebhookEvent};

/// A webhook event whose signature was checked against the state's
/// [`Verifier`].
///
/// ```no_run
/// use axum::{Router, routing::post};
/// use rstream_webhooks::{Verifier, axum::VerifiedEvent};
///
/// async fn receive(VerifiedEvent(event): VerifiedEvent) -> &'static str {
///     println!("{} {}", event.event_type, event.id);
///     "ok"
/// }
///
/// let app: Router = Router::new()
///     .route("/webhooks", post(receive))
///     .with_state(Verifier::new("whsec_..."));
/// ```
#[derive(Debug, Clone)]
pub struct VerifiedEvent(pub WebhookEvent);

impl<S> FromRequest<S> for VerifiedEvent
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Error> {
        let verifier = Verifier::from_ref(state);
        let limit = verifier.get_max_body_bytes();
        let (parts, body) = req.into_parts();
        let signature = match parts.headers.get(SIGNATURE_HEADER) {
            None => return Err(Error::MissingHeader),
            Some(value) => value
                .to_str()
                .map_err(|_| Error::MalformedHeader("not visible ASCII"))?
                .to_owned(),
        };
        if crate::content_length_exceeds(
            parts
                .headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()),
            limit,
        ) {
            return Err(Error::BodyTooLarge { limit });
        }
        let body = ::axum::body::to_bytes(body, limit).await.map_err(|e| {
            let inner = e.into_inner();
            if inner.is::<http_body_util::LengthLimitError>() {
                Error::BodyTooLarge { limit }
            } else {
                Error::BodyUnreadable
            }
        })?;
        verifier.verify(&signature, &body).map(VerifiedEvent)
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.to_string(),
        )
            .into_response()
    }
}
