//! The control channel against the local engine: open, authentication,
//! heartbeats and liveness, faults, close.

use std::time::Duration;

use rstream_core::{Error, ReconnectPolicy, TunnelOptions};
use rstream_e2e::*;

#[tokio::test]
async fn connect_reports_who_we_are() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    assert!(!control.client_id().is_empty());
    assert!(
        control.heartbeat().is_some(),
        "liveness negotiated by default"
    );
    let details = engine.client_details();
    let ours = details.last().expect("the engine saw our details");
    assert_eq!(ours.agent.as_deref(), Some("rstream-rust-runtime"));
    assert_eq!(ours.channel.as_deref(), Some("sdk"));
    assert_eq!(ours.version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(ours.protocol_version.as_deref(), Some("1.4.5"));
    assert_eq!(ours.token.as_deref(), Some("tok_test"));
    assert_eq!(ours.os.as_deref(), Some(std::env::consts::OS));
    guard(control.close()).await.unwrap();
    assert!(control.is_closed());
    guard(control.closed()).await.unwrap();
}

#[tokio::test]
async fn wrong_token_is_engine_error_1000() {
    let engine = engine().await;
    let client = builder(&engine).token("tok_wrong").build().unwrap();
    let err = guard(client.connect()).await.unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    assert!(!err.is_retryable());
    assert!(!err.to_string().contains("tok_wrong"), "{err}");
}

#[tokio::test]
async fn heartbeats_keep_the_channel_up() {
    let engine = engine().await;
    let client = builder(&engine)
        .heartbeat_interval(Some(Duration::from_secs(1)))
        .build()
        .unwrap();
    let control = guard(client.connect()).await.unwrap();
    let liveness = control.heartbeat().unwrap();
    assert_eq!(liveness.interval, Duration::from_secs(1));
    assert!(liveness.timeout >= Duration::from_secs(1));
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert!(!control.is_closed(), "acks were accepted for 3.5 s");
    guard(control.close()).await.unwrap();
}

#[tokio::test]
async fn liveness_loss_fails_the_channel_and_accept_reports_it() {
    let engine = engine().await;
    // Failures surfaced instead of reconnecting, to see the channel's own.
    let client = builder(&engine)
        .heartbeat_interval(Some(Duration::from_secs(1)))
        .reconnect(ReconnectPolicy::never())
        .build()
        .unwrap();
    let control = guard(client.connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap();
    engine.faults().pause_heartbeat_acks();
    let err = guard(control.closed()).await.unwrap_err();
    assert!(err.is_timeout(), "liveness expiry is a timeout: {err}");
    assert!(err.is_retryable());
    let accept_err = guard(tunnel.accept()).await.unwrap_err();
    assert!(accept_err.is_timeout(), "{accept_err}");
    // The failure is reported once; then the tunnel is simply finished, so a
    // server loop that retries "retryable" errors still ends.
    assert!(guard(tunnel.accept()).await.unwrap().is_none());
    assert!(guard(tunnel.accept()).await.unwrap().is_none());
}

async fn fails_with_protocol_error(inject: impl FnOnce(&rstream_local_engine::LocalEngine)) {
    let engine = engine().await;
    let control = guard(client_without_reconnect(&engine).connect())
        .await
        .unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap();
    inject(&engine);
    let err = guard(control.closed()).await.unwrap_err();
    assert!(err.is_protocol(), "{err}");
    assert!(guard(tunnel.accept()).await.unwrap_err().is_protocol());
    // A new channel works.
    let again = guard(client(&engine).connect()).await.unwrap();
    guard(again.close()).await.unwrap();
}

#[tokio::test]
async fn malformed_frame_is_a_protocol_error() {
    fails_with_protocol_error(|e| {
        e.faults().send_malformed_frame();
    })
    .await;
}

#[tokio::test]
async fn oversize_frame_is_a_protocol_error() {
    fails_with_protocol_error(|e| {
        e.faults().send_oversize_frame();
    })
    .await;
}

#[tokio::test]
async fn unknown_message_is_a_protocol_error() {
    fails_with_protocol_error(|e| {
        e.faults().send_unknown_message();
    })
    .await;
}

#[tokio::test]
async fn aborted_channel_is_a_retryable_failure() {
    let engine = engine().await;
    let control = guard(client_without_reconnect(&engine).connect())
        .await
        .unwrap();
    engine.faults().abort_control_channels();
    let err = guard(control.closed()).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let err = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap_err();
    assert!(
        err.is_retryable(),
        "creating on a failed channel reports why: {err}"
    );
}

#[tokio::test]
async fn close_ends_every_tunnel() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap();
    guard(control.close()).await.unwrap();
    assert!(guard(tunnel.accept()).await.unwrap().is_none());
    assert!(tunnel.is_closed());
    // Closing twice is fine.
    guard(control.close()).await.unwrap();
}

#[tokio::test]
async fn timeouts_are_bounded() {
    // A TCP listener that never speaks TLS: connect must give up.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let client = rstream_core::Client::builder()
        .engine(format!("localhost:{}", addr.port()))
        .token("tok")
        .connect_timeout(Duration::from_millis(300))
        .reconnect(ReconnectPolicy::never())
        .build()
        .unwrap();
    let err = guard(client.connect()).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let err = guard(client.dial("anything")).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
}

#[tokio::test]
async fn errors_do_not_leak_the_token() {
    let engine = engine().await;
    let client = builder(&engine)
        .token("tok_wrong_secret_value")
        .build()
        .unwrap();
    let text = format!("{client:?}");
    assert!(!text.contains("tok_wrong_secret_value"), "{text}");
    let err: Error = guard(client.connect()).await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains("tok_wrong_secret_value"));
}
