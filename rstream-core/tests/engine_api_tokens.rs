//! Watches and inventory with short-lived tokens, against the local engine
//! (which ends an event stream when the token that opened it expires):
//! a fixed token ends the watch with a typed error at its first expiry; a
//! [`TokenProvider`] keeps the watch going across expiries, over SSE and
//! WebSocket, with the token in a header or in the query.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use rstream_core::api::{EventKind, TunnelFilters, WatchEvent, WatchOptions, WatchTransport};
use rstream_core::auth::{
    AppCredentials, Scope, TokenProvider, TokenRequest, TokenResources, TunnelResource,
    TunnelScopes,
};
use rstream_core::{Error, TunnelOptions};
use rstream_e2e::*;
use rstream_local_engine::LocalEngine;
use std::sync::LazyLock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

static APP_SECRET: LazyLock<String> = LazyLock::new(|| key_vector("turn_app", "client_secret"));

/// How long each short-lived token lasts.
const TTL: Duration = Duration::from_millis(700);

/// A provider handing out a new short-lived token of `engine` per call,
/// and the number of calls.
fn short_lived(engine: &Arc<LocalEngine>) -> (TokenProvider, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let (engine, counter) = (engine.clone(), calls.clone());
    let provider = TokenProvider::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        let token = engine.issue_api_token(TTL);
        async move { Ok::<_, Error>(token) }
    });
    (provider, calls)
}

/// The next item of `events`, within the hang guard.
async fn next<S>(events: &mut S) -> Option<Result<WatchEvent, Error>>
where
    S: Stream<Item = Result<WatchEvent, Error>> + Unpin,
{
    guard(events.next()).await
}

#[tokio::test]
async fn a_fixed_short_lived_token_ends_the_watch_at_expiry() {
    let engine = engine().await;
    let api = client(&engine)
        .engine_api()
        .unwrap()
        .with_token_provider(TokenProvider::fixed(engine.issue_api_token(TTL)))
        .unwrap();
    let events = api.watch(WatchOptions::new());
    futures_util::pin_mut!(events);
    let first = next(&mut events).await.unwrap().unwrap();
    assert_eq!(first.kind, EventKind::StateInitial);
    // The engine ends the stream at expiry; the same token is refused on
    // the reconnect, and that ends the watch.
    let refused = next(&mut events).await.expect("an error").unwrap_err();
    assert!(refused.is_unauthorized(), "{refused}");
    assert!(next(&mut events).await.is_none());
}

async fn survives_expiries(options: WatchOptions) {
    let engine = Arc::new(engine().await);
    let (provider, calls) = short_lived(&engine);
    let api = client(&engine)
        .engine_api()
        .unwrap()
        .with_token_provider(provider)
        .unwrap();
    let events = api.watch(options);
    futures_util::pin_mut!(events);

    // Each connection starts with `state.initial`: three of them mean two
    // expiries lived through.
    let mut initial = 0;
    while initial < 3 {
        let event = next(&mut events).await.expect("the watch goes on").unwrap();
        if event.kind == EventKind::StateInitial {
            initial += 1;
        }
    }
    assert!(
        calls.load(Ordering::SeqCst) >= 3,
        "one token per connection"
    );

    // And events still arrive on the current connection.
    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new().name("late")))
        .await
        .unwrap();
    loop {
        let event = next(&mut events).await.expect("the watch goes on").unwrap();
        let created = event.kind == EventKind::TunnelCreated
            || (event.kind == EventKind::StateInitial
                && event
                    .initial_state()
                    .is_some_and(|s| s.tunnels.iter().any(|t| t.name.as_deref() == Some("late"))));
        if created {
            break;
        }
    }
    // Inventory requests ask the provider too.
    let before = calls.load(Ordering::SeqCst);
    let listed = guard(api.list_tunnels(&TunnelFilters::new(), None))
        .await
        .unwrap();
    assert_eq!(
        listed.first().and_then(|t| t.id.clone()),
        Some(tunnel.id().to_string())
    );
    assert_eq!(calls.load(Ordering::SeqCst), before + 1);
}

#[tokio::test]
async fn a_provider_keeps_an_sse_watch_across_expiries() {
    survives_expiries(WatchOptions::new()).await;
}

#[tokio::test]
async fn a_provider_keeps_a_websocket_watch_with_a_query_token_across_expiries() {
    survives_expiries(
        WatchOptions::new()
            .transport(WatchTransport::WebSocket)
            .query_token(true),
    )
    .await;
}

#[tokio::test]
async fn a_failing_provider_ends_the_watch_with_its_error() {
    let engine = engine().await;
    let provider =
        TokenProvider::new(|| async { Err::<String, _>(Error::config("the vault is sealed")) });
    let api = client(&engine)
        .engine_api()
        .unwrap()
        .with_token_provider(provider)
        .unwrap();
    let events = api.watch(WatchOptions::new());
    futures_util::pin_mut!(events);
    let error = next(&mut events).await.expect("an error").unwrap_err();
    assert!(error.to_string().contains("vault is sealed"), "{error}");
    assert!(next(&mut events).await.is_none());
}

