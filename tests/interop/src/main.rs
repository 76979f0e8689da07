//! A small rstream peer driven by the interop scripts, so that the official
//! Python SDK can be checked against this runtime.
//!
//! It reads the standard configuration (`RSTREAM_ENGINE`,
//! `RSTREAM_AUTHENTICATION_TOKEN`, `SSL_CERT_FILE` for the engine's CA, ...).
//!
//! ```text
//! rstream-interop-peer serve-echo NAME   # private tunnel NAME echoing every stream;
//!                                        # prints "ready <tunnel id>" then serves until stdin closes
//! rstream-interop-peer dial TARGET ZERO_RTT MESSAGE
//!                                        # dials TARGET (name or id), sends MESSAGE,
//!                                        # prints what came back
//! ```

use std::process::ExitCode;

use rstream_core::{Client, TunnelOptions};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve-echo", name] => serve_echo(name).await,
        ["dial", target, zero_rtt, message] => dial(target, *zero_rtt == "true", message).await,
        _ => Err(
            "usage: rstream-interop-peer serve-echo NAME | dial TARGET true|false MESSAGE".into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type BoxError = Box<dyn std::error::Error>;

async fn serve_echo(name: &str) -> Result<(), BoxError> {
    let client = Client::from_env()?;
    let control = client.connect().await?;
    let tunnel = control
        .create_tunnel(TunnelOptions::new().name(name))
        .await?;
    println!("ready {}", tunnel.id());
    let serving = tokio::spawn({
        let tunnel = tunnel.clone();
        async move {
            while let Ok(Some(mut stream)) = tunnel.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        }
    });
    // Serve until the driving script closes our stdin.
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while lines.next_line().await?.is_some() {}
    serving.abort();
    control.close().await?;
    Ok(())
}

async fn dial(target: &str, zero_rtt: bool, message: &str) -> Result<(), BoxError> {
    let client = Client::from_env()?;
    let mut stream = client.dial_with(target, zero_rtt).await?;
    stream.write_all(message.as_bytes()).await?;
    stream.flush().await?;
    let mut back = vec![0u8; message.len()];
    stream.read_exact(&mut back).await?;
    println!("{}", String::from_utf8_lossy(&back));
    Ok(())
}
