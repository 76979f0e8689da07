//! The serving conformance suite: the same scenarios, end to end through the
//! local engine, against each way this workspace serves HTTP over tunnel
//! streams (a [`Path`]):
//!
//! - `tower`: `rstream_tower::serve(tunnel, router)`;
//! - `axum`: `axum::serve(TunnelListener::with_limits(tunnel, limits), router)`
//!   with `ConnectInfo<TunnelAddr>` and `TunnelListener::closed()` as part of
//!   the shutdown signal, as `rstream-axum`'s docs show;
//! - `axum_serve`: `rstream_axum::serve(tunnel, router)`, the same router
//!   through `rstream_tower::serve`;
//! - `actix`: `rstream_actix::serve(tunnel, || App::new()...)`, one worker.
//!
//! All of them take their streams through the one accept pipeline
//! (`rstream_core::incoming`) and the same `ServeLimits`.
//!
//! Each path serves the same app behaviour, written for its framework: `/`
//! (hello), `/echo` (streamed POST echo), `/info` (tunnel id, stream id and
//! source IP of the stream, as the framework hands them to handlers), `/ws`
//! (WebSocket echo), `/slow` (answers when the test releases it) and
//! `/never` (never answers).
//!
//! Every test is one (scenario, path) pair, named `<path>::<scenario>`
//! (`tower::get`, `axum::get`, `actix::get`). A scenario that a path does
//! not pass today is still generated, with `#[ignore = "known gap: ..."]`
//! saying why. Behaviour that differs between frameworks stays in
//! `tower_serve.rs`, `axum_serve.rs` and `actix_serve.rs`.
//!
//! # Tests this suite replaced
//!
//! | removed test | scenario |
//! |---|---|
//! | `tower_serve::get_and_streamed_post_echo_through_the_edge` | `get`, `post_echo_10_mib` |
//! | `tower_serve::hundred_keep_alive_requests_use_one_stream` | `keep_alive` |
//! | `tower_serve::http2_over_a_dialed_stream` | `h2` |
//! | `tower_serve::websocket_echo_through_the_edge` | `websocket` |
//! | `tower_serve::every_request_carries_the_stream_info` | `source_ip` |
//! | `tower_serve::graceful_shutdown_finishes_in_flight_requests_and_closes_idle_connections` | `graceful_shutdown` |
//! | `tower_serve::shutdown_gives_up_after_the_deadline` | `shutdown_deadline` |
//! | `tower_serve::a_malformed_request_gets_400_and_serving_goes_on` | `malformed_request` (its 431 part stays: `tower_serve::a_head_over_the_size_limit_gets_431_and_serving_goes_on`) |
//! | `tower_serve::a_closed_tunnel_ends_serve` | `tunnel_close` |
//! | `tower_serve::at_the_connection_cap_the_next_client_waits_its_turn` | `connection_cap` |
//! | `tower_serve::silent_and_slow_clients_are_cut_off_by_the_header_read_timeout` | `silent_client`, `half_sent_head` |
//! | `axum_serve::get_and_streamed_post_echo_through_the_edge` | `get`, `post_echo_10_mib` |
//! | `axum_serve::connect_info_has_the_source_the_engine_reported` | `source_ip` (the axum app reads `ConnectInfo<TunnelAddr>`) |
//! | `axum_serve::hundred_keep_alive_requests_use_one_stream` | `keep_alive` |
//! | `axum_serve::http2_over_a_dialed_stream` | `h2` |
//! | `axum_serve::websocket_echo_through_the_edge` | `websocket` (plain `axum::serve(listener, router)` stays covered by `axum_serve::a_tunnel_is_served_across_an_engine_restart`) |
//! | `axum_serve::a_malformed_request_gets_400_and_serving_goes_on` | `malformed_request` |
//! | `axum_serve::serve_returns_once_the_tunnel_is_closed` | `tunnel_close` |
//! | `axum_serve::graceful_shutdown_finishes_an_in_flight_request` | `graceful_shutdown` |
//! | `actix_serve::get_and_a_10_mib_streamed_post_echo` | `get`, `post_echo_10_mib` |
//! | `actix_serve::keep_alive_serves_many_requests_on_one_stream` | `keep_alive` |
//! | `actix_serve::http2_with_prior_knowledge_over_an_edge_stream` | `h2` |
//! | `actix_serve::websocket_echo_with_actix_ws` | `websocket` |
//! | `actix_serve::requests_through_the_http_edge` | `get`, `source_ip` |
//! | `actix_serve::graceful_shutdown_drains_an_in_flight_request` | `graceful_shutdown` |
//! | `actix_serve::shutdown_closes_idle_keep_alive_connections_at_once` | `graceful_shutdown` |
//! | `actix_serve::max_connections_holds_further_streams_back` | `connection_cap` |
//! | `actix_serve::serving_ends_when_the_tunnel_closes` | `tunnel_close` |
//!
//! `actix_serve::the_shutdown_deadline_cuts_what_does_not_finish` (a
//! WebSocket counts as in flight) stays in `actix_serve.rs`, renamed
//! `a_websocket_in_flight_is_cut_at_the_shutdown_deadline`.

