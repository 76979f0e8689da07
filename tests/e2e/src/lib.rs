//! Test support shared by every end-to-end suite of the workspace (the
//! suites in `rstream-core/tests` and in this package): a hang guard, a local
//! engine with a client for it, echo helpers, and in [`http`] the HTTP
//! clients, test app and counting acceptor of the serving suites.
//!
//! This package also holds the cross-crate suites in its `tests/` folder:
//! the serving conformance suite run against tower, axum and actix, faults,
//! load and security. It is not published.

pub mod http;

use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use rstream_core::{Client, ClientBuilder};
use rstream_local_engine::LocalEngine;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// A field of the shared key vectors
/// (`rstream-core/tests/vectors/app-keys.json`): P-521 application keys,
/// their public points and a TURN APP-mode derivation, made with Python's
/// `cryptography` (`section` is `signing_key` or `turn_app`).
pub fn key_vector(section: &str, field: &str) -> String {
    static DOC: LazyLock<serde_json::Value> = LazyLock::new(|| {
        serde_json::from_str(include_str!(
            "../../../rstream-core/tests/vectors/app-keys.json"
        ))
        .expect("the key vectors parse")
    });
    match &DOC[section][field] {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

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
    engine.client_builder()
}

/// A client for `engine` whose sessions do not reconnect: the first loss of
/// a control channel ends it and its tunnels, to see failures surface.
pub fn client_without_reconnect(engine: &LocalEngine) -> Client {
    builder(engine)
        .reconnect(rstream_core::ReconnectPolicy::never())
        .build()
        .expect("client builds")
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
