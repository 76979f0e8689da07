//! Taking the next stream from an [`Accept`], riding over transient errors.

use std::time::Duration;

use rstream_core::{Accept, Error, TunnelStream};

/// The first pause after a transient accept error.
const RETRY_FIRST: Duration = Duration::from_millis(50);
/// The longest pause between two attempts.
const RETRY_MAX: Duration = Duration::from_secs(1);
/// How many transient errors in a row are retried before giving up.
pub const ACCEPT_RETRIES: u32 = 6;

/// Waits for the next stream of `acceptor`, retrying transient errors.
///
/// An error for which [`Error::is_retryable`] holds is logged at `warn` and
/// retried after a short pause (50 ms, doubling up to 1 s), at most
/// [`ACCEPT_RETRIES`] times in a row; then, or at once for any other error
/// ([`Error::Closed`], bad credentials, ...), the error is returned.
/// `Ok(None)` means the acceptor has ended normally: no more streams will
/// come.
///
/// Neither [`Tunnel`](rstream_core::Tunnel) nor
/// [`SupervisedTunnel`](rstream_core::SupervisedTunnel) fails one accept and
/// then recovers: a plain tunnel whose control channel failed keeps
/// returning that failure (so the retries end with it), and a supervised
/// tunnel hides reconnects and only fails when it gave up. The retries are
/// for other acceptors.
pub async fn accept_retrying<A: Accept>(acceptor: &A) -> Result<Option<TunnelStream>, Error> {
    let mut pause = RETRY_FIRST;
    let mut failures = 0;
    loop {
        match acceptor.accept().await {
            Ok(next) => return Ok(next),
            Err(e) if e.is_retryable() && failures < ACCEPT_RETRIES => {
                failures += 1;
                tracing::warn!(error = %e, attempt = failures, "accepting a stream failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RETRY_MAX);
            }
            Err(e) => return Err(e),
        }
    }
}
