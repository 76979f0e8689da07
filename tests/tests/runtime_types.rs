//! The public handles are `Send + Sync` (and streams `Send + Unpin`) as the
//! docs promise, so they can cross tasks and threads.

use rstream_core::{
    Client, ControlChannel, Error, StreamInfo, SupervisedTunnel, Tunnel, TunnelOptions,
    TunnelStream,
};

fn send_sync<T: Send + Sync + 'static>() {}
fn send_unpin<T: Send + Unpin + 'static>() {}
fn io<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static>() {}
fn clone<T: Clone>() {}

#[test]
fn handles_are_send_and_sync() {
    send_sync::<Client>();
    send_sync::<ControlChannel>();
    send_sync::<Tunnel>();
    send_sync::<SupervisedTunnel>();
    send_sync::<TunnelOptions>();
    send_sync::<StreamInfo>();
    send_sync::<Error>();
    send_unpin::<TunnelStream>();
    io::<TunnelStream>();
    clone::<Client>();
    clone::<ControlChannel>();
    clone::<Tunnel>();
    clone::<SupervisedTunnel>();
}
