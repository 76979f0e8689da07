//! rstream-actix end-to-end: an actix-web App served over streams of a
//! tunnel of the local engine, through real TLS on loopback.


use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use actix_codec::Framed;
use actix_http::ws;
use actix_web::{App, HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _, stream};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::Frame;
use hyper::client::conn::{http1, http2};
use hyper::{Method, Request, StatusCode, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rstream_actix::{KeepAlive, StreamInfo};
use rstream_core::{Tunnel, TunnelOptions};
use rstream_local_engine::LocalEngine;
use rstream_e2e::*;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

type Body = BoxBody<Bytes, Infallible>;

/// State shared by every worker's App.
#[derive(Default)]
struct Shared {
    /// Told when `/slow` has started.
    slow_started: Notify,
    /// How many `/meet` handlers are waiting for each other.
    meeting: Mutex<usize>,
    met: Condvar,
}

async fn hello() -> &'static str {
    "hello"
}

/// Streams the request body back as it arrives.
async fn echo(body: web::Payload) -> HttpResponse {
    HttpResponse::Ok().streaming(body)
}

/// What the handler knows about its connection, one `key=value` a line.
async fn whoami(req: HttpRequest) -> String {
    let info = req.conn_data::<StreamInfo>();
    format!(
        "peer={}\nsource={}\ntunnel={}\nstream={}\nversion={:?}\nthread={}\n",
        req.peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default(),
        info.and_then(|i| i.source_ip)
            .map(|ip| ip.to_string())
            .unwrap_or_default(),
        info.map(|i| i.tunnel_id.as_str()).unwrap_or_default(),
        info.map(|i| i.stream_id.as_str()).unwrap_or_default(),
        req.version(),
        std::thread::current().name().unwrap_or_default(),
    )
}

async fn slow(shared: web::Data<Shared>) -> &'static str {
    shared.slow_started.notify_one();
    actix_web::rt::time::sleep(Duration::from_millis(800)).await;
    "slow done"
}

async fn panics() -> &'static str {
    panic!("a handler bug")
}

/// Blocks its worker thread until a second `/meet` arrives: only another
/// worker can serve that one.
async fn meet(shared: web::Data<Shared>) -> String {
    let mut waiting = shared.meeting.lock().unwrap();
    *waiting += 1;
    shared.met.notify_all();
    let (waiting, timeout) = shared
        .met
        .wait_timeout_while(waiting, GUARD, |n| *n < 2)
        .unwrap();
    drop(waiting);
    let thread = std::thread::current().name().unwrap_or_default().to_owned();
    if timeout.timed_out() {
        format!("alone on {thread}")
    } else {
        thread
    }
}

/// WebSocket echo with actix-ws.
async fn ws_echo(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    let (response, mut session, mut messages) = actix_ws::handle(&req, body)?;
    actix_web::rt::spawn(async move {
        while let Some(Ok(message)) = messages.recv().await {
            let sent = match message {
                actix_ws::Message::Text(text) => session.text(text).await,
                actix_ws::Message::Binary(bytes) => session.binary(bytes).await,
                actix_ws::Message::Ping(bytes) => session.pong(&bytes).await,
                actix_ws::Message::Close(reason) => {
                    let _ = session.close(reason).await;
                    return;
                }
                _ => Ok(()),
            };
            if sent.is_err() {
                return;
            }
        }
    });
    Ok(response)
}

/// The App every test serves, sharing `shared` across workers.
fn app(
    shared: web::Data<Shared>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(shared)
        .route("/hello", web::get().to(hello))
        .route("/echo", web::post().to(echo))
        .route("/whoami", web::get().to(whoami))
        .route("/slow", web::get().to(slow))
        .route("/panic", web::get().to(panics))
        .route("/meet", web::get().to(meet))
        .route("/ws", web::get().to(ws_echo))
}

/// A running server and the means to stop it.
struct Server {
    shared: web::Data<Shared>,
    tunnel: Tunnel,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), rstream_actix::Error>>,
}

impl Server {
    /// Asks for a graceful shutdown and waits for serving to end.
    async fn shutdown(mut self) -> Result<(), rstream_actix::Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        guard(self.task).await.expect("serve task")
    }
}

/// Server settings that differ between tests.
struct Settings {
    workers: usize,
    shutdown_timeout: Duration,
    keep_alive: KeepAlive,
    max_connections: usize,
}

