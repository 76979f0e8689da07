//! Supervised tunnels: a tunnel that reconnects by itself when its control
//! channel fails, like the rstream CLI's `run`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use crate::reconnect::{Backoff, should_retry};
use crate::tunnel::Accept;
use crate::{Client, Error, Protocol, TunnelOptions, TunnelStream};

/// What a supervised tunnel is doing, for the application to watch and log.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum TunnelState {
    /// Opening the first control channel.
    Connecting,
    /// The tunnel is up.
    Online {
        /// The id of the tunnel on the engine (new after every reconnect).
        tunnel_id: String,
        /// Where the tunnel is reachable.
        forwarding_address: String,
    },
    /// The tunnel is down and will be re-created after `next_delay`.
    Reconnecting {
        /// How many attempts failed in a row.
        attempt: u32,
        /// Why the last attempt or the last connection failed.
        last_error: Arc<Error>,
        /// How long until the next attempt.
        next_delay: Duration,
    },
    /// Stopped on an error that retrying would not fix, or on the last
    /// failure once the reconnect policy's attempts were spent.
    Failed(Arc<Error>),
    /// Closed by the application.
    Closed,
}

/// A tunnel that survives engine restarts and network failures.
///
/// From [`Client::supervise`]. When the control channel fails, the
/// supervisor reconnects as the client's [`ReconnectPolicy`](crate::ReconnectPolicy)
/// says (by default the first attempt at once, then 1 s doubling to 30 s) and
/// re-creates the tunnel with the same properties; [`accept`](Self::accept) just waits meanwhile. Streams already
/// accepted are separate connections and are never cut by a reconnect.
///
/// Published addresses: a published non-tcp tunnel that asks for no hostname
/// gets, on a managed engine host (`<project>.<cluster domain>`), a stable
/// hostname generated once (see [`stable_domain`](crate::stable_domain)); on
/// any other engine (an IP address, `localhost`) the hostname the engine
/// assigned first is asked for again on every re-creation. Either way the
/// forwarding address stays the same across reconnects.
///
/// Closing: [`close`](Self::close), or dropping every clone, closes the tunnel
/// and its control channel.
#[derive(Clone, Debug)]
pub struct SupervisedTunnel {
    inner: Arc<SupervisedInner>,
}

#[derive(Debug)]
struct SupervisedInner {
    streams: tokio::sync::Mutex<mpsc::Receiver<TunnelStream>>,
    state: watch::Receiver<TunnelState>,
    stop: watch::Sender<bool>,
    /// Set once `accept` has returned the final failure.
    failure_reported: AtomicBool,
}

impl Drop for SupervisedInner {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl Client {
    /// Creates a tunnel that reconnects by itself.
    ///
    /// Returns once the tunnel is first online, or with the error that
    /// stopped the supervisor: bad credentials, invalid options, an engine
    /// certificate that is not trusted or not valid for its name (on the
    /// first connection; once online, such a failure is retried, since it
    /// is fixed on the engine's side), or the last failure once the
    /// [`ReconnectPolicy`](crate::ReconnectPolicy)'s attempts are spent.
    /// Other failures while first connecting are retried, so wrap the
    /// call in a timeout if the engine may be unreachable for long, or use
    /// [`supervise_in_background`](Self::supervise_in_background).
    pub async fn supervise(&self, options: TunnelOptions) -> Result<SupervisedTunnel, Error> {
        let tunnel = self.supervise_in_background(options)?;
        tunnel.online().await?;
        Ok(tunnel)
    }

