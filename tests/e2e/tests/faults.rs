//! Faults while serving: engine restarts under continuous load, and slow
//! clients that must not hold up the others.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rstream_core::{TunnelOptions, TunnelState};
use rstream_e2e::http::*;
use rstream_e2e::*;
use tokio::io::AsyncWriteExt;

/// One `GET /` through the edge on a new connection; whether it answered
/// "hello".
async fn one_request(engine: &rstream_local_engine::LocalEngine, host: &str) -> bool {
    let Ok(io) = tokio::net::TcpStream::connect(engine.edge_addr()).await else {
        return false;
    };
    let attempt = async {
        let mut http = h1(io).await;
        let response = http.send_request(get_req(host, "/")).await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        Some(body_text(response).await == "hello")
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(10), attempt).await,
        Ok(Some(true))
    )
}

/// Waits until the tunnel is online on a tunnel id other than
/// `old`, and returns the new id.
async fn online_again(states: &mut tokio::sync::watch::Receiver<TunnelState>, old: &str) -> String {
    let state = guard(
        states.wait_for(|s| matches!(s, TunnelState::Online { tunnel_id, .. } if tunnel_id != old)),
    )
    .await
    .expect("the session is alive")
    .clone();
    match state {
        TunnelState::Online { tunnel_id, .. } => tunnel_id,
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_restarts_under_continuous_load() {
    let engine = engine().await;
    let client = client(&engine);
    let tunnel = guard(client.tunnel(TunnelOptions::http().publish(true).name("steady")))
        .await
        .unwrap();
    guard(tunnel.online()).await.unwrap();
    let address = tunnel.forwarding_address();
    let host = address
        .trim_start_matches("https://")
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    let server =
        tokio::spawn(rstream_tower::serve(tunnel.clone(), app(Slow::default())).into_future());

    // Continuous load from a few clients, counting answers and failures.
    let engine = Arc::new(engine);
    let ok = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut load = Vec::new();
    for _ in 0..4 {
        let (engine, host, ok, failed, stop) = (
            engine.clone(),
            host.clone(),
            ok.clone(),
            failed.clone(),
            stop.clone(),
        );
        load.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = stop.notified() => break,
                    answered = one_request(&engine, &host) => {
                        if answered {
                            ok.fetch_add(1, Ordering::SeqCst);
                        } else {
                            failed.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            }
        }));
    }

    let mut states = tunnel.watch_state();
    for round in 0..3 {
        let before = ok.load(Ordering::SeqCst);
        // Some load gets through before each restart.
        guard(async {
            while ok.load(Ordering::SeqCst) < before + 20 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        let old = match &*states.borrow() {
            TunnelState::Online { tunnel_id, .. } => tunnel_id.clone(),
            other => panic!("round {round}: not online before the restart: {other:?}"),
        };
        guard(engine.restart()).await.unwrap();
        online_again(&mut states, &old).await;
        // Once the tunnel is back, every request issued succeeds, at the
        // same address.
        assert_eq!(tunnel.forwarding_address(), address);
        for i in 0..20 {
            assert!(
                guard(one_request(&engine, &host)).await,
                "round {round}: request {i} after recovery failed"
            );
        }
    }
    stop.notify_waiters();
    for task in load {
        task.abort();
    }
    println!(
        "continuous load across 3 restarts: {} answered, {} failed while the engine was down",
        ok.load(Ordering::SeqCst),
        failed.load(Ordering::SeqCst)
    );
    tunnel.close().await.unwrap();
    guard(server).await.unwrap().unwrap();
}

/// Clients that send part of a request head (or nothing at all) hold
/// only their own connections: others are served meanwhile. The header
/// read timeout is set beyond the hang guard, so if slow clients blocked
/// the others, this test would hang rather than pass late.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_clients_do_not_delay_others() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::http().publish(true)))
        .await
        .unwrap();
    let host = hostname(&tunnel);
    tokio::spawn(
        rstream_tower::serve(tunnel.clone(), app(Slow::default()))
            .header_read_timeout(Some(Duration::from_secs(120)))
            .into_future(),
    );

    // Straight to the tunnel (the engine's edge reads heads itself before
    // routing, so slow clients there would never reach our server).
    let mut slow = Vec::new();
    for i in 0..50 {
        let mut io = guard(engine.open_stream(&tunnel.id(), "127.0.0.1".parse().unwrap()))
            .await
            .unwrap();
        if i % 2 == 0 {
            io.write_all(format!("GET / HTTP/1.1\r\nhost: {host}\r\nx-slow: ").as_bytes())
                .await
                .unwrap();
        }
        slow.push(io);
    }
    for _ in 0..20 {
        assert!(guard(one_request(&engine, &host)).await);
    }
    drop(slow);
}
