//! Runs a command on a WebTTY server and prints its output and exit code.
//!
//! ```text
//! cargo run -p rstream-examples --bin webtty-exec                      # self-contained demo
//! cargo run -p rstream-examples --bin webtty-exec -- --server NAME -- ls -l /
//! cargo run -p rstream-examples --bin webtty-exec -- --url wss://HOST/ -- uname -a
//! ```
//!
//! With no rstream configuration it starts a local engine and a Rust WebTTY
//! server (on a published tunnel with token authentication) in this
//! process, and runs the command (`uname -a` by default) against it.
//! With a configured engine, `--server` picks a WebTTY server from the
//! project's inventory (by name, server name or tunnel id) and `--url`
//! names one directly (`--connect-to IP:PORT` dials that address instead of
//! resolving the URL's host); the engine token (`--token`, or
//! `RSTREAM_AUTHENTICATION_TOKEN`) travels as `rstream.token`, and
//! `--bearer` (or `RSTREAM_WEBTTY_AUTH_TOKEN`) adds a server's own bearer
//! token. The example exits with the remote command's exit code.

use rstream_core::TunnelOptions;
use rstream_core::api::TunnelFilters;
use rstream_examples::args::Options;
use rstream_webtty::{CommandOptions, DiscoveryOptions, Endpoint, Server, run_command, servers};

#[tokio::main]
async fn main() -> Result<(), rstream_examples::BoxError> {
    let mut argv: Vec<String> = std::env::args().skip(1).collect();
    let command: Vec<String> = match argv.iter().position(|a| a == "--") {
        Some(at) => argv.split_off(at).into_iter().skip(1).collect(),
        None => Vec::new(),
    };
    let command = if command.is_empty() {
        vec!["uname".to_owned(), "-a".to_owned()]
    } else {
        command
    };
    let options = Options::parse(argv, &["server", "url", "token", "bearer", "connect-to"])?;
    let bearer = options
        .get("bearer")
        .map(str::to_owned)
        .or_else(|| std::env::var("RSTREAM_WEBTTY_AUTH_TOKEN").ok());

    if let Some(url) = options.get("url") {
        // A server named by its URL: no rstream client needed.
        let mut endpoint = Endpoint::url(url)?;
        if let Some(token) = options
            .get("token")
            .map(str::to_owned)
            .or_else(engine_token)
        {
            endpoint = endpoint.token(&token);
        }
        if let Some(address) = options.get("connect-to") {
            endpoint = endpoint.connect_to(
                address
                    .parse()
                    .map_err(|_| format!("--connect-to wants IP:PORT, not {address:?}"))?,
            );
        }
        if let Some(bearer) = bearer {
            endpoint = endpoint.bearer(bearer);
        }
        let code = run(&endpoint, command).await?;
        std::process::exit(code);
    }

    let setup = rstream_examples::client_or_local_engine().await?;
    let client = setup.client().clone();
    let mut demo_tunnel = None;
    let mut endpoint = match (options.get("server"), setup.local_engine()) {
        (Some(name), _) => {
            let items = client
                .engine_api()?
                .list_tunnels(&TunnelFilters::new(), None)
                .await?;
            let found = servers(
                &items,
                DiscoveryOptions {
                    include_private: true,
                },
            );
            let matching: Vec<_> = found
                .iter()
                .filter(|s| {
                    [
                        Some(&s.target),
                        Some(&s.tunnel_id),
                        s.tunnel_name.as_ref(),
                        s.server_name.as_ref(),
                    ]
                    .contains(&Some(&name.to_owned()))
                })
                .collect();
            let server = match matching.as_slice() {
                [one] => *one,
                [] => return Err(format!("no online WebTTY server is named {name:?}").into()),
                _ => {
                    return Err(format!(
                        "several WebTTY servers match {name:?}; use the tunnel id"
                    )
                    .into());
                }
            };
            println!("WebTTY server {} ({})", server.target, server.rstream_url);
            let endpoint = Endpoint::for_server(server, &client)?;
            match (
                server.publish,
                options
                    .get("token")
                    .map(str::to_owned)
                    .or_else(engine_token),
            ) {
                (true, Some(token)) => endpoint.token(&token),
                _ => endpoint,
            }
        }
        (None, Some(engine)) => {
            // The self-contained demo: a Rust WebTTY server on this machine,
            // reached through the local engine's edge.
            let server = Server::builder().engine_auth().build()?;
            let tunnel = client
                .tunnel(
                    server.tunnel_options(
                        TunnelOptions::http()
                            .name("webtty-demo")
                            .publish(true)
                            .token_auth(true),
                    ),
                )
                .await?;
            let hostname = tunnel.info().and_then(|i| i.hostname).unwrap_or_default();
            println!("serving WebTTY on {}", tunnel.forwarding_address());
            let serving = tunnel.clone();
            demo_tunnel = Some((
                tunnel,
                tokio::spawn(async move { server.serve(serving).await }),
            ));
            let token = engine.token().unwrap_or_default().to_owned();
            Endpoint::url(format!("ws://{hostname}/"))?
                .connect_to(engine.edge_addr())
                .token(&token)
        }
        (None, None) => {
            return Err("give --server NAME (from the inventory) or --url URL".into());
        }
    };
    if let Some(bearer) = bearer {
        endpoint = endpoint.bearer(bearer);
    }

    let code = run(&endpoint, command).await?;
    if let Some((tunnel, serving)) = demo_tunnel {
        tunnel.close().await?;
        serving.await??;
    }
    setup.finish().await;
    std::process::exit(code);
}

/// Runs `command`, prints its output and exit code, and returns the exit
/// code for this process.
async fn run(endpoint: &Endpoint, command: Vec<String>) -> Result<i32, rstream_examples::BoxError> {
    println!("$ {}", command.join(" "));
    let output = run_command(endpoint, &CommandOptions::new(command)).await?;
    print!("{}", String::from_utf8_lossy(&output.stdout));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    println!("exit code {}", output.exit_code);
    Ok(output.exit_code.clamp(0, 255))
}

/// The configured engine token, for `rstream.token`.
fn engine_token() -> Option<String> {
    std::env::var("RSTREAM_AUTHENTICATION_TOKEN").ok()
}
