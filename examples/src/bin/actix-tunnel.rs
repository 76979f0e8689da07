//! User story: "I have an actix-web app. I want it on a public HTTPS address
//! without opening a port or running a reverse proxy: the tunnel hands
//! connections straight to my `App`, with the factory I already give
//! `HttpServer::new`."
//!
//! ```text
//! cargo run -p rstream-examples --bin actix-tunnel
//! ```
//!
//! With an rstream engine configured (`RSTREAM_ENGINE` and
//! `RSTREAM_AUTHENTICATION_TOKEN`, or a config context) it publishes on that
//! engine; otherwise it starts a local engine in-process and prints a `curl`
//! command that works on this machine. The tunnel rides over reconnects: it
//! comes back by itself after network failures or engine restarts.
//!
//! `--exit-after-first-request` stops it gracefully once one request has
//! been answered (CI uses it).

use std::sync::Arc;

use actix_web::{App, HttpRequest, web};
use rstream_actix::StreamInfo;
use rstream_core::TunnelOptions;
use rstream_examples::{BoxError, client_or_local_engine};
use tokio::sync::Notify;

async fn hello(req: HttpRequest, answered: web::Data<Notify>) -> String {
    answered.notify_one();
    let from = req.peer_addr().map_or_else(
        || "an unknown address".to_owned(),
        |addr| addr.ip().to_string(),
    );
    let stream = req
        .conn_data::<StreamInfo>()
        .map_or("?", |info| info.stream_id.as_str());
    format!(
        "Hello from actix-web, through an rstream tunnel! You came from {from} (stream {stream}).\n"
    )
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let exit_after_first_request = std::env::args().any(|a| a == "--exit-after-first-request");
    let setup = client_or_local_engine().await?;

    let tunnel = setup
        .client()
        .tunnel(TunnelOptions::http().publish(true).name("actix-tunnel"))
        .await?;
    let address = tunnel.forwarding_address();
    setup.print_http_instructions(&address, "/");

    // Created once, outside the factory: every worker shares it.
    let answered = web::Data::new(Notify::new());
    let shutdown = {
        let answered = Arc::clone(&answered);
        async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                () = answered.notified(), if exit_after_first_request => {}
            }
        }
    };
    rstream_actix::serve(tunnel, move || {
        App::new()
            .app_data(answered.clone())
            .route("/", web::get().to(hello))
    })
    .workers(2)
    .with_graceful_shutdown(shutdown)
    .await?;
    println!("stopped");
    Ok(())
}
