//! [`serve`]: HTTP over every stream a tunnel accepts.

use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, IntoFuture, Pending};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rstream_core::{Accept, Error, TunnelStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower_service::Service;
use tracing::Instrument;

use crate::conn::{AddStreamInfo, FirstByteDeadline};

/// How long a client may take to send a request's headers (and how long an
/// idle HTTP/1.1 keep-alive connection is kept) unless configured otherwise.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request head (HTTP/1.1) or header list (HTTP/2) accepted
/// unless configured otherwise: 64 KiB.
pub const DEFAULT_MAX_HEADER_SIZE: usize = 64 * 1024;
/// How many connections are served at once unless configured otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// How long a graceful shutdown waits for in-flight requests unless
/// configured otherwise.
pub const DEFAULT_SHUTDOWN_DEADLINE: Duration = Duration::from_secs(30);

/// hyper refuses HTTP/1.1 read buffers smaller than this.
const MIN_HTTP1_BUFFER: usize = 8 * 1024;

type BoxError = Box<dyn StdError + Send + Sync>;

/// Serves `service` over every stream `acceptor` accepts.
///
/// `acceptor` is a [`Tunnel`](rstream_core::Tunnel), a
/// [`SupervisedTunnel`](rstream_core::SupervisedTunnel) or anything else
/// that implements [`Accept`]. `service` is any tower service for
/// `http::Request<hyper::body::Incoming>`, an axum `Router` included; it is
/// cloned for every connection.
///
/// Each stream is one client connection, served with hyper's auto
/// connection builder: HTTP/1.1 with keep-alive and pipelining, HTTP/2 with
/// prior knowledge, and upgrades (WebSocket). Every request carries the
/// stream's [`StreamInfo`](rstream_core::StreamInfo) as an extension (with
/// axum: `Extension<StreamInfo>`).
///
/// The returned [`Serve`] is configured with its methods and runs when
/// awaited. It ends:
/// - with `Ok(())` after the [graceful shutdown
///   signal](Serve::with_graceful_shutdown) fired, or after the acceptor
///   ended normally (a closed tunnel);
/// - with the acceptor's error when accepting failed: by the
///   [`Accept`](rstream_core::Accept) contract an error is final, whatever
///   [`is_retryable`](rstream_core::Error::is_retryable) says (serve a
///   [`SupervisedTunnel`](rstream_core::SupervisedTunnel) to ride over
///   engine restarts and network failures).
///
/// In every case connections still open are first drained as in a graceful
/// shutdown, bounded by the [deadline](Serve::shutdown_deadline). One
/// connection's failure (a malformed request, a client that goes away) is
/// logged at `debug` and never stops the loop. Dropping the future stops
/// accepting and aborts every connection at once.
///
/// `serve` owns `acceptor` and drops it when it returns: a
/// [`Tunnel`](rstream_core::Tunnel) whose last clone it held is then closed.
/// Keep a clone to close it yourself, or to read its forwarding address.
///
/// ```no_run
/// # async fn run(tunnel: rstream_core::Tunnel) -> Result<(), rstream_core::Error> {
/// use axum::{Extension, Router, routing::get};
/// use rstream_core::StreamInfo;
///
/// let app = Router::new().route(
///     "/",
///     get(|Extension(info): Extension<StreamInfo>| async move {
///         format!("hello {:?}\n", info.source_ip)
///     }),
/// );
/// rstream_tower::serve(tunnel, app)
///     .with_graceful_shutdown(async {
///         let _ = tokio::signal::ctrl_c().await;
///     })
///     .await
/// # }
/// ```
pub fn serve<A, S>(acceptor: A, service: S) -> Serve<A, S> {
    Serve {
        acceptor,
        service,
        signal: std::future::pending(),
        config: Config::default(),
    }
}

#[derive(Clone, Debug)]
struct Config {
    header_read_timeout: Option<Duration>,
    max_header_size: usize,
    max_connections: usize,
    shutdown_deadline: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            header_read_timeout: Some(DEFAULT_HEADER_READ_TIMEOUT),
            max_header_size: DEFAULT_MAX_HEADER_SIZE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            shutdown_deadline: DEFAULT_SHUTDOWN_DEADLINE,
        }
    }
}

/// A configured server, from [`serve`]; await it (it implements
/// [`IntoFuture`]) to run it.
#[must_use = "a Serve does nothing until it is awaited"]
pub struct Serve<A, S, F = Pending<()>> {
    acceptor: A,
    service: S,
    signal: F,
    config: Config,
}

impl<A, S, F> fmt::Debug for Serve<A, S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serve")
            .field("header_read_timeout", &self.config.header_read_timeout)
            .field("max_header_size", &self.config.max_header_size)
            .field("max_connections", &self.config.max_connections)
            .field("shutdown_deadline", &self.config.shutdown_deadline)
            .finish_non_exhaustive()
    }
}

impl<A, S, F> Serve<A, S, F> {
    /// Shuts the server down gracefully once `signal` completes: stop
    /// accepting, let in-flight requests finish, close idle connections, and
    /// end after at most the [shutdown deadline](Self::shutdown_deadline),
    /// aborting what is left then.
    ///
    /// Connections already upgraded (WebSocket) are owned by the
    /// application and are not waited for.
    pub fn with_graceful_shutdown<G>(self, signal: G) -> Serve<A, S, G>
    where
        G: Future<Output = ()> + Send + 'static,
    {
        Serve {
            acceptor: self.acceptor,
            service: self.service,
            signal,
            config: self.config,
        }
    }

