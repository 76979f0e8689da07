//! The engine HTTP API against the local engine: inventory with filters and
//! labels, single tunnels, health, authentication errors, and the event
//! watch (order of events, surviving an engine restart).

use std::time::Duration;

use futures_util::{Stream, StreamExt};
use rstream_core::api::{
    ClientFilters, EngineApi, EventKind, TunnelFilters, WatchEvent, WatchOptions,
};
use rstream_core::{Error, TunnelOptions};
use rstream_e2e::*;

fn api(engine: &rstream_local_engine::LocalEngine) -> EngineApi {
    client(engine)
        .engine_api()
        .expect("engine API client builds")
}

/// The next event of `events`, within the hang guard.
async fn next<S>(events: &mut S) -> WatchEvent
where
    S: Stream<Item = Result<WatchEvent, Error>> + Unpin,
{
    guard(events.next())
        .await
        .expect("the watch goes on")
        .expect("an event, not an error")
}

/// The next event about a tunnel or client, skipping keep-alive-like noise
/// (events of kinds this test does not look at).
async fn next_of<S>(events: &mut S, kinds: &[EventKind]) -> WatchEvent
where
    S: Stream<Item = Result<WatchEvent, Error>> + Unpin,
{
    loop {
        let event = next(events).await;
        if kinds.contains(&event.kind) {
            return event;
        }
    }
}

#[tokio::test]
async fn lists_tunnels_with_filters_and_labels() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let web = guard(
        control.create_tunnel(
            TunnelOptions::http()
                .name("web")
                .label("team", "payments")
                .label("tier", "front"),
        ),
    )
    .await
    .unwrap();
    let db = guard(control.create_tunnel(TunnelOptions::new().name("db").label("team", "storage")))
        .await
        .unwrap();
    let bare = guard(control.create_tunnel(TunnelOptions::new().name("bare")))
        .await
        .unwrap();
    let api = api(&engine);

    let all = guard(api.list_tunnels(&TunnelFilters::new(), None))
        .await
        .unwrap();
    let mut names: Vec<_> = all.iter().filter_map(|t| t.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["bare", "db", "web"]);
    let listed_web = all
        .iter()
        .find(|t| t.name.as_deref() == Some("web"))
        .unwrap();
    assert_eq!(listed_web.id.as_deref(), Some(web.id().as_str()));
    assert_eq!(
        listed_web.client_id.as_deref(),
        Some(control.client_id().as_str())
    );
    assert_eq!(listed_web.status.as_deref(), Some("online"));
    assert_eq!(
        listed_web.labels.get("team").map(String::as_str),
        Some("payments")
    );
    assert!(listed_web.raw.contains_key("id"));
    assert_eq!(
        listed_web.protocol.as_deref(),
        Some("http"),
        "{:?}",
        listed_web.raw
    );
    assert_eq!(
        listed_web.tunnel_type.as_deref(),
        Some("bytestream"),
        "{:?}",
        listed_web.raw
    );
    assert!(listed_web.workspace_id.is_some() && listed_web.project_id.is_some());

    let by_protocol = TunnelFilters::new().protocol("http");
    assert_eq!(
        guard(api.list_tunnels(&by_protocol, None))
            .await
            .unwrap()
            .len(),
        1
    );

    let by_name = guard(api.list_tunnels(&TunnelFilters::new().name("db"), None))
        .await
        .unwrap();
    assert_eq!(by_name.len(), 1);
    assert_eq!(by_name[0].id.as_deref(), Some(db.id().as_str()));

    // A label whose value is None matches any value of that label.
    let any_team = guard(api.list_tunnels(&TunnelFilters::new().any_label_value("team"), None))
        .await
        .unwrap();
    let mut ids: Vec<_> = any_team.iter().filter_map(|t| t.id.clone()).collect();
    ids.sort();
    let mut expected = vec![web.id().to_owned(), db.id().to_owned()];
    expected.sort();
    assert_eq!(ids, expected);

    let payments = guard(api.list_tunnels(&TunnelFilters::new().label("team", "payments"), None))
        .await
        .unwrap();
    assert_eq!(payments.len(), 1);
    assert_eq!(payments[0].id.as_deref(), Some(web.id().as_str()));

    let both = TunnelFilters::new()
        .label("team", "payments")
        .any_label_value("tier");
    assert_eq!(guard(api.list_tunnels(&both, None)).await.unwrap().len(), 1);
    let nobody = TunnelFilters::new().label("team", "nobody");
    assert!(
        guard(api.list_tunnels(&nobody, None))
            .await
            .unwrap()
            .is_empty()
    );

    let by_client = TunnelFilters::new().client_id(control.client_id());
    assert_eq!(
        guard(api.list_tunnels(&by_client, None))
            .await
            .unwrap()
            .len(),
        3
    );
    let limited = guard(api.list_tunnels(&TunnelFilters::new(), Some(2)))
        .await
        .unwrap();
    assert_eq!(limited.len(), 2);

    guard(bare.close()).await.unwrap();
    let after = guard(api.list_tunnels(&TunnelFilters::new(), None))
        .await
        .unwrap();
    assert_eq!(after.len(), 2);
    guard(control.close()).await.unwrap();
}

