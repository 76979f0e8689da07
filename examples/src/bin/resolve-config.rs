//! User story: "my service connects to the wrong engine, or refuses to
//! start; show me what the SDK reads from this machine's configuration."
//!
//! ```text
//! cargo run -p rstream-examples --bin resolve-config
//! ```
//!
//! Resolves the standard configuration (the `RSTREAM_*` environment,
//! `RSTREAM_CONFIG` or `~/.rstream/config.yaml`, `RSTREAM_CONTEXT`) exactly
//! as `Client::from_env` does, without contacting any server, and prints one
//! JSON object on stdout:
//!
//! ```text
//! {"api_url":"https://rstream.io","ca_file":null,"engine":"engine.example.com:443",
//!  "insecure_skip_verify":false,"mtls_cert_file":null,"mtls_key_file":null,
//!  "project_endpoint":null,"region":null,"server_name":null,"token_sha256":"9f86d0..."}
//! ```
//!
//! The token appears only as its SHA-256, so the output can be pasted into
//! a bug report. When the configuration cannot be used, it prints
//! `{"error": "<why>"}` and exits with status 1.

use std::process::ExitCode;

use rstream_core::config::{self, ConfigOptions};

fn main() -> ExitCode {
    match config::load(&ConfigOptions::default()) {
        Ok(resolved) => match serde_json::to_string(&resolved.report()) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&format!("cannot encode the report: {e}")),
        },
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(message: &str) -> ExitCode {
    println!("{}", serde_json::json!({ "error": message }));
    ExitCode::FAILURE
}
