//! Load, end to end through the local engine: many concurrent streams on one
//! tunnel, many sequential streams without leaking descriptors or memory,
//! and a burst beyond the runtime's queue bounds.
//!
//! The long variant runs with `RSTREAM_LOAD_FULL=1` (20,000 sequential
//! streams instead of 2,000):
//!
//! ```sh
//! RSTREAM_LOAD_FULL=1 cargo test -p rstream-e2e --release --test load -- --nocapture
//! ```

use std::time::Duration;

use rstream_core::TunnelOptions;
use rstream_e2e::{client, echo_roundtrip, engine, guard, spawn_echo};

/// Open file descriptors of this process (Linux), if readable.
fn open_fds() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

/// Resident set size of this process in KiB (Linux), if readable.
fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_streams_on_one_tunnel() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap();
    spawn_echo(tunnel.clone());
    // Streams arrive in waves (a burst of 1,000 announcements at once is
    // refused beyond the dial queue: see the burst test) and all stay open
    // together.
    let mut open = Vec::new();
    for _ in 0..20 {
        let wave: Vec<_> = (0..50)
            .map(|_| tokio::spawn(engine.open_stream(&tunnel.id(), "127.0.0.1".parse().unwrap())))
            .collect();
        for stream in wave {
            open.push(guard(stream).await.unwrap().expect("stream opened"));
        }
    }
    assert_eq!(open.len(), 1000);
    let tasks: Vec<_> = open
        .into_iter()
        .enumerate()
        .map(|(i, mut edge)| {
            tokio::spawn(async move {
                let data = format!("stream {i}").into_bytes();
                echo_roundtrip(&mut edge, &data).await == data
            })
        })
        .collect();
    let served = tokio::time::timeout(Duration::from_secs(180), async {
        let mut served = 0;
        for task in tasks {
            if task.await.unwrap() {
                served += 1;
            }
        }
        served
    })
    .await
    .expect("all streams finished");
    assert_eq!(served, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_streams_leak_nothing() {
    let count: usize = if std::env::var_os("RSTREAM_LOAD_FULL").is_some() {
        20_000
    } else {
        2_000
    };
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap();
    spawn_echo(tunnel.clone());
    let mut fds_after_warmup = None;
    let mut rss_after_warmup = None;
    for i in 0..count {
        let mut edge = guard(engine.open_stream(&tunnel.id(), "127.0.0.1".parse().unwrap()))
            .await
            .unwrap();
        assert_eq!(guard(echo_roundtrip(&mut edge, b"seq")).await, b"seq");
        drop(edge);
        if i == 200 {
            // Let the closes settle, then take the baseline.
            tokio::time::sleep(Duration::from_millis(200)).await;
            fds_after_warmup = open_fds();
            rss_after_warmup = rss_kib();
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (fds_end, rss_end) = (open_fds(), rss_kib());
    println!(
        "{count} sequential streams: fds {fds_after_warmup:?} -> {fds_end:?}, RSS KiB {rss_after_warmup:?} -> {rss_end:?}"
    );
    if let (Some(before), Some(after)) = (fds_after_warmup, fds_end) {
        // A leak would grow with the stream count; allow a little slack for
        // streams still closing.
        assert!(after <= before + 16, "fds grew from {before} to {after}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_beyond_the_queues_is_refused_per_stream() {
    let engine = engine().await;
    let control = guard(client(&engine).connect()).await.unwrap();
    let tunnel = guard(control.create_tunnel(TunnelOptions::new()))
        .await
        .unwrap();
    // Nobody accepts yet: the tunnel's queue fills, then the dial slots and
    // their queue, and the rest must be refused one by one.
    let mut opens = Vec::new();
    for _ in 0..1000 {
        opens.push(tokio::spawn(
            engine.open_stream(&tunnel.id(), "127.0.0.1".parse().unwrap()),
        ));
    }
    let outcomes = tokio::time::timeout(Duration::from_secs(180), async {
        let mut outcomes = Vec::new();
        for open in opens {
            outcomes.push(open.await.unwrap());
        }
        outcomes
    })
    .await
    .expect("every stream was answered, one way or the other");
    let opened = outcomes.iter().filter(|o| o.is_ok()).count();
    let refused = outcomes.len() - opened;
    println!("burst of 1000: {opened} opened, {refused} refused");
    assert!(refused >= 600, "only {refused} refused");
    assert!(opened >= 1, "the queue took some");
    // The channel is still up and the tunnel serves again once the
    // application accepts.
    assert!(!control.is_closed());
    spawn_echo(tunnel.clone());
    let mut edge = guard(engine.open_stream(&tunnel.id(), "127.0.0.1".parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(guard(echo_roundtrip(&mut edge, b"after")).await, b"after");
}
