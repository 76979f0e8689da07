//! User story: "a service of mine speaks a plain TCP protocol and must stay
//! private. Programs holding my token dial it by name and get a byte
//! stream; nothing is published."
//!
//! ```text
//! cargo run -p rstream-examples --bin private-dial
//! ```
//!
//! For a self-contained demo this program runs both sides: a private tunnel
//! named `private-echo` whose streams echo each line in upper case, and a
//! dialer that sends a few lines through `Client::dial` and prints the
//! answers.

use rstream_core::TunnelOptions;
use rstream_examples::{BoxError, client_or_local_engine};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let setup = client_or_local_engine().await?;
    let client = setup.client().clone();

    // The private side: a tunnel nobody can reach without dialing it.
    let control = client.connect().await?;
    let tunnel = control
        .create_tunnel(TunnelOptions::new().name("private-echo"))
        .await?;
    println!("private tunnel: {}", tunnel.forwarding_address());
    let server = tunnel.clone();
    tokio::spawn(async move {
        while let Ok(Some(stream)) = server.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = tokio::io::split(stream);
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply = format!("{}\n", line.to_uppercase());
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        break;
                    }
                }
            });
        }
    });

    // The dialing side: any program with a token for the same engine.
    let stream = client.dial("private-echo").await?;
    let (read, mut write) = tokio::io::split(stream);
    let mut answers = BufReader::new(read).lines();
    for line in ["hello", "private", "tunnel"] {
        write.write_all(format!("{line}\n").as_bytes()).await?;
        let answer = answers.next_line().await?.unwrap_or_default();
        println!("sent {line:?}, got {answer:?}");
    }
    tunnel.close().await?;
    control.close().await?;
    Ok(())
}
