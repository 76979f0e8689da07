//! Starts a local rstream engine (a development and test tool, never for
//! production), prints one JSON line with its addresses, and serves until
//! Ctrl-C (or SIGTERM).
//!
//! ```text
//! rstream-local-engine [--token T | --no-auth] [--engine-port N] [--edge-port N] [--proxy-endpoint]
//! ```

use std::process::ExitCode;

use rstream_local_engine::LocalEngine;

fn usage() -> ExitCode {
    eprintln!(
        "usage: rstream-local-engine [--token T | --no-auth] [--engine-port N] [--edge-port N] [--proxy-endpoint]"
    );
    ExitCode::from(2)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut builder = LocalEngine::builder();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let port = |v: Option<String>| v.and_then(|v| v.parse::<u16>().ok());
        builder = match arg.as_str() {
            "--token" => match args.next() {
                Some(t) if !t.is_empty() => builder.token(&t),
                _ => return usage(),
            },
            "--no-auth" => builder.no_auth(),
            "--engine-port" => match port(args.next()) {
                Some(p) => builder.engine_port(p),
                None => return usage(),
            },
            "--edge-port" => match port(args.next()) {
                Some(p) => builder.edge_port(p),
                None => return usage(),
            },
            "--proxy-endpoint" => builder.proxy_endpoint(true),
            "-h" | "--help" => {
                usage();
                return ExitCode::SUCCESS;
            }
            _ => return usage(),
        };
    }
    let engine = match builder.start().await {
        Ok(e) => e,
        Err(e) => {
            eprintln!("rstream-local-engine: {e}");
            return ExitCode::FAILURE;
        }
    };
    let line = serde_json::json!({
        "engine": engine.engine_address(),
        "edge": engine.edge_addr().to_string(),
        "api": engine.api_url(),
        "ca_file": engine.ca_file().display().to_string(),
        "token": engine.token(),
    });
    println!("{line}");
    stopped().await;
    engine.shutdown().await;
    ExitCode::SUCCESS
}

/// Ctrl-C, or SIGTERM on Unix.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
