//! `rstream-bench`: serving through a tunnel, side by side with the direct
//! baselines, in one run on one machine.
//!
//! ```text
//! cargo run --release -p rstream-bench -- [--quick] [--json FILE] [--python PATH] [--only a,b]
//! cargo run --release -p rstream-bench -- table FILE   # the Markdown table of a --json file
//! ```
//!
//! A local engine runs in this process, next to the load generator (a hyper
//! client). The serving side of the HTTP scenarios runs in a child process
//! (this same program, `rstream-bench serve ...`) so that its CPU time and
//! memory can be read from `/proc`. Absolute numbers depend on the machine;
//! the ratios are what to compare.

mod bulk;
mod load;
mod pin;
mod report;
mod scenarios;
mod serve;
mod tls;

use std::path::PathBuf;
use std::time::Duration;

/// Any error, boxed.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Command-line options of a benchmark run.
#[derive(Debug, Default)]
pub(crate) struct Options {
    pub(crate) quick: bool,
    pub(crate) json: Option<PathBuf>,
    pub(crate) python: Option<PathBuf>,
    pub(crate) only: Option<Vec<String>>,
    pub(crate) crypto_alt: Option<PathBuf>,
    pub(crate) no_pin: bool,
    /// Alternating pairs per goal row (`--pairs`, at least 3).
    pub(crate) pairs: Option<usize>,
    /// Cores this run may use (counted before any pinning).
    pub(crate) cores: usize,
    /// The cores of each party, when the machine has enough to pin.
    pub(crate) layout: Option<pin::Layout>,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, BoxError> {
        let mut out = Options::default();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = || {
                it.next()
                    .cloned()
                    .ok_or_else(|| format!("{arg} needs a value"))
            };
            match arg.as_str() {
                "--quick" => out.quick = true,
                "--no-pin" => out.no_pin = true,
                "--pairs" => {
                    let text = value()?;
                    let pairs: usize = text
                        .parse()
                        .map_err(|_| format!("--pairs wants a whole number, not {text:?}"))?;
                    if pairs < 3 {
                        return Err("--pairs must be at least 3".into());
                    }
                    out.pairs = Some(pairs);
                }
                "--json" => out.json = Some(value()?.into()),
                "--python" => out.python = Some(value()?.into()),
                "--crypto-alt" => out.crypto_alt = Some(value()?.into()),
                "--only" => {
                    out.only = Some(value()?.split(',').map(|s| s.trim().to_owned()).collect())
                }
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other}\n{USAGE}").into()),
            }
        }
        Ok(out)
    }

    /// Decides the core layout and, when there is one, pins this thread
    /// (the load generator's runtime starts from it) to the load cores.
    fn with_layout(mut self) -> Result<Options, BoxError> {
        let allowed = pin::allowed_cores()?;
        self.cores = match allowed.len() {
            // Not known where pinning is not supported.
            0 => std::thread::available_parallelism().map_or(0, |n| n.get()),
            n => n,
        };
        if !self.no_pin {
            self.layout = pin::Layout::split(&allowed);
        }
        if let Some(layout) = &self.layout {
            pin::pin_current_thread(&layout.load)?;
        }
        Ok(self)
    }

    /// Whether the scenario group `name` is selected.
    pub(crate) fn wants(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| only.iter().any(|o| o == name))
    }

    /// Warm-up before each measurement.
    pub(crate) fn warmup(&self) -> Duration {
        if self.quick {
            Duration::from_millis(150)
        } else {
            Duration::from_secs(1)
        }
    }

    /// Length of each measurement.
    pub(crate) fn duration(&self) -> Duration {
        if self.quick {
            Duration::from_millis(450)
        } else {
            Duration::from_secs(4)
        }
    }

    /// How many alternating pairs measure each row with a goal (3 unless
    /// `--pairs` says more: a noisy machine needs more to narrow a median).
    pub(crate) fn pairs(&self) -> usize {
        self.pairs.unwrap_or(3)
    }
}

const USAGE: &str =
    "usage: rstream-bench [--quick] [--json FILE] [--python PATH] [--only GROUPS] [--no-pin] [--pairs N]
       rstream-bench table FILE   (the Markdown table of a --json file)
  --quick        short runs (under a minute in all)
  --json FILE    also write the results as JSON
  --python PATH  a Python interpreter with rstreamlabs-rstream installed
                 (see tests/bench/setup-python.sh); adds the Python SDK row
  --crypto-alt PATH  a build of rstream-bench with the other TLS crypto
                 backend (cargo build --release -p rstream-bench --features
                 aws-lc-rs --target-dir target/aws-lc); adds the crypto row
  --only GROUPS  comma-separated subset of: http, actix, resumption, python,
                 bulk, memory, relayed, reconnect, crypto
  --pairs N      alternating pairs per goal row (default 3, at least 3)
  --no-pin       do not pin the engine, the load generator and the serving
                 side to cores of their own (done by default with 4 or more
                 cores)";

/// The TLS crypto backend this build of the SDK uses.
const BACKEND: &str = if cfg!(feature = "aws-lc-rs") {
    "aws-lc-rs"
} else {
    "ring"
};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args == ["backend"] {
        println!("{BACKEND}");
        return;
    }
    if let [command, file] = args.as_slice() {
        if command == "table" {
            // The README's table, from one run's `--json` file.
            let table = std::fs::read_to_string(file)
                .map_err(|e| format!("reading {file}: {e}"))
                .and_then(|text| {
                    serde_json::from_str(&text).map_err(|e| format!("{file} is not JSON: {e}"))
                })
                .map(|doc| report::table_from_json(&doc));
            match table {
                Ok(table) => print!("{table}"),
                Err(e) => {
                    eprintln!("rstream-bench: {e}");
                    std::process::exit(1);
                }
            }
            return;
        }
    }
    let serving = args.first().map(String::as_str) == Some("serve");
    if serving {
        // A serving child pins itself before any other thread starts.
        if let Err(e) = pin::pin_from_env() {
            eprintln!("rstream-bench: {e}");
            std::process::exit(1);
        }
    }
    if serving && args.iter().any(|a| a == "actix-direct") {
        // actix-web's HttpServer runs on actix's own runtime.
        let result = serve::ServeArgs::parse(&args[1..]).and_then(|a| {
            actix_rt::System::new().block_on(async move { serve::serve_actix_direct(a).await })
        });
        if let Err(e) = result {
            eprintln!("rstream-bench: {e}");
            std::process::exit(1);
        }
        return;
    }
    let options = if serving {
        None
    } else {
        match Options::parse(&args).and_then(Options::with_layout) {
            Ok(options) => Some(options),
            Err(e) => {
                eprintln!("rstream-bench: {e}");
                std::process::exit(1);
            }
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rstream-bench: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = match options {
        None => serve::ServeArgs::parse(&args[1..])
            .and_then(|a| runtime.block_on(async move { serve::serve_main(a).await })),
        Some(options) => runtime.block_on(scenarios::run(options)),
    };
    if let Err(e) = result {
        eprintln!("rstream-bench: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, BoxError> {
        Options::parse(&args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn pairs_default_to_three_and_never_go_below() {
        assert_eq!(parse(&[]).unwrap().pairs(), 3);
        assert_eq!(parse(&["--pairs", "7"]).unwrap().pairs(), 7);
        assert!(parse(&["--pairs", "2"]).is_err());
        assert!(parse(&["--pairs", "many"]).is_err());
        assert!(parse(&["--pairs"]).is_err());
        assert!(parse(&["--no-pin", "--quick"]).unwrap().no_pin);
        assert!(parse(&["--bogus"]).is_err());
    }
}
