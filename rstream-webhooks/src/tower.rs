//! tower middleware: [`VerifyWebhookLayer`]. Needs the `tower` feature.
//!
//! [`VerifyWebhook`] reads the whole body (up to
//! [`Verifier::max_body_bytes`]), verifies it, and calls the inner service
//! with the body re-attached as [`Full<Bytes>`] and the [`WebhookEvent`](crate::WebhookEvent) in
//! the request's extensions. A request that does not verify never reaches the
//! inner service: it is answered with [`Error::status_code`] and a short
//! `text/plain` reason.
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{Request, Response};
//! use http_body_util::Full;
//! use rstream_webhooks::{Verifier, WebhookEvent, tower::VerifyWebhookLayer};
//! use tower::{ServiceBuilder, service_fn};
//!
//! let service = ServiceBuilder::new()
//!     .layer(VerifyWebhookLayer::new(Verifier::new("whsec_...")))
//!     .service(service_fn(|req: Request<Full<Bytes>>| async move {
//!         let event = req.extensions().get::<WebhookEvent>().expect("verified");
//!         println!("{} {}", event.event_type, event.id);
//!         Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
//!     }));
//! # let _ = service;
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, Either, Full, LengthLimitError, Limited};
use tower_layer::Layer;
use tower_service::Service;

use crate::{Error, SIGNATURE_HEADER, Verifier};

/// Layer that verifies rstream webhooks before the inner service runs.
#[derive(Debug, Clone)]
pub struct VerifyWebhookLayer {
    verifier: Verifier,
}

impl VerifyWebhookLayer {
    /// A layer checking requests with this verifier.
    pub fn new(verifier: Verifier) -> Self {
        VerifyWebhookLayer { verifier }
    }
}

impl<S> Layer<S> for VerifyWebhookLayer {
    type Service = VerifyWebhook<S>;

    fn layer(&self, inner: S) -> VerifyWebhook<S> {
        VerifyWebhook {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// Service made by [`VerifyWebhookLayer`].
#[derive(Debug, Clone)]
pub struct VerifyWebhook<S> {
    inner: S,
    verifier: Verifier,
}

impl<S> VerifyWebhook<S> {
    /// Wraps `inner`, checking requests with `verifier`.
    pub fn new(inner: S, verifier: Verifier) -> Self {
        VerifyWebhook { inner, verifier }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// The response of [`VerifyWebhook`]: the inner service's body, or the
/// rejection's plain-text reason.
pub type ResponseBody<B> = Either<B, Full<Bytes>>;

type BoxedResponse<B, E> =
    Pin<Box<dyn Future<Output = Result<Response<ResponseBody<B>>, E>> + Send>>;

/// Future returned by [`VerifyWebhook`].
pub struct ResponseFuture<B, E> {
    inner: BoxedResponse<B, E>,
}

impl<B, E> fmt::Debug for ResponseFuture<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<B, E> Future for ResponseFuture<B, E> {
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

fn reject<B>(error: &Error) -> Response<ResponseBody<B>> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(error.to_string()))));
    *response.status_mut() =
        StatusCode::from_u16(error.status_code()).unwrap_or(StatusCode::BAD_REQUEST);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for VerifyWebhook<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Body + Send + 'static,
    ReqBody::Data: Send,
    ReqBody::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    ResBody: 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The clone is not ready yet; keep the ready one for this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        ResponseFuture {
            inner: Box::pin(async move {
                let (mut parts, body) = req.into_parts();
                let (body, event) = match read_and_verify(&verifier, &parts, body).await {
                    Ok(verified) => verified,
                    Err(error) => return Ok(reject(&error)),
                };
                parts.extensions.insert(event);
                let response = inner
                    .call(Request::from_parts(parts, Full::new(body)))
                    .await?;
                Ok(response.map(Either::Left))
            }),
        }
    }
}

async fn read_and_verify<B>(
    verifier: &Verifier,
    parts: &http::request::Parts,
    body: B,
) -> Result<(Bytes, crate::WebhookEvent), Error>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limit = verifier.get_max_body_bytes();
    let signature = match parts.headers.get(SIGNATURE_HEADER) {
        None => return Err(Error::MissingHeader),
        Some(value) => value
            .to_str()
            .map_err(|_| Error::MalformedHeader("not visible ASCII"))?,
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
    let body = Limited::new(body, limit)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<LengthLimitError>() {
                Error::BodyTooLarge { limit }
            } else {
                Error::BodyUnreadable
            }
        })?
        .to_bytes();
    let event = verifier.verify(signature, &body)?;
    Ok((body, event))
}