    /// How long a shutdown waits for open connections before aborting them
    /// ([`DEFAULT_SHUTDOWN_DEADLINE`] by default).
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.config.shutdown_deadline = deadline;
        self
    }

    /// How long a client may take to send the first bytes of a connection
    /// and each request's headers; also how long an idle HTTP/1.1
    /// keep-alive connection is kept ([`DEFAULT_HEADER_READ_TIMEOUT`] by
    /// default). `None` waits forever.
    pub fn header_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.header_read_timeout = timeout;
        self
    }

    /// The largest request head (HTTP/1.1: request line and headers) or
    /// header list (HTTP/2) accepted, in bytes ([`DEFAULT_MAX_HEADER_SIZE`]
    /// by default). A larger HTTP/1.1 head gets `431` and the connection is
    /// closed. HTTP/1.1 cannot go below 8 KiB (hyper's smallest buffer).
    pub fn max_header_size(mut self, bytes: usize) -> Self {
        self.config.max_header_size = bytes;
        self
    }

    /// How many connections are served at once
    /// ([`DEFAULT_MAX_CONNECTIONS`] by default). At the cap, no stream is
    /// accepted until a connection ends; clients wait at the engine. `0` is
    /// taken as `1`.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.config.max_connections = connections.max(1);
        self
    }
}

impl<A, S, B, F> IntoFuture for Serve<A, S, F>
where
    A: Accept,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    F: Future<Output = ()> + Send + 'static,
{
    type Output = Result<(), Error>;
    type IntoFuture = ServeFuture;

    fn into_future(self) -> ServeFuture {
        ServeFuture(Box::pin(run(self)))
    }
}

/// The future of a running [`Serve`].
#[must_use = "futures do nothing unless polled"]
pub struct ServeFuture(Pin<Box<dyn Future<Output = Result<(), Error>> + Send>>);

impl fmt::Debug for ServeFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeFuture").finish_non_exhaustive()
    }
}

impl Future for ServeFuture {
    type Output = Result<(), Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

fn builder(config: &Config) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .max_buf_size(config.max_header_size.max(MIN_HTTP1_BUFFER));
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(config.max_header_size).unwrap_or(u32::MAX))
        // Lets HTTP/2 clients open WebSockets (RFC 8441).
        .enable_connect_protocol();
    builder
}

async fn run<A, S, B, F>(serve: Serve<A, S, F>) -> Result<(), Error>
where
    A: Accept,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
    F: Future<Output = ()> + Send + 'static,
{
    let Serve {
        acceptor,
        service,
        signal,
        config,
    } = serve;
    let builder = builder(&config);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let mut connections = JoinSet::new();
    let mut signal = std::pin::pin!(signal);

    let outcome = loop {
        while let Some(done) = connections.try_join_next() {
            log_panic(done);
        }
        let slot = tokio::select! {
            biased;
            () = &mut signal => break Ok(()),
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                // The semaphore is never closed.
                Err(_) => break Ok(()),
            },
        };
        let next = tokio::select! {
            biased;
            () = &mut signal => break Ok(()),
            next = acceptor.accept() => next,
        };
        let stream = match next {
            Ok(Some(stream)) => stream,
            Ok(None) => {
                tracing::debug!("the tunnel ended; no more streams");
                break Ok(());
            }
            Err(e) => {
                tracing::debug!(error = %e, "accepting streams failed for good");
                break Err(e);
            }
        };
        let span = tracing::debug_span!(
            "connection",
            tunnel_id = %stream.info().tunnel_id,
            stream_id = %stream.info().stream_id,
        );
        let connection = serve_stream(
            &builder,
            stream,
            service.clone(),
            config.header_read_timeout,
        );
        let connection = graceful.watch(connection);
        connections.spawn(
            async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                drop(slot);
            }
            .instrument(span),
        );
    };

    // Whatever ended the loop, open connections finish their in-flight
    // requests, then close; the deadline bounds the wait.
    let open = connections.len();
    if open > 0 {
        tracing::debug!(open, "shutting down open connections");
    }
    let drain = async {
        graceful.shutdown().await;
        while let Some(done) = connections.join_next().await {
            log_panic(done);
        }
    };
    if tokio::time::timeout(config.shutdown_deadline, drain)
        .await
        .is_err()
    {
        tracing::debug!("shutdown deadline reached; aborting the remaining connections");
        connections.shutdown().await;
    }
    outcome
}

/// A connection task that panicked (the application's service panicked)
/// took only its own connection down; say so.
fn log_panic(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        if e.is_panic() {
            tracing::warn!("a connection's task panicked; its connection was dropped");
        }
    }
}

/// One stream's HTTP connection, as a future that graceful shutdown can
/// watch.
fn serve_stream<S, B>(
    builder: &Builder<TokioExecutor>,
    stream: TunnelStream,
    service: S,
    first_byte_within: Option<Duration>,
) -> impl hyper_util::server::graceful::GracefulConnection<Error = BoxError> + Send + use<S, B>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let info = stream.info().clone();
    let io = TokioIo::new(FirstByteDeadline::new(stream, first_byte_within));
    let service = TowerToHyperService::new(AddStreamInfo {
        inner: service,
        info,
    });
    builder
        .serve_connection_with_upgrades(io, service)
        .into_owned()
}
