//! Derives TURN credentials for WebRTC locally, without any network.
//!
//! ```text
//! cargo run -p rstream-examples --bin turn-credentials -- --mode pat \
//!     --token T --project-endpoint P --token-endpoint E --cluster-domain D \
//!     [--ttl S] [--now UNIX] [--turn-port N] [--turns-port N]
//! cargo run -p rstream-examples --bin turn-credentials -- --mode app \
//!     --client-id ID --client-secret HEX --server-public-key HEX \
//!     --project-endpoint P --cluster-domain D [--ttl S] [--now UNIX] ...
//! ```
//!
//! Prints one JSON object, `{"username", "credential", "ttl", "urls"}`, and
//! exits 0; or `{"error": "..."}` and exits 1.

use std::process::ExitCode;

use rstream_core::Secret;
use rstream_core::auth::AppCredentials;
use rstream_core::turn::{self, TurnCredentials, TurnOptions};
use rstream_examples::args::Options;
use serde::Serialize;

const KNOWN: &[&str] = &[
    "mode",
    "token",
    "token-endpoint",
    "client-id",
    "client-secret",
    "server-public-key",
    "project-endpoint",
    "cluster-domain",
    "ttl",
    "now",
    "turn-port",
    "turns-port",
];

#[derive(Serialize)]
struct Output<'a> {
    username: &'a str,
    credential: &'a str,
    ttl: u32,
    urls: &'a [String],
}

fn derive(options: &Options) -> Result<TurnCredentials, String> {
    let now = match options.number::<u64>("now")? {
        Some(now) => now,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| "the clock is before 1970".to_owned())?
            .as_secs(),
    };
    let mut turn_options = TurnOptions::new(
        options.required("project-endpoint")?,
        options.required("cluster-domain")?,
        now,
    );
    if let Some(ttl) = options.number("ttl")? {
        turn_options = turn_options.ttl(ttl);
    }
    if let Some(port) = options.number("turn-port")? {
        turn_options = turn_options.turn_port(port);
    }
    if let Some(port) = options.number("turns-port")? {
        turn_options = turn_options.turns_port(port);
    }
    let app_only = ["client-id", "client-secret", "server-public-key"];
    let pat_only = ["token", "token-endpoint"];
    let derived = match options.required("mode")? {
        "pat" => {
            options.refuse(&app_only, "belongs to --mode app")?;
            let token = Secret::new(options.required("token")?);
            turn::pat_credentials(&token, options.required("token-endpoint")?, &turn_options)
        }
        "app" => {
            options.refuse(&pat_only, "belongs to --mode pat")?;
            AppCredentials::new(
                options.required("client-id")?,
                options.required("client-secret")?,
            )
            .and_then(|app| {
                turn::app_credentials(
                    &app,
                    options.get("server-public-key").unwrap_or_default(),
                    &turn_options,
                )
            })
        }
        other => return Err(format!("--mode must be pat or app, not {other:?}")),
    };
    derived.map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let result = Options::parse(std::env::args().skip(1), KNOWN).and_then(|o| derive(&o));
    match result {
        Ok(credentials) => {
            let output = Output {
                username: &credentials.username,
                credential: credentials.credential.expose(),
                ttl: credentials.ttl,
                urls: &credentials.urls,
            };
            println!("{}", serde_json::to_string(&output).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(message) => {
            println!("{}", serde_json::json!({ "error": message }));
            ExitCode::FAILURE
        }
    }
}
