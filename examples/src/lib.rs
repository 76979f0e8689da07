//! Shared helpers for the rstream examples.
//!
//! Every example reads the standard rstream configuration (`RSTREAM_ENGINE`,
//! `RSTREAM_AUTHENTICATION_TOKEN`, the selected context of
//! `~/.rstream/config.yaml`, ...). When none names an engine, it starts a
//! local engine in-process instead, so `cargo run` works on a fresh machine:
//! published HTTP tunnels are then reachable on this machine at
//! `http://<name>.localhost:<port>`.

use std::error::Error;

pub mod args;

use rstream_core::Client;
use rstream_core::config::{self, ConfigOptions};
use rstream_local_engine::LocalEngine;

/// The error type of the examples' `main`.
pub type BoxError = Failure;

/// Any error, for the examples' `main`s: when `main` returns it, it is
/// printed the way a user reads it (`Display`, with its causes), not as a
/// `Debug` dump.
pub struct Failure(Box<dyn Error + Send + Sync>);

impl<E: Into<Box<dyn Error + Send + Sync>>> From<E> for Failure {
    fn from(error: E) -> Self {
        Failure(error.into())
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

/// What `main` prints after `Error: `: the same as `Display`.
impl std::fmt::Debug for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// A client for the configured engine, or for a local engine started here.
#[derive(Debug)]
pub struct Setup {
    client: Client,
    engine: Option<LocalEngine>,
}

/// Starts logging (`RUST_LOG` picks what, `info` by default), then returns a
/// client for the configured engine, or for a local engine started
/// in-process when no engine is configured.
pub async fn client_or_local_engine() -> Result<Setup, BoxError> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Plain lines (no colour codes) when the output is not a terminal.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .try_init();

    let resolved = config::load(&ConfigOptions::default())?;
    if resolved.engine.is_some() {
        let client = Client::from_config(&resolved)?;
        println!("using the configured engine {}", client.engine());
        return Ok(Setup {
            client,
            engine: None,
        });
    }
    let engine = LocalEngine::builder().start().await?;
    let client = engine.client_builder().build()?;
    println!(
        "no rstream engine configured (RSTREAM_ENGINE or ~/.rstream/config.yaml): \
         started a local engine for this run at {}",
        engine.engine_address()
    );
    Ok(Setup {
        client,
        engine: Some(engine),
    })
}

impl Setup {
    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The local engine, when one was started.
    pub fn local_engine(&self) -> Option<&LocalEngine> {
        self.engine.as_ref()
    }

    /// Before exiting: with an in-process local engine, waits (a few seconds
    /// at most) until the engine has relayed every last byte to its edge
    /// clients, since the engine ends with the process.
    pub async fn finish(self) {
        if let Some(engine) = &self.engine {
            engine
                .streams_drained(std::time::Duration::from_secs(5))
                .await;
            engine.shutdown().await;
        }
    }

    /// A URL that reaches, from this machine, the published http tunnel at
    /// `forwarding_address` (`https://HOST[:PORT]`): the address itself on a
    /// real engine, the local engine's plain-HTTP edge otherwise.
    pub fn http_url(&self, forwarding_address: &str) -> String {
        match &self.engine {
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

    /// Prints where the published http tunnel at `forwarding_address` is and
    /// a `curl` command for `path` that works on this machine.
    pub fn print_http_instructions(&self, forwarding_address: &str, path: &str) {
        println!("forwarding address: {forwarding_address}");
        if self.engine.is_some() {
            println!("(the local engine's edge speaks plain HTTP on this machine only)");
        }
        println!("try it:");
        println!("curl {}{path}", self.http_url(forwarding_address));
    }
}
