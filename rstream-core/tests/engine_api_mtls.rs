//! mTLS engine-API discovery against the local engine: a client with a
//! certificate and no token finds the API that accepts certificates at
//! `/.well-known/rstream/engine`, lists and watches through it, and gets an
//! error (no fallback) where the engine names none.

use futures_util::StreamExt;
use rstream_core::api::{EventKind, TunnelFilters, WatchOptions, WatchTransport};
use rstream_core::{Client, TunnelOptions};
use rstream_e2e::*;
use rstream_local_engine::LocalEngine;

/// A client of `engine` that authenticates with a certificate only.
fn mtls_client(engine: &LocalEngine) -> Client {
    let (cert, key) = engine.client_identity("inventory-reader").unwrap();
    Client::builder()
        .engine(engine.engine_address())
        .ca_pem(engine.ca_pem())
        .mtls_pem(cert, key)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_certificate_client_discovers_lists_and_watches() {
    let engine = LocalEngine::builder()
        .token("tok_test")
        .client_certificates(true)
        .start()
        .await
        .unwrap();
    let owner = guard(client(&engine).connect()).await.unwrap();
    let _tunnel = guard(owner.create_tunnel(TunnelOptions::new().name("seen-by-cert")))
        .await
        .unwrap();

    let api = mtls_client(&engine).engine_api().unwrap();
    let discovered = guard(api.api_url()).await.unwrap();
    assert_eq!(
        discovered.as_str(),
        format!("https://localhost:{}/api", engine.engine_addr().port())
    );
    let tunnels = guard(api.list_tunnels(&TunnelFilters::new(), None))
        .await
        .unwrap();
    assert_eq!(tunnels.len(), 1);
    assert_eq!(tunnels[0].name.as_deref(), Some("seen-by-cert"));

    for transport in [WatchTransport::Sse, WatchTransport::WebSocket] {
        let events = api.watch(WatchOptions::new().transport(transport));
        futures_util::pin_mut!(events);
        let first = guard(events.next()).await.unwrap().unwrap();
        assert_eq!(first.kind, EventKind::StateInitial);
        assert_eq!(first.initial_state().unwrap().tunnels.len(), 1);
    }

    // Without the certificate, the same API refuses.
    let anonymous = Client::builder()
        .engine(engine.engine_address())
        .ca_pem(engine.ca_pem())
        .build()
        .unwrap()
        .engine_api()
        .unwrap();
    let err = guard(anonymous.list_tunnels(&TunnelFilters::new(), None))
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
}

#[tokio::test]
async fn no_discovery_document_is_an_error_not_a_fallback() {
    let engine = engine().await;
    let other = LocalEngine::builder()
        .client_certificates(true)
        .start()
        .await
        .unwrap();
    // A certificate the engine cannot check, and no discovery served.
    let (cert, key) = other.client_identity("stranger").unwrap();
    let api = Client::builder()
        .engine(engine.engine_address())
        .ca_pem(engine.ca_pem())
        .mtls_pem(cert, key)
        .build()
        .unwrap()
        .engine_api()
        .unwrap();
    let err = guard(api.list_tunnels(&TunnelFilters::new(), None))
        .await
        .unwrap_err();
    assert!(err.http_status().is_some(), "{err}");
    assert!(guard(api.api_url()).await.is_err());
}
