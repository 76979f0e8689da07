//! Fault injection for tests.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::DuplexStream;
use tokio::sync::oneshot;

use crate::Error;
use crate::state::{Out, Shared};

/// Switches that make the engine misbehave, from [`LocalEngine::faults`].
///
/// [`LocalEngine::faults`]: crate::LocalEngine::faults
pub struct Faults {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults").finish_non_exhaustive()
    }
}

impl Faults {
    pub(crate) fn new(shared: Arc<Shared>) -> Faults {
        Faults { shared }
    }

    /// Drops every open control channel at once, without a TLS
    /// close_notify, and forgets their tunnels (established streams stay).
    pub fn abort_control_channels(&self) {
        let channels: Vec<(u64, tokio_util::sync::CancellationToken)> = self
            .shared
            .lock()
            .channels
            .iter()
            .map(|(id, c)| (*id, c.cancel.clone()))
            .collect();
        for (id, cancel) in channels {
            self.shared.remove_channel(id);
            cancel.cancel();
        }
    }

    /// Stops acknowledging heartbeats (on every channel, new ones too).
    pub fn pause_heartbeat_acks(&self) {
        self.shared.faults().pause_acks = true;
    }

    /// Acknowledges heartbeats again, from the next one received.
    pub fn resume_heartbeat_acks(&self) {
        self.shared.faults().pause_acks = false;
    }

    /// Refuses the next `n` streams when the runtime's proxy connection
    /// arrives: a `ProxyRsp` error (zero-RTT off) or a closed connection
    /// (zero-RTT on); the edge client's stream fails.
    pub fn refuse_next_streams(&self, n: u32) {
        self.shared.faults().refuse_next = n;
    }

    /// Holds the next `n` proxy connections (matched `ProxyReq`s) open
    /// without ever answering: no `ProxyRsp`, no bytes. The stream stays
    /// announced, so a runtime that gives up on a dial and tries again gets
    /// it on the next proxy connection. (With zero-RTT off the runtime's
    /// dial times out; with zero-RTT on it gets a stream that stays silent.)
    pub fn stall_next_proxy_connections(&self, n: u32) {
        self.shared.faults().stall_next = n;
    }

    /// Waits `delay` before announcing each of the next `n` streams to the
    /// runtime.
    pub fn delay_next_streams(&self, n: u32, delay: Duration) {
        let mut faults = self.shared.faults();
        faults.delay_next = n;
        faults.delay = delay;
    }

    fn broadcast(&self, bytes: &[u8]) {
        for channel in self.shared.lock().channels.values() {
            let _ = channel.tx.send(Out::Raw(bytes.to_vec()));
        }
    }

    /// Sends every control channel a frame whose body is not protobuf.
    pub fn send_malformed_frame(&self) {
        self.broadcast(&[0, 0, 0, 3, 0xff, 0xff, 0xff]);
    }

    /// Sends every control channel a frame header announcing 65,536 bytes
    /// (one over the limit), followed by a few bytes.
    pub fn send_oversize_frame(&self) {
        let mut bytes = 65_536u32.to_be_bytes().to_vec();
        bytes.extend_from_slice(&[0u8; 16]);
        self.broadcast(&bytes);
    }

    /// Sends every control channel a well-formed frame holding no known
    /// message (only an unknown field, number 99).
    pub fn send_unknown_message(&self) {
        self.broadcast(&[0, 0, 0, 3, 0x98, 0x06, 0x01]);
    }

    /// Makes the engine write, with the next successful `OpenTunnelRsp` on
    /// any channel and in the same write, a `ProxyConnReq` for the new
    /// tunnel. The returned handle yields the edge end of that stream.
    pub fn proxy_conn_req_with_open_tunnel_rsp(&self) -> IncomingStream {
        let (tx, rx) = oneshot::channel();
        self.shared.faults().announce_with_open = Some(tx);
        IncomingStream { rx }
    }
}

/// The stream announced together with an `OpenTunnelRsp`, see
/// [`Faults::proxy_conn_req_with_open_tunnel_rsp`].
#[derive(Debug)]
pub struct IncomingStream {
    rx: oneshot::Receiver<Result<DuplexStream, Error>>,
}

impl IncomingStream {
    /// Waits for the stream's edge end.
    pub async fn recv(self) -> Result<DuplexStream, Error> {
        self.rx
            .await
            .unwrap_or_else(|_| Err(Error::Closed("the engine stopped".into())))
    }
}
