//! What a connection is doing, so that draining can close idle HTTP
//! connections at once instead of waiting for their keep-alive to run out.
//!
//! Closing is done from the read side: once the worker drains and the
//! connection has no request in flight, reads report end-of-file. actix-http
//! then finishes writing what it has and closes the connection, exactly as
//! when a client goes away between requests.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use actix_http::body::{BodySize, MessageBody};
use bytes::Bytes;
use pin_project_lite::pin_project;

/// Requests in flight on one connection.
#[derive(Default)]
pub(crate) struct Activity {
    in_flight: Cell<usize>,
    served: Cell<bool>,
    draining: Cell<bool>,
    reader: Cell<Option<Waker>>,
}

impl std::fmt::Debug for Activity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Activity")
            .field("in_flight", &self.in_flight.get())
            .field("served", &self.served.get())
            .field("draining", &self.draining.get())
            .finish_non_exhaustive()
    }
}

impl Activity {
    /// Marks a request as in flight until the returned guard drops.
    pub(crate) fn begin(self: &Rc<Self>) -> Busy {
        self.in_flight.set(self.in_flight.get() + 1);
        self.served.set(true);
        Busy(Rc::clone(self))
    }

    /// The worker stopped taking streams: close once idle.
    pub(crate) fn start_draining(&self) {
        self.draining.set(true);
        self.wake_reader_if_idle();
    }

    /// Whether reads should end now: draining, and idle after at least one
    /// request (a connection that has not sent one yet still gets to).
    pub(crate) fn reads_should_end(&self) -> bool {
        self.draining.get() && self.served.get() && self.in_flight.get() == 0
    }

    /// Remembers who to wake when reads should end.
    pub(crate) fn set_reader(&self, waker: &Waker) {
        self.reader.set(Some(waker.clone()));
    }

    fn wake_reader_if_idle(&self) {
        if self.reads_should_end() {
            if let Some(waker) = self.reader.take() {
                waker.wake();
            }
        }
    }
}

/// A request in flight; dropping it ends the request.
#[derive(Debug)]
pub(crate) struct Busy(Rc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let activity = &self.0;
        activity
            .in_flight
            .set(activity.in_flight.get().saturating_sub(1));
        activity.wake_reader_if_idle();
    }
}

pin_project! {
    /// A response body that keeps its request in flight until sent in full
    /// (or dropped): an echo's body is still reading the request.
    pub(crate) struct TrackedBody<B> {
        #[pin]
        body: B,
        busy: Option<Busy>,
    }
}

impl<B> TrackedBody<B> {
    pub(crate) fn new(body: B, busy: Option<Busy>) -> Self {
        TrackedBody { body, busy }
    }
}

impl<B: MessageBody> MessageBody for TrackedBody<B> {
    type Error = B::Error;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        let this = self.project();
        let next = this.body.poll_next(cx);
        if matches!(next, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            this.busy.take();
        }
        next
    }
}
