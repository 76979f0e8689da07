//! Security, end to end: secrets never leak into Debug, Display, errors or
//! logs; stored credentials never reach an engine given by override; an
//! engine with an unknown certificate authority is refused.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use rstream_core::config::{ConfigOptions, resolve};
use rstream_core::{Client, DialOptions, TunnelOptions};
use rstream_e2e::{builder, echo_roundtrip, engine, guard, spawn_echo};

const TOKEN: &str = "tok_test";

/// Collects everything the tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Runs a whole session (connect, tunnel, accepted and dialed streams, a
/// refused token) with every log level on, and checks that neither the
/// agent token nor a stream secret shows up in the logs or in the `Debug`
/// and `Display` of what the application holds.
// A current-thread runtime: every task runs on this thread, under the
// subscriber installed below.
#[tokio::test(flavor = "current_thread")]
async fn secrets_stay_out_of_logs_debug_and_errors() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let engine = engine().await;
    let client = builder(&engine).build().unwrap();
    let control = guard(client.connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new().name("secret-keeper")))
        .await
        .unwrap();
    spawn_echo(tunnel.clone());
    let mut edge = guard(engine.open_stream(&tunnel.id(), "127.0.0.1".parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(guard(echo_roundtrip(&mut edge, b"one")).await, b"one");
    let mut dialed = guard(client.dial_with("secret-keeper", DialOptions::new().zero_rtt(false)))
        .await
        .unwrap();
    assert_eq!(guard(echo_roundtrip(&mut dialed, b"two")).await, b"two");
    let refused = builder(&engine).token("tok_wrong_secret").build().unwrap();
    let err = guard(refused.connect()).await.unwrap_err();

    let mut secrets: Vec<String> = engine.proxy_req_tokens();
    assert!(!secrets.is_empty(), "the engine saw stream secrets");
    secrets.push(TOKEN.to_owned());
    secrets.push("tok_wrong_secret".to_owned());

    let shown = [
        format!("{client:?}"),
        format!("{control:?}"),
        format!("{tunnel:?}"),
        format!("{dialed:?}"),
        format!("{err:?}"),
        format!("{err}"),
        format!("{:?}", builder(&engine)),
    ];
    guard(control.close()).await.unwrap();
    let logs = captured.text();
    assert!(!logs.is_empty(), "trace logs were captured");
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret is in the logs");
        for text in &shown {
            assert!(!text.contains(secret.as_str()), "a secret is shown: {text}");
        }
    }
}

/// A token stored in the config file is never sent to an engine named by
/// an override: resolution refuses, and the engine sees no client at all.
#[tokio::test]
async fn stored_token_never_reaches_an_overridden_engine() {
    let engine = engine().await;
    let file = format!(
        "version: 1\ndefaults:\n  context:\n    name: stored\ncontexts:\n  - name: stored\n    engine: engine.example.com\n    auth:\n      token:\n        storage:\n          kind: inline\n          value: {TOKEN}\n"
    );
    let options = ConfigOptions {
        engine: Some(engine.engine_address()),
        ..ConfigOptions::default()
    };
    // The same file without the override resolves, with the stored token.
    let stored = resolve(
        &ConfigOptions::default(),
        &HashMap::new(),
        Some(&file),
        1_700_000_000,
    )
    .expect("the file alone resolves");
    assert!(format!("{stored:?}").contains("engine.example.com"));
    let err = resolve(&options, &HashMap::new(), Some(&file), 1_700_000_000).unwrap_err();
    assert!(!err.to_string().contains(TOKEN), "{err}");
    // Through the environment too.
    let env = HashMap::from([("RSTREAM_ENGINE".to_owned(), engine.engine_address())]);
    assert!(resolve(&ConfigOptions::default(), &env, Some(&file), 1_700_000_000).is_err());
    assert!(
        engine.client_details().is_empty(),
        "nothing reached the engine"
    );
}

/// Without the engine's CA, the handshake fails and says why; with the CA,
/// or only with the explicit insecure switch, it succeeds.
#[tokio::test]
async fn unknown_certificate_authority_is_refused() {
    let engine = engine().await;
    let stranger = Client::builder()
        .engine(engine.engine_address())
        .token(TOKEN)
        .build()
        .unwrap();
    let err = guard(stranger.connect()).await.unwrap_err();
    let text = err.to_string().to_lowercase();
    assert!(
        text.contains("certificate") || text.contains("issuer"),
        "{err}"
    );
    assert!(engine.client_details().is_empty());

    let insecure = Client::builder()
        .engine(engine.engine_address())
        .token(TOKEN)
        .danger_insecure_skip_verify(true)
        .build()
        .unwrap();
    guard(guard(insecure.connect()).await.unwrap().close())
        .await
        .unwrap();

    let trusted = Client::builder()
        .engine(engine.engine_address())
        .token(TOKEN)
        .ca_file(engine.ca_file())
        .build()
        .unwrap();
    guard(guard(trusted.connect()).await.unwrap().close())
        .await
        .unwrap();
}
