//! HTTP helpers for the serving suites (conformance, tower, axum, actix,
//! faults): a published tunnel, clients over edge connections and raw or
//! dialed streams, a test app, and acceptors that count or fail.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body as AxumBody;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{Request as AxumRequest, State};
use axum::response::Response as AxumResponse;
use axum::routing::{get, post};
use axum::{Router, http::Version};
use futures_util::{SinkExt, StreamExt};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rstream_core::{Accept, Client, Error, Tunnel, TunnelOptions, TunnelStream};
use rstream_local_engine::LocalEngine;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::Message;

/// A published http tunnel on `engine`, with the client that holds it.
pub async fn published(engine: &LocalEngine) -> (Client, Tunnel) {
    let client = crate::client(engine);
    let control = crate::guard(client.connect())
        .await
        .expect("the client connects");
    let tunnel = crate::guard(control.create_tunnel(TunnelOptions::http().publish(true)))
        .await
        .expect("the engine creates the tunnel");
    (client, tunnel)
}

/// The request body type the test clients send.
pub type Body = BoxBody<Bytes, Infallible>;

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// A body of `total` bytes sent in `chunk`-sized frames, the pattern
/// `i % 251`.
pub fn streamed(total: usize, chunk: usize) -> Body {
    let frames = (0..total).step_by(chunk).map(move |start| {
        let end = (start + chunk).min(total);
        let data: Vec<u8> = (start..end).map(|i| (i % 251) as u8).collect();
        Ok::<_, Infallible>(Frame::data(Bytes::from(data)))
    });
    BodyExt::boxed(StreamBody::new(futures_util::stream::iter(frames)))
}

/// The bytes [`streamed`] sends.
pub fn pattern(total: usize) -> Vec<u8> {
    (0..total).map(|i| (i % 251) as u8).collect()
}

/// An HTTP/1.1 client connection over `io`.
pub async fn h1<IO>(io: IO) -> hyper::client::conn::http1::SendRequest<Body>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(conn);
    send
}

/// An HTTP/2 (prior knowledge) client connection over `io`.
pub async fn h2<IO>(io: IO) -> hyper::client::conn::http2::SendRequest<Body>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(conn);
    send
}

/// A TCP connection to the engine's HTTP edge.
pub async fn edge(engine: &LocalEngine) -> TcpStream {
    TcpStream::connect(engine.edge_addr())
        .await
        .expect("the edge accepts")
}

/// The hostname the engine gave a published http tunnel.
pub fn hostname(tunnel: &rstream_core::Tunnel) -> String {
    tunnel
        .info()
        .and_then(|info| info.hostname)
        .expect("a published http tunnel has a hostname")
}

/// A request for `path` with `Host: host`.
pub fn request(method: &str, host: &str, path: &str, body: Body) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
        .body(body)
        .expect("a valid request")
}

/// `GET path` with `Host: host`.
pub fn get_req(host: &str, path: &str) -> Request<Body> {
    request("GET", host, path, full(""))
}

/// Writes `bytes` (if any) to `io` as a raw client would, then reads until
/// the server closes; what it answered, as (lossy) text. Write and read
/// errors count as the server closing.
pub async fn exchange<IO>(mut io: IO, bytes: &[u8]) -> String
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    if !bytes.is_empty() {
        let _ = io.write_all(bytes).await;
    }
    let mut answer = Vec::new();
    let _ = io.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// The whole body of `response`.
pub async fn body_bytes(response: Response<Incoming>) -> Bytes {
    response
        .into_body()
        .collect()
        .await
        .expect("the body arrives")
        .to_bytes()
}

/// Sends `request` on `http` once it is ready; the answer's status and body
/// text.
pub async fn fetch(
    http: &mut hyper::client::conn::http1::SendRequest<Body>,
    request: Request<Body>,
) -> (hyper::StatusCode, String) {
    crate::guard(http.ready())
        .await
        .expect("the connection is open");
    let response = crate::guard(http.send_request(request))
        .await
        .expect("an answer");
    (response.status(), crate::guard(body_text(response)).await)
}

/// The whole body of `response`, as text.
pub async fn body_text(response: Response<Incoming>) -> String {
    String::from_utf8(body_bytes(response).await.to_vec()).expect("a UTF-8 body")
}

/// Wraps an acceptor and counts the streams it hands out.
#[derive(Clone, Debug)]
pub struct Counting<A> {
    /// The acceptor counted.
    pub inner: A,
    /// Streams handed out so far.
    pub accepted: Arc<AtomicUsize>,
}

