//! The `serve` builder and the accept loop feeding the workers.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::time::Duration;

use actix_http::body::MessageBody;
use actix_http::{KeepAlive, Request, Response};
use actix_service::{IntoServiceFactory, Service, ServiceFactory};
use actix_web::dev::AppConfig;
use rstream_core::Accept;
use rstream_core::incoming::{Incoming, ServeLimits};
use tokio::sync::watch;

use crate::Error;
use crate::dispatch::Dispatcher;
use crate::worker::{self, Settings};

type Signal = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Serves the `App` built by `factory` on every stream that `acceptor`
/// accepts, until the tunnel closes or the graceful shutdown signal fires.
///
/// `factory` is what you would give `actix_web::HttpServer::new`: it runs
/// once per worker, on the worker's thread. `acceptor` is a
/// [`Tunnel`](rstream_core::Tunnel) (reconnects stay invisible to the App)
/// or any other [`Accept`].
///
/// The returned [`Serve`] is configured with its methods and runs when
/// awaited. See the [crate documentation](crate) for an example.
pub fn serve<A, F, I, S, B>(acceptor: A, factory: F) -> Serve<A, F, S, B>
where
    A: Accept,
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    Serve {
        acceptor,
        factory,
        workers: std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        limits: ServeLimits::default(),
        keep_alive: KeepAlive::default(),
        client_disconnect_timeout: Duration::from_secs(1),
        signal: None,
        _types: PhantomData,
    }
}

/// A configured server for one tunnel; await it (or call [`Serve::run`]) to
/// serve. Made by [`serve`].
///
/// Awaiting gives `Ok(())` when the tunnel was closed or the graceful
/// shutdown finished, and an [`Error`] when the tunnel ended on a failure
/// (a [`Tunnel`](rstream_core::Tunnel) whose session gave up: bad
/// credentials, or the reconnect policy's attempts spent) or a worker could
/// not start. Dropping the future stops accepting and lets the workers
/// drain within the shutdown deadline on their own threads.
#[must_use = "a Serve does nothing until awaited"]
pub struct Serve<A, F, S, B> {
    acceptor: A,
    factory: F,
    workers: usize,
    limits: ServeLimits,
    keep_alive: KeepAlive,
    client_disconnect_timeout: Duration,
    signal: Option<Signal>,
    _types: PhantomData<fn() -> (S, B)>,
}

impl<A, F, S, B> fmt::Debug for Serve<A, F, S, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("workers", &self.workers)
            .field("limits", &self.limits)
            .field("keep_alive", &self.keep_alive)
            .field("client_disconnect_timeout", &self.client_disconnect_timeout)
            .field("graceful_shutdown", &self.signal.is_some())
            .finish_non_exhaustive()
    }
}

impl<A, F, S, B> Serve<A, F, S, B> {
    /// Number of worker threads, each with its own `actix_rt::System` and
    /// its own `App`. Default: the available parallelism. Zero counts as one.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// How long a graceful shutdown waits for open connections before
    /// closing them
    /// ([`DEFAULT_SHUTDOWN_DEADLINE`](rstream_core::incoming::DEFAULT_SHUTDOWN_DEADLINE)
    /// by default).
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.limits = self.limits.shutdown_deadline(deadline);
        self
    }

    /// How long a client may take to send its first bytes and the head of
    /// each request (actix-http's client request timeout)
    /// ([`DEFAULT_HEADER_READ_TIMEOUT`](rstream_core::incoming::DEFAULT_HEADER_READ_TIMEOUT)
    /// by default). `None` waits forever.
    pub fn header_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.limits = self.limits.header_read_timeout(timeout);
        self
    }

    /// How many connections are served at once, all workers together
    /// ([`DEFAULT_MAX_CONNECTIONS`](rstream_core::incoming::DEFAULT_MAX_CONNECTIONS)
    /// by default). At the cap, accepting from the tunnel pauses until a
    /// connection ends; clients wait at the engine. Zero counts as one.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.limits = self.limits.max_connections(max);
        self
    }

    /// All three connection limits at once (header read timeout, connection
    /// cap, shutdown deadline), the same [`ServeLimits`] the tower and axum
    /// paths take.
    pub fn limits(mut self, limits: ServeLimits) -> Self {
        self.limits = limits;
        self
    }

    /// How long to wait for the client to finish closing once the server
    /// has closed its side. Zero disables the limit. Default: 1 second.
    pub fn client_disconnect_timeout(mut self, timeout: Duration) -> Self {
        self.client_disconnect_timeout = timeout;
        self
    }

    /// HTTP/1.1 keep-alive (and HTTP/2 ping) setting: a `Duration`,
    /// [`KeepAlive::Os`] or [`KeepAlive::Disabled`]. Default: 5 seconds.
    pub fn keep_alive(mut self, keep_alive: impl Into<KeepAlive>) -> Self {
        self.keep_alive = keep_alive.into();
        self
    }

    /// Shuts down gracefully once `signal` completes: stop accepting, let
    /// open connections finish within the shutdown deadline, stop the workers.
    pub fn with_graceful_shutdown<G>(mut self, signal: G) -> Self
    where
        G: Future<Output = ()> + Send + 'static,
    {
        self.signal = Some(Box::pin(signal));
        self
    }
}

