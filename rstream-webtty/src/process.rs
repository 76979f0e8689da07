//! The command a session runs: spawned with pipes, or on a pseudo-terminal
//! (Unix), in a process group of its own so that ending the session stops
//! everything it started.

use std::process::Stdio;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::Error;
use crate::proto::{self, data};

/// Resizes a command's terminal.
pub(crate) type Resizer = Box<dyn Fn(u16, u16) -> Result<(), Error> + Send + Sync>;
type Reader = Box<dyn AsyncRead + Unpin + Send>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

/// A running command.
pub(crate) struct Process {
    child: tokio::process::Child,
    outputs: Vec<(data::Type, Reader)>,
    stdin: Option<Writer>,
    resizer: Option<Resizer>,
}

/// Server environment variables a command inherits: the ones a shell needs,
/// not the server's secrets.
const INHERITED: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "TZ",
    "LC_ADDRESS",
    "LC_ALL",
    "LC_COLLATE",
    "LC_CTYPE",
    "LC_IDENTIFICATION",
    "LC_MEASUREMENT",
    "LC_MESSAGES",
    "LC_MONETARY",
    "LC_NAME",
    "LC_NUMERIC",
    "LC_PAPER",
    "LC_TELEPHONE",
    "LC_TIME",
];

/// What to run, from an `Open`, checked.
struct Plan {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<String>,
    tty: bool,
}

fn plan(open: &proto::Open, server_env: &[(String, String)]) -> Result<Plan, Error> {
    let config = open
        .config
        .as_ref()
        .ok_or_else(|| Error::Protocol("the Open message has no command config".to_owned()))?;
    if let Some(user) = config.username.as_ref().and_then(|u| u.payload.as_ref()) {
        let current = std::env::var("USER").ok();
        let same = match user {
            proto::username::Payload::Name(name) => current.as_deref() == Some(name.as_str()),
            proto::username::Payload::Id(_) => false,
        };
        if !same {
            return Err(Error::Config(
                "this server runs commands as its own user; choosing another OS user is not \
                 supported"
                    .to_owned(),
            ));
        }
    }
    let mut env: Vec<(String, String)> = INHERITED
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
        .collect();
    let mut set = |key: &str, value: &str| {
        env.retain(|(k, _)| k != key);
        env.push((key.to_owned(), value.to_owned()));
    };
    for (k, v) in server_env {
        set(k, v);
    }
    for e in &config.env_vars {
        if e.key.is_empty() || e.key.contains(['=', '\0']) || e.value.contains('\0') {
            return Err(Error::Config(format!(
                "invalid environment variable {:?}",
                e.key
            )));
        }
        set(&e.key, &e.value);
    }
    let tty = config.options.as_ref().is_some_and(|o| o.allocate_tty);
    if tty && !env.iter().any(|(k, _)| k == "TERM") {
        env.push(("TERM".to_owned(), "xterm-256color".to_owned()));
    }
    let mut args = config.cmd_args.clone();
    let program = if args.is_empty() {
        // The user's login shell.
        std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".to_owned())
    } else {
        args.remove(0)
    };
    if program.is_empty() {
        return Err(Error::Config("the command's program is empty".to_owned()));
    }
    let cwd = config
        .workdir
        .as_ref()
        .map(|w| w.value.clone())
        .filter(|w| !w.is_empty())
        // The user's home when it exists, else the server's own directory.
        .or_else(|| {
            std::env::var("HOME")
                .ok()
                .filter(|h| std::path::Path::new(h).is_dir())
        });
    Ok(Plan {
        program,
        args,
        env,
        cwd,
        tty,
    })
}