#[tokio::test]
async fn gets_one_tunnel_and_probes_health() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new().name("single")))
        .await
        .unwrap();
    let api = api(&engine);

    let got = guard(api.get_tunnel(&tunnel.id())).await.unwrap();
    assert_eq!(got.id.as_deref(), Some(tunnel.id().as_str()));
    assert_eq!(got.name.as_deref(), Some("single"));

    let missing = guard(api.get_tunnel("no-such-tunnel")).await.unwrap_err();
    assert_eq!(missing.http_status(), Some(404), "{missing}");
    assert!(!missing.is_unauthorized());

    let health = guard(api.health()).await.unwrap();
    assert_eq!(health.status, 200);
    let ready = guard(api.ready()).await.unwrap();
    assert_eq!(ready.status, 200);

    // The API URL the engine advertises is the one the client derives.
    let via_url = api.with_base_url(&engine.api_url()).unwrap();
    assert_eq!(
        via_url.base_url().trim_end_matches('/'),
        engine.api_url().trim_end_matches('/')
    );
    assert_eq!(guard(via_url.health()).await.unwrap().status, 200);
    guard(control.close()).await.unwrap();
}

#[tokio::test]
async fn lists_clients_with_filters() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let api = api(&engine);
    let clients = guard(api.list_clients(&ClientFilters::new(), None))
        .await
        .unwrap();
    let ours = clients
        .iter()
        .find(|c| c.id.as_deref() == Some(control.client_id().as_str()))
        .expect("our runtime is listed");
    assert_eq!(ours.agent.as_deref(), Some("rstream-rust-runtime"));
    assert_eq!(ours.protocol_version.as_deref(), Some("1.4.5"));

    let by_agent = ClientFilters::new().agent("rstream-rust-runtime");
    assert_eq!(
        guard(api.list_clients(&by_agent, None))
            .await
            .unwrap()
            .len(),
        1
    );
    let other = ClientFilters::new().agent("someone-else");
    assert!(
        guard(api.list_clients(&other, None))
            .await
            .unwrap()
            .is_empty()
    );
    let by_id = ClientFilters::new().id(control.client_id());
    assert_eq!(
        guard(api.list_clients(&by_id, Some(1)))
            .await
            .unwrap()
            .len(),
        1
    );
    guard(control.close()).await.unwrap();
}

#[tokio::test]
async fn wrong_token_is_a_typed_authentication_error() {
    let engine = engine().await;
    let api = builder(&engine)
        .token("tok_wrong")
        .build()
        .unwrap()
        .engine_api()
        .unwrap();
    let err = guard(api.list_tunnels(&TunnelFilters::new(), None))
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert_eq!(err.http_status(), Some(401));
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("tok_wrong"), "{err}");

    // A watch ends on refused credentials, with that error.
    let events = api.watch(WatchOptions::new());
    futures_util::pin_mut!(events);
    let first = guard(events.next()).await.expect("one item").unwrap_err();
    assert!(first.is_unauthorized(), "{first}");
    assert!(guard(events.next()).await.is_none(), "then the watch ends");
}

