//! One accepted stream as an HTTP connection: the request extension.

use std::task::{Context, Poll};

use http::Request;
use rstream_core::StreamInfo;
use tower_service::Service;

/// Inserts the stream's [`StreamInfo`] into every request, then calls the
/// application's service.
#[derive(Clone, Debug)]
pub(crate) struct AddStreamInfo<S> {
    pub(crate) inner: S,
    pub(crate) info: StreamInfo,
}

impl<S, B> Service<Request<B>> for AddStreamInfo<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.info.clone());
        self.inner.call(request)
    }
}