use std::future::Future;
use std::time::Duration;

use ::axum::extract::ConnectInfo;
use ::axum::routing::get;
use ::axum::{Extension, Router};
use actix_web::{App, HttpRequest, HttpResponse, web};
use hyper::client::conn::http1::SendRequest;
use hyper::{StatusCode, Version};
use rstream_axum::{ServeLimits, TunnelAddr, TunnelListener};
use rstream_core::{Accept, Client, StreamInfo, Tunnel};
use rstream_e2e::http::*;
use rstream_e2e::{engine, guard};
use rstream_local_engine::LocalEngine;
use tokio::io::DuplexStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A way of serving HTTP over the streams of a tunnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Path {
    Tower,
    Axum,
    AxumServe,
    Actix,
}

/// Serve options a scenario sets; `None` keeps the default. Every path takes
/// them as one `ServeLimits` (actix also uses the header timeout as its
/// keep-alive); `axum::serve` has no shutdown deadline to apply.
#[derive(Clone, Copy, Debug, Default)]
struct Settings {
    /// How long a client may take to send its first bytes and its request
    /// head.
    header_timeout: Option<Duration>,
    /// How many connections are served at once.
    max_connections: Option<usize>,
    /// How long a graceful shutdown waits for open connections.
    shutdown_deadline: Option<Duration>,
}

impl Settings {
    fn limits(&self) -> ServeLimits {
        let mut limits = ServeLimits::default();
        if let Some(timeout) = self.header_timeout {
            limits = limits.header_read_timeout(Some(timeout));
        }
        if let Some(max) = self.max_connections {
            limits = limits.max_connections(max);
        }
        if let Some(deadline) = self.shutdown_deadline {
            limits = limits.shutdown_deadline(deadline);
        }
        limits
    }
}

/// A server running on its own task: trigger its graceful shutdown, await
/// its end.
#[derive(Debug)]
struct Server {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), String>>,
}

impl Server {
    /// Serves the streams of `acceptor` on `path` with the test app, whose
    /// `/slow` and `/never` routes report to `slow`.
    fn start<A: Accept>(path: Path, acceptor: A, slow: Slow, settings: Settings) -> Server {
        let (stop, stopped) = oneshot::channel::<()>();
        let signal = async {
            let _ = stopped.await;
        };
        let task = match path {
            Path::Tower => tokio::spawn(serve_tower(acceptor, slow, settings, signal)),
            Path::Axum => tokio::spawn(serve_axum(acceptor, slow, settings, signal)),
            Path::AxumServe => tokio::spawn(serve_axum_serve(acceptor, slow, settings, signal)),
            Path::Actix => tokio::spawn(serve_actix(acceptor, slow, settings, signal)),
        };
        Server {
            stop: Some(stop),
            task,
        }
    }

    /// Fires the graceful shutdown signal.
    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Waits for serving to end; its outcome.
    async fn finished(self) -> Result<(), String> {
        guard(self.task).await.expect("the serve task")
    }

    /// Shuts down gracefully and waits for the end.
    async fn stop(mut self) -> Result<(), String> {
        self.shutdown();
        self.finished().await
    }
}

/// What `/info` answers: `<tunnel id> <stream id> <source ip>`.
fn describe(info: &StreamInfo) -> String {
    let source = info.source_ip.map(|ip| ip.to_string()).unwrap_or_default();
    format!("{} {} {source}", info.tunnel_id, info.stream_id)
}

/// `rstream_tower::serve` with the axum test app; `/info` reads the
/// `StreamInfo` extension.
async fn serve_tower<A: Accept>(
    acceptor: A,
    slow: Slow,
    settings: Settings,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let app = app(slow).route(
        "/info",
        get(|Extension(info): Extension<StreamInfo>| async move { describe(&info) }),
    );
    rstream_tower::serve(acceptor, app)
        .limits(settings.limits())
        .with_graceful_shutdown(signal)
        .await
        .map_err(|e| e.to_string())
}