#[tokio::test]
async fn watch_receives_events_in_order() {
    let engine = engine().await;
    let api = api(&engine);
    let events = api.watch(WatchOptions::new());
    futures_util::pin_mut!(events);
    let initial = next(&mut events).await;
    assert_eq!(initial.kind, EventKind::StateInitial);
    let state = initial.initial_state().unwrap();
    assert!(state.tunnels.is_empty());

    let control = guard(client(&engine).connect()).await.unwrap();
    let created_client = next_of(&mut events, &[EventKind::ClientCreated]).await;
    assert_eq!(
        created_client.client().unwrap().id.as_deref(),
        Some(control.client_id().as_str())
    );

    let tunnel = guard(control.create_tunnel(TunnelOptions::new().name("evented")))
        .await
        .unwrap();
    let created = next_of(
        &mut events,
        &[EventKind::TunnelCreated, EventKind::TunnelDeleted],
    )
    .await;
    assert_eq!(created.kind, EventKind::TunnelCreated);
    assert_eq!(
        created.tunnel().unwrap().id.as_deref(),
        Some(tunnel.id().as_str())
    );
    assert_eq!(created.tunnel().unwrap().name.as_deref(), Some("evented"));
    assert!(created.id.is_some());

    guard(tunnel.close()).await.unwrap();
    let deleted = next_of(
        &mut events,
        &[EventKind::TunnelCreated, EventKind::TunnelDeleted],
    )
    .await;
    assert_eq!(deleted.kind, EventKind::TunnelDeleted);
    assert_eq!(
        deleted.tunnel().unwrap().id.as_deref(),
        Some(tunnel.id().as_str())
    );

    let client_id = control.client_id().to_owned();
    guard(control.close()).await.unwrap();
    let gone = next_of(&mut events, &[EventKind::ClientDeleted]).await;
    assert_eq!(
        gone.client().unwrap().id.as_deref(),
        Some(client_id.as_str())
    );
}

#[tokio::test]
async fn watch_filters_events() {
    let engine = engine().await;
    let api = api(&engine);
    let events = api.watch(WatchOptions::new().tunnels(TunnelFilters::new().label("watch", "me")));
    futures_util::pin_mut!(events);
    assert_eq!(next(&mut events).await.kind, EventKind::StateInitial);

    let control = guard(client(&engine).connect()).await.unwrap();
    let ignored = guard(control.create_tunnel(TunnelOptions::new().name("ignored")))
        .await
        .unwrap();
    let wanted =
        guard(control.create_tunnel(TunnelOptions::new().name("wanted").label("watch", "me")))
            .await
            .unwrap();
    // Only tunnel events pass the filter, and only the labelled tunnel's.
    let event = next(&mut events).await;
    assert_eq!(event.kind, EventKind::TunnelCreated, "{event:?}");
    assert_eq!(
        event.tunnel().unwrap().id.as_deref(),
        Some(wanted.id().as_str())
    );
    guard(ignored.close()).await.unwrap();
    guard(wanted.close()).await.unwrap();
    let event = next(&mut events).await;
    assert_eq!(event.kind, EventKind::TunnelDeleted, "{event:?}");
    assert_eq!(
        event.tunnel().unwrap().id.as_deref(),
        Some(wanted.id().as_str())
    );
    guard(control.close()).await.unwrap();
}

#[tokio::test]
async fn watch_survives_an_engine_restart() {
    let engine = engine().await;
    let api = api(&engine);
    let events = api.watch(WatchOptions::new().idle_timeout(Duration::from_secs(20)));
    futures_util::pin_mut!(events);
    assert_eq!(next(&mut events).await.kind, EventKind::StateInitial);

    guard(engine.restart()).await.expect("the engine restarts");

    // The watch reconnects by itself and the engine starts over with the
    // whole state.
    let resumed = next_of(&mut events, &[EventKind::StateInitial]).await;
    assert!(resumed.initial_state().unwrap().tunnels.is_empty());

    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new().name("after-restart")))
        .await
        .unwrap();
    let created = next_of(&mut events, &[EventKind::TunnelCreated]).await;
    assert_eq!(
        created.tunnel().unwrap().id.as_deref(),
        Some(tunnel.id().as_str())
    );
    guard(control.close()).await.unwrap();
}