    /// Starts supervising a tunnel and returns at once; watch
    /// [`SupervisedTunnel::watch_state`] or await [`SupervisedTunnel::online`].
    /// Must be called inside a Tokio runtime.
    pub fn supervise_in_background(
        &self,
        options: TunnelOptions,
    ) -> Result<SupervisedTunnel, Error> {
        options.validate()?;
        let (deliver, streams) = mpsc::channel(crate::control::ACCEPT_QUEUE);
        let (state_tx, state) = watch::channel(TunnelState::Connecting);
        let (stop, stop_rx) = watch::channel(false);
        let supervisor = Supervisor {
            client: self.clone(),
            options,
            deliver,
            state: state_tx,
            stop: stop_rx,
        };
        let span = tracing::info_span!("supervised_tunnel");
        tokio::spawn(supervisor.run().instrument(span));
        Ok(SupervisedTunnel {
            inner: Arc::new(SupervisedInner {
                streams: tokio::sync::Mutex::new(streams),
                state,
                stop,
                failure_reported: AtomicBool::new(false),
            }),
        })
    }
}

impl SupervisedTunnel {
    /// Waits until the tunnel is online (at once if it is), or returns the
    /// error that stopped the supervisor.
    pub async fn online(&self) -> Result<(), Error> {
        let mut state = self.inner.state.clone();
        let reached = state
            .wait_for(|s| {
                matches!(
                    s,
                    TunnelState::Online { .. } | TunnelState::Failed(_) | TunnelState::Closed
                )
            })
            .await
            .map(|s| s.clone());
        match reached {
            Ok(TunnelState::Online { .. }) => Ok(()),
            Ok(TunnelState::Failed(e)) => Err(e.duplicate()),
            _ => Err(Error::Closed("the supervised tunnel is closed".into())),
        }
    }

    /// Waits for the next stream, across reconnects: a dropped engine
    /// connection does not end it. `Ok(None)` once closed; the error that
    /// made the supervisor give up (an authentication or request error) is
    /// returned once, then `Ok(None)`.
    pub async fn accept(&self) -> Result<Option<TunnelStream>, Error> {
        let mut streams = self.inner.streams.lock().await;
        match streams.recv().await {
            Some(stream) => Ok(Some(stream)),
            None => match &*self.inner.state.borrow() {
                TunnelState::Failed(e)
                    if !self.inner.failure_reported.swap(true, Ordering::SeqCst) =>
                {
                    Err(e.duplicate())
                }
                _ => Ok(None),
            },
        }
    }

    /// The current state.
    pub fn state(&self) -> TunnelState {
        self.inner.state.borrow().clone()
    }

    /// A receiver that sees every state change.
    pub fn watch_state(&self) -> watch::Receiver<TunnelState> {
        self.inner.state.clone()
    }

    /// The forwarding address of the tunnel when it was last online.
    pub fn forwarding_address(&self) -> Option<String> {
        match &*self.inner.state.borrow() {
            TunnelState::Online {
                forwarding_address, ..
            } => Some(forwarding_address.clone()),
            _ => None,
        }
    }

