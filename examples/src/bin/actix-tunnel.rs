//! User story: "I have an actix-web app. I want it on a public HTTPS address
//! without opening a port or running a reverse proxy: the tunnel hands
//! connections straight to my `App`, with the factory I already give
//! `HttpServer::new`."
//!
//! ```text
//! cargo run -p rstream-examples --bin actix-tunnel
//! ```
//!
//! With `RSTREAM_ENGINE` (and `RSTREAM_AUTHENTICATION_TOKEN`) set it
//! publishes on that engine; otherwise it starts a local engine in-process
//! and prints a `curl` command that works on this machine. The tunnel is
//! supervised: it comes back by itself after network failures or engine
//! restarts.
//!
//! `--exit-after-first-request` stops it gracefully once one request has
//! been answered (CI uses it).

use std::error::Error;
use std::sync::Arc;

use actix_web::{App, HttpRequest, web};
use rstream_actix::StreamInfo;
use rstream_core::{Client, TunnelOptions};
use rstream_testkit::LocalEngine;
use tokio::sync::Notify;

type BoxError = Box<dyn Error + Send + Sync>;

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

/// A client for `RSTREAM_ENGINE` when it is set, otherwise for a local
/// engine started here (kept alive by the returned handle).
async fn client_or_local_engine() -> Result<(Client, Option<LocalEngine>), BoxError> {
    if std::env::var_os("RSTREAM_ENGINE").is_some_and(|e| !e.is_empty()) {
        let client = Client::from_env()?;
        println!("using the engine named by RSTREAM_ENGINE");
        return Ok((client, None));
    }
    let engine = LocalEngine::builder().start().await?;
    let client = engine.client_builder().build()?;
    println!(
        "RSTREAM_ENGINE is not set: started a local engine for this run at {}",
        engine.engine_address()
    );
    Ok((client, Some(engine)))
}

/// A URL that reaches the published tunnel from this machine.
fn http_url(engine: Option<&LocalEngine>, forwarding_address: &str) -> String {
    match engine {
        None => forwarding_address.to_owned(),
        Some(engine) => {
            let host = forwarding_address
                .trim_start_matches("https://")
                .trim_start_matches("http://");
            let host = host.split(':').next().unwrap_or(host);
            engine.edge_url(host)
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let exit_after_first_request = std::env::args().any(|a| a == "--exit-after-first-request");
    let (client, engine) = client_or_local_engine().await?;

    let tunnel = client
        .supervise(TunnelOptions::http().publish(true).name("actix-tunnel"))
        .await?;
    let address = tunnel.forwarding_address().unwrap_or_default();
    println!("forwarding address: {address}");
    println!("try it:");
    println!("curl {}/", http_url(engine.as_ref(), &address));

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