/// Starts the command `open` asks for.
pub(crate) fn spawn(open: &proto::Open, server_env: &[(String, String)]) -> Result<Process, Error> {
    let plan = plan(open, server_env)?;
    if plan.tty {
        return spawn_tty(plan);
    }
    let mut command = tokio::process::Command::new(&plan.program);
    command
        .args(&plan.args)
        .env_clear()
        .envs(plan.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(cwd) = &plan.cwd {
        command.current_dir(cwd);
    }
    #[cfg(unix)]
    command.process_group(0);
    let mut child = command
        .spawn()
        .map_err(|e| Error::Config(format!("cannot start {:?}: {e}", plan.program)))?;
    let mut outputs: Vec<(data::Type, Reader)> = Vec::new();
    if let Some(out) = child.stdout.take() {
        outputs.push((data::Type::Stdout, Box::new(out)));
    }
    if let Some(err) = child.stderr.take() {
        outputs.push((data::Type::Stderr, Box::new(err)));
    }
    let stdin = child.stdin.take().map(|s| Box::new(s) as Writer);
    Ok(Process {
        child,
        outputs,
        stdin,
        resizer: None,
    })
}

#[cfg(unix)]
fn spawn_tty(plan: Plan) -> Result<Process, Error> {
    let pty_error = |e: pty_process::Error| Error::Config(format!("cannot open a terminal: {e}"));
    let (pty, pts) = pty_process::open().map_err(pty_error)?;
    pty.resize(pty_process::Size::new(24, 80))
        .map_err(pty_error)?;
    let mut command = pty_process::Command::new(&plan.program)
        .args(&plan.args)
        .env_clear()
        .envs(plan.env.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(true);
    if let Some(cwd) = &plan.cwd {
        command = command.current_dir(cwd);
    }
    let child = command
        .spawn(pts)
        .map_err(|e| Error::Config(format!("cannot start {:?}: {e}", plan.program)))?;
    let (read, write) = pty.into_split();
    let write = Arc::new(tokio::sync::Mutex::new(write));
    let resize_handle = write.clone();
    let resizer: Resizer = Box::new(move |rows, cols| {
        let guard = resize_handle
            .try_lock()
            .map_err(|_| Error::Protocol("the terminal is busy; resize again".to_owned()))?;
        guard
            .resize(pty_process::Size::new(rows, cols))
            .map_err(|e| Error::Protocol(format!("cannot resize the terminal: {e}")))
    });
    Ok(Process {
        child,
        outputs: vec![(data::Type::Stdout, Box::new(read))],
        stdin: Some(Box::new(PtyInput(write))),
        resizer: Some(resizer),
    })
}

#[cfg(not(unix))]
fn spawn_tty(_plan: Plan) -> Result<Process, Error> {
    Err(Error::Config(
        "terminals are only supported on Unix by this server".to_owned(),
    ))
}

/// Writes to a terminal. The end of input is not a close: the terminal
/// stays open for output (as the references do).
#[cfg(unix)]
struct PtyInput(Arc<tokio::sync::Mutex<pty_process::OwnedWritePty>>);

#[cfg(unix)]
impl AsyncWrite for PtyInput {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match self.0.try_lock() {
            Ok(mut guard) => std::pin::Pin::new(&mut *guard).poll_write(cx, buf),
            Err(_) => {
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        }
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        match self.0.try_lock() {
            Ok(mut guard) => std::pin::Pin::new(&mut *guard).poll_flush(cx),
            Err(_) => {
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        }
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl Process {
    /// The output streams to read: stdout and stderr, or the terminal.
    pub(crate) fn take_outputs(&mut self) -> Vec<(data::Type, Reader)> {
        std::mem::take(&mut self.outputs)
    }

    /// Where stdin goes.
    pub(crate) fn take_stdin(&mut self) -> Option<Writer> {
        self.stdin.take()
    }

    /// Resizes the terminal, for a command that has one.
    pub(crate) fn resizer(&mut self) -> Option<Resizer> {
        self.resizer.take()
    }

    /// Waits for the exit status (-1: killed by a signal).
    pub(crate) async fn wait(&mut self) -> i32 {
        match self.child.wait().await {
            Ok(status) => status.code().unwrap_or(-1),
            Err(_) => -1,
        }
    }

    /// Stops the command and everything in its process group.
    pub(crate) fn kill(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.child.id() {
            use nix::sys::signal::{Signal, killpg};
            use nix::unistd::Pid;
            if let Ok(pid) = i32::try_from(pid) {
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        let _ = self.child.start_kill();
    }
}