impl Settings {
    fn workers(workers: usize) -> Self {
        Settings {
            workers,
            shutdown_timeout: GUARD,
            keep_alive: KeepAlive::default(),
            max_connections: 25_000,
        }
    }
}

/// A published http tunnel on `engine`, served by `workers` workers.
async fn start(engine: &LocalEngine, workers: usize) -> Server {
    start_with(engine, Settings::workers(workers)).await
}

/// A published http tunnel on `engine`, served with `settings`.
async fn start_with(engine: &LocalEngine, settings: Settings) -> Server {
    let client = client(engine);
    let control = guard(client.connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::http().publish(true)))
        .await
        .unwrap();
    let shared = web::Data::new(Shared::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let serve = rstream_actix::serve(tunnel.clone(), {
        let shared = shared.clone();
        move || app(shared.clone())
    })
    .workers(settings.workers)
    .shutdown_timeout(settings.shutdown_timeout)
    .keep_alive(settings.keep_alive)
    .max_connections(settings.max_connections)
    .with_graceful_shutdown(async {
        let _ = stopped.await;
    });
    Server {
        shared,
        tunnel,
        stop: Some(stop),
        task: tokio::spawn(serve.into_future()),
    }
}

/// A raw edge connection to the server's tunnel from `source`.
async fn edge(engine: &LocalEngine, server: &Server, source: &str) -> tokio::io::DuplexStream {
    let source: IpAddr = source.parse().unwrap();
    guard(engine.open_stream(server.tunnel.id(), source))
        .await
        .unwrap()
}

/// An HTTP/1.1 client connection over `io`.
async fn h1<T>(io: T) -> http1::SendRequest<Body>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = guard(http1::handshake(TokioIo::new(io))).await.unwrap();
    tokio::spawn(connection);
    sender
}

fn get(path: &str) -> Request<Body> {
    Request::get(format!("http://app.localhost{path}"))
        .header("host", "app.localhost")
        .body(Empty::new().boxed())
        .unwrap()
}

