//! The serving side, in its own process so that its CPU time and memory can
//! be read from `/proc`: the `serve` subcommand (child) and [`Server`], the
//! parent's handle on such a child.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use rstream_core::{Client, TunnelOptions};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStdin, Command};

use crate::BoxError;
use crate::tls::{TlsListener, server_config};

/// The body every server answers `GET /` with, in every scenario.
pub(crate) const BODY: &str = "hello from the rstream benchmark\n";

/// The one small axum application served everywhere.
pub(crate) fn router() -> Router {
    Router::new().route("/", get(|| async { BODY }))
}

/// What the `serve` subcommand was asked to run.
#[derive(Debug, Default)]
pub(crate) struct ServeArgs {
    pub(crate) mode: String,
    pub(crate) engine: Option<String>,
    pub(crate) token: Option<String>,
    pub(crate) ca: Option<String>,
    pub(crate) cert: Option<String>,
    pub(crate) key: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) no_resumption: bool,
}

impl ServeArgs {
    pub(crate) fn parse(args: &[String]) -> Result<Self, BoxError> {
        let mut out = ServeArgs::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{arg} needs a value"))
            };
            match arg.as_str() {
                "--mode" => out.mode = value()?,
                "--engine" => out.engine = Some(value()?),
                "--token" => out.token = Some(value()?),
                "--ca" => out.ca = Some(value()?),
                "--cert" => out.cert = Some(value()?),
                "--key" => out.key = Some(value()?),
                "--name" => out.name = Some(value()?),
                "--no-resumption" => out.no_resumption = true,
                other => return Err(format!("serve: unknown argument {other}").into()),
            }
        }
        Ok(out)
    }

    fn client(&self) -> Result<Client, BoxError> {
        let need = |v: &Option<String>, what: &str| {
            v.clone()
                .ok_or_else(|| format!("serve --mode {} needs {what}", self.mode))
        };
        Ok(Client::builder()
            .engine(need(&self.engine, "--engine")?)
            .token(need(&self.token, "--token")?)
            .ca_file(need(&self.ca, "--ca")?)
            .tls_resumption(!self.no_resumption)
            .build()?)
    }
}

/// Exits the process when the parent closes our stdin.
fn exit_with_parent() {
    tokio::spawn(async {
        let mut sink = [0u8; 64];
        let mut stdin = tokio::io::stdin();
        while let Ok(n) = stdin.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
        std::process::exit(0);
    });
}

/// The actix-web version of the Router: the same route, the same answer.
fn actix_app() -> actix_web::App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    actix_web::App::new().route("/", actix_web::web::get().to(|| async { BODY }))
}

/// Actix workers in both actix scenarios.
const ACTIX_WORKERS: usize = 2;

/// `serve --mode actix-direct`: actix-web's `HttpServer` over direct TLS.
/// Runs on actix's own runtime (an `actix_rt::System`).
pub(crate) async fn serve_actix_direct(args: ServeArgs) -> Result<(), BoxError> {
    exit_with_parent();
    let cert = std::fs::read_to_string(args.cert.as_deref().ok_or("--cert")?)?;
    let key = std::fs::read_to_string(args.key.as_deref().ok_or("--key")?)?;
    let config = server_config(&cert, &key, &[b"http/1.1"])?;
    let server = actix_web::HttpServer::new(actix_app)
        .workers(ACTIX_WORKERS)
        .bind_rustls_0_23("127.0.0.1:0", (*config).clone())?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or("actix bound no address")?;
    println!("READY {addr}");
    server.run().await?;
    Ok(())
}

/// Runs the `serve` subcommand: prints `READY <address or host>` once
/// serving, then serves until stdin closes (the parent went away) or the
/// process is killed.
pub(crate) async fn serve_main(args: ServeArgs) -> Result<(), BoxError> {
    exit_with_parent();
    match args.mode.as_str() {
        "direct" => {
            let cert = std::fs::read_to_string(args.cert.as_deref().ok_or("--cert")?)?;
            let key = std::fs::read_to_string(args.key.as_deref().ok_or("--key")?)?;
            let config = server_config(&cert, &key, &[b"http/1.1"])?;
            let tcp = TcpListener::bind("127.0.0.1:0").await?;
            println!("READY {}", tcp.local_addr()?);
            axum::serve(TlsListener::new(tcp, config), router()).await?;
        }
        "tunnel" | "forward" | "actix-tunnel" => {
            let client = args.client()?;
            let control = client.connect().await?;
            let mut options = TunnelOptions::http().publish(true);
            if let Some(name) = &args.name {
                options = options.name(name.clone());
            }
            let tunnel = control.create_tunnel(options).await?;
            let address = tunnel.forwarding_address();
            let host = address.trim_start_matches("https://").to_owned();
            if args.mode == "tunnel" {
                println!("READY {host}");
                // axum's own `serve` on the tunnel's streams, in-process.
                axum::serve(rstream_axum::TunnelListener::new(tunnel), router()).await?;
            } else if args.mode == "actix-tunnel" {
                println!("READY {host}");
                rstream_actix::serve(tunnel, actix_app)
                    .workers(ACTIX_WORKERS)
                    .await?;
            } else {
                let local = TcpListener::bind("127.0.0.1:0").await?;
                let local_addr = local.local_addr()?;
                tokio::spawn(async move {
                    let local = axum::serve::ListenerExt::tap_io(local, |tcp| {
                        let _ = tcp.set_nodelay(true);
                    });
                    let _ = axum::serve(local, router()).await;
                });
                println!("READY {host}");
                tunnel.forward_to(local_addr).await?;
            }
            drop(control);
        }
        other => return Err(format!("serve: unknown mode {other:?}").into()),
    }
    Ok(())
}

/// A serving child process.
pub(crate) struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    pid: u32,
    /// What the child printed after `READY `.
    pub(crate) ready: String,
}

impl Server {
    /// Starts `program args...` and waits (up to 60 s) for its `READY` line.
    pub(crate) async fn spawn(
        program: &Path,
        args: &[String],
        envs: &[(String, String)],
    ) -> Result<Server, BoxError> {
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(envs.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn()?;
        let pid = child.id().ok_or("the child exited at once")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.strip_prefix("READY ") {
                    return Ok::<_, BoxError>(rest.trim().to_owned());
                }
            }
            Err("the serving process ended before it was ready".into())
        })
        .await
        .map_err(|_| "the serving process did not get ready within 60 s")??;
        // Keep draining stdout so the child never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server {
            child,
            stdin,
            pid,
            ready,
        })
    }

    /// User plus system CPU time of the process so far, in seconds.
    pub(crate) fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).ok()?;
        // Fields after the command name (which may hold spaces) start at 3.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) / clock_ticks())
    }

    /// Resident set size of the process, in KiB.
    pub(crate) fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Stops the child (closes its stdin, then kills it) and reaps it.
    pub(crate) async fn stop(mut self) {
        drop(self.stdin.take());
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

/// Clock ticks per second for `/proc/<pid>/stat` (`getconf CLK_TCK`, which
/// is 100 on every common Linux).
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}
