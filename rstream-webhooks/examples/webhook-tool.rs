//! A small command-line face of this crate, for scripts (the interop test
//! drives it from Python) and for poking at a receiver by hand.
//!
//! ```text
//! webhook-tool sign   [--secret S] [--timestamp T]                 < body
//! webhook-tool verify [--secret S] --header H [--now T] [--tolerance SECS] < body
//! webhook-tool generate-secret
//! ```
//!
//! The secret comes from `--secret` or `RSTREAM_WEBHOOK_SECRET`; timestamps
//! default to the system clock. `sign` prints the `rstream-signature` value.
//! `verify` prints the event as one JSON line (`id`, `type`, ids, `object`)
//! and exits 0, or prints the reason on stderr and exits 1. Usage errors exit
//! 2.

use std::io::Read;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rstream_webhooks::{Secret, Verifier, generate_secret, sign};

const USAGE: &str = "usage: webhook-tool sign [--secret S] [--timestamp T] < body\n       webhook-tool verify [--secret S] --header H [--now T] [--tolerance SECS] < body\n       webhook-tool generate-secret";

#[derive(Default)]
struct Args {
    secret: Option<String>,
    header: Option<String>,
    timestamp: Option<u64>,
    now: Option<u64>,
    tolerance: Option<u64>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut parsed = Args::default();
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        let value = iter
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .clone();
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag} needs a number"))
        };
        match flag.as_str() {
            "--secret" => parsed.secret = Some(value),
            "--header" => parsed.header = Some(value),
            "--timestamp" => parsed.timestamp = Some(number(&value)?),
            "--now" => parsed.now = Some(number(&value)?),
            "--tolerance" => parsed.tolerance = Some(number(&value)?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(parsed)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn secret(args: &Args) -> Result<Secret, String> {
    args.secret
        .clone()
        .or_else(|| std::env::var("RSTREAM_WEBHOOK_SECRET").ok())
        .map(Secret::new)
        .ok_or_else(|| "no secret: pass --secret or set RSTREAM_WEBHOOK_SECRET".to_owned())
}

fn body() -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    std::io::stdin()
        .read_to_end(&mut body)
        .map_err(|e| format!("cannot read the body from stdin: {e}"))?;
    Ok(body)
}

fn run(command: &str, args: &Args) -> Result<ExitCode, String> {
    match command {
        "generate-secret" => {
            println!("{}", generate_secret().expose());
            Ok(ExitCode::SUCCESS)
        }
        "sign" => {
            let header = sign(&body()?, &secret(args)?, args.timestamp.unwrap_or_else(now))
                .map_err(|e| e.to_string())?;
            println!("{header}");
            Ok(ExitCode::SUCCESS)
        }
        "verify" => {
            let header = args.header.as_deref().ok_or("verify needs --header")?;
            let mut verifier = Verifier::new(secret(args)?);
            if let Some(tolerance) = args.tolerance {
                verifier = verifier.tolerance(Duration::from_secs(tolerance));
            }
            match verifier.verify_at(header, &body()?, args.now.unwrap_or_else(now)) {
                Ok(event) => {
                    let summary = serde_json::json!({
                        "id": event.id,
                        "type": event.event_type,
                        "created_at": event.created_at,
                        "user_id": event.user_id,
                        "workspace_id": event.workspace_id,
                        "project_id": event.project_id,
                        "cluster_id": event.cluster_id,
                        "object": event.object,
                    });
                    println!("{summary}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    eprintln!("rejected ({}): {error}", error.status_code());
                    Ok(ExitCode::from(1))
                }
            }
        }
        other => Err(format!("unknown command {other}")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    match parse(rest).and_then(|parsed| run(command, &parsed)) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("webhook-tool: {message}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
