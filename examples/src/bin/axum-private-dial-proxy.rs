//! User story: "my public axum app calls an internal API that must never be
//! published. The internal API runs a private tunnel; my handlers reach it
//! by name over pooled keep-alive HTTP, with no VPN and no open port."
//!
//! ```text
//! cargo run -p rstream-examples --bin axum-private-dial-proxy
//! ```
//!
//! For a self-contained demo this program also runs the "internal API": a
//! private (unpublished) tunnel named `inventory-api` served by a second
//! Router. The public app proxies `GET /inventory/...` to
//! `http://inventory-api/...` through [`rstream_tower::TunnelConnector`].

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Router, routing::get};
use hyper_util::client::legacy::Client as HttpClient;
use rstream_core::TunnelOptions;
use rstream_examples::{BoxError, client_or_local_engine};
use rstream_tower::TunnelConnector;

type Http = HttpClient<TunnelConnector, Body>;

/// The public handler: forwards to the private tunnel and relays the answer.
async fn inventory(State(http): State<Http>, Path(item): Path<String>) -> Response {
    let Ok(request) =
        Request::get(format!("http://inventory-api/items/{item}")).body(Body::empty())
    else {
        return (StatusCode::BAD_REQUEST, "not a valid item name\n").into_response();
    };
    match http.request(request).await {
        Ok(response) => response.map(Body::new).into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, format!("inventory-api: {e}\n")).into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let setup = client_or_local_engine().await?;
    let client = setup.client().clone();

    // The internal API, on a private tunnel only dialers with a token reach.
    let private = client
        .tunnel(TunnelOptions::http().name("inventory-api"))
        .await?;
    let internal = Router::new().route(
        "/items/{item}",
        get(|Path(item): Path<String>| async move { format!("{item}: 42 in stock\n") }),
    );
    tokio::spawn(rstream_tower::serve(private, internal).into_future());

    // The public app, with a pooled HTTP client for private tunnels.
    let http: Http = TunnelConnector::new(client.clone()).http_client();
    let public = client
        .tunnel(TunnelOptions::http().publish(true).name("storefront"))
        .await?;
    setup.print_http_instructions(&public.forwarding_address(), "/inventory/widget");
    let app = Router::new()
        .route("/inventory/{item}", get(inventory))
        .with_state(http);
    rstream_tower::serve(public, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