/// What an HTTP server on loopback receives: the request head of the
/// first request, answered with a 401 so that the watch ends.
async fn first_request_head(options: WatchOptions) -> (String, Error, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            if tcp.read(&mut byte).await.unwrap() == 0 {
                break;
            }
            head.push(byte[0]);
        }
        let body = "{\"error\":\"Unauthorized.\"}";
        let reply = format!(
            "HTTP/1.1 401 Unauthorized\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        tcp.write_all(reply.as_bytes()).await.unwrap();
        String::from_utf8(head).unwrap()
    });
    let engine = engine().await;
    let token = engine.issue_api_token(Duration::from_secs(60));
    let api = client(&engine)
        .engine_api()
        .unwrap()
        .with_base_url(&format!("http://127.0.0.1:{port}/api"))
        .unwrap()
        .with_token_provider(TokenProvider::fixed(token.clone()))
        .unwrap();
    let events = api.watch(options);
    futures_util::pin_mut!(events);
    let error = next(&mut events).await.expect("an error").unwrap_err();
    (guard(server).await.unwrap(), error, token)
}

#[tokio::test]
async fn the_token_travels_where_the_options_say() {
    for transport in [WatchTransport::Sse, WatchTransport::WebSocket] {
        let (head, error, token) =
            first_request_head(WatchOptions::new().transport(transport).query_token(true)).await;
        let lower = head.to_ascii_lowercase();
        assert!(head.contains(&format!("rstream.token={token}")), "{head}");
        assert!(!lower.contains("\r\nauthorization:"), "{head}");
        assert!(error.is_unauthorized(), "{error}");
        assert!(!error.to_string().contains(&token), "{error}");

        let (head, _, token) = first_request_head(WatchOptions::new().transport(transport)).await;
        let lower = head.to_ascii_lowercase();
        let bearer = format!(
            "\r\nauthorization: bearer {}\r\n",
            token.to_ascii_lowercase()
        );
        assert!(lower.contains(&bearer), "{head}");
        assert!(!head.contains("rstream.token"), "{head}");
    }
}

#[tokio::test]
async fn a_token_unfit_for_a_url_is_refused_before_it_is_sent() {
    let engine = engine().await;
    for transport in [WatchTransport::Sse, WatchTransport::WebSocket] {
        let api = client(&engine)
            .engine_api()
            .unwrap()
            .with_token_provider(TokenProvider::fixed("tok_opaque_long_lived"))
            .unwrap();
        let events = api.watch(WatchOptions::new().transport(transport).query_token(true));
        futures_util::pin_mut!(events);
        let error = next(&mut events).await.expect("an error").unwrap_err();
        assert!(error.is_invalid(), "{error}");
        assert!(!error.to_string().contains("tok_opaque"), "{error}");
        assert!(next(&mut events).await.is_none());
    }
}

/// A list-only boundary over the project's tunnels, `seconds` long.
fn list_only(seconds: u32) -> TokenRequest {
    TokenRequest::new(TokenResources::tunnels(TunnelResource::scopes(
        TunnelScopes::new().list(Scope::Allowed(true)),
    )))
    .project("prj_local")
    .expires_in(seconds)
}

#[tokio::test]
async fn minted_application_tokens_are_verified_end_to_end() {
    let app = AppCredentials::new("client-1", APP_SECRET.as_str()).unwrap();
    let engine = LocalEngine::builder()
        .token("tok_test")
        .trust_app("client-1", app.public_key_sec1())
        .start()
        .await
        .unwrap();

    // The runtime connects with a minted token...
    let minted = app.mint_now(&list_only(60)).unwrap();
    let control = guard(builder(&engine).token(minted).build().unwrap().connect())
        .await
        .unwrap();
    let _tunnel = guard(control.create_tunnel(TunnelOptions::new().name("minted")))
        .await
        .unwrap();
    // ...and one signed by the same client id with another key is refused.
    let other =
        AppCredentials::new("client-1", key_vector("signing_key", "client_secret")).unwrap();
    let forged = other.mint_now(&list_only(60)).unwrap();
    let api = client(&engine).engine_api().unwrap();
    let refused = api
        .with_token_provider(TokenProvider::fixed(forged))
        .unwrap();
    let err = guard(refused.list_tunnels(&TunnelFilters::new(), None))
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");

    // A watch whose tokens are minted per connection, 2 s each, in the
    // URL: it lives through three expiries.
    let minting = api
        .with_token_provider(TokenProvider::minting(app, list_only(2)).unwrap())
        .unwrap();
    let listed = guard(minting.list_tunnels(&TunnelFilters::new(), None))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    let events = minting.watch(WatchOptions::new().query_token(true));
    futures_util::pin_mut!(events);
    let mut initial = 0;
    while initial < 4 {
        let event = next(&mut events).await.expect("the watch goes on").unwrap();
        if event.kind == EventKind::StateInitial {
            initial += 1;
        }
    }
}
