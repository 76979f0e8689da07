//! Shared set-up for the end-to-end suites: a local engine and a client for it.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::Duration;

use rstream_core::{Client, ClientBuilder};
use rstream_testkit::LocalEngine;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A hang guard: no test step may take longer than this.
pub const GUARD: Duration = Duration::from_secs(30);

/// Fails the test if `future` hangs.
pub async fn guard<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, future)
        .await
        .expect("the step did not finish within the hang guard")
}

/// A local engine with a fixed token.
pub async fn engine() -> LocalEngine {
    LocalEngine::builder()
        .token("tok_test")
        .start()
        .await
        .expect("local engine starts")
}

/// A client builder aimed at `engine`, trusting its CA.
pub fn builder(engine: &LocalEngine) -> ClientBuilder {
    Client::builder()
        .engine(engine.engine_address())
        .token(engine.token().expect("engine has a token"))
        .ca_pem(engine.ca_pem())
}

/// A client for `engine` with default settings.
pub fn client(engine: &LocalEngine) -> Client {
    builder(engine).build().expect("client builds")
}

/// Writes `data`, then reads exactly as many bytes back.
pub async fn echo_roundtrip<S: AsyncRead + AsyncWrite + Unpin>(io: &mut S, data: &[u8]) -> Vec<u8> {
    io.write_all(data).await.unwrap();
    io.flush().await.unwrap();
    let mut back = vec![0; data.len()];
    io.read_exact(&mut back).await.unwrap();
    back
}

/// Serves every stream of `tunnel` as an echo, until the tunnel ends.
pub fn spawn_echo(tunnel: rstream_core::Tunnel) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok(Some(mut stream)) = tunnel.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    })
}
