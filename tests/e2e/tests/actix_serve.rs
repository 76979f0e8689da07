//! rstream-actix end to end, where it differs from the other serving
//! paths: `peer_addr` and `conn_data`, workers, panicking handlers and
//! factories, a WebSocket held past the shutdown deadline, reconnecting
//! tunnels and a lost control channel. What every path does alike is in
//! `conformance.rs`.

use std::net::IpAddr;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, web};
use hyper::{Request, StatusCode};
use rstream_actix::StreamInfo;
use rstream_core::{Tunnel, TunnelOptions};
use rstream_e2e::http::{Body, fetch, full, h1, published};
use rstream_e2e::*;
use rstream_local_engine::LocalEngine;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// State shared by every worker's App.
#[derive(Default)]
struct Shared {
    /// How many `/meet` handlers are waiting for each other.
    meeting: Mutex<usize>,
    met: Condvar,
}

async fn hello() -> &'static str {
    "hello"
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

/// A WebSocket that stays open: answers the handshake and keeps the
/// session until the client goes.
async fn ws_open(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    let (response, session, mut messages) = actix_ws::handle(&req, body)?;
    actix_web::rt::spawn(async move {
        let _session = session;
        while let Some(Ok(_)) = messages.recv().await {}
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
        .route("/whoami", web::get().to(whoami))
        .route("/panic", web::get().to(panics))
        .route("/meet", web::get().to(meet))
        .route("/ws", web::get().to(ws_open))
}

/// A running server and the means to stop it.
struct Server {
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

/// A published http tunnel on `engine`, served by `workers` workers.
async fn start(engine: &LocalEngine, workers: usize) -> Server {
    start_with(engine, workers, GUARD).await
}

/// A published http tunnel on `engine`, served by `workers` workers with
/// `shutdown_timeout`.
async fn start_with(engine: &LocalEngine, workers: usize, shutdown_timeout: Duration) -> Server {
    let (_client, tunnel) = published(engine).await;
    let shared = web::Data::new(Shared::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let serve = rstream_actix::serve(tunnel.clone(), move || app(shared.clone()))
        .workers(workers)
        .shutdown_deadline(shutdown_timeout)
        .with_graceful_shutdown(async {
            let _ = stopped.await;
        });
    Server {
        tunnel,
        stop: Some(stop),
        task: tokio::spawn(serve.into_future()),
    }
}

/// A raw edge connection to the server's tunnel from `source`.
async fn edge(engine: &LocalEngine, server: &Server, source: &str) -> tokio::io::DuplexStream {
    let source: IpAddr = source.parse().unwrap();
    guard(engine.open_stream(&server.tunnel.id(), source))
        .await
        .unwrap()
}

fn get(path: &str) -> Request<Body> {
    Request::get(format!("http://app.localhost{path}"))
        .header("host", "app.localhost")
        .body(full(""))
        .unwrap()
}

/// The value of `key` in a `/whoami` answer.
fn field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        .to_owned()
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
async fn a_websocket_in_flight_is_cut_at_the_shutdown_deadline() {
    let engine = engine().await;
    let server = start_with(&engine, 1, Duration::from_millis(300)).await;
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
async fn a_panicking_handler_fails_only_its_request() {
    let engine = engine().await;
    let server = start(&engine, 1).await;
    let mut sender = h1(edge(&engine, &server, "127.0.0.1").await).await;
    let (status, _) = fetch(&mut sender, get("/panic")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    // The same connection goes on, and so does the worker.
    let (status, body) = fetch(&mut sender, get("/hello")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hello"));
    let mut other = h1(edge(&engine, &server, "127.0.0.1").await).await;
    let (status, body) = fetch(&mut other, get("/hello")).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "hello"));
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
    let mut threads = [a.1, b.1];
    threads.sort();
    assert_eq!(threads, ["rstream-actix-0", "rstream-actix-1"]);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tunnel_is_served_until_closed() {
    let engine = engine().await;
    let client = client(&engine);
    let tunnel = guard(client.tunnel(TunnelOptions::http().publish(true)))
        .await
        .unwrap();
    let tunnel_id = match tunnel.state() {
        rstream_core::TunnelState::Online { tunnel_id, .. } => tunnel_id,
        other => panic!("not online: {other:?}"),
    };
    let shared = web::Data::new(Shared::default());
    let task = tokio::spawn(
        rstream_actix::serve(tunnel.clone(), move || app(shared.clone()))
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
    guard(tunnel.close()).await.unwrap();
    guard(task).await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_that_cannot_start_is_an_error() {
    let engine = engine().await;
    let (_client, tunnel) = published(&engine).await;
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
    let (_client, tunnel) = published(&engine).await;
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
async fn a_tunnel_that_gives_up_ends_serving_with_the_failure() {
    let engine = engine().await;
    // A session told not to reconnect: its first loss ends the tunnel.
    let client = client_without_reconnect(&engine);
    let tunnel = guard(client.tunnel(TunnelOptions::http().publish(true)))
        .await
        .unwrap();
    let serve = rstream_actix::serve(tunnel.clone(), || {
        App::new().route("/hello", web::get().to(|| async { "hello" }))
    })
    .workers(1);
    let task = tokio::spawn(serve.into_future());
    let mut sender = h1(
        guard(engine.open_stream(&tunnel.id(), "127.0.0.1".parse().unwrap()))
            .await
            .unwrap(),
    )
    .await;
    let (status, _) = fetch(&mut sender, get("/hello")).await;
    assert_eq!(status, StatusCode::OK);
    engine.faults().abort_control_channels();
    let result = guard(task).await.unwrap();
    assert!(
        matches!(result, Err(rstream_actix::Error::Accept(_))),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tunnel_keeps_serving_across_a_reconnect() {
    let engine = engine().await;
    let client = client(&engine);
    let tunnel = guard(client.tunnel(TunnelOptions::http().publish(true)))
        .await
        .unwrap();
    let online_id = |state: &rstream_core::TunnelState| match state {
        rstream_core::TunnelState::Online { tunnel_id, .. } => Some(tunnel_id.clone()),
        _ => None,
    };
    let first_id = online_id(&tunnel.state()).expect("online");
    let shared = web::Data::new(Shared::default());
    let task = tokio::spawn(
        rstream_actix::serve(tunnel.clone(), move || app(shared.clone()))
            .workers(2)
            .into_future(),
    );

    engine.faults().abort_control_channels();
    let mut states = tunnel.watch_state();
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
    guard(tunnel.close()).await.unwrap();
    guard(task).await.unwrap().unwrap();
}