/// The axum test app; `/info` reads `ConnectInfo<TunnelAddr>`.
fn axum_app(slow: Slow) -> Router {
    app(slow).route(
        "/info",
        get(|ConnectInfo(addr): ConnectInfo<TunnelAddr>| async move { describe(addr.info()) }),
    )
}

/// `rstream_axum::serve` with the axum test app.
async fn serve_axum_serve<A: Accept>(
    acceptor: A,
    slow: Slow,
    settings: Settings,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    rstream_axum::serve(acceptor, axum_app(slow))
        .limits(settings.limits())
        .with_graceful_shutdown(signal)
        .await
        .map_err(|e| e.to_string())
}

/// `axum::serve` over a `TunnelListener` with the axum test app.
async fn serve_axum<A: Accept>(
    acceptor: A,
    slow: Slow,
    settings: Settings,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let app = axum_app(slow);
    let listener = TunnelListener::with_limits(acceptor, settings.limits());
    assert!(!listener.is_closed());
    let closed = listener.closed();
    ::axum::serve(
        listener,
        app.into_make_service_with_connect_info::<TunnelAddr>(),
    )
    .with_graceful_shutdown(async move {
        tokio::select! {
            () = signal => {}
            () = closed => {}
        }
    })
    .await
    .map_err(|e| e.to_string())
}

/// `rstream_actix::serve` with one worker and the actix test app; `/info`
/// reads `conn_data::<StreamInfo>()`.
async fn serve_actix<A: Accept>(
    acceptor: A,
    slow: Slow,
    settings: Settings,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let mut serve = rstream_actix::serve(acceptor, move || {
        App::new()
            .app_data(web::Data::new(slow.clone()))
            .route("/", web::get().to(|| async { "hello" }))
            .route(
                "/echo",
                web::post()
                    .to(|body: web::Payload| async move { HttpResponse::Ok().streaming(body) }),
            )
            .route(
                "/info",
                web::get().to(|req: HttpRequest| async move {
                    req.conn_data::<StreamInfo>()
                        .map(describe)
                        .unwrap_or_default()
                }),
            )
            .route(
                "/slow",
                web::get().to(|slow: web::Data<Slow>| async move {
                    slow.entered.notify_one();
                    slow.release.notified().await;
                    "done"
                }),
            )
            .route(
                "/never",
                web::get().to(|slow: web::Data<Slow>| async move {
                    slow.entered.notify_one();
                    std::future::pending::<()>().await;
                    "unreachable"
                }),
            )
            .route("/ws", web::get().to(actix_ws_echo))
    })
    .workers(1)
    .limits(settings.limits());
    if let Some(timeout) = settings.header_timeout {
        serve = serve.keep_alive(timeout);
    }
    serve
        .with_graceful_shutdown(signal)
        .await
        .map_err(|e| e.to_string())
}

/// WebSocket echo with actix-ws, taking messages as large as the axum app's.
async fn actix_ws_echo(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    let (response, mut session, messages) = actix_ws::handle(&req, body)?;
    let mut messages = messages.max_frame_size(1024 * 1024);
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

/// A fresh engine with a published tunnel, not served yet.
struct Setup {
    engine: LocalEngine,
    _client: Client,
    tunnel: Tunnel,
    host: String,
    slow: Slow,
}

impl Setup {
    async fn new() -> Setup {
        let engine = engine().await;
        let (client, tunnel) = published(&engine).await;
        let host = hostname(&tunnel);
        Setup {
            engine,
            _client: client,
            tunnel,
            host,
            slow: Slow::default(),
        }
    }

    /// Serves the tunnel on `path`.
    fn serve(&self, path: Path, settings: Settings) -> Server {
        Server::start(path, self.tunnel.clone(), self.slow.clone(), settings)
    }

    /// Serves the tunnel on `path` through an acceptor that counts streams.
    fn serve_counting(&self, path: Path) -> (Server, Counting<Tunnel>) {
        let counting = Counting::new(self.tunnel.clone());
        let server = Server::start(
            path,
            counting.clone(),
            self.slow.clone(),
            Settings::default(),
        );
        (server, counting)
    }

    /// An HTTP/1.1 connection through the engine's HTTP edge.
    async fn edge_h1(&self) -> SendRequest<Body> {
        guard(h1(edge(&self.engine).await)).await
    }

    /// A raw stream the engine opens to the tunnel for a client at `source`.
    async fn stream(&self, source: &str) -> DuplexStream {
        let source = source.parse().expect("an IP address");
        guard(self.engine.open_stream(&self.tunnel.id(), source))
            .await
            .expect("the engine opens a stream")
    }

    /// An HTTP/1.1 connection over a raw stream from `source`.
    async fn stream_h1(&self, source: &str) -> SendRequest<Body> {
        guard(h1(self.stream(source).await)).await
    }

    /// `GET path` for the tunnel's host.
    fn get(&self, path: &str) -> hyper::Request<Body> {
        get_req(&self.host, path)
    }

    /// A new edge connection is answered `hello`.
    async fn still_serves(&self) {
        let mut http = self.edge_h1().await;
        assert_eq!(fetch(&mut http, self.get("/")).await, ok("hello"));
    }
}

/// A `200 OK` answer with `body`.
fn ok(body: &str) -> (StatusCode, String) {
    (StatusCode::OK, body.to_owned())
}

/// The server closed the connection, at most answering `408`.
fn assert_cut(answer: &str) {
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer:?}"
    );
}

