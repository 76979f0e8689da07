//! One accepted stream as an HTTP connection: the request extension and the
//! first-byte deadline.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Request;
use rstream_core::{StreamInfo, TunnelStream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;
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

/// A tunnel stream that gives up when the client sends nothing at all
/// within a deadline.
///
/// hyper's header read timeout starts once the protocol is known; the auto
/// builder first waits for the opening bytes with no timer, so a silent
/// client would hold a connection forever without this.
#[derive(Debug)]
pub(crate) struct FirstByteDeadline {
    stream: TunnelStream,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl FirstByteDeadline {
    pub(crate) fn new(stream: TunnelStream, within: Option<Duration>) -> Self {
        FirstByteDeadline {
            stream,
            deadline: within.map(|d| Box::pin(tokio::time::sleep(d))),
        }
    }
}

impl AsyncRead for FirstByteDeadline {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let Some(deadline) = this.deadline.as_mut() else {
            return Pin::new(&mut this.stream).poll_read(cx, buf);
        };
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() != before {
                    this.deadline = None;
                }
                Poll::Ready(result)
            }
            Poll::Pending => match deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client sent nothing within the header read timeout",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for FirstByteDeadline {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
