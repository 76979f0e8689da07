//! User story: "my service speaks raw TCP (a game server, a database, a
//! line protocol). I want it reachable on a public host and port."
//!
//! ```text
//! cargo run -p rstream-examples --bin tcp-tunnel
//! ```
//!
//! Publishes a tcp tunnel whose streams echo every line back, prefixed with
//! the client's address, and prints where to connect (`nc HOST PORT`).

use rstream_core::TunnelOptions;
use rstream_examples::{BoxError, client_or_local_engine};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let setup = client_or_local_engine().await?;
    let tunnel = setup
        .client()
        .tunnel(TunnelOptions::tcp().publish(true))
        .await?;
    let address = tunnel.forwarding_address();
    println!("forwarding address: {address}");
    let host_port = address.trim_end_matches(" (tcp)");
    if let Some((host, port)) = host_port.rsplit_once(':') {
        println!("try it:");
        println!("nc {host} {port}");
    }

    loop {
        let stream = tokio::select! {
            next = tunnel.accept() => match next? {
                Some(stream) => stream,
                None => break,
            },
            _ = tokio::signal::ctrl_c() => break,
        };
        tokio::spawn(async move {
            let from = stream
                .source_ip()
                .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
            let (read, mut write) = tokio::io::split(stream);
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let reply = format!("[{from}] {line}\n");
                if write.write_all(reply.as_bytes()).await.is_err() {
                    break;
                }
            }
        });
    }
    tunnel.close().await?;
    Ok(())
}
