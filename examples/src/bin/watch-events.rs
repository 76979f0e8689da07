//! Prints live tunnel events while another task creates and closes tunnels.
//!
//! With `RSTREAM_ENGINE` set (and the usual `RSTREAM_AUTHENTICATION_TOKEN`
//! or config context), it watches that engine; otherwise it starts a local
//! engine for the demonstration and stops once it has seen the demo
//! tunnels come and go.
//!
//! ```text
//! cargo run -p rstream-examples --bin watch-events
//! ```

use std::time::Duration;

use futures_util::StreamExt;
use rstream_core::api::{EventKind, TunnelFilters, WatchOptions};
use rstream_core::{Client, TunnelOptions};
use rstream_local_engine::LocalEngine;

/// How many tunnels the demo task creates and closes.
const DEMO_TUNNELS: usize = 3;

#[tokio::main]
async fn main() -> Result<(), rstream_examples::BoxError> {
    let (client, local) = if std::env::var_os("RSTREAM_ENGINE").is_some() {
        (Client::from_env()?, None)
    } else {
        let engine = LocalEngine::builder().token("tok_example").start().await?;
        println!("started a local engine at {}", engine.engine_address());
        (engine.client_builder().build()?, Some(engine))
    };

    let api = client.engine_api()?;
    let events = api.watch(WatchOptions::new().tunnels(TunnelFilters::new()));
    futures_util::pin_mut!(events);

    // Wait for the watch to be live before the demo starts.
    match events.next().await {
        Some(Ok(first)) => match first.initial_state() {
            Some(state) => println!("watching: {} tunnel(s) live", state.tunnels.len()),
            None => println!("{}", first.kind),
        },
        Some(Err(error)) => return Err(error.into()),
        None => return Ok(()),
    }

    let demo = tokio::spawn(async move {
        let control = client.connect().await?;
        for i in 0..DEMO_TUNNELS {
            let tunnel = control
                .create_tunnel(TunnelOptions::new().name(format!("demo-{i}")))
                .await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
            tunnel.close().await?;
        }
        control.close().await
    });

    let mut seen = 0;
    loop {
        let event = tokio::select! {
            event = events.next() => event,
            _ = tokio::signal::ctrl_c() => break,
        };
        let Some(event) = event else { break };
        let event = event?;
        match event.tunnel() {
            Some(tunnel) => println!(
                "{:<15} {} ({})",
                event.kind,
                tunnel.name.as_deref().unwrap_or("-"),
                tunnel.id.as_deref().unwrap_or("-"),
            ),
            None => println!("{}", event.kind),
        }
        if event.kind == EventKind::StateInitial {
            println!("(re)connected: the state above replaces what was known");
        }
        if matches!(
            event.kind,
            EventKind::TunnelCreated | EventKind::TunnelDeleted
        ) {
            seen += 1;
        }
        if local.is_some() && seen == 2 * DEMO_TUNNELS {
            break;
        }
    }
    demo.await??;
    if let Some(engine) = local {
        engine.shutdown().await;
    }
    Ok(())
}
