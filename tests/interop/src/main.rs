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
//! rstream-interop-peer resolve-config OPTIONS_JSON
//!                                        # resolves the configuration with these explicit
//!                                        # options; prints the report as JSON (with
//!                                        # mtls_inline and api_headers added), or
//!                                        # {"error": ...}; used by config_differential.py
//! ```

use std::process::ExitCode;

use rstream_core::config::{ConfigOptions, Credentials, MtlsIdentity};
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
        ["resolve-config", options] => {
            resolve_config(options);
            Ok(())
        }
        _ => Err(
            "usage: rstream-interop-peer serve-echo NAME | dial TARGET true|false MESSAGE | \
             resolve-config OPTIONS_JSON"
                .into(),
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
    let mut stream = client
        .dial_with(target, rstream_core::DialOptions::new().zero_rtt(zero_rtt))
        .await?;
    stream.write_all(message.as_bytes()).await?;
    stream.flush().await?;
    let mut back = vec![0u8; message.len()];
    stream.read_exact(&mut back).await?;
    println!("{}", String::from_utf8_lossy(&back));
    Ok(())
}

/// Resolves the configuration with the explicit options in `json` and prints
/// the outcome as one JSON object.
fn resolve_config(json: &str) {
    let outcome = options_from_json(json)
        .and_then(|options| rstream_core::config::load(&options).map_err(|e| e.to_string()));
    let value = match outcome {
        Ok(config) => {
            let mut value = serde_json::to_value(config.report()).unwrap_or_default();
            let inline = matches!(
                config.credentials,
                Credentials::Mtls(MtlsIdentity::Pem { .. })
            );
            value["mtls_inline"] = inline.into();
            value["api_proxy"] = api_proxy(&config).into();
            value["api_headers"] = config
                .api_headers
                .iter()
                .map(|(n, v)| (n.clone(), serde_json::Value::from(v.as_str())))
                .collect::<serde_json::Map<_, _>>()
                .into();
            value
        }
        Err(message) => serde_json::json!({ "error": message }),
    };
    println!("{value}");
}

/// The proxy the control-plane client uses for the API URL, if any.
fn api_proxy(config: &rstream_core::config::ResolvedConfig) -> Option<String> {
    let proxy = config.api_proxy.as_ref()?;
    let authority = config.api_url.strip_prefix("https://")?.split('/').next()?;
    let api = rstream_core::config::EngineAddress::parse(authority).ok()?;
    proxy
        .applies_to(&api.host, api.port)
        .then(|| proxy.url.clone())
}

/// `ConfigOptions` from a JSON object with the same field names.
fn options_from_json(json: &str) -> Result<ConfigOptions, String> {
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let text = |key: &str| value.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let flag = |key: &str| value.get(key).and_then(serde_json::Value::as_bool);
    Ok(ConfigOptions {
        engine: text("engine"),
        token: text("token").map(Into::into),
        mtls_cert_file: text("mtls_cert_file").map(Into::into),
        mtls_key_file: text("mtls_key_file").map(Into::into),
        ca_file: text("ca_file").map(Into::into),
        server_name: text("server_name"),
        insecure_skip_verify: flag("insecure_skip_verify"),
        api_url: text("api_url"),
        context: text("context"),
        config_file: text("config_file").map(Into::into),
        project_endpoint: text("project_endpoint"),
        region: text("region"),
        api_headers: value
            .get("api_headers")
            .and_then(|v| v.as_object())
            .map(|headers| {
                headers
                    .iter()
                    .map(|(n, v)| (n.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        no_config_file: flag("no_config_file").unwrap_or(false),
        no_token: flag("no_token").unwrap_or(false),
        require_token: flag("require_token").unwrap_or(false),
    })
}
