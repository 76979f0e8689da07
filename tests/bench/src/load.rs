//! The load generator: N concurrent HTTP/1.1 connections (hyper client) for
//! a fixed duration after a warm-up, over plain TCP or TLS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::BoxError;

/// Where the load goes.
#[derive(Clone)]
pub(crate) struct Target {
    /// The socket address dialled.
    pub(crate) addr: SocketAddr,
    /// The `Host` header sent (the engine's edge routes by it).
    pub(crate) host: String,
    /// TLS to the target, when it speaks TLS.
    pub(crate) tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
}

impl Target {
    pub(crate) fn plain(addr: SocketAddr, host: impl Into<String>) -> Self {
        Target {
            addr,
            host: host.into(),
            tls: None,
        }
    }

    pub(crate) fn tls(addr: SocketAddr, config: Arc<ClientConfig>) -> Self {
        Target {
            addr,
            host: format!("localhost:{}", addr.port()),
            tls: Some((config, ServerName::IpAddress(addr.ip().into()))),
        }
    }

    /// Opens one HTTP/1.1 connection; the connection task runs on its own.
    pub(crate) async fn connect(&self) -> Result<SendRequest<Empty<Bytes>>, BoxError> {
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        match &self.tls {
            None => handshake(tcp).await,
            Some((config, name)) => {
                let tls = TlsConnector::from(config.clone())
                    .connect(name.clone(), tcp)
                    .await?;
                handshake(tls).await
            }
        }
    }

    fn request(&self, close: bool) -> Result<http::Request<Empty<Bytes>>, BoxError> {
        let mut builder = http::Request::get("/").header(http::header::HOST, &self.host);
        if close {
            builder = builder.header(http::header::CONNECTION, "close");
        }
        Ok(builder.body(Empty::new())?)
    }
}

async fn handshake<IO>(io: IO) -> Result<SendRequest<Empty<Bytes>>, BoxError>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Sends one request on `sender` and reads the whole answer.
pub(crate) async fn roundtrip(
    sender: &mut SendRequest<Empty<Bytes>>,
    target: &Target,
    close: bool,
) -> Result<(), BoxError> {
    sender.ready().await?;
    let response = sender.send_request(target.request(close)?).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if !status.is_success() || body.is_empty() {
        return Err(format!("unexpected answer: {status}, {} bytes", body.len()).into());
    }
    Ok(())
}

/// What to run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec {
    pub(crate) connections: usize,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
    /// `Connection: close` on every request (a new connection each time).
    pub(crate) close: bool,
    pub(crate) record_latency: bool,
    /// Offered load in requests per second over all connections; `None`
    /// sends as fast as answers come back.
    pub(crate) rate: Option<f64>,
}

/// What a run measured.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) requests: u64,
    pub(crate) errors: u64,
    pub(crate) elapsed: Duration,
    pub(crate) latencies_us: Vec<u32>,
}

impl Outcome {
    pub(crate) fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `q`-quantile of the recorded latencies, in milliseconds.
    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let mut sorted = self.latencies_us.clone();
        sorted.sort_unstable();
        let idx = ((sorted.len() - 1) as f64 * q).round() as usize;
        f64::from(sorted[idx.min(sorted.len() - 1)]) / 1000.0
    }
}

/// Runs the load. `on_measure` is called when the warm-up ends and again
/// when the measurement ends (for reading a process' CPU time).
pub(crate) async fn run(target: &Target, spec: Spec, mut on_edge: impl FnMut()) -> Outcome {
    let start = Instant::now();
    let measure_from = start + spec.warmup;
    let until = measure_from + spec.duration;
    let mut tasks = Vec::with_capacity(spec.connections);
    for _ in 0..spec.connections {
        let target = target.clone();
        tasks.push(tokio::spawn(worker(target, spec, measure_from, until)));
    }
    tokio::time::sleep_until(measure_from.into()).await;
    on_edge();
    tokio::time::sleep_until(until.into()).await;
    on_edge();
    let mut outcome = Outcome {
        elapsed: spec.duration,
        ..Outcome::default()
    };
    for task in tasks {
        if let Ok(part) = task.await {
            outcome.requests += part.requests;
            outcome.errors += part.errors;
            outcome.latencies_us.extend(part.latencies_us);
        }
    }
    outcome
}

async fn worker(target: Target, spec: Spec, measure_from: Instant, until: Instant) -> Outcome {
    let mut out = Outcome::default();
    let mut sender: Option<SendRequest<Empty<Bytes>>> = None;
    // With a rate, each connection sends on its own fixed schedule.
    let period = spec
        .rate
        .map(|r| Duration::from_secs_f64(spec.connections as f64 / r.max(1.0)));
    let mut next = Instant::now() + period.map_or(Duration::ZERO, |p| p.mul_f64(rand::random()));
    loop {
        if let Some(period) = period {
            tokio::time::sleep_until(next.into()).await;
            next += period;
        }
        let begin = Instant::now();
        if begin >= until {
            break;
        }
        let result = async {
            let mut s = match sender.take() {
                Some(s) => s,
                None => target.connect().await?,
            };
            roundtrip(&mut s, &target, spec.close).await?;
            Ok::<_, BoxError>(s)
        };
        // A bound so that a stuck request cannot outlive the run by much.
        let result = tokio::time::timeout_at((until + Duration::from_secs(5)).into(), result).await;
        let end = Instant::now();
        let counted = begin >= measure_from && end <= until;
        match result {
            Ok(Ok(s)) => {
                if !spec.close {
                    sender = Some(s);
                }
                if counted {
                    out.requests += 1;
                    if spec.record_latency {
                        let us = end.duration_since(begin).as_micros();
                        out.latencies_us.push(u32::try_from(us).unwrap_or(u32::MAX));
                    }
                }
            }
            Ok(Err(_)) | Err(_) => {
                if counted {
                    out.errors += 1;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }
    out
}