/// The scenarios, each run against one path.
mod scenario {
    use super::*;

    pub(super) async fn get(path: Path) {
        let setup = Setup::new().await;
        let server = setup.serve(path, Settings::default());
        let mut http = setup.edge_h1().await;
        assert_eq!(fetch(&mut http, setup.get("/")).await, ok("hello"));
        drop(http);
        assert_eq!(server.stop().await, Ok(()));
    }

    pub(super) async fn post_echo_10_mib(path: Path) {
        let setup = Setup::new().await;
        let server = setup.serve(path, Settings::default());
        let mut http = setup.edge_h1().await;
        // A GET first: the local edge routes on the first bytes it reads and
        // reads them as UTF-8, so a binary body read along with the first
        // head would make it answer 400 itself.
        assert_eq!(fetch(&mut http, setup.get("/")).await, ok("hello"));
        let size = 10 * 1024 * 1024;
        let post = request("POST", &setup.host, "/echo", streamed(size, 64 * 1024));
        guard(http.ready()).await.unwrap();
        let response = guard(http.send_request(post)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let back = guard(body_bytes(response)).await;
        assert_eq!(back.len(), size);
        assert!(
            back.as_ref() == pattern(size).as_slice(),
            "the echo differs"
        );
        drop(http);
        assert_eq!(server.stop().await, Ok(()));
    }

    pub(super) async fn keep_alive(path: Path) {
        let setup = Setup::new().await;
        let (server, counting) = setup.serve_counting(path);
        let mut http = setup.edge_h1().await;
        for _ in 0..100 {
            assert_eq!(fetch(&mut http, setup.get("/")).await, ok("hello"));
        }
        assert_eq!(counting.count(), 1, "one stream carries every request");
        drop(http);
        assert_eq!(server.stop().await, Ok(()));
    }

    /// HTTP/2 with prior knowledge, over a raw stream: the edge speaks
    /// HTTP/1.1 only.
    pub(super) async fn h2(path: Path) {
        let setup = Setup::new().await;
        let (server, counting) = setup.serve_counting(path);
        let http = guard(rstream_e2e::http::h2(setup.stream("127.0.0.1").await)).await;
        // Several requests at once, multiplexed on the one stream.
        let answers: Vec<_> = (0..5)
            .map(|_| {
                let mut http = http.clone();
                let request = setup.get("/");
                tokio::spawn(async move {
                    let response = http.send_request(request).await.unwrap();
                    assert_eq!(response.version(), Version::HTTP_2);
                    (response.status(), body_text(response).await)
                })
            })
            .collect();
        for answer in answers {
            assert_eq!(guard(answer).await.unwrap(), ok("hello"));
        }
        let post = request("POST", &setup.host, "/echo", streamed(300_000, 10_000));
        let response = guard(http.clone().send_request(post)).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        assert_eq!(
            guard(body_bytes(response)).await.as_ref(),
            pattern(300_000).as_slice()
        );
        assert_eq!(counting.count(), 1, "one stream carries every request");
        drop(http);
        assert_eq!(server.stop().await, Ok(()));
    }

    pub(super) async fn websocket(path: Path) {
        let setup = Setup::new().await;
        let server = setup.serve(path, Settings::default());
        guard(websocket_echo(&setup.engine, &setup.host)).await;
        assert_eq!(server.stop().await, Ok(()));
    }

    /// The handler sees the tunnel, the stream and the source IP the engine
    /// reported: loopback through the edge, any address on a raw stream.
    pub(super) async fn source_ip(path: Path) {
        let setup = Setup::new().await;
        let server = setup.serve(path, Settings::default());
        let check = |text: &str, source: &str| -> String {
            let parts: Vec<&str> = text.split(' ').collect();
            assert_eq!(parts.len(), 3, "{text:?}");
            assert_eq!(parts[0], setup.tunnel.id(), "{text:?}");
            assert!(!parts[1].is_empty(), "a stream id: {text:?}");
            assert_eq!(parts[2], source, "{text:?}");
            parts[1].to_owned()
        };

        let mut http = setup.edge_h1().await;
        let mut streams = Vec::new();
        for _ in 0..2 {
            let (status, text) = fetch(&mut http, setup.get("/info")).await;
            assert_eq!(status, StatusCode::OK);
            streams.push(check(&text, "127.0.0.1"));
        }
        assert_eq!(streams[0], streams[1], "one connection, one stream");
        drop(http);

        for source in ["203.0.113.9", "2001:db8::42"] {
            let mut http = setup.stream_h1(source).await;
            let (status, text) = fetch(&mut http, setup.get("/info")).await;
            assert_eq!(status, StatusCode::OK);
            check(&text, source);
        }
        assert_eq!(server.stop().await, Ok(()));
    }

    pub(super) async fn malformed_request(path: Path) {
        let setup = Setup::new().await;
        let server = setup.serve(path, Settings::default());
        for garbage in [
            &b"this is not HTTP\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nhost: x\r\nbad header line\r\n\r\n",
            b"\x00\x01\x02\x03\xff\xfe garbage\r\n\r\n",
        ] {
            let answer = guard(exchange(setup.stream("127.0.0.1").await, garbage)).await;
            assert!(answer.starts_with("HTTP/1.1 400"), "{answer:?}");
        }
        setup.still_serves().await;
        assert_eq!(server.stop().await, Ok(()));
    }

    /// A client that never sends a byte is cut by the header timeout (the
    /// first-byte deadline: protocol detection has no timer of its own).
    pub(super) async fn silent_client(path: Path) {
        let setup = Setup::new().await;
        let settings = Settings {
            header_timeout: Some(Duration::from_secs(1)),
            ..Settings::default()
        };
        let server = setup.serve(path, settings);
        assert_cut(&guard(exchange(setup.stream("127.0.0.1").await, b"")).await);
        setup.still_serves().await;
        assert_eq!(server.stop().await, Ok(()));
    }

    /// A client that starts a request head and never finishes it is cut by
    /// the header timeout.
    pub(super) async fn half_sent_head(path: Path) {
        let setup = Setup::new().await;
        let settings = Settings {
            header_timeout: Some(Duration::from_secs(1)),
            ..Settings::default()
        };
        let server = setup.serve(path, settings);
        let half = b"GET / HTTP/1.1\r\nhost: x\r\n";
        assert_cut(&guard(exchange(setup.stream("127.0.0.1").await, half)).await);
        setup.still_serves().await;
        assert_eq!(server.stop().await, Ok(()));
    }

    /// At the cap, the next client waits until a connection ends.
    pub(super) async fn connection_cap(path: Path) {
        let setup = Setup::new().await;
        let settings = Settings {
            max_connections: Some(1),
            ..Settings::default()
        };
        let server = setup.serve(path, settings);
        let mut first = setup.stream_h1("127.0.0.1").await;
        assert_eq!(fetch(&mut first, setup.get("/")).await, ok("hello"));

        // The first connection stays open: the second one is not served.
        let source = "127.0.0.1".parse().unwrap();
        let stream = setup.engine.open_stream(&setup.tunnel.id(), source);
        let request = setup.get("/");
        let waiting = tokio::spawn(async move {
            let mut second = h1(stream.await.unwrap()).await;
            fetch(&mut second, request).await
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(!waiting.is_finished(), "served beyond the cap");

        drop(first);
        assert_eq!(guard(waiting).await.unwrap(), ok("hello"));
        assert_eq!(server.stop().await, Ok(()));
    }

    /// A graceful shutdown lets the request in flight finish, closes the
    /// idle keep-alive connection at once and stops serving. The keep-alive
    /// timeout and the shutdown deadline are far beyond the hang guard:
    /// serving must end because the connections are done.
    pub(super) async fn graceful_shutdown(path: Path) {
        let setup = Setup::new().await;
        let settings = Settings {
            header_timeout: Some(Duration::from_secs(600)),
            shutdown_deadline: Some(Duration::from_secs(600)),
            ..Settings::default()
        };
        let mut server = setup.serve(path, settings);
        let mut idle = setup.stream_h1("127.0.0.1").await;
        assert_eq!(fetch(&mut idle, setup.get("/")).await, ok("hello"));
        let mut busy = setup.stream_h1("127.0.0.1").await;
        let in_flight = tokio::spawn(busy.send_request(setup.get("/slow")));
        guard(setup.slow.entered.notified()).await;

        server.shutdown();
        // Give the server a moment to see the signal, then let the request end.
        tokio::time::sleep(Duration::from_millis(200)).await;
        setup.slow.release.notify_one();
        let response = guard(in_flight).await.unwrap().unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        // While draining, the answer asks the client to close.
        assert_eq!(
            response.headers().get("connection").map(|v| v.as_bytes()),
            Some(&b"close"[..])
        );
        assert_eq!(guard(body_text(response)).await, "done");
        assert_eq!(server.finished().await, Ok(()));

        // The idle connection was closed.
        assert!(guard(idle.send_request(setup.get("/"))).await.is_err());
        // A new client is not served any more.
        let late = tokio::time::timeout(Duration::from_millis(500), async {
            let mut http = setup.stream_h1("127.0.0.1").await;
            http.send_request(setup.get("/")).await
        })
        .await;
        assert!(!matches!(late, Ok(Ok(r)) if r.status() == StatusCode::OK));
    }

    /// A request that never finishes is cut once the shutdown deadline has
    /// passed, and serving ends.
    pub(super) async fn shutdown_deadline(path: Path) {
        let setup = Setup::new().await;
        let settings = Settings {
            shutdown_deadline: Some(Duration::from_millis(300)),
            ..Settings::default()
        };
        let mut server = setup.serve(path, settings);
        let mut http = setup.stream_h1("127.0.0.1").await;
        let stuck = tokio::spawn(http.send_request(setup.get("/never")));
        guard(setup.slow.entered.notified()).await;
        server.shutdown();
        assert_eq!(server.finished().await, Ok(()));
        // The aborted request fails instead of hanging.
        assert!(guard(stuck).await.unwrap().is_err());
    }

    /// Closing the tunnel ends serving, successfully.
    pub(super) async fn tunnel_close(path: Path) {
        let setup = Setup::new().await;
        let server = setup.serve(path, Settings::default());
        setup.still_serves().await;
        guard(setup.tunnel.close()).await.unwrap();
        assert_eq!(server.finished().await, Ok(()));
    }
}

/// One test per (scenario, path): `tower::<scenario>`, `axum::<scenario>`,
/// `axum_serve::<scenario>`, `actix::<scenario>`. A path's entry in braces marks that pair ignored,
/// with the reason.
macro_rules! conformance {
    ($(
        $scenario:ident {
            $(tower: $tower_gap:literal)?
            $(axum: $axum_gap:literal)?
            $(axum_serve: $axum_serve_gap:literal)?
            $(actix: $actix_gap:literal)?
        }
    )*) => {
        mod tower {
            use super::*;
            $(
                $(#[ignore = $tower_gap])?
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    scenario::$scenario(Path::Tower).await;
                }
            )*
        }
        mod axum {
            use super::*;
            $(
                $(#[ignore = $axum_gap])?
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    scenario::$scenario(Path::Axum).await;
                }
            )*
        }
        mod axum_serve {
            use super::*;
            $(
                $(#[ignore = $axum_serve_gap])?
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    scenario::$scenario(Path::AxumServe).await;
                }
            )*
        }
        mod actix {
            use super::*;
            $(
                $(#[ignore = $actix_gap])?
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    scenario::$scenario(Path::Actix).await;
                }
            )*
        }
    };
}

conformance! {
    get {}
    post_echo_10_mib {}
    keep_alive {}
    h2 {}
    websocket {}
    source_ip {}
    malformed_request {}
    silent_client {}
    half_sent_head {}
    connection_cap {}
    graceful_shutdown {}
    shutdown_deadline {
        axum: "known gap: axum::serve has no shutdown deadline (it waits for in-flight requests for ever); rstream_axum::serve has one"
    }
    tunnel_close {}
}