/// Sends `request` and gives the status and the whole body.
async fn fetch(
    sender: &mut http1::SendRequest<Body>,
    request: Request<Body>,
) -> (StatusCode, Bytes) {
    guard(sender.ready()).await.unwrap();
    let response = guard(sender.send_request(request)).await.unwrap();
    let status = response.status();
    let body = guard(response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    (status, body)
}

/// The value of `key` in a `/whoami` answer.
fn field(body: &[u8], key: &str) -> String {
    let text = std::str::from_utf8(body).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn get_and_a_10_mib_streamed_post_echo() {
    let engine = engine().await;
    let server = start(&engine, 1).await;
    let mut sender = h1(edge(&engine, &server, "127.0.0.1").await).await;

    let (status, body) = fetch(&mut sender, get("/hello")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&body[..], b"hello");

    let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let chunks = 160; // 10 MiB
    let expected: Vec<u8> = chunk.repeat(chunks);
    let frames = stream::iter((0..chunks).map({
        let chunk = Bytes::from(chunk);
        move |_| Ok::<_, Infallible>(Frame::data(chunk.clone()))
    }));
    let request = Request::post("http://app.localhost/echo")
        .header("host", "app.localhost")
        .body(BodyExt::boxed(StreamBody::new(frames)))
        .unwrap();
    let (status, body) = fetch(&mut sender, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.len(), expected.len());
    assert!(
        body[..] == expected[..],
        "the echo differs from what was sent"
    );

    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn keep_alive_serves_many_requests_on_one_stream() {
    let engine = engine().await;
    let server = start(&engine, 2).await;
    let mut sender = h1(edge(&engine, &server, "127.0.0.1").await).await;
    let mut stream_ids = Vec::new();
    for _ in 0..25 {
        let (status, body) = fetch(&mut sender, get("/whoami")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(field(&body, "version"), "HTTP/1.1");
        stream_ids.push(field(&body, "stream"));
    }
    stream_ids.dedup();
    assert_eq!(
        stream_ids.len(),
        1,
        "every request came over the same stream"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_with_prior_knowledge_over_an_edge_stream() {
    let engine = engine().await;
    let server = start(&engine, 1).await;
    let io = TokioIo::new(edge(&engine, &server, "127.0.0.1").await);
    let (mut sender, connection) = guard(http2::handshake(TokioExecutor::new(), io))
        .await
        .unwrap();
    tokio::spawn(connection);

    // Several requests at once, multiplexed on the one stream.
    let mut answers = Vec::new();
    for _ in 0..5 {
        guard(sender.ready()).await.unwrap();
        let request = Request::get("http://app.localhost/whoami")
            .version(Version::HTTP_2)
            .body(Empty::<Bytes>::new().boxed())
            .unwrap();
        answers.push(sender.send_request(request));
    }
    for answer in answers {
        let response = guard(answer).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.version(), Version::HTTP_2);
        let body = guard(response.into_body().collect())
            .await
            .unwrap()
            .to_bytes();
        assert_eq!(field(&body, "version"), "HTTP/2.0");
    }

    let request = Request::builder()
        .method(Method::POST)
        .uri("http://app.localhost/echo")
        .version(Version::HTTP_2)
        .body(Full::new(Bytes::from_static(b"over h2")).boxed())
        .unwrap();
    let response = guard(sender.send_request(request)).await.unwrap();
    let body = guard(response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"over h2");
    drop(sender);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn websocket_echo_with_actix_ws() {
    let engine = engine().await;
    let server = start(&engine, 1).await;
    let mut io = edge(&engine, &server, "127.0.0.1").await;
    let handshake = "GET /ws HTTP/1.1\r\nHost: app.localhost\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                     Sec-WebSocket-Version: 13\r\n\r\n";
    guard(io.write_all(handshake.as_bytes())).await.unwrap();
    // Read the response head byte by byte, so no frame byte is taken with it.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = guard(io.read_u8()).await.unwrap();
        head.push(byte);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="),
        "{head}"
    );

    let mut framed = Framed::new(io, ws::Codec::new().client_mode());
    for text in ["hello", "over a tunnel", "third"] {
        guard(framed.send(ws::Message::Text(text.into())))
            .await
            .unwrap();
        match guard(framed.next()).await {
            Some(Ok(ws::Frame::Text(bytes))) => assert_eq!(&bytes[..], text.as_bytes()),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
    guard(framed.send(ws::Message::Binary(Bytes::from_static(&[0, 1, 2, 255]))))
        .await
        .unwrap();
    match guard(framed.next()).await {
        Some(Ok(ws::Frame::Binary(bytes))) => assert_eq!(&bytes[..], &[0, 1, 2, 255]),
        other => panic!("expected a binary frame, got {other:?}"),
    }
    guard(framed.send(ws::Message::Close(None))).await.unwrap();
    match guard(framed.next()).await {
        Some(Ok(ws::Frame::Close(_))) => {}
        other => panic!("expected a close frame, got {other:?}"),
    }
    drop(framed);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn conn_data_and_peer_addr_show_the_engine_source_ip() {
    let engine = engine().await;
    let server = start(&engine, 1).await;
    for source in ["203.0.113.7", "2001:db8::42"] {
        let mut sender = h1(edge(&engine, &server, source).await).await;
        let (status, body) = fetch(&mut sender, get("/whoami")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(field(&body, "peer"), source);
        assert_eq!(field(&body, "source"), source);
        assert_eq!(field(&body, "tunnel"), server.tunnel.id());
        assert!(!field(&body, "stream").is_empty());
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_through_the_http_edge() {
    let engine = engine().await;
    let server = start(&engine, 1).await;
    let hostname = server
        .tunnel
        .properties()
        .hostname
        .clone()
        .expect("a published http tunnel has a hostname");
    let tcp = guard(tokio::net::TcpStream::connect(engine.edge_addr()))
        .await
        .unwrap();
    let mut sender = h1(tcp).await;
    for _ in 0..3 {
        let request = Request::get("/whoami")
            .header("host", format!("{hostname}:{}", engine.edge_addr().port()))
            .body(Empty::new().boxed())
            .unwrap();
        let (status, body) = fetch(&mut sender, request).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(field(&body, "peer"), "127.0.0.1");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_shutdown_drains_an_in_flight_request() {
    let engine = engine().await;
    let mut server = start(&engine, 1).await;
    let mut sender = h1(edge(&engine, &server, "127.0.0.1").await).await;
    guard(sender.ready()).await.unwrap();
    let answer = tokio::spawn(sender.send_request(get("/slow")));
    guard(server.shared.slow_started.notified()).await;

    let stop = server.stop.take().unwrap();
    stop.send(()).unwrap();
    let response = guard(answer).await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // Draining: the server asks the client to close the connection.
    assert_eq!(
        response.headers().get("connection").map(|v| v.as_bytes()),
        Some(&b"close"[..])
    );
    let body = guard(response.into_body().collect())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(&body[..], b"slow done");
    guard(server.task).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_closes_idle_keep_alive_connections_at_once() {
    let engine = engine().await;
    // No keep-alive timer and a shutdown deadline far beyond the hang
    // guard: serving ends in time only if the idle connection is closed.
    let server = start_with(
        &engine,
        Settings {
            shutdown_timeout: Duration::from_secs(600),
            keep_alive: KeepAlive::Os,
            ..Settings::workers(2)
        },
    )
    .await;
    let io = TokioIo::new(edge(&engine, &server, "127.0.0.1").await);
    let (mut sender, connection) = guard(http1::handshake(io)).await.unwrap();
    let connection = tokio::spawn(connection);
    let (status, _) = fetch(&mut sender, get("/hello")).await;
    assert_eq!(status, StatusCode::OK);
    server.shutdown().await.unwrap();
    // The client sees its connection end.
    let _ = guard(connection).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_shutdown_deadline_cuts_what_does_not_finish() {
    let engine = engine().await;
    let server = start_with(
        &engine,
        Settings {
            shutdown_timeout: Duration::from_millis(300),
            ..Settings::workers(1)
        },
    )
    .await;
    // A WebSocket stays in flight until it ends: only the deadline stops it.
    let mut io = edge(&engine, &server, "127.0.0.1").await;
    let handshake = "GET /ws HTTP/1.1\r\nHost: app.localhost\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                     Sec-WebSocket-Version: 13\r\n\r\n";
    guard(io.write_all(handshake.as_bytes())).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(guard(io.read_u8()).await.unwrap());
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    server.shutdown().await.unwrap();
    // The connection was dropped with the worker.
    let mut rest = Vec::new();
    let _ = guard(io.read_to_end(&mut rest)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn max_connections_holds_further_streams_back() {
    let engine = engine().await;
    let server = start_with(
        &engine,
        Settings {
            max_connections: 1,
            ..Settings::workers(1)
        },
    )
    .await;
    let mut first = h1(edge(&engine, &server, "127.0.0.1").await).await;
    let (status, _) = fetch(&mut first, get("/hello")).await;
    assert_eq!(status, StatusCode::OK);

    let mut second = h1(edge(&engine, &server, "127.0.0.1").await).await;
    guard(second.ready()).await.unwrap();
    let answer = tokio::spawn(second.send_request(get("/hello")));
    // Not served while the first connection is open…
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!answer.is_finished(), "a second connection was served");
    // …and served once it closes.
    drop(first);
    let response = guard(answer).await.unwrap().unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_handler_fails_only_its_request() {
    let engine = engine().await;
    let server = start(&engine, 1).await;
    let mut sender = h1(edge(&engine, &server, "127.0.0.1").await).await;
    let (status, _) = fetch(&mut sender, get("/panic")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    // The same connection goes on, and so does the worker.
    let (status, body) = fetch(&mut sender, get("/hello")).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"hello"[..]));
    let mut other = h1(edge(&engine, &server, "127.0.0.1").await).await;
    let (status, body) = fetch(&mut other, get("/hello")).await;
    assert_eq!((status, &body[..]), (StatusCode::OK, &b"hello"[..]));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_serve_concurrent_requests() {
    let engine = engine().await;
    let server = start(&engine, 2).await;
    let mut first = h1(edge(&engine, &server, "127.0.0.1").await).await;
    let mut second = h1(edge(&engine, &server, "127.0.0.1").await).await;
    // Each `/meet` blocks its worker's thread until the other arrives, so
    // both answer only if two workers serve them at the same time.
    let (a, b) = tokio::join!(
        fetch(&mut first, get("/meet")),
        fetch(&mut second, get("/meet"))
    );
    assert_eq!(a.0, StatusCode::OK);
    assert_eq!(b.0, StatusCode::OK);
    let mut threads = [
        String::from_utf8(a.1.to_vec()).unwrap(),
        String::from_utf8(b.1.to_vec()).unwrap(),
    ];
    threads.sort();
    assert_eq!(threads, ["rstream-actix-0", "rstream-actix-1"]);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn serving_ends_when_the_tunnel_closes() {
    let engine = engine().await;
    let server = start(&engine, 2).await;
    let mut sender = h1(edge(&engine, &server, "127.0.0.1").await).await;
    let (status, _) = fetch(&mut sender, get("/hello")).await;
    assert_eq!(status, StatusCode::OK);
    drop(sender);
    guard(server.tunnel.close()).await.unwrap();
    guard(server.task).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supervised_tunnel_is_served_until_closed() {
    let engine = engine().await;
    let client = client(&engine);
    let supervised = guard(client.supervise(TunnelOptions::http().publish(true)))
        .await
        .unwrap();
    let tunnel_id = match supervised.state() {
        rstream_core::TunnelState::Online { tunnel_id, .. } => tunnel_id,
        other => panic!("not online: {other:?}"),
    };
    let shared = web::Data::new(Shared::default());
    let task = tokio::spawn(
        rstream_actix::serve(supervised.clone(), move || app(shared.clone()))
            .workers(1)
            .into_future(),
    );
    let io = guard(engine.open_stream(&tunnel_id, "198.51.100.1".parse().unwrap()))
        .await
        .unwrap();
    let mut sender = h1(io).await;
    let (status, body) = fetch(&mut sender, get("/whoami")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(field(&body, "peer"), "198.51.100.1");
    drop(sender);
    guard(supervised.close()).await;
    guard(task).await.unwrap().unwrap();
}

/// A published http tunnel on `engine`, not served yet.
async fn tunnel(engine: &LocalEngine) -> Tunnel {
    let control = guard(client(engine).connect()).await.unwrap();
    guard(control.create_tunnel(TunnelOptions::http().publish(true)))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_that_cannot_start_is_an_error() {
    let engine = engine().await;
    let tunnel = tunnel(&engine).await;
    let serve = rstream_actix::serve(tunnel, || {
        App::new()
            .data_factory(|| async { Err::<u32, _>("no database") })
            .route("/hello", web::get().to(hello))
    })
    .workers(2);
    let result = guard(serve.into_future()).await;
    assert!(
        matches!(result, Err(rstream_actix::Error::AppInit { .. })),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_factory_that_panics_is_an_error() {
    let engine = engine().await;
    let tunnel = tunnel(&engine).await;
    let broken = true;
    let serve = rstream_actix::serve(tunnel, move || {
        assert!(!broken, "the factory fails on purpose");
        App::new().route("/hello", web::get().to(hello))
    })
    .workers(2);
    let result = guard(serve.into_future()).await;
    assert!(
        matches!(result, Err(rstream_actix::Error::WorkerPanicked { .. })),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn losing_the_control_channel_ends_serving_with_the_failure() {
    let engine = engine().await;
    let server = start(&engine, 1).await;
    let mut sender = h1(edge(&engine, &server, "127.0.0.1").await).await;
    let (status, _) = fetch(&mut sender, get("/hello")).await;
    assert_eq!(status, StatusCode::OK);
    engine.faults().abort_control_channels();
    let result = guard(server.task).await.unwrap();
    assert!(
        matches!(result, Err(rstream_actix::Error::Accept(_))),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_supervised_tunnel_keeps_serving_across_a_reconnect() {
    let engine = engine().await;
    let client = client(&engine);
    let supervised = guard(client.supervise(TunnelOptions::http().publish(true)))
        .await
        .unwrap();
    let online_id = |state: &rstream_core::TunnelState| match state {
        rstream_core::TunnelState::Online { tunnel_id, .. } => Some(tunnel_id.clone()),
        _ => None,
    };
    let first_id = online_id(&supervised.state()).expect("online");
    let shared = web::Data::new(Shared::default());
    let task = tokio::spawn(
        rstream_actix::serve(supervised.clone(), move || app(shared.clone()))
            .workers(2)
            .into_future(),
    );

    engine.faults().abort_control_channels();
    let mut states = supervised.watch_state();
    let new_id = guard(async {
        loop {
            if let Some(id) = online_id(&states.borrow_and_update()) {
                if id != first_id {
                    return id;
                }
            }
            states.changed().await.unwrap();
        }
    })
    .await;

    let io = guard(engine.open_stream(&new_id, "192.0.2.9".parse().unwrap()))
        .await
        .unwrap();
    let mut sender = h1(io).await;
    let (status, body) = fetch(&mut sender, get("/whoami")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(field(&body, "peer"), "192.0.2.9");
    assert!(!task.is_finished());
    drop(sender);
    guard(supervised.close()).await;
    guard(task).await.unwrap().unwrap();
}
