//! The one error type of this crate.

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The tunnel ended on a failure (its session gave up: bad credentials,
    /// or the reconnect policy's attempts spent). Streams accepted before it
    /// were drained first.
    #[error("the tunnel stopped on a failure: {0}")]
    Accept(#[source] rstream_core::Error),
    /// A worker thread could not be started; the system refused a new thread.
    #[error("starting worker thread {worker} failed: {source}; try fewer workers")]
    Spawn {
        /// Index of the worker, from 0.
        worker: usize,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// A worker could not build its service from the `App` factory: some
    /// `App::data_factory` or service initialiser failed. The actix log
    /// (`tracing`) holds the reason.
    #[error("worker {worker} could not initialise the App; see the log for the failing factory")]
    AppInit {
        /// Index of the worker, from 0.
        worker: usize,
    },
    /// A worker thread panicked outside of any request (request panics are
    /// answered with 500 and do not end serving).
    #[error("worker thread {worker} panicked")]
    WorkerPanicked {
        /// Index of the worker, from 0.
        worker: usize,
    },
}
