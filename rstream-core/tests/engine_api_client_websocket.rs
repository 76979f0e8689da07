//! Watching over WebSocket: against the local engine (TLS, events in order,
//! restart, refused credentials), and against an in-test axum server that
//! emulates the endpoint (one JSON event per message, `state.initial` first
//! on every connection) to check the filters sent, pings and a connection
//! dropped without a close frame.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;
use rstream_core::TunnelOptions;
use rstream_core::api::{EventKind, TunnelFilters, WatchOptions, WatchTransport};
use rstream_e2e::*;
use serde_json::{Value, json};
use tokio::sync::broadcast;

const TOKEN: &str = "tok_ws";

#[derive(Clone)]
struct Emulator {
    events: broadcast::Sender<Option<Value>>,
    /// The `params` of every connection, parsed.
    params: Arc<Mutex<Vec<Value>>>,
}

fn event(kind: &str, object: Value) -> Value {
    json!({
        "id": format!("evt_{kind}"), "type": kind, "created_at": "2026-01-01T00:00:00Z",
        "user_id": "usr", "workspace_id": "wsp", "project_id": "prj", "cluster_id": "cls",
        "object": object
    })
}

async fn upgrade(
    State(emulator): State<Emulator>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
    if bearer != Some(&format!("Bearer {TOKEN}")) {
        return (StatusCode::UNAUTHORIZED, "Unauthorized.").into_response();
    }
    let params = query
        .get("params")
        .map(|p| serde_json::from_str(p).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    emulator.params.lock().unwrap().push(params);
    let events = emulator.events.subscribe();
    ws.on_upgrade(move |socket| session(socket, events))
}

/// Sends `state.initial`, then every event; `None` drops the connection.
async fn session(mut socket: WebSocket, mut events: broadcast::Receiver<Option<Value>>) {
    let initial = event("state.initial", json!({"tunnels": [], "clients": []}));
    if socket
        .send(Message::Text(initial.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    // A ping, which the client must answer without it showing as an event.
    if socket
        .send(Message::Ping(vec![1, 2, 3].into()))
        .await
        .is_err()
    {
        return;
    }
    while let Ok(next) = events.recv().await {
        let Some(event) = next else {
            return; // dropped without a close frame, like a crash
        };
        if socket
            .send(Message::Text(event.to_string().into()))
            .await
            .is_err()
        {
            return;
        }
    }
}

/// A connection that says `state.initial`, then nothing, but reads (so
/// that pings are answered).
async fn quiet_upgrade(State(emulator): State<Emulator>, ws: WebSocketUpgrade) -> Response {
    emulator.params.lock().unwrap().push(Value::Null);
    ws.on_upgrade(|mut socket| async move {
        let initial = event("state.initial", json!({"tunnels": [], "clients": []}));
        if socket
            .send(Message::Text(initial.to_string().into()))
            .await
            .is_ok()
        {
            while let Some(Ok(_)) = socket.recv().await {}
        }
    })
}

async fn serve() -> (String, Emulator) {
    let (events, _) = broadcast::channel(64);
    let emulator = Emulator {
        events,
        params: Arc::default(),
    };
    let app = Router::new()
        .route("/api/websocket", get(upgrade))
        .route("/quiet/api/websocket", get(quiet_upgrade))
        .with_state(emulator.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/api"), emulator)
}

/// Waits until `n` connections were made, so events are not sent before a
/// subscriber exists.
async fn connections(emulator: &Emulator, n: usize) {
    guard(async {
        loop {
            let made = emulator.params.lock().unwrap().len();
            if made >= n && emulator.events.receiver_count() >= 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn websocket_watch_receives_events_in_order_and_resumes() {
    let (url, emulator) = serve().await;
    let api = rstream_core::Client::builder()
        .engine("127.0.0.1:1")
        .token(TOKEN)
        .build()
        .unwrap()
        .engine_api()
        .unwrap()
        .with_base_url(&url)
        .unwrap();
    let events = api.watch(
        WatchOptions::new()
            .transport(WatchTransport::WebSocket)
            .tunnels(TunnelFilters::new().any_label_value("team")),
    );
    futures_util::pin_mut!(events);
    let first = guard(events.next()).await.unwrap().unwrap();
    assert_eq!(first.kind, EventKind::StateInitial);
    connections(&emulator, 1).await;
    assert_eq!(
        emulator.params.lock().unwrap()[0],
        json!({"tunnels": {"labels": {"team": null}}})
    );

    let t1 = json!({"id": "tun_1", "name": "one", "labels": {"team": "a"}});
    emulator
        .events
        .send(Some(event("tunnel.created", t1.clone())))
        .unwrap();
    emulator
        .events
        .send(Some(event("tunnel.deleted", t1)))
        .unwrap();
    let created = guard(events.next()).await.unwrap().unwrap();
    assert_eq!(created.kind, EventKind::TunnelCreated);
    assert_eq!(created.tunnel().unwrap().id.as_deref(), Some("tun_1"));
    assert_eq!(created.cluster_id.as_deref(), Some("cls"));
    let deleted = guard(events.next()).await.unwrap().unwrap();
    assert_eq!(deleted.kind, EventKind::TunnelDeleted);

    // The server drops the connection: the watch reconnects and starts over
    // from a fresh state.initial.
    emulator.events.send(None).unwrap();
    let resumed = guard(events.next()).await.unwrap().unwrap();
    assert_eq!(resumed.kind, EventKind::StateInitial);
    connections(&emulator, 2).await;
    {
        let params = emulator.params.lock().unwrap();
        assert_eq!(params[1], params[0], "the same filters on resume");
    }
    let t2 = json!({"id": "tun_2", "name": "two"});
    emulator
        .events
        .send(Some(event("tunnel.created", t2)))
        .unwrap();
    let created = guard(events.next()).await.unwrap().unwrap();
    assert_eq!(created.tunnel().unwrap().id.as_deref(), Some("tun_2"));
}

#[tokio::test]
async fn websocket_watch_ends_on_refused_credentials() {
    let (url, _emulator) = serve().await;
    let api = rstream_core::Client::builder()
        .engine("127.0.0.1:1")
        .token("tok_wrong")
        .build()
        .unwrap()
        .engine_api()
        .unwrap()
        .with_base_url(&url)
        .unwrap();
    let events = api.watch(WatchOptions::new().transport(WatchTransport::WebSocket));
    futures_util::pin_mut!(events);
    let err = guard(events.next()).await.unwrap().unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert!(guard(events.next()).await.is_none());
}

#[tokio::test]
async fn websocket_watch_against_the_local_engine() {
    // TLS, CA and token as the runtime uses them, through the runtime's own
    // connector.
    let engine = engine().await;
    let api = client(&engine).engine_api().unwrap();
    let events = api.watch(
        WatchOptions::new()
            .transport(WatchTransport::WebSocket)
            .tunnels(TunnelFilters::new().name("ws")),
    );
    futures_util::pin_mut!(events);
    let initial = guard(events.next()).await.unwrap().unwrap();
    assert_eq!(initial.kind, EventKind::StateInitial);

    let control = guard(client(&engine).connect()).await.unwrap();
    let _other = guard(control.create_tunnel(TunnelOptions::new().name("other")))
        .await
        .unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new().name("ws")))
        .await
        .unwrap();
    guard(tunnel.close()).await.unwrap();
    let created = guard(events.next()).await.unwrap().unwrap();
    assert_eq!(created.kind, EventKind::TunnelCreated);
    assert_eq!(
        created.tunnel().unwrap().id.as_deref(),
        Some(tunnel.id().as_str())
    );
    let deleted = guard(events.next()).await.unwrap().unwrap();
    assert_eq!(deleted.kind, EventKind::TunnelDeleted);
    assert_eq!(
        deleted.tunnel().unwrap().id.as_deref(),
        Some(tunnel.id().as_str())
    );

    // It survives an engine restart and starts over from state.initial.
    guard(engine.restart()).await.expect("the engine restarts");
    let resumed = guard(events.next()).await.unwrap().unwrap();
    assert_eq!(resumed.kind, EventKind::StateInitial);
    let control = guard(client(&engine).connect()).await.unwrap();
    let again = guard(control.create_tunnel(TunnelOptions::new().name("ws")))
        .await
        .unwrap();
    let created = guard(events.next()).await.unwrap().unwrap();
    assert_eq!(created.kind, EventKind::TunnelCreated);
    assert_eq!(
        created.tunnel().unwrap().id.as_deref(),
        Some(again.id().as_str())
    );
    guard(control.close()).await.unwrap();

    let stranger = builder(&engine)
        .token("tok_wrong")
        .build()
        .unwrap()
        .engine_api()
        .unwrap();
    let events = stranger.watch(WatchOptions::new().transport(WatchTransport::WebSocket));
    futures_util::pin_mut!(events);
    let err = guard(events.next()).await.unwrap().unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert!(guard(events.next()).await.is_none());
}

fn api_at(url: &str) -> rstream_core::api::EngineApi {
    rstream_core::Client::builder()
        .engine("127.0.0.1:1")
        .token(TOKEN)
        .build()
        .unwrap()
        .engine_api()
        .unwrap()
        .with_base_url(url)
        .unwrap()
}

#[tokio::test]
async fn a_silent_websocket_is_taken_for_dead_and_replaced() {
    // The emulator neither sends after its ping nor reads: our pings go
    // unanswered, and the idle timeout reconnects.
    let (url, emulator) = serve().await;
    let api = api_at(&url);
    let events = api.watch(
        WatchOptions::new()
            .transport(WatchTransport::WebSocket)
            .idle_timeout(Duration::from_millis(900)),
    );
    futures_util::pin_mut!(events);
    let first = guard(events.next()).await.unwrap().unwrap();
    assert_eq!(first.kind, EventKind::StateInitial);
    let again = guard(events.next()).await.unwrap().unwrap();
    assert_eq!(again.kind, EventKind::StateInitial, "a new connection");
    assert!(emulator.params.lock().unwrap().len() >= 2);
}

#[tokio::test]
async fn a_quiet_websocket_that_answers_pings_is_kept() {
    let (url, emulator) = serve().await;
    let api = api_at(&url.replace("/api", "/quiet/api"));
    let events = api.watch(
        WatchOptions::new()
            .transport(WatchTransport::WebSocket)
            .idle_timeout(Duration::from_millis(900)),
    );
    futures_util::pin_mut!(events);
    let first = guard(events.next()).await.unwrap().unwrap();
    assert_eq!(first.kind, EventKind::StateInitial);
    // Four idle timeouts of silence but for pongs: still the one connection.
    let next = tokio::time::timeout(Duration::from_millis(3600), events.next()).await;
    assert!(next.is_err(), "no event and no reconnect: {next:?}");
    assert_eq!(emulator.params.lock().unwrap().len(), 1);
}
