//! The scenarios, run one after the other against one local engine.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rstream_core::Client;
use rstream_local_engine::LocalEngine;
use rustls::ClientConfig;

use crate::load::{self, Outcome, Spec, Target};
use crate::report::{Goal, Row, Spread, median};
use crate::serve::Server;
use crate::tls::{SelfSigned, client_config, self_signed};
use crate::{BoxError, Options, bulk, pin};

/// Concurrent connections of the throughput scenarios.
const CONNECTIONS: usize = 64;
/// Idle connections opened for the memory scenario.
const IDLE_CONNECTIONS: usize = 1000;
const TOKEN: &str = "tok_bench";
const PYTHON_APP: &str = include_str!("../asgi_app.py");

/// Everything the scenarios share.
struct Bench {
    opts: Options,
    engine: LocalEngine,
    exe: PathBuf,
    dir: PathBuf,
    cert: SelfSigned,
    cert_file: PathBuf,
    key_file: PathBuf,
    direct_tls: Arc<ClientConfig>,
    rows: Vec<Row>,
    counter: usize,
}

/// One load run against a serving process: the outcome and the serving
/// side's CPU time per request over the measured window.
struct Measured {
    outcome: Outcome,
    cpu_us_per_req: f64,
}

pub(crate) async fn run(opts: Options) -> Result<(), BoxError> {
    let started = Instant::now();
    // With a layout, the engine gets a runtime of its own on its cores.
    let engine_runtime = match &opts.layout {
        Some(layout) => {
            let cores = layout.engine.clone();
            Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(cores.len())
                    .on_thread_start(move || {
                        if let Err(e) = pin::pin_current_thread(&cores) {
                            eprintln!("rstream-bench: engine thread not pinned: {e}");
                        }
                    })
                    .enable_all()
                    .build()?,
            )
        }
        None => None,
    };
    let start = LocalEngine::builder().token(TOKEN).start();
    let engine = match &engine_runtime {
        Some(runtime) => runtime.spawn(start).await??,
        None => start.await?,
    };
    let dir = std::env::temp_dir().join(format!("rstream-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let cert = self_signed()?;
    let cert_file = dir.join("direct-cert.pem");
    let key_file = dir.join("direct-key.pem");
    std::fs::write(&cert_file, &cert.cert_pem)?;
    std::fs::write(&key_file, &cert.key_pem)?;
    let direct_tls = client_config(&cert.cert_pem, &[b"http/1.1"])?;
    let mut bench = Bench {
        opts,
        engine,
        exe: std::env::current_exe()?,
        dir,
        cert,
        cert_file,
        key_file,
        direct_tls,
        rows: Vec::new(),
        counter: 0,
    };
    let cores = bench.opts.cores;
    println!(
        "rstream-bench: {} mode, {cores} cores, {} s warm-up + {} s per measurement",
        if bench.opts.quick { "quick" } else { "full" },
        bench.opts.warmup().as_secs_f64(),
        bench.opts.duration().as_secs_f64()
    );
    match &bench.opts.layout {
        Some(layout) => println!("pinned: {layout}"),
        None if bench.opts.no_pin => println!("not pinned (--no-pin)"),
        None => println!(
            "not pinned ({cores} cores; pinning needs {})",
            pin::MIN_CORES
        ),
    }

    let result = bench.all().await;
    bench.engine.shutdown().await;
    if let Some(runtime) = engine_runtime {
        runtime.shutdown_background();
    }
    let _ = std::fs::remove_dir_all(&bench.dir);
    result?;

    println!();
    print!("{}", crate::report::table(&bench.rows));
    println!("\n(total {:.0} s)", started.elapsed().as_secs_f64());
    if let Some(path) = &bench.opts.json {
        let text = serde_json::to_string_pretty(&crate::report::json(&bench.rows))?;
        std::fs::write(path, text + "\n")?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

impl Bench {
    async fn all(&mut self) -> Result<(), BoxError> {
        // A group that fails is reported and left out; the others still run.
        let report = |group: &str, result: Result<(), BoxError>| {
            if let Err(e) = result {
                println!("  {group}: failed, left out of the table: {e}");
            }
        };
        if self.opts.wants("http") {
            report("http", self.http().await);
        }
        if self.opts.wants("actix") {
            report("actix", self.actix().await);
        }
        if self.opts.wants("resumption") {
            report("resumption", self.resumption().await);
        }
        if self.opts.wants("python") {
            report("python", self.python().await);
        }
        if self.opts.wants("bulk") {
            report("bulk", self.bulk().await);
        }
        if self.opts.wants("memory") {
            report("memory", self.memory().await);
        }
        if self.opts.wants("relayed") {
            report("relayed", self.relayed().await);
        }
        if self.opts.wants("reconnect") {
            report("reconnect", self.reconnect().await);
        }
        if self.opts.wants("crypto") {
            report("crypto", self.crypto().await);
        }
        Ok(())
    }

    fn spec(&self, connections: usize, close: bool, record_latency: bool) -> Spec {
        Spec {
            connections,
            warmup: self.opts.warmup(),
            duration: self.opts.duration(),
            close,
            record_latency,
            rate: None,
        }
    }

    /// `spec` at a fixed offered load: half of what the slower of two
    /// servers managed flat out, so both run at the same request rate.
    fn paced(spec: Spec, a: &Measured, b: &Measured) -> Spec {
        let rate = a.outcome.rate().min(b.outcome.rate()) * 0.5;
        Spec {
            rate: Some(rate.max(50.0)),
            ..spec
        }
    }

    fn client(&self) -> Result<Client, BoxError> {
        Ok(Client::builder()
            .engine(self.engine.engine_address())
            .token(TOKEN)
            .ca_pem(self.engine.ca_pem())
            .build()?)
    }

    /// Starts a serving child, pinned to the serving cores when the run
    /// has a layout.
    async fn spawn_server(
        &self,
        program: &Path,
        args: &[String],
        envs: &[(String, String)],
    ) -> Result<Server, BoxError> {
        let mut envs = envs.to_vec();
        if let Some(layout) = &self.opts.layout {
            envs.push((pin::CPUS_ENV.to_owned(), pin::list(&layout.serve)));
        }
        Server::spawn(program, args, &envs).await
    }

    /// A serving child running the Router over direct TLS.
    async fn spawn_direct(&self) -> Result<(Server, Target), BoxError> {
        let args = [
            "serve",
            "--mode",
            "direct",
            "--cert",
            path_str(&self.cert_file)?,
            "--key",
            path_str(&self.key_file)?,
        ]
        .map(String::from);
        let server = self.spawn_server(&self.exe, &args, &[]).await?;
        let addr: SocketAddr = server.ready.parse()?;
        Ok((server, Target::tls(addr, self.direct_tls.clone())))
    }

    /// A serving child behind a published tunnel: `mode` is `tunnel`
    /// (in-process axum) or `forward` (`forward_to` a loopback axum).
    async fn spawn_tunnel(
        &mut self,
        mode: &str,
        resumption: bool,
    ) -> Result<(Server, Target), BoxError> {
        let exe = self.exe.clone();
        self.spawn_tunnel_with(&exe, mode, resumption).await
    }

    /// [`Bench::spawn_tunnel`] with another build of this program (say, one
    /// with the other TLS crypto backend).
    async fn spawn_tunnel_with(
        &mut self,
        exe: &Path,
        mode: &str,
        resumption: bool,
    ) -> Result<(Server, Target), BoxError> {
        self.counter += 1;
        let mut args = vec![
            "serve".to_owned(),
            "--mode".to_owned(),
            mode.to_owned(),
            "--engine".to_owned(),
            self.engine.engine_address(),
            "--token".to_owned(),
            TOKEN.to_owned(),
            "--ca".to_owned(),
            path_str(self.engine.ca_file())?.to_owned(),
            "--name".to_owned(),
            format!("bench-{mode}-{}", self.counter),
        ];
        if !resumption {
            args.push("--no-resumption".to_owned());
        }
        let server = self.spawn_server(exe, &args, &[]).await?;
        let target = self.edge_target(&server.ready);
        Ok((server, target))
    }

    /// The edge, with `Host` naming the tunnel's hostname.
    fn edge_target(&self, forwarding: &str) -> Target {
        let host = forwarding
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let host = host.split(':').next().unwrap_or(host);
        let edge = self.engine.edge_addr();
        Target::plain(edge, format!("{host}:{}", edge.port()))
    }

    /// Runs `spec` against `target`, reading the server's CPU time around
    /// the measured window.
    async fn measure(&self, server: &Server, target: &Target, spec: Spec) -> Measured {
        let mut marks = Vec::with_capacity(2);
        let outcome = load::run(target, spec, || marks.push(server.cpu_seconds())).await;
        let cpu = match (marks.first(), marks.get(1)) {
            (Some(Some(a)), Some(Some(b))) => b - a,
            _ => f64::NAN,
        };
        let cpu_us_per_req = cpu * 1e6 / outcome.requests.max(1) as f64;
        Measured {
            outcome,
            cpu_us_per_req,
        }
    }

    fn log(&self, what: &str, m: &Measured) {
        let o = &m.outcome;
        println!(
            "  {what:<34} {:>9.0} req/s  {:>7.1} us CPU/req  errors {}{}",
            o.rate(),
            m.cpu_us_per_req,
            o.errors,
            if o.latencies_us.is_empty() {
                String::new()
            } else {
                format!(
                    "  p50 {:.3} ms  p99 {:.3} ms",
                    o.quantile_ms(0.5),
                    o.quantile_ms(0.99)
                )
            }
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn row(
        &mut self,
        name: &str,
        metric: &str,
        unit: &str,
        value_name: &str,
        value: f64,
        baseline_name: &str,
        baseline_value: f64,
        goal: Goal,
    ) {
        self.rows.push(Row {
            name: name.into(),
            metric: metric.into(),
            unit: unit.into(),
            value_name: value_name.into(),
            value,
            baseline_name: baseline_name.into(),
            baseline_value,
            goal,
            spread: None,
        });
    }

    /// Measures two sides alternately, [`Options::pairs`] times (A-B, B-A,
    /// ...: neither side always goes first), logging each measurement.
    async fn pairs(
        &self,
        label: &str,
        (a_server, a_target, a_name): (&Server, &Target, &str),
        (b_server, b_target, b_name): (&Server, &Target, &str),
        spec: Spec,
    ) -> Vec<(Measured, Measured)> {
        let mut out = Vec::new();
        for pair in 0..self.opts.pairs() {
            let (a, b) = if pair % 2 == 0 {
                let a = self.measure(a_server, a_target, spec).await;
                (a, self.measure(b_server, b_target, spec).await)
            } else {
                let b = self.measure(b_server, b_target, spec).await;
                (self.measure(a_server, a_target, spec).await, b)
            };
            self.log(&format!("{a_name}, {label} [{pair}]"), &a);
            self.log(&format!("{b_name}, {label} [{pair}]"), &b);
            out.push((a, b));
        }
        out
    }

    /// A row from paired measurements: the medians of each side, and the
    /// median and spread of the pairs' ratios of `metric`.
    #[allow(clippy::too_many_arguments)]
    fn paired_row(
        &mut self,
        name: &str,
        metric: &str,
        unit: &str,
        (value_name, baseline_name): (&str, &str),
        pairs: &[(Measured, Measured)],
        pick: impl Fn(&Measured) -> f64,
        goal: Goal,
    ) {
        let mut values: Vec<f64> = pairs.iter().map(|(a, _)| pick(a)).collect();
        let mut baselines: Vec<f64> = pairs.iter().map(|(_, b)| pick(b)).collect();
        let ratios: Vec<f64> = pairs.iter().map(|(a, b)| pick(a) / pick(b)).collect();
        values.sort_by(f64::total_cmp);
        baselines.sort_by(f64::total_cmp);
        let spread = Spread::of(&ratios);
        println!(
            "  {name}: ratio median {:.3}, {:.3}-{:.3} over {} pairs{}",
            spread.median,
            spread.lo,
            spread.hi,
            spread.pairs,
            if spread.narrow() {
                ""
            } else {
                " (too wide to judge)"
            }
        );
        self.rows.push(Row {
            name: name.into(),
            metric: metric.into(),
            unit: unit.into(),
            value_name: value_name.into(),
            value: median(&values),
            baseline_name: baseline_name.into(),
            baseline_value: median(&baselines),
            goal,
            spread: Some(spread),
        });
    }

    /// keepalive, new_stream, latency and app_cpu for the Router served over
    /// direct TLS, in-process over a tunnel, and with `forward_to`.
    async fn http(&mut self) -> Result<(), BoxError> {
        println!(
            "http: keep-alive, Connection: close and latency; {} alternating pairs per goal row",
            self.opts.pairs()
        );
        let keepalive = self.spec(CONNECTIONS, false, false);
        let close = self.spec(CONNECTIONS, true, false);
        let latency = self.spec(1, false, true);

        let (direct, direct_target) = self.spawn_direct().await?;
        let (tunnel, tunnel_target) = self.spawn_tunnel("tunnel", true).await?;
        let (forward, forward_target) = self.spawn_tunnel("forward", true).await?;
        let (t, d, f) = ("tunnel", "direct TLS", "forward_to");
        let ts = (&tunnel, &tunnel_target, t);
        let ds = (&direct, &direct_target, d);
        let (fs, ft) = (&forward, &forward_target);

        let ka = self.pairs("keep-alive", ts, ds, keepalive).await;
        let ns = self.pairs("Connection: close", ts, ds, close).await;
        // Serving-side CPU at the same offered load on both sides, so that
        // neither gets the batching a busier server enjoys.
        let (last_t, last_d) = ka.last().ok_or("no pairs")?;
        let ka_cpu = self
            .pairs(
                "keep-alive, paced",
                ts,
                ds,
                Self::paced(keepalive, last_t, last_d),
            )
            .await;
        let (last_t, last_d) = ns.last().ok_or("no pairs")?;
        let ns_cpu = self
            .pairs("close, paced", ts, ds, Self::paced(close, last_t, last_d))
            .await;
        // Context rows, one measurement each: forward_to and latency.
        let f_ka = self.measure(fs, ft, keepalive).await;
        self.log("forward_to, keep-alive", &f_ka);
        let f_ns = self.measure(fs, ft, close).await;
        self.log("forward_to, Connection: close", &f_ns);
        let (last_t, last_d) = ka_cpu.last().ok_or("no pairs")?;
        let f_ka_cpu = self
            .measure(fs, ft, Self::paced(keepalive, last_t, last_d))
            .await;
        self.log("forward_to, keep-alive, paced", &f_ka_cpu);
        let d_lat = self.measure(&direct, &direct_target, latency).await;
        self.log("direct TLS, latency (1 conn)", &d_lat);
        let t_lat = self.measure(&tunnel, &tunnel_target, latency).await;
        self.log("tunnel, latency (1 conn)", &t_lat);
        direct.stop().await;
        tunnel.stop().await;
        forward.stop().await;

        let rps = "req/s";
        let rate = |m: &Measured| m.outcome.rate();
        let cpu = |m: &Measured| m.cpu_us_per_req;
        self.paired_row(
            "keepalive",
            "throughput",
            rps,
            (t, d),
            &ka,
            rate,
            Goal::RatioAtLeast(0.8),
        );
        self.paired_row(
            "new_stream",
            "throughput",
            rps,
            (t, d),
            &ns,
            rate,
            Goal::None,
        );
        let median_of = |pairs: &[(Measured, Measured)], pick: &dyn Fn(&Measured) -> f64| {
            let mut v: Vec<f64> = pairs.iter().map(|(a, _)| pick(a)).collect();
            v.sort_by(f64::total_cmp);
            median(&v)
        };
        let (tk, tn) = (median_of(&ka, &rate), median_of(&ns, &rate));
        self.row(
            "keepalive_forward_to",
            "throughput",
            rps,
            t,
            tk,
            f,
            rate(&f_ka),
            Goal::RatioAtLeast(1.3),
        );
        self.row(
            "new_stream_forward_to",
            "throughput",
            rps,
            t,
            tn,
            f,
            rate(&f_ns),
            Goal::None,
        );
        let p = |m: &Measured, q| m.outcome.quantile_ms(q);
        let diff = Goal::DiffAtMost;
        self.row(
            "latency_p50",
            "p50",
            "ms",
            t,
            p(&t_lat, 0.5),
            d,
            p(&d_lat, 0.5),
            diff(1.0),
        );
        self.row(
            "latency_p99",
            "p99",
            "ms",
            t,
            p(&t_lat, 0.99),
            d,
            p(&d_lat, 0.99),
            diff(1.0),
        );
        let us = "us/req";
        self.paired_row(
            "app_cpu_keepalive",
            "server CPU",
            us,
            (t, d),
            &ka_cpu,
            cpu,
            Goal::RatioAtMost(1.05),
        );
        self.row(
            "app_cpu_keepalive_forward_to",
            "server CPU",
            us,
            t,
            median_of(&ka_cpu, &cpu),
            f,
            cpu(&f_ka_cpu),
            Goal::None,
        );
        self.paired_row(
            "app_cpu_new_stream",
            "server CPU",
            us,
            (t, d),
            &ns_cpu,
            cpu,
            Goal::RatioAtMost(1.15),
        );
        Ok(())
    }

    /// actix-web over a tunnel (rstream-actix) vs actix-web's `HttpServer`
    /// over direct TLS: keep-alive and `Connection: close`.
    async fn actix(&mut self) -> Result<(), BoxError> {
        println!("actix: keep-alive and Connection: close");
        let keepalive = self.spec(CONNECTIONS, false, false);
        let close = self.spec(CONNECTIONS, true, false);
        let args = [
            "serve",
            "--mode",
            "actix-direct",
            "--cert",
            path_str(&self.cert_file)?,
            "--key",
            path_str(&self.key_file)?,
        ]
        .map(String::from);
        let direct = self.spawn_server(&self.exe, &args, &[]).await?;
        let addr: SocketAddr = direct.ready.parse()?;
        let dt = &Target::tls(addr, self.direct_tls.clone());
        let (tunnel, tunnel_target) = self.spawn_tunnel("actix-tunnel", true).await?;
        let (t, d) = ("actix tunnel", "actix TLS");
        let ts = (&tunnel, &tunnel_target, t);
        let ds = (&direct, dt, d);
        let ka = self.pairs("keep-alive", ts, ds, keepalive).await;
        let (last_t, last_d) = ka.last().ok_or("no pairs")?;
        let paced = Self::paced(keepalive, last_t, last_d);
        let cpu_pairs = self.pairs("keep-alive, paced", ts, ds, paced).await;
        let d_ns = self.measure(&direct, dt, close).await;
        self.log("actix HttpServer TLS, close", &d_ns);
        let t_ns = self.measure(&tunnel, &tunnel_target, close).await;
        self.log("actix tunnel, close", &t_ns);
        direct.stop().await;
        tunnel.stop().await;

        let rate = |m: &Measured| m.outcome.rate();
        self.paired_row(
            "actix_keepalive",
            "throughput",
            "req/s",
            (t, d),
            &ka,
            rate,
            Goal::RatioAtLeast(0.8),
        );
        let (a, b) = (t_ns.outcome.rate(), d_ns.outcome.rate());
        self.row(
            "actix_new_stream",
            "throughput",
            "req/s",
            t,
            a,
            d,
            b,
            Goal::None,
        );
        self.paired_row(
            "actix_app_cpu_keepalive",
            "server CPU",
            "us/req",
            (t, d),
            &cpu_pairs,
            |m: &Measured| m.cpu_us_per_req,
            Goal::RatioAtMost(1.1),
        );
        Ok(())
    }

    /// new_stream through the tunnel with TLS session resumption to the
    /// engine on (the default) and off.
    async fn resumption(&mut self) -> Result<(), BoxError> {
        println!("resumption: new_stream with and without TLS session resumption");
        let [(seq, seq_total), (burst, burst_total)] = self.probe_resumption().await?;
        println!(
            "  runtime TLS handshakes to the engine resumed (dials and their proxy connections): \
             {seq}/{seq_total} one after the other, {burst}/{burst_total} in a concurrent burst"
        );
        let (default_burst, default_total) = self.probe_default_store().await?;
        println!(
            "  (with rustls' default session store: {default_burst}/{default_total} in the same burst)"
        );
        let close = self.spec(CONNECTIONS, true, false);
        let (server, target) = self.spawn_tunnel("tunnel", true).await?;
        let on = self.measure(&server, &target, close).await;
        self.log("tunnel, resumption on", &on);
        server.stop().await;
        let (server, target) = self.spawn_tunnel("tunnel", false).await?;
        let off = self.measure(&server, &target, close).await;
        self.log("tunnel, resumption off", &off);
        server.stop().await;
        let (a, b) = (on.outcome.rate(), off.outcome.rate());
        self.row(
            "new_stream_resumption",
            "throughput",
            "req/s",
            "resumption on",
            a,
            "resumption off",
            b,
            Goal::RatioAtLeast(2.0),
        );
        let (a, b) = (on.cpu_us_per_req, off.cpu_us_per_req);
        self.row(
            "app_cpu_resumption",
            "server CPU",
            "us/req",
            "resumption on",
            a,
            "resumption off",
            b,
            Goal::None,
        );
        Ok(())
    }

    /// Dials a private echo tunnel through the runtime, first one dial after
    /// the other, then a burst of concurrent ones, and counts on the engine
    /// how many of the runtime's TLS handshakes (dials and the proxy
    /// connections of the accepted streams) were resumed.
    async fn probe_resumption(&self) -> Result<[(usize, usize); 2], BoxError> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let client = self.client()?;
        let control = client.connect().await?;
        let tunnel = control
            .create_tunnel(rstream_core::TunnelOptions::new().name("bench-resumption"))
            .await?;
        let echo = tokio::spawn(async move {
            while let Ok(Some(mut stream)) = tunnel.accept().await {
                tokio::spawn(async move {
                    let mut byte = [0u8; 1];
                    if stream.read_exact(&mut byte).await.is_ok() {
                        let _ = stream.write_all(&byte).await;
                    }
                });
            }
        });
        let one = |client: Client| async move {
            // The round trip also receives the engine's session tickets.
            let mut stream = client
                .dial_with(
                    "bench-resumption",
                    rstream_core::DialOptions::new().zero_rtt(false),
                )
                .await?;
            stream.write_all(b"x").await?;
            let mut byte = [0u8; 1];
            stream.read_exact(&mut byte).await?;
            Ok::<_, BoxError>(())
        };
        let counts = |engine: &LocalEngine| {
            let h = engine.tls_handshakes();
            (h.resumed, h.full + h.resumed)
        };
        let sequential = 40;
        let before = counts(&self.engine);
        for _ in 0..sequential {
            one(client.clone()).await?;
        }
        let after = counts(&self.engine);
        let seq = (after.0 - before.0, after.1 - before.1);
        let burst = 32;
        let tasks: Vec<_> = (0..burst)
            .map(|_| tokio::spawn(one(client.clone())))
            .collect();
        for task in tasks {
            task.await??;
        }
        let end = counts(&self.engine);
        let burst_counts = (end.0 - after.0, end.1 - after.1);
        echo.abort();
        control.close().await?;
        let n = |(resumed, total): (u64, u64)| (resumed as usize, total as usize);
        Ok([n(seq), n(burst_counts)])
    }

    /// The same burst with rustls' default session store (8 tickets per
    /// server), for comparison.
    async fn probe_default_store(&self) -> Result<(usize, usize), BoxError> {
        let config = client_config(&self.engine.ca_pem(), &[rstream_core::proto::ALPN])?;
        let addr = self.engine.engine_addr();
        let one = |config: Arc<ClientConfig>| async move {
            use tokio::io::AsyncReadExt;
            let tcp = tokio::net::TcpStream::connect(addr).await?;
            let name = rustls::pki_types::ServerName::try_from("localhost")?;
            let mut conn = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await?;
            let resumed = conn.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
            let mut byte = [0u8; 1];
            let _ = tokio::time::timeout(Duration::from_millis(50), conn.read(&mut byte)).await;
            Ok::<_, BoxError>(resumed)
        };
        for _ in 0..40 {
            one(config.clone()).await?;
        }
        let burst = 32;
        let tasks: Vec<_> = (0..burst)
            .map(|_| tokio::spawn(one(config.clone())))
            .collect();
        let mut resumed = 0;
        for task in tasks {
            resumed += usize::from(task.await??);
        }
        Ok((resumed, burst))
    }

    /// new_stream with the official Python SDK's ASGI helper behind the
    /// same engine, against the Rust tunnel.
    async fn python(&mut self) -> Result<(), BoxError> {
        let Some(python) = self.opts.python.clone() else {
            println!("python: skipped (no --python given)");
            return Ok(());
        };
        println!(
            "python: new_stream, Rust vs the official Python SDK (ASGI helper); {} alternating pairs",
            self.opts.pairs()
        );
        let script = self.dir.join("asgi_app.py");
        std::fs::write(&script, PYTHON_APP)?;
        self.counter += 1;
        let envs = [
            ("RSTREAM_ENGINE", self.engine.engine_address()),
            ("RSTREAM_AUTHENTICATION_TOKEN", TOKEN.to_owned()),
            ("BENCH_CA_FILE", path_str(self.engine.ca_file())?.to_owned()),
            (
                "BENCH_TUNNEL_NAME",
                format!("bench-python-{}", self.counter),
            ),
            ("BENCH_BODY", crate::serve::BODY.to_owned()),
        ]
        .map(|(k, v)| (k.to_owned(), v));
        let args = [path_str(&script)?.to_owned()];
        let close = self.spec(CONNECTIONS, true, false);
        let python_side = self.spawn_server(&python, &args, &envs).await?;
        let python_target = self.edge_target(&python_side.ready);
        let (rust, rust_target) = self.spawn_tunnel("tunnel", true).await?;
        let (r, p) = ("rust tunnel", "python sdk asgi");
        let rs = (&rust, &rust_target, r);
        let ps = (&python_side, &python_target, p);
        let flat = self.pairs("Connection: close", rs, ps, close).await;
        // Python serves on one core at most; its CPU per request, at the
        // same offered load as Rust's, says what the throughput ratio would
        // be if the engine and the load generator did not share the machine.
        let (last_r, last_p) = flat.last().ok_or("no pairs")?;
        let paced = self
            .pairs("close, paced", rs, ps, Self::paced(close, last_r, last_p))
            .await;
        rust.stop().await;
        python_side.stop().await;
        self.paired_row(
            "new_stream_python",
            "throughput",
            "req/s",
            (r, p),
            &flat,
            |m| m.outcome.rate(),
            Goal::RatioAtLeast(20.0),
        );
        self.paired_row(
            "app_cpu_python",
            "server CPU",
            "us/req",
            (r, p),
            &paced,
            |m| m.cpu_us_per_req,
            Goal::RatioAtMost(0.05),
        );
        Ok(())
    }

    /// MB/s through one dialed private stream vs a raw TLS connection.
    async fn bulk(&mut self) -> Result<(), BoxError> {
        println!("bulk: one stream, MB/s");
        let (w, d) = (self.opts.warmup(), self.opts.duration());
        let raw = bulk::raw_tls(&self.cert, w, d).await?;
        println!("  raw TLS loopback                   {raw:>9.0} MB/s");
        let tunnel = bulk::tunnel(self.client()?, self.client()?, w, d).await?;
        println!("  dialed private stream              {tunnel:>9.0} MB/s");
        self.row(
            "bulk",
            "throughput",
            "MB/s",
            "tunnel dial",
            tunnel,
            "raw TLS",
            raw,
            Goal::RatioAtLeast(0.8),
        );
        Ok(())
    }

    /// RSS growth of the serving process per idle keep-alive connection.
    async fn memory(&mut self) -> Result<(), BoxError> {
        println!("idle_memory: {IDLE_CONNECTIONS} idle keep-alive connections");
        let (server, target) = self.spawn_tunnel("tunnel", true).await?;
        let tunnel = idle_rss_per_conn(&server, &target).await?;
        println!("  tunnel                             {tunnel:>9.1} KiB/conn");
        server.stop().await;
        let (server, target) = self.spawn_direct().await?;
        let direct = idle_rss_per_conn(&server, &target).await?;
        println!("  direct TLS                         {direct:>9.1} KiB/conn");
        server.stop().await;
        self.row(
            "idle_memory",
            "RSS per idle conn",
            "KiB",
            "tunnel",
            tunnel,
            "direct TLS",
            direct,
            Goal::ValueAtMost(32.0),
        );
        Ok(())
    }
}

impl Bench {
    /// The SDK's own cost: the same app reached through the engine's edge
    /// either over a tunnel, or relayed by the engine to a plain TLS server
    /// ("relayed TLS"), so both sides pay the engine's work. The two sides
    /// alternate, pair after pair; the row gives the medians and the spread
    /// of the pairs' ratios.
    async fn relayed(&mut self) -> Result<(), BoxError> {
        println!(
            "relayed: tunnel vs relayed TLS through the same edge, {} alternating pairs",
            self.opts.pairs()
        );
        let (direct, _) = self.spawn_direct().await?;
        let upstream: SocketAddr = direct.ready.parse()?;
        self.engine.relay_to_tls(
            "relayed.localhost",
            upstream,
            &self.cert.cert_pem,
            "localhost",
        )?;
        let relayed_target = self.edge_target("https://relayed.localhost");
        let (tunnel, tunnel_target) = self.spawn_tunnel("tunnel", true).await?;
        let (t, r) = ("tunnel", "relayed TLS");
        let ts = (&tunnel, &tunnel_target, t);
        let rs = (&direct, &relayed_target, r);
        let ka = self
            .pairs("keep-alive", ts, rs, self.spec(CONNECTIONS, false, false))
            .await;
        let ns = self
            .pairs("close", ts, rs, self.spec(CONNECTIONS, true, false))
            .await;
        tunnel.stop().await;
        direct.stop().await;
        let rate = |m: &Measured| m.outcome.rate();
        self.paired_row(
            "keepalive_vs_relayed",
            "throughput",
            "req/s",
            (t, r),
            &ka,
            rate,
            Goal::RatioAtLeast(0.95),
        );
        self.paired_row(
            "new_stream_vs_relayed",
            "throughput",
            "req/s",
            (t, r),
            &ns,
            rate,
            Goal::RatioAtLeast(0.90),
        );
        Ok(())
    }

    /// The TLS crypto backend: new-stream serving CPU of the tunnel side
    /// built with this program's backend against a build with the other
    /// (`--crypto-alt`), at the same offered load, in alternating pairs.
    async fn crypto(&mut self) -> Result<(), BoxError> {
        let Some(alt) = self.opts.crypto_alt.clone() else {
            println!("crypto: skipped (give --crypto-alt, a build with the other backend)");
            return Ok(());
        };
        let backend = |exe: &Path| -> Result<String, BoxError> {
            let out = std::process::Command::new(exe).arg("backend").output()?;
            Ok(String::from_utf8(out.stdout)?.trim().to_owned())
        };
        let (mine, theirs) = (backend(&self.exe)?, backend(&alt)?);
        if mine == theirs || theirs.is_empty() {
            return Err(
                format!("--crypto-alt uses {theirs:?}, the same backend as this build").into(),
            );
        }
        println!("crypto: new-stream serving CPU, {mine} vs {theirs}");
        let (a, a_target) = self.spawn_tunnel("tunnel", true).await?;
        let (b, b_target) = self.spawn_tunnel_with(&alt, "tunnel", true).await?;
        let close = self.spec(CONNECTIONS, true, false);
        let flat = self
            .pairs(
                "close",
                (&a, &a_target, &mine),
                (&b, &b_target, &theirs),
                close,
            )
            .await;
        let (last_a, last_b) = flat.last().ok_or("no pairs")?;
        let paced = Self::paced(close, last_a, last_b);
        let cpu = self
            .pairs(
                "close, paced",
                (&a, &a_target, &mine),
                (&b, &b_target, &theirs),
                paced,
            )
            .await;
        a.stop().await;
        b.stop().await;
        self.paired_row(
            "crypto_new_stream_cpu",
            "server CPU",
            "us/req",
            (&mine, &theirs),
            &cpu,
            |m: &Measured| m.cpu_us_per_req,
            Goal::None,
        );
        Ok(())
    }

    /// Downtime of a tunnel: from a dropped control channel to
    /// the first request answered again through the edge, over many drops.
    async fn reconnect(&mut self) -> Result<(), BoxError> {
        let drops = if self.opts.quick { 20 } else { 50 };
        println!("reconnect: {drops} dropped control channels, requests every 2 ms");
        let client = self.client()?;
        let tunnel = client
            .tunnel(
                rstream_core::TunnelOptions::http()
                    .publish(true)
                    .name("bench-reconnect"),
            )
            .await?;
        let address = tunnel.forwarding_address();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "up" }));
        let listener = rstream_axum::TunnelListener::new(tunnel.clone());
        let server = tokio::spawn(axum::serve(listener, app).into_future());
        let mut downtimes = Vec::with_capacity(drops);
        for _ in 0..drops {
            // Up before the drop.
            self.until_served(&address).await?;
            let dropped = Instant::now();
            self.engine.faults().abort_control_channels();
            self.until_served(&address).await?;
            downtimes.push(dropped.elapsed().as_secs_f64() * 1000.0);
        }
        tunnel.close().await?;
        server.abort();
        downtimes.sort_by(f64::total_cmp);
        let at = |q: f64| downtimes[((downtimes.len() - 1) as f64 * q).round() as usize];
        let (median, p90) = (at(0.5), at(0.9));
        println!(
            "  downtime ms: min {:.1}  median {median:.1}  p90 {p90:.1}  max {:.1}",
            downtimes[0],
            downtimes[downtimes.len() - 1]
        );
        self.row(
            "reconnect",
            "downtime",
            "ms",
            "median",
            median,
            "p90",
            p90,
            Goal::ValueAtMost(100.0),
        );
        Ok(())
    }

    /// Requests `/` through the edge every 2 ms until it is answered (at
    /// most 10 s).
    async fn until_served(&self, address: &str) -> Result<(), BoxError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(response) = self.engine.get(address, "/").await {
                if response.status == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err("the tunnel did not serve again within 10 s".into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// Opens [`IDLE_CONNECTIONS`] keep-alive connections (one request each,
/// then idle) and returns the serving process' RSS growth per connection.
async fn idle_rss_per_conn(server: &Server, target: &Target) -> Result<f64, BoxError> {
    // Warm the server up first so lazily built state is not counted.
    let mut warm = Vec::new();
    for _ in 0..16 {
        let mut sender = target.connect().await?;
        load::roundtrip(&mut sender, target, false).await?;
        warm.push(sender);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.rss_kib().ok_or("cannot read the server's RSS")?;
    let mut open = Vec::with_capacity(IDLE_CONNECTIONS);
    let mut pending = Vec::new();
    for _ in 0..IDLE_CONNECTIONS {
        let target = target.clone();
        pending.push(tokio::spawn(async move {
            let mut sender = target.connect().await?;
            load::roundtrip(&mut sender, &target, false).await?;
            Ok::<_, BoxError>(sender)
        }));
        if pending.len() == 50 {
            for task in pending.drain(..) {
                open.push(task.await??);
            }
        }
    }
    for task in pending.drain(..) {
        open.push(task.await??);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss_kib().ok_or("cannot read the server's RSS")?;
    drop(open);
    drop(warm);
    Ok(after.saturating_sub(before) as f64 / IDLE_CONNECTIONS as f64)
}

fn path_str(path: &Path) -> Result<&str, BoxError> {
    path.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()).into())
}
