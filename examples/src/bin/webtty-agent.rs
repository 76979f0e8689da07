//! Serves WebTTY from this Rust process: commands sent to the published
//! tunnel run on this machine, as this process's user.
//!
//! ```text
//! cargo run -p rstream-examples --bin webtty-agent [-- --name NAME]
//! ```
//!
//! The tunnel is published with token authentication: the engine's edge
//! lets through only requests with a valid `rstream.token`, and the server
//! refuses to start on a tunnel without it. Set `RSTREAM_WEBTTY_AUTH_TOKEN`
//! to also require the server's own bearer token. With no rstream
//! configuration, a local engine runs in this process and the agent prints
//! the `webtty-exec` command that reaches it. Stops on Ctrl-C.

use rstream_core::TunnelOptions;
use rstream_examples::args::Options;
use rstream_webtty::Server;

#[tokio::main]
async fn main() -> Result<(), rstream_examples::BoxError> {
    let options = Options::parse(std::env::args().skip(1), &["name"])?;
    let name = options.get("name").unwrap_or("webtty-agent").to_owned();
    let setup = rstream_examples::client_or_local_engine().await?;

    let mut builder = Server::builder().engine_auth().label("agent", "rstream-rs");
    if let Ok(token) = std::env::var("RSTREAM_WEBTTY_AUTH_TOKEN") {
        builder = builder.bearer_token(token);
    }
    let server = builder.build()?;
    let tunnel = setup
        .client()
        .tunnel(
            server.tunnel_options(
                TunnelOptions::http()
                    .name(name.clone())
                    .publish(true)
                    .token_auth(true),
            ),
        )
        .await?;
    let address = tunnel.forwarding_address();
    println!("WebTTY agent {name} serving at {address}");
    match setup.local_engine() {
        Some(engine) => println!(
            "(local engine; from this machine: cargo run -p rstream-examples --bin webtty-exec -- \
             --url {}/ --connect-to {} --token {} -- uname -a)",
            setup.http_url(&address),
            engine.edge_addr(),
            engine.token().unwrap_or("<token>")
        ),
        None => println!("run a command: webtty-exec --server {name} -- uname -a"),
    }

    tokio::select! {
        result = server.serve(tunnel) => result?,
        _ = tokio::signal::ctrl_c() => println!("stopping"),
    }
    setup.finish().await;
    Ok(())
}
