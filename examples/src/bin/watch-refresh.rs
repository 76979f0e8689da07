//! A watch that outlives its tokens: every connection takes a fresh,
//! short-lived token from a `TokenProvider`, so when one expires and the
//! engine ends the stream, the watch reconnects with the next and goes on.
//!
//! With `RSTREAM_CLIENT_ID` and `RSTREAM_CLIENT_SECRET` (application
//! credentials) and the usual engine configuration, it mints a list-only
//! token of two minutes per connection, locally, sends it in the URL as
//! the JavaScript SDK's watch does, and prints events until Ctrl-C
//! (`RSTREAM_PROJECT_ID` scopes the tokens to a project).
//!
//! Otherwise it starts a local engine, takes 2-second tokens from it, and
//! stops after living through three expiries, printing how many tokens the
//! provider handed out.
//!
//! ```text
//! cargo run -p rstream-examples --bin watch-refresh
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use rstream_core::api::{EventKind, WatchOptions};
use rstream_core::auth::{
    AppCredentials, Scope, TokenProvider, TokenRequest, TokenResources, TunnelResource,
    TunnelScopes,
};
use rstream_core::{Client, Error};
use rstream_local_engine::LocalEngine;

/// Expiries the offline demonstration lives through before it stops.
const DEMO_EXPIRIES: usize = 3;
/// The lifetime of the offline demonstration's tokens.
const DEMO_TOKEN_LIFETIME: Duration = Duration::from_secs(2);

#[tokio::main]
async fn main() -> Result<(), rstream_examples::BoxError> {
    let calls = Arc::new(AtomicUsize::new(0));
    let (client, provider, stop_after, _engine) = match AppCredentials::from_env()? {
        Some(app) => {
            let mut request = TokenRequest::new(TokenResources::tunnels(TunnelResource::scopes(
                TunnelScopes::new().list(Scope::Allowed(true)),
            )))
            .expires_in(120);
            request = match std::env::var("RSTREAM_PROJECT_ID") {
                Ok(project) if !project.trim().is_empty() => request.project(project),
                _ => request.unscoped(),
            };
            let provider = TokenProvider::minting(app, request)?;
            (Client::from_env()?, provider, None, None)
        }
        None => {
            let engine = Arc::new(LocalEngine::builder().start().await?);
            println!("started a local engine at {}", engine.engine_address());
            let (issuer, counter) = (engine.clone(), calls.clone());
            let provider = TokenProvider::new(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                let token = issuer.issue_api_token(DEMO_TOKEN_LIFETIME);
                async move { Ok::<_, Error>(token) }
            });
            let client = engine.client_builder().build()?;
            (client, provider, Some(DEMO_EXPIRIES), Some(engine))
        }
    };

    let api = client.engine_api()?.with_token_provider(provider)?;
    let events = api.watch(WatchOptions::new().query_token(true));
    futures_util::pin_mut!(events);
    let mut connections = 0;
    while let Some(event) = events.next().await {
        let event = event?;
        if event.kind == EventKind::StateInitial {
            connections += 1;
            let live = event.initial_state().map_or(0, |s| s.tunnels.len());
            println!("connection {connections}: {live} tunnel(s) live");
            if stop_after.is_some_and(|expiries| connections > expiries) {
                let tokens = calls.load(Ordering::SeqCst);
                println!(
                    "lived through {expiries} token expiries with {tokens} tokens",
                    expiries = connections - 1
                );
                return Ok(());
            }
        } else {
            println!(
                "{} {:?}",
                event.kind,
                event.tunnel().and_then(|t| t.name.clone())
            );
        }
    }
    Ok(())
}