    /// Stops the supervisor, closes the tunnel and its control channel, and
    /// waits (bounded) until that is done.
    pub async fn close(&self) {
        let _ = self.inner.stop.send(true);
        let mut state = self.inner.state.clone();
        let _ = tokio::time::timeout(
            Duration::from_secs(35),
            state.wait_for(|s| matches!(s, TunnelState::Closed | TunnelState::Failed(_))),
        )
        .await;
    }
}

impl Accept for SupervisedTunnel {
    fn accept(
        &self,
    ) -> impl std::future::Future<Output = Result<Option<TunnelStream>, Error>> + Send {
        SupervisedTunnel::accept(self)
    }
}

/// Resolves once the application asked the supervisor to stop.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

struct Supervisor {
    client: Client,
    options: TunnelOptions,
    deliver: mpsc::Sender<TunnelStream>,
    state: watch::Sender<TunnelState>,
    stop: watch::Receiver<bool>,
}

enum Outcome {
    Stopped,
    Lost(Error),
}

impl Supervisor {
    async fn run(mut self) {
        let mut backoff = Backoff::new(self.client.inner().reconnect.clone());
        let mut attempt = 0u32;
        let mut ever_online = false;
        if self.options.is_published()
            && self.options.get_protocol() != Some(Protocol::Tcp)
            && self.options.get_hostname().is_none()
        {
            if let Some(hostname) = crate::stable_domain::generate(&self.client.engine()) {
                self.options = self.options.clone().hostname(hostname);
            }
        }
        loop {
            let error = match self.once().await {
                Outcome::Stopped => {
                    self.state.send_replace(TunnelState::Closed);
                    return;
                }
                Outcome::Lost(e) => e,
            };
            if matches!(&*self.state.borrow(), TunnelState::Online { .. }) {
                backoff.reset();
                attempt = 0;
                ever_online = true;
            }
            let delay = if should_retry(&error, ever_online) {
                backoff.next_delay()
            } else {
                None
            };
            let Some(delay) = delay else {
                tracing::warn!(error = %error, "supervised tunnel stopped");
                self.state
                    .send_replace(TunnelState::Failed(Arc::new(error)));
                return;
            };
            attempt += 1;
            tracing::warn!(attempt, error = %error, delay = ?delay, "supervised tunnel reconnecting");
            self.state.send_replace(TunnelState::Reconnecting {
                attempt,
                last_error: Arc::new(error),
                next_delay: delay,
            });
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stopped(&mut self.stop) => {
                    self.state.send_replace(TunnelState::Closed);
                    return;
                }
            }
        }
    }

    /// One connection: connect, create, pump streams until something ends.
    async fn once(&mut self) -> Outcome {
        let opened = async {
            let control = self.client.connect().await?;
            let tunnel = control.create_tunnel(self.options.clone()).await?;
            Ok::<_, Error>((control, tunnel))
        };
        let (control, tunnel) = tokio::select! {
            r = opened => match r {
                Ok(pair) => pair,
                Err(e) => return Outcome::Lost(e),
            },
            _ = stopped(&mut self.stop) => return Outcome::Stopped,
        };
        // Ask for the same address next time.
        if self.options.is_published() && self.options.get_hostname().is_none() {
            if let Some(hostname) = tunnel
                .properties()
                .hostname
                .clone()
                .filter(|h| !h.is_empty())
            {
                if self.options.get_protocol() != Some(Protocol::Tcp) {
                    self.options = self.options.clone().hostname(hostname);
                }
            }
        }
        if self.options.get_protocol() == Some(Protocol::Tcp) {
            if let Some(port) = tunnel.properties().port {
                self.options = self.options.clone().port(port);
            }
        }
        tracing::info!(tunnel_id = %tunnel.id(), address = %tunnel.forwarding_address(), "supervised tunnel online");
        self.state.send_replace(TunnelState::Online {
            tunnel_id: tunnel.id().to_owned(),
            forwarding_address: tunnel.forwarding_address(),
        });
        loop {
            tokio::select! {
                accepted = tunnel.accept() => match accepted {
                    Ok(Some(stream)) => {
                        if self.deliver.send(stream).await.is_err() {
                            let _ = tunnel.close().await;
                            let _ = control.close().await;
                            return Outcome::Stopped;
                        }
                    }
                    Ok(None) => {
                        return Outcome::Lost(match control.closed().await {
                            Err(e) => e,
                            Ok(()) => Error::engine(
                                crate::proto::ErrorCode::ServiceUnavailable as i32,
                                "the engine closed the tunnel",
                            ),
                        });
                    }
                    Err(e) => return Outcome::Lost(e),
                },
                _ = stopped(&mut self.stop) => {
                    let _ = tunnel.close().await;
                    let _ = control.close().await;
                    return Outcome::Stopped;
                }
            }
        }
    }
}

// Compile-time checks: the handle can cross tasks and threads, as its docs promise.
const _: fn() = || {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<SupervisedTunnel>();
    let _ = <SupervisedTunnel as Clone>::clone;
};
