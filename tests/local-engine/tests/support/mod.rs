//! Helpers for the engine's own tests: raw control channels and runtime
//! roles played frame by frame.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::Duration;

use rstream_core::proto::{
    ControlChannelLiveness, OpenControlChannelReq, OpenTunnelReq, TunnelProperties,
    message::Payload, open_control_channel_rsp, open_tunnel_rsp,
};
use rstream_local_engine::LocalEngine;
use rstream_local_engine::raw::{RawConnection, details};

pub const TOKEN: &str = "tok_engine";
pub const GUARD: Duration = Duration::from_secs(30);

/// Fails the test if `future` hangs.
pub async fn guard<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, future)
        .await
        .expect("the step did not finish within the hang guard")
}

pub async fn engine() -> LocalEngine {
    LocalEngine::builder()
        .token(TOKEN)
        .start()
        .await
        .expect("engine starts")
}

/// Reads the next frame, which must be there.
pub async fn next(conn: &mut RawConnection) -> Payload {
    guard(conn.recv())
        .await
        .expect("a frame")
        .expect("not closed")
        .payload
        .expect("a known message")
}

/// Opens a control channel with `token` and an optional heartbeat interval.
pub async fn open_control(
    engine: &LocalEngine,
    token: Option<&str>,
    interval_ms: Option<u32>,
) -> (RawConnection, open_control_channel_rsp::Payload) {
    let mut conn = guard(RawConnection::connect(engine)).await.unwrap();
    conn.send(OpenControlChannelReq {
        client_details: Some(details(token)),
        liveness: interval_ms.map(|ms| ControlChannelLiveness {
            heartbeat_interval_ms: ms,
            heartbeat_timeout_ms: 0,
        }),
    })
    .await
    .unwrap();
    let Payload::OpenControlChannelRsp(rsp) = next(&mut conn).await else {
        panic!("not an open_control_channel_rsp")
    };
    (conn, rsp.payload.expect("a payload"))
}

/// A control channel that opened.
pub async fn control(engine: &LocalEngine) -> (RawConnection, open_control_channel_rsp::Ok) {
    match open_control(engine, Some(TOKEN), None).await {
        (conn, open_control_channel_rsp::Payload::Ok(ok)) => (conn, ok),
        (_, other) => panic!("refused: {other:?}"),
    }
}

/// Sends an OpenTunnelReq and returns the answer's payload.
pub async fn open_tunnel(
    conn: &mut RawConnection,
    properties: TunnelProperties,
) -> open_tunnel_rsp::Payload {
    let request_id = uuid_like();
    conn.send(OpenTunnelReq {
        request_id: request_id.clone(),
        tunnel_properties: Some(properties),
    })
    .await
    .unwrap();
    let Payload::OpenTunnelRsp(rsp) = next(conn).await else {
        panic!("not an open_tunnel_rsp")
    };
    assert_eq!(rsp.request_id, request_id);
    rsp.payload.expect("a payload")
}

/// Opens a tunnel that must be created; returns its properties.
pub async fn tunnel(conn: &mut RawConnection, properties: TunnelProperties) -> TunnelProperties {
    match open_tunnel(conn, properties).await {
        open_tunnel_rsp::Payload::TunnelProperties(p) => p,
        open_tunnel_rsp::Payload::Error(e) => panic!("refused: {e:?}"),
    }
}

pub fn uuid_like() -> String {
    uuid::Uuid::new_v4().to_string()
}