impl<A> Counting<A> {
    /// Counts `inner`'s streams from zero.
    pub fn new(inner: A) -> Self {
        Counting {
            inner,
            accepted: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Streams handed out so far.
    pub fn count(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl<A: Accept> Accept for Counting<A> {
    async fn accept(&self) -> Result<Option<TunnelStream>, Error> {
        let next = self.inner.accept().await;
        if let Ok(Some(_)) = &next {
            self.accepted.fetch_add(1, Ordering::SeqCst);
        }
        next
    }
}

/// Lets a test hold a `/slow` request in flight.
#[derive(Clone, Debug, Default)]
pub struct Slow {
    /// Notified when a `/slow` request has reached its handler.
    pub entered: Arc<Notify>,
    /// Notify to let the `/slow` requests answer.
    pub release: Arc<Notify>,
}

/// The axum routes the tower and axum serving paths answer with: `/`
/// (hello), `/echo` (POST, streamed back), `/version`, `/slow` (answers
/// when released), `/never` (never answers), `/ws` (WebSocket echo). The
/// conformance suite's actix app mirrors them, `/version` aside.
pub fn app(slow: Slow) -> Router {
    Router::new()
        .route("/", get(|| async { "hello" }))
        .route(
            "/echo",
            post(|request: AxumRequest| async move {
                AxumResponse::new(AxumBody::from_stream(
                    request.into_body().into_data_stream(),
                ))
            }),
        )
        .route(
            "/version",
            get(|version: Version| async move { format!("{version:?}") }),
        )
        .route(
            "/slow",
            get(|State(slow): State<Slow>| async move {
                slow.entered.notify_one();
                slow.release.notified().await;
                "done"
            }),
        )
        .route(
            "/never",
            get(|State(slow): State<Slow>| async move {
                slow.entered.notify_one();
                std::future::pending::<()>().await;
                "unreachable"
            }),
        )
        .route("/ws", get(ws_echo))
        .with_state(slow)
}

async fn ws_echo(upgrade: WebSocketUpgrade) -> AxumResponse {
    upgrade.on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if socket.send(message).await.is_err() {
                break;
            }
        }
    })
}

/// Opens a WebSocket to `ws://host/ws` through the edge and checks that a
/// few messages come back.
pub async fn websocket_echo(engine: &LocalEngine, host: &str) {
    let url = format!("ws://{host}:{}/ws", engine.edge_addr().port());
    let (mut socket, response) = tokio_tungstenite::client_async(url, edge(engine).await)
        .await
        .expect("the WebSocket handshake succeeds");
    assert_eq!(response.status(), 101);
    for text in ["one", "two", "three"] {
        socket.send(Message::text(text)).await.unwrap();
        let back = socket.next().await.expect("an answer").unwrap();
        assert_eq!(back, Message::text(text));
    }
    let big = vec![7u8; 200_000];
    socket.send(Message::binary(big.clone())).await.unwrap();
    let back = socket.next().await.expect("an answer").unwrap();
    assert_eq!(back.into_data().to_vec(), big);
    socket.close(None).await.unwrap();
}

/// Fails the first `failures` accepts with `error()`, then hands out
/// `inner`'s streams.
#[derive(Debug)]
pub struct Failing<A> {
    /// The acceptor used once the failures are spent.
    pub inner: A,
    /// Failures still to hand out.
    pub failures: AtomicUsize,
    /// Makes each failure's error.
    pub error: fn() -> Error,
}

impl<A> Failing<A> {
    /// Fails `failures` accepts with `error()`, then defers to `inner`.
    pub fn new(inner: A, failures: usize, error: fn() -> Error) -> Self {
        Failing {
            inner,
            failures: AtomicUsize::new(failures),
            error,
        }
    }
}

impl<A: Accept> Accept for Failing<A> {
    async fn accept(&self) -> Result<Option<TunnelStream>, Error> {
        let left = self.failures.load(Ordering::SeqCst);
        if left > 0 {
            self.failures.store(left - 1, Ordering::SeqCst);
            return Err((self.error)());
        }
        self.inner.accept().await
    }
}

/// A failure that says a retry could work (as a failed control channel's).
pub fn retryable() -> Error {
    Error::timeout("a test acceptor", std::time::Duration::from_millis(1))
}

/// A failure for good.
pub fn terminal() -> Error {
    Error::Closed("a test acceptor gave up".into())
}
