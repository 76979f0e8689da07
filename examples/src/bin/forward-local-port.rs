//! User story: "I already run a web server on a local port (any language).
//! I want it published through a tunnel, like `rstream forward`, from a few
//! lines of Rust."
//!
//! ```text
//! cargo run -p rstream-examples --bin forward-local-port -- 127.0.0.1:8000
//! ```
//!
//! Without an argument it starts a tiny HTTP server on a free local port
//! first, so there is something to forward. Prints a `curl` command.

use rstream_core::TunnelOptions;
use rstream_examples::{BoxError, client_or_local_engine};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A minimal local HTTP server: one fixed answer per connection.
async fn start_demo_server() -> Result<String, BoxError> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = [0u8; 4096];
                let _ = socket.read(&mut head).await;
                let body = "Hello from a local server, forwarded by rstream!\n";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    Ok(address)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let target = match std::env::args().nth(1) {
        Some(target) => target,
        None => start_demo_server().await?,
    };
    let setup = client_or_local_engine().await?;
    let control = setup.client().connect().await?;
    let tunnel = control
        .create_tunnel(TunnelOptions::http().publish(true).name("forwarded"))
        .await?;
    println!("forwarding to {target}");
    setup.print_http_instructions(&tunnel.forwarding_address(), "/");
    tokio::select! {
        result = tunnel.forward_to(target) => result?,
        _ = tokio::signal::ctrl_c() => tunnel.close().await?,
    }
    Ok(())
}
