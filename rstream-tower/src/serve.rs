//! [`serve`]: HTTP over every stream a tunnel accepts.

use std::error::Error as StdError;
use std::fmt;
use std::future::{Future, IntoFuture, Pending};
use std::pin::Pin;

use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::{Body, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use rstream_core::incoming::{self, Connection, ServeLimits};
use rstream_core::{Accept, Error};
use tokio::task::JoinSet;
use tower_service::Service;
use tracing::Instrument;

use crate::conn::AddStreamInfo;

/// The largest request head (HTTP/1.1) or header list (HTTP/2) accepted
/// unless configured otherwise: 64 KiB.
pub const DEFAULT_MAX_HEADER_SIZE: usize = 64 * 1024;

/// hyper refuses HTTP/1.1 read buffers smaller than this.
const MIN_HTTP1_BUFFER: usize = 8 * 1024;

type BoxError = Box<dyn StdError + Send + Sync>;

/// Serves `service` over every stream `acceptor` accepts.
///
/// `acceptor` is a [`Tunnel`](rstream_core::Tunnel) (it rides over
/// reconnects) or anything else that implements [`Accept`]. `service` is any tower service for
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
///   [`is_retryable`](rstream_core::Error::is_retryable) says (a
///   [`Tunnel`](rstream_core::Tunnel) fails only once its session gave up).
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
    limits: ServeLimits,
    max_header_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: ServeLimits::default(),
            max_header_size: DEFAULT_MAX_HEADER_SIZE,
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
            .field("limits", &self.config.limits)
            .field("max_header_size", &self.config.max_header_size)
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
    /// ([`DEFAULT_SHUTDOWN_DEADLINE`](rstream_core::incoming::DEFAULT_SHUTDOWN_DEADLINE)
    /// by default).
    pub fn shutdown_deadline(mut self, deadline: Duration) -> Self {
        self.config.limits = self.config.limits.shutdown_deadline(deadline);
        self
    }

    /// How long a client may take to send the first bytes of a connection
    /// and each request's headers; also how long an idle HTTP/1.1
    /// keep-alive connection is kept
    /// ([`DEFAULT_HEADER_READ_TIMEOUT`](rstream_core::incoming::DEFAULT_HEADER_READ_TIMEOUT)
    /// by default). `None` waits forever.
    pub fn header_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.limits = self.config.limits.header_read_timeout(timeout);
        self
    }

    /// All three connection limits at once (header read timeout, connection
    /// cap, shutdown deadline), the same [`ServeLimits`] the axum and actix
    /// paths take.
    pub fn limits(mut self, limits: ServeLimits) -> Self {
        self.config.limits = limits;
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
    /// ([`DEFAULT_MAX_CONNECTIONS`](rstream_core::incoming::DEFAULT_MAX_CONNECTIONS)
    /// by default). At the cap, no stream is accepted until a connection
    /// ends; clients wait at the engine. `0` is taken as `1`.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.config.limits = self.config.limits.max_connections(connections);
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
        .header_read_timeout(config.limits.get_header_read_timeout())
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
    let incoming = incoming::Incoming::with_limits(acceptor, config.limits.clone());
    let mut connections = JoinSet::new();
    let mut signal = std::pin::pin!(signal);

    let outcome = loop {
        while let Some(done) = connections.try_join_next() {
            log_panic(done);
        }
        let next = tokio::select! {
            biased;
            () = &mut signal => break Ok(()),
            next = incoming.next() => next,
        };
        let connection = match next {
            Ok(Some(connection)) => connection,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e),
        };
        let span = tracing::debug_span!(
            "connection",
            tunnel_id = %connection.info().tunnel_id,
            stream_id = %connection.info().stream_id,
        );
        let connection = graceful.watch(serve_connection(&builder, connection, service.clone()));
        connections.spawn(
            async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
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
    if tokio::time::timeout(config.limits.get_shutdown_deadline(), drain)
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

/// One connection's HTTP, as a future that graceful shutdown can watch.
fn serve_connection<S, B>(
    builder: &Builder<TokioExecutor>,
    connection: Connection,
    service: S,
) -> impl hyper_util::server::graceful::GracefulConnection<Error = BoxError> + Send + use<S, B>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let info = connection.info().clone();
    let service = TowerToHyperService::new(AddStreamInfo {
        inner: service,
        info,
    });
    builder
        .serve_connection_with_upgrades(TokioIo::new(connection), service)
        .into_owned()
}
