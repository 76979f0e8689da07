//! Reconnecting tunnels against the local engine's fault injection.

use std::time::Duration;

use rstream_core::{Client, Error, ReconnectPolicy, TunnelOptions, TunnelState};
use rstream_e2e::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn echo_tunnel(tunnel: rstream_core::Tunnel) {
    tokio::spawn(async move {
        while let Ok(Some(mut stream)) = tunnel.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
}

async fn wait_online(tunnel: &rstream_core::Tunnel, previous: &str) -> String {
    let mut state = tunnel.watch_state();
    guard(async {
        loop {
            if let TunnelState::Online { tunnel_id, .. } = &*state.borrow_and_update() {
                if tunnel_id != previous {
                    return tunnel_id.clone();
                }
            }
            state.changed().await.unwrap();
        }
    })
    .await
}

#[tokio::test]
async fn survives_five_control_channel_aborts() {
    let engine = engine().await;
    let client = builder(&engine)
        .heartbeat_interval(Some(Duration::from_secs(1)))
        .build()
        .unwrap();
    let tunnel = guard(client.tunnel(TunnelOptions::http().publish(true).name("sup")))
        .await
        .unwrap();
    let address = tunnel.forwarding_address();
    echo_tunnel(tunnel.clone());

    // A stream in flight across every abort.
    let TunnelState::Online { tunnel_id, .. } = tunnel.state() else {
        panic!("online")
    };
    let mut long_lived = guard(engine.open_stream(&tunnel_id, "127.0.0.1".parse().unwrap()))
        .await
        .unwrap();
    let mut current = tunnel_id;
    for round in 0..5 {
        engine.faults().abort_control_channels();
        current = wait_online(&tunnel, &current).await;
        assert_eq!(tunnel.forwarding_address(), address, "round {round}");
        for i in 0..3 {
            let mut edge = guard(engine.open_stream(&current, "127.0.0.1".parse().unwrap()))
                .await
                .unwrap();
            let data = format!("round {round} request {i}").into_bytes();
            assert_eq!(guard(echo_roundtrip(&mut edge, &data)).await, data);
        }
        let data = format!("long-lived after round {round}").into_bytes();
        assert_eq!(guard(echo_roundtrip(&mut long_lived, &data)).await, data);
    }
    guard(tunnel.close()).await.unwrap();
    assert!(matches!(tunnel.state(), TunnelState::Closed));
    assert!(guard(tunnel.accept()).await.unwrap().is_none());
}

#[tokio::test]
async fn recovers_after_liveness_loss() {
    let engine = engine().await;
    let client = builder(&engine)
        .heartbeat_interval(Some(Duration::from_secs(1)))
        .build()
        .unwrap();
    let tunnel = guard(client.tunnel(TunnelOptions::new().name("live")))
        .await
        .unwrap();
    let TunnelState::Online { tunnel_id, .. } = tunnel.state() else {
        panic!("online")
    };
    let mut state = tunnel.watch_state();
    engine.faults().pause_heartbeat_acks();
    guard(state.wait_for(|s| matches!(s, TunnelState::Reconnecting { .. })))
        .await
        .unwrap();
    if let TunnelState::Reconnecting { last_error, .. } = tunnel.state() {
        assert!(last_error.is_timeout(), "liveness expiry: {last_error}");
    }
    engine.faults().resume_heartbeat_acks();
    let new_id = wait_online(&tunnel, &tunnel_id).await;
    assert_ne!(new_id, tunnel_id);
}

#[tokio::test]
async fn wrong_token_stops_instead_of_retrying() {
    let engine = engine().await;
    let client = builder(&engine).token("tok_wrong").build().unwrap();
    let err = guard(client.tunnel(TunnelOptions::new()))
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
}

#[tokio::test(start_paused = true)]
async fn backoff_schedule_on_a_paused_clock() {
    // Nothing listens on this port: every attempt fails at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::builder()
        .engine(format!("127.0.0.1:{port}"))
        .token("tok")
        .build()
        .unwrap();
    let tunnel = client
        .tunnel_in_background(TunnelOptions::new())
        .await
        .unwrap();
    let mut state = tunnel.watch_state();
    // The first retry goes out at once (at most 25 ms of jitter), then
    // 1 s doubling to 30 s.
    let expected_bases = [0u64, 1000, 2000, 4000, 8000, 16000, 30000, 30000];
    let mut last_change = tokio::time::Instant::now();
    let mut previous_delay = Duration::ZERO;
    for (i, base) in expected_bases.iter().enumerate() {
        let (attempt, delay) = loop {
            state.changed().await.unwrap();
            if let TunnelState::Reconnecting {
                attempt,
                next_delay,
                last_error,
            } = &*state.borrow()
            {
                assert!(last_error.is_retryable(), "{last_error}");
                break (*attempt, *next_delay);
            }
        };
        let now = tokio::time::Instant::now();
        assert_eq!(attempt as usize, i + 1);
        let base = Duration::from_millis(*base);
        if i == 0 {
            assert!(delay <= Duration::from_millis(25), "first retry: {delay:?}");
        } else {
            assert!(
                delay <= base && delay >= base.mul_f64(0.8),
                "attempt {attempt}: {delay:?} vs {base:?}"
            );
        }
        // The session really waited the previous delay before this attempt.
        assert!(now - last_change >= previous_delay, "attempt {attempt}");
        last_change = now;
        previous_delay = delay;
    }
    tunnel.close().await.unwrap();
    assert!(matches!(tunnel.state(), TunnelState::Closed));
}

#[tokio::test]
async fn a_dropped_channel_is_retried_at_once() {
    let engine = engine().await;
    let client = client(&engine);
    let tunnel = guard(client.tunnel(TunnelOptions::http().publish(true).name("quick")))
        .await
        .unwrap();
    let address = tunnel.forwarding_address();
    echo_tunnel(tunnel.clone());
    let mut state = tunnel.watch_state();
    for round in 0..3 {
        let TunnelState::Online { tunnel_id, .. } = tunnel.state() else {
            panic!("online")
        };
        state.borrow_and_update();
        engine.faults().abort_control_channels();
        // The engine is up: the first attempt is planned at once, not after
        // the 1 s backoff step.
        let delay = guard(async {
            loop {
                state.changed().await.unwrap();
                if let TunnelState::Reconnecting {
                    next_delay,
                    attempt,
                    ..
                } = &*state.borrow()
                {
                    assert_eq!(*attempt, 1, "round {round}");
                    break *next_delay;
                }
            }
        })
        .await;
        assert!(
            delay <= Duration::from_millis(25),
            "round {round}: {delay:?}"
        );
        let current = wait_online(&tunnel, &tunnel_id).await;
        assert_eq!(tunnel.forwarding_address(), address, "round {round}");
        let mut edge = guard(engine.open_stream(&current, "127.0.0.1".parse().unwrap()))
            .await
            .unwrap();
        assert_eq!(guard(echo_roundtrip(&mut edge, b"back")).await, b"back");
    }
}

#[tokio::test]
async fn reconnecting_can_be_turned_off() {
    let engine = engine().await;
    let client = builder(&engine)
        .reconnect(ReconnectPolicy::never())
        .build()
        .unwrap();
    let tunnel = guard(client.tunnel(TunnelOptions::new().name("once")))
        .await
        .unwrap();
    engine.faults().abort_control_channels();
    // The loss is the application's to see: accept reports it once, then ends.
    let err = guard(tunnel.accept()).await.unwrap_err();
    assert!(err.is_retryable(), "the loss itself: {err}");
    assert!(matches!(tunnel.state(), TunnelState::Failed(_)));
    assert!(guard(tunnel.accept()).await.unwrap().is_none());
}

#[tokio::test]
async fn an_untrusted_engine_certificate_stops_the_first_connection() {
    let engine = engine().await;
    // The engine's CA is not trusted: no system root knows it.
    let client = Client::builder()
        .engine(engine.engine_address())
        .token(engine.token().unwrap())
        .build()
        .unwrap();
    let err = guard(client.tunnel(TunnelOptions::new()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::TlsRejected(_)), "{err}");
    assert!(err.to_string().contains("not trusted"), "{err}");
}

#[test]
fn invalid_reconnect_policies_are_refused_at_build() {
    let err = Client::builder()
        .engine("localhost:1")
        .reconnect(ReconnectPolicy::default().jitter(2.0))
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
}