impl<A, F, I, S, B> Serve<A, F, S, B>
where
    A: Accept,
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    /// Serves until the tunnel closes or the graceful shutdown completes.
    /// The same as awaiting `self`.
    pub async fn run(self) -> Result<(), Error> {
        let Serve {
            acceptor,
            factory,
            workers: count,
            limits,
            keep_alive,
            client_disconnect_timeout,
            signal,
            _types,
        } = self;
        let settings = Settings {
            keep_alive,
            client_request_timeout: limits.get_header_read_timeout().unwrap_or(Duration::ZERO),
            client_disconnect_timeout,
            shutdown_deadline: limits.get_shutdown_deadline(),
        };
        // The connection cap is the pipeline's, for all workers together.
        let mut dispatcher = Dispatcher::new(limits.get_max_connections());
        let incoming = Incoming::with_limits(acceptor, limits);
        let (stop, stopping) = watch::channel(false);

        let mut workers = Vec::with_capacity(count);
        let mut failure = None;
        for index in 0..count {
            match worker::spawn(
                index,
                factory.clone(),
                settings,
                dispatcher.add_worker(),
                stopping.clone(),
            ) {
                Ok(worker) => workers.push(worker),
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        if failure.is_none() {
            for worker in &mut workers {
                let outcome = match (&mut worker.ready).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(Error::WorkerPanicked {
                        worker: worker.index,
                    }),
                };
                if let Err(err) = outcome {
                    failure = Some(err);
                    break;
                }
            }
        }

        let served = match failure {
            Some(err) => Err(err),
            None => {
                tracing::debug!(workers = count, "serving tunnel streams");
                let signal = signal.unwrap_or_else(|| Box::pin(std::future::pending()));
                accept_loop(&incoming, &mut dispatcher, signal).await
            }
        };

        stop.send_replace(true);
        drop(dispatcher);
        let mut ended = Ok(());
        for worker in workers {
            if let Err(err) = worker.finish().await {
                if ended.is_ok() {
                    ended = Err(err);
                }
            }
        }
        tracing::debug!("all workers stopped");
        served.and(ended)
    }
}

impl<A, F, I, S, B> IntoFuture for Serve<A, F, S, B>
where
    A: Accept,
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request> + 'static,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    type Output = Result<(), Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.run())
    }
}

/// Accepts connections and hands them to the workers until the tunnel
/// ends, `signal` fires or no worker is left.
async fn accept_loop<A: Accept>(
    incoming: &Incoming<A>,
    dispatcher: &mut Dispatcher,
    mut signal: Signal,
) -> Result<(), Error> {
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut signal => return Ok(()),
            accepted = incoming.next() => accepted,
        };
        match accepted {
            Ok(Some(connection)) => {
                tokio::select! {
                    biased;
                    () = &mut signal => return Ok(()),
                    handed = dispatcher.dispatch(connection) => if handed.is_err() {
                        tracing::warn!("no worker left to serve streams");
                        return Ok(());
                    },
                }
            }
            Ok(None) => return Ok(()),
            // By the `Accept` contract an error is final, retryable or not.
            Err(err) => return Err(Error::Accept(err)),
        }
    }
}
