//! User story: "my axum app has a WebSocket endpoint; it must work through
//! the tunnel like any other route."
//!
//! ```text
//! cargo run -p rstream-examples --bin axum-websocket
//! ```
//!
//! Connect with any WebSocket client to the printed address at `/echo`
//! (`ws://` for the local engine, `wss://` on a real one): every message
//! comes back. `GET /` answers with a short text.

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::{Router, routing::get};
use rstream_axum::TunnelListener;
use rstream_core::TunnelOptions;
use rstream_examples::{BoxError, client_or_local_engine};

async fn echo(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(|mut socket: WebSocket| async move {
        while let Some(Ok(message)) = socket.recv().await {
            if socket.send(message).await.is_err() {
                break;
            }
        }
    })
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let setup = client_or_local_engine().await?;
    let tunnel = setup
        .client()
        .tunnel(TunnelOptions::http().publish(true).name("axum-websocket"))
        .await?;
    let address = tunnel.forwarding_address();
    setup.print_http_instructions(&address, "/");
    let url = setup.http_url(&address);
    let ws = url
        .replacen("https://", "wss://", 1)
        .replacen("http://", "ws://", 1);
    println!("WebSocket echo at {ws}/echo");

    let app = Router::new()
        .route("/", get(|| async { "WebSocket echo at /echo\n" }))
        .route("/echo", get(echo));
    let listener = TunnelListener::new(tunnel);
    let tunnel_closed = listener.closed();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = tunnel_closed => {}
            }
        })
        .await?;
    Ok(())
}
