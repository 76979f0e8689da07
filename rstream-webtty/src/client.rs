//! The WebTTY client: run a command on a WebTTY server and collect its
//! output ([`run_command`]), or stream it ([`open_command`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rstream_core::Secret;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::crypto::{SessionKey, SigningIdentity, Stream};
use crate::handshake::ClientAuth;
use crate::proto::{self, Message, data, message};
use crate::wire;
use crate::{Error, ServerInfo, ServerKeys};

/// How long connecting and opening a session may take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on a collected command's stdout and stderr together.
pub const DEFAULT_OUTPUT_LIMIT: usize = 16 * 1024 * 1024;
/// Largest stdin payload per message.
pub const STDIN_CHUNK: usize = 64 * 1024;
/// How often a client sends a heartbeat (the references' interval).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// What a WebSocket runs over.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}
type Socket = WebSocketStream<Box<dyn Io>>;

/// Where a WebTTY server is and how to authenticate to it.
#[derive(Clone)]
pub struct Endpoint {
    target: Target,
    bearer: Option<Secret>,
    connect_timeout: Duration,
    server_keys: Option<ServerKeys>,
    identity: Option<SigningIdentity>,
}

#[derive(Clone)]
enum Target {
    Url {
        url: String,
        connect_to: Option<SocketAddr>,
        tls: Option<Arc<rustls::ClientConfig>>,
    },
    Private {
        client: rstream_core::Client,
        tunnel: String,
        path: String,
    },
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry `rstream.token`: only the scheme and host show.
        let target = match &self.target {
            Target::Url { url, .. } => url.split(['?', '#']).next().unwrap_or_default().to_owned(),
            Target::Private { tunnel, path, .. } => format!("rstrm://{tunnel}{path}"),
        };
        f.debug_struct("Endpoint")
            .field("target", &target)
            .field("bearer", &self.bearer.is_some())
            .finish()
    }
}

impl Endpoint {
    /// A server at a `ws://` or `wss://` URL (`http`/`https` are taken as
    /// `ws`/`wss`), the command endpoint's path included.
    pub fn url(url: impl Into<String>) -> Result<Endpoint, Error> {
        let url = url.into();
        let url = if let Some(rest) = url.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = url.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            url
        };
        if !(url.starts_with("ws://") || url.starts_with("wss://")) {
            return Err(Error::Config(
                "a WebTTY URL must be ws://, wss://, http:// or https:// (rstrm:// servers are \
                 reached with Endpoint::private)"
                    .to_owned(),
            ));
        }
        url.as_str()
            .into_client_request()
            .map_err(|e| Error::Config(format!("invalid WebTTY URL: {e}")))?;
        Ok(Endpoint {
            target: Target::Url {
                url,
                connect_to: None,
                tls: None,
            },
            bearer: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            server_keys: None,
            identity: None,
        })
    }

    /// A server on tunnel `tunnel` (name or id), reached with a private dial
    /// through `client`'s engine; the runtime's credentials authenticate
    /// the dial. The command endpoint is at `/`.
    pub fn private(client: rstream_core::Client, tunnel: impl Into<String>) -> Endpoint {
        Endpoint {
            target: Target::Private {
                client,
                tunnel: tunnel.into(),
                path: "/".to_owned(),
            },
            bearer: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            server_keys: None,
            identity: None,
        }
    }

    /// A discovered server: its published URL (WebSocket transport), or a
    /// private dial through `client` when it is private.
    pub fn for_server(
        server: &ServerInfo,
        client: &rstream_core::Client,
    ) -> Result<Endpoint, Error> {
        if server.publish && !server.host.is_empty() {
            return Endpoint::url(server.url()?);
        }
        let tunnel = server
            .tunnel_name
            .clone()
            .unwrap_or_else(|| server.tunnel_id.clone());
        Ok(Endpoint::private(client.clone(), tunnel)
            .path(server.exec_path.as_deref().unwrap_or("/")))
    }

    /// Adds `rstream.token=<token>` to the URL: how the engine's edge
    /// authenticates a published tunnel with token authentication.
    pub fn token(mut self, token: &str) -> Endpoint {
        if let Target::Url { url, .. } = &mut self.target {
            let base = url.split('#').next().unwrap_or_default();
            let separator = if base.contains('?') { '&' } else { '?' };
            *url = format!(
                "{base}{separator}rstream.token={}",
                percent_encoding::utf8_percent_encode(token, crate::URL_COMPONENT)
            );
        }
        self
    }

    /// Sends `Authorization: Bearer <token>`: the WebTTY server's own token
    /// (see [`crate::ServerBuilder::bearer_token`]).
    pub fn bearer(mut self, token: impl Into<Secret>) -> Endpoint {
        self.bearer = Some(token.into());
        self
    }

    /// The command endpoint's path on a private tunnel (default `/`).
    pub fn path(mut self, path: &str) -> Endpoint {
        if let Target::Private { path: p, .. } = &mut self.target {
            *p = if path.starts_with('/') {
                path.to_owned()
            } else {
                format!("/{path}")
            };
        }
        self
    }

    /// Connects to `address` instead of resolving the URL's host (the
    /// request still names the host).
    pub fn connect_to(mut self, address: SocketAddr) -> Endpoint {
        if let Target::Url { connect_to, .. } = &mut self.target {
            *connect_to = Some(address);
        }
        self
    }

    /// The TLS settings of a `wss://` URL (default: the system's roots).
    pub fn tls_config(mut self, config: Arc<rustls::ClientConfig>) -> Endpoint {
        if let Target::Url { tls, .. } = &mut self.target {
            *tls = Some(config);
        }
        self
    }

    /// Pins the server's keys: the session then requires the server's
    /// signed hello (checked against `keys`), and stdin, stdout and stderr
    /// are encrypted end to end with a fresh session key only that server
    /// can unwrap.
    pub fn trust_server(mut self, keys: ServerKeys) -> Endpoint {
        self.server_keys = Some(keys);
        self
    }

    /// The key that signs this client's proof, for servers that require
    /// one (its public key must be authorized on the server).
    pub fn client_identity(mut self, identity: SigningIdentity) -> Endpoint {
        self.identity = Some(identity);
        self
    }

    /// How long connecting and opening a session may take (default 10 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Endpoint {
        self.connect_timeout = timeout;
        self
    }

    /// A connection to the server, and the URL of the command endpoint
    /// on it (`ws://<tunnel><path>` for a private dial).
    pub(crate) async fn connect_io(&self) -> Result<(Box<dyn Io>, String), Error> {
        Ok(match &self.target {
            Target::Url {
                url,
                connect_to,
                tls,
            } => {
                let request = url
                    .as_str()
                    .into_client_request()
                    .map_err(|e| Error::Config(format!("invalid WebTTY URL: {e}")))?;
                let uri = request.uri();
                let host = uri
                    .host()
                    .ok_or_else(|| Error::Config("the WebTTY URL has no host".to_owned()))?
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_owned();
                let secure = uri.scheme_str() == Some("wss");
                let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
                let tcp = match connect_to {
                    Some(address) => TcpStream::connect(address).await,
                    None => TcpStream::connect((host.as_str(), port)).await,
                }
                .map_err(|e| Error::io("connecting", e))?;
                let _ = tcp.set_nodelay(true);
                let io: Box<dyn Io> = if secure {
                    let config = match tls {
                        Some(config) => config.clone(),
                        None => default_tls()?,
                    };
                    let name = rustls::pki_types::ServerName::try_from(host.clone())
                        .map_err(|_| Error::Config(format!("{host} is not a TLS server name")))?;
                    Box::new(
                        tokio_rustls::TlsConnector::from(config)
                            .connect(name, tcp)
                            .await
                            .map_err(|e| Error::io("TLS handshake", e))?,
                    )
                } else {
                    Box::new(tcp)
                };
                (io, url.clone())
            }
            Target::Private {
                client,
                tunnel,
                path,
            } => {
                let stream = client.dial(tunnel).await?;
                (Box::new(stream), format!("ws://{tunnel}{path}"))
            }
        })
    }

    /// The `Authorization` header value, when a bearer token is set.
    pub(crate) fn authorization(&self) -> Result<Option<http::HeaderValue>, Error> {
        self.bearer
            .as_ref()
            .map(|token| {
                format!("Bearer {}", token.expose())
                    .parse()
                    .map_err(|_| Error::Config("the token cannot travel in a header".to_owned()))
            })
            .transpose()
    }

    async fn connect(&self) -> Result<Socket, Error> {
        let (io, url) = self.connect_io().await?;
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| Error::Config(format!("invalid WebTTY URL: {e}")))?;
        if let Some(value) = self.authorization()? {
            request.headers_mut().insert("authorization", value);
        }
        let (socket, _) = tokio_tungstenite::client_async_with_config(
            request,
            io,
            Some(wire::websocket_config()),
        )
        .await
        .map_err(|e| wire::ws_error("opening the WebSocket", e))?;
        Ok(socket)
    }
}

/// The system's root certificates, for `wss://` URLs.
fn default_tls() -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if roots.is_empty() {
        return Err(Error::Config(
            "no system root certificates for wss://; set Endpoint::tls_config".to_owned(),
        ));
    }
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS settings: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A terminal size in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TerminalSize {
    /// Rows.
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

/// What to run and how.
#[derive(Debug, Clone)]
pub struct CommandOptions {
    args: Vec<String>,
    env: Vec<(String, String)>,
    cwd: Option<String>,
    user: Option<String>,
    tty: Option<TerminalSize>,
    interactive: Option<bool>,
    stdin: Option<Vec<u8>>,
    timeout: Option<Duration>,
    output_limit: usize,
}

impl CommandOptions {
    /// Runs `args` (the program, then its arguments), without a terminal.
    pub fn new<I, S>(args: I) -> CommandOptions
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        CommandOptions {
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            cwd: None,
            user: None,
            tty: None,
            interactive: None,
            stdin: None,
            timeout: None,
            output_limit: DEFAULT_OUTPUT_LIMIT,
        }
    }

    /// An interactive session: the user's login shell on a terminal of
    /// `rows` × `cols`.
    pub fn shell(rows: u16, cols: u16) -> CommandOptions {
        CommandOptions::new(Vec::<String>::new())
            .tty(rows, cols)
            .interactive(true)
    }

    /// Sets an environment variable for the command.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The working directory (default: the server's choice, the user's
    /// home).
    pub fn cwd(mut self, dir: impl Into<String>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// The OS user to run as (servers may refuse).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = Some(user.into());
        self
    }

    /// Runs on a pseudo-terminal of `rows` × `cols` (stderr then arrives
    /// on stdout, as on any terminal).
    pub fn tty(mut self, rows: u16, cols: u16) -> Self {
        self.tty = Some(TerminalSize { rows, cols });
        self
    }

    /// Whether stdin is sent (default: when [`CommandOptions::stdin`] is
    /// set, or for [`open_command`] where the caller writes it).
    pub fn interactive(mut self, interactive: bool) -> Self {
        self.interactive = Some(interactive);
        self
    }

    /// Bytes written to the command's stdin, then end of input.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Stops the command (closing the session, which kills it) after
    /// `timeout`; [`run_command`] then returns [`Error::Timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Bound on stdout and stderr together for [`run_command`] (default
    /// 16 MiB); passing it stops the command with [`Error::OutputLimit`].
    pub fn output_limit(mut self, bytes: usize) -> Self {
        self.output_limit = bytes;
        self
    }

    fn open_message(&self, interactive: bool) -> proto::Open {
        let config = proto::Config {
            options: Some(proto::Options {
                interactive,
                allocate_tty: self.tty.is_some(),
                send_heartbeat: true,
            }),
            cmd_args: self.args.clone(),
            env_vars: self
                .env
                .iter()
                .map(|(key, value)| proto::Environment {
                    key: key.clone(),
                    value: value.clone(),
                })
                .collect(),
            workdir: self
                .cwd
                .clone()
                .filter(|d| !d.is_empty())
                .map(|value| proto::Workdir { value }),
            username: self
                .user
                .clone()
                .filter(|u| !u.is_empty())
                .map(|name| proto::Username {
                    payload: Some(proto::username::Payload::Name(name)),
                }),
        };
        proto::Open {
            config: Some(config),
            ..Default::default()
        }
    }
}

/// What a running command produced, in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Bytes on stdout.
    Stdout(Vec<u8>),
    /// Bytes on stderr.
    Stderr(Vec<u8>),
    /// Stdout ended.
    StdoutEnd,
    /// Stderr ended.
    StderrEnd,
    /// The command exited with this status (-1: killed by a signal). The
    /// last event.
    Exit(i32),
}

/// A collected command's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The exit status (-1: killed by a signal).
    pub exit_code: i32,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Whether the command exited with status 0.
    pub fn success(&self) -> bool {
        self.exit_code == 0
    }
}

/// A running command: write its stdin, resize its terminal, read its
/// output as [`Event`]s. Dropping it closes the session, which stops the
/// command on the server.
#[derive(Debug)]
pub struct Command {
    key: Option<SessionKey>,
    outgoing: mpsc::Sender<Message>,
    events: mpsc::Receiver<Result<Event, Error>>,
    driver: JoinHandle<()>,
    tty: bool,
}

impl Drop for Command {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Command {
    /// Writes `bytes` to the command's stdin (in messages of at most
    /// [`STDIN_CHUNK`] bytes).
    pub async fn write_stdin(&self, bytes: impl Into<Vec<u8>>) -> Result<(), Error> {
        let bytes = bytes.into();
        for chunk in bytes.chunks(STDIN_CHUNK) {
            let message = match &self.key {
                Some(key) => Message::new(message::Payload::Data(proto::Data {
                    r#type: data::Type::Stdin as i32,
                    payload: Some(data::Payload::EncryptedData(
                        key.encrypt(Stream::Stdin, chunk)?,
                    )),
                })),
                None => Message::data(data::Type::Stdin, chunk.to_vec()),
            };
            self.send(message).await?;
        }
        Ok(())
    }

    /// Ends the command's stdin.
    pub async fn close_stdin(&self) -> Result<(), Error> {
        self.send(Message::eos(data::Type::Stdin)).await
    }

    /// Resizes the command's terminal (only for commands with one).
    pub async fn resize(&self, rows: u16, cols: u16) -> Result<(), Error> {
        if !self.tty {
            return Err(Error::Config(
                "resize needs a command on a terminal (CommandOptions::tty)".to_owned(),
            ));
        }
        self.send(resize_message(TerminalSize { rows, cols })).await
    }

    /// The next event; `None` after [`Event::Exit`] or an error.
    pub async fn next_event(&mut self) -> Option<Result<Event, Error>> {
        self.events.recv().await
    }

    /// Reads the remaining output, up to `limit` bytes of stdout and stderr
    /// together, and the exit status.
    pub async fn wait_with_output(mut self, limit: usize) -> Result<Output, Error> {
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        loop {
            let event = match self.next_event().await {
                Some(event) => event?,
                None => return Err(Error::Closed),
            };
            let grow = |buf: &mut Vec<u8>, bytes: Vec<u8>, other: usize| {
                if buf.len() + bytes.len() + other > limit {
                    return Err(Error::OutputLimit { limit });
                }
                buf.extend_from_slice(&bytes);
                Ok(())
            };
            match event {
                Event::Stdout(bytes) => grow(&mut stdout, bytes, stderr.len())?,
                Event::Stderr(bytes) => grow(&mut stderr, bytes, stdout.len())?,
                Event::StdoutEnd | Event::StderrEnd => {}
                Event::Exit(exit_code) => {
                    return Ok(Output {
                        exit_code,
                        stdout,
                        stderr,
                    });
                }
            }
        }
    }

    async fn send(&self, message: Message) -> Result<(), Error> {
        self.outgoing.send(message).await.map_err(|_| Error::Closed)
    }

    /// The command as tokio I/O, like a child process's pipes: stdin as
    /// an `AsyncWrite` (shutting it down ends the command's input), stdout
    /// and stderr as `AsyncRead`s, and [`CommandIo::wait`] for the exit
    /// status. Output waits for its reader (64 KiB buffered per stream),
    /// as a pipe does: read both, or drop the one not wanted.
    pub fn into_io(self) -> CommandIo {
        const BUFFER: usize = 64 * 1024;
        let (stdin, mut stdin_source) = tokio::io::duplex(BUFFER);
        let (mut stdout_sink, stdout) = tokio::io::duplex(BUFFER);
        let (mut stderr_sink, stderr) = tokio::io::duplex(BUFFER);
        let (exit_tx, exit) = tokio::sync::oneshot::channel();
        let resize = self.tty.then(|| self.outgoing.clone());
        let mut command = self;
        let pump = tokio::spawn(async move {
            let mut input = [0u8; STDIN_CHUNK];
            let mut input_open = true;
            let result = loop {
                tokio::select! {
                    read = stdin_source.read(&mut input), if input_open => match read {
                        Ok(0) | Err(_) => {
                            input_open = false;
                            if let Err(e) = command.close_stdin().await {
                                break Err(e);
                            }
                        }
                        Ok(n) => {
                            if let Err(e) = command.write_stdin(input[..n].to_vec()).await {
                                break Err(e);
                            }
                        }
                    },
                    event = command.next_event() => match event {
                        // A reader that went away drops its stream's bytes.
                        Some(Ok(Event::Stdout(bytes))) => {
                            let _ = stdout_sink.write_all(&bytes).await;
                        }
                        Some(Ok(Event::Stderr(bytes))) => {
                            let _ = stderr_sink.write_all(&bytes).await;
                        }
                        Some(Ok(Event::StdoutEnd)) => {
                            let _ = stdout_sink.shutdown().await;
                        }
                        Some(Ok(Event::StderrEnd)) => {
                            let _ = stderr_sink.shutdown().await;
                        }
                        Some(Ok(Event::Exit(code))) => break Ok(code),
                        Some(Err(e)) => break Err(e),
                        None => break Err(Error::Closed),
                    },
                }
            };
            let _ = stdout_sink.shutdown().await;
            let _ = stderr_sink.shutdown().await;
            let _ = exit_tx.send(result);
        });
        CommandIo {
            stdin,
            stdout,
            stderr,
            exit: Some(exit),
            status: None,
            resize,
            _pump: AbortOnDrop(pump),
        }
    }
}

/// Aborts a task when dropped.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A running command as tokio I/O ([`Command::into_io`]). Dropping it
/// closes the session, which stops the command.
#[derive(Debug)]
pub struct CommandIo {
    /// The command's stdin; `shutdown` ends its input.
    pub stdin: tokio::io::DuplexStream,
    /// The command's stdout (on a terminal, all its output).
    pub stdout: tokio::io::DuplexStream,
    /// The command's stderr.
    pub stderr: tokio::io::DuplexStream,
    exit: Option<tokio::sync::oneshot::Receiver<Result<i32, Error>>>,
    status: Option<i32>,
    resize: Option<mpsc::Sender<Message>>,
    _pump: AbortOnDrop,
}

impl CommandIo {
    /// Resizes the command's terminal (only for commands with one).
    pub async fn resize(&self, rows: u16, cols: u16) -> Result<(), Error> {
        let outgoing = self.resize.as_ref().ok_or_else(|| {
            Error::Config("resize needs a command on a terminal (CommandOptions::tty)".to_owned())
        })?;
        outgoing
            .send(resize_message(TerminalSize { rows, cols }))
            .await
            .map_err(|_| Error::Closed)
    }

    /// Waits for the exit status (-1: killed by a signal). Output not yet
    /// read stays readable. Once known, the status is returned again; an
    /// error is returned once, then [`Error::Closed`].
    pub async fn wait(&mut self) -> Result<i32, Error> {
        if let Some(code) = self.status {
            return Ok(code);
        }
        let Some(exit) = self.exit.as_mut() else {
            return Err(Error::Closed);
        };
        let result = exit.await.unwrap_or(Err(Error::Closed));
        self.exit = None;
        if let Ok(code) = result {
            self.status = Some(code);
        }
        result
    }
}

fn resize_message(size: TerminalSize) -> Message {
    Message::new(message::Payload::Parameter(proto::Parameter {
        parameter: Some(proto::parameter::Parameter::TerminalSize(
            proto::TerminalSize {
                row: size.rows.into(),
                col: size.cols.into(),
                xpixel: 0,
                ypixel: 0,
            },
        )),
    }))
}

/// Starts a command on the server at `endpoint` and returns it running,
/// once the server has acknowledged it.
pub async fn open_command(endpoint: &Endpoint, options: &CommandOptions) -> Result<Command, Error> {
    let interactive = options.interactive.unwrap_or(true);
    open(endpoint, options, interactive).await
}

async fn open(
    endpoint: &Endpoint,
    options: &CommandOptions,
    interactive: bool,
) -> Result<Command, Error> {
    let handshake = async {
        let mut socket = endpoint.connect().await?;
        let mut open = options.open_message(interactive);
        let key = match &endpoint.server_keys {
            Some(keys) => {
                let hello = loop {
                    let Some(message) = wire::recv(&mut socket).await? else {
                        return Err(Error::Protocol(
                            "the server closed without a signed hello; it is not the pinned \
                             server, or has no identity"
                                .to_owned(),
                        ));
                    };
                    match message.payload {
                        Some(message::Payload::ServerHello(hello)) => break hello,
                        Some(other) => check_refusal(other)?,
                        None => {}
                    }
                };
                let auth = ClientAuth {
                    server: keys.clone(),
                    identity: endpoint.identity.clone(),
                };
                Some(auth.answer(&hello, &mut open, SystemTime::now())?)
            }
            None => None,
        };
        wire::send(&mut socket, &Message::new(message::Payload::Open(open))).await?;
        loop {
            let Some(message) = wire::recv(&mut socket).await? else {
                return Err(Error::Closed);
            };
            match message.payload {
                Some(message::Payload::Ack(_)) => return Ok((socket, key)),
                Some(other) => check_refusal(other)?,
                None => {}
            }
        }
    };
    let (mut socket, key) = tokio::time::timeout(endpoint.connect_timeout, handshake)
        .await
        .map_err(|_| Error::Timeout(endpoint.connect_timeout))??;
    if let Some(size) = options.tty {
        wire::send(&mut socket, &resize_message(size)).await?;
    }
    let (outgoing, outgoing_rx) = mpsc::channel(64);
    let (events_tx, events) = mpsc::channel(64);
    let driver = tokio::spawn(drive(socket, outgoing_rx, events_tx, key.clone()));
    Ok(Command {
        key,
        outgoing,
        events,
        driver,
        tty: options.tty.is_some(),
    })
}

/// What may arrive before the server's `Ack`: refusals become errors,
/// heartbeats are ignored, anything else is a protocol error.
fn check_refusal(payload: message::Payload) -> Result<(), Error> {
    match payload {
        message::Payload::Error(e) => Err(Error::Server(e.msg)),
        message::Payload::ProtocolError(e) => Err(Error::ProtocolRefusal {
            code: e.code,
            message: e.msg,
        }),
        message::Payload::ServerHello(_) => Err(Error::Config(
            "the WebTTY server requires authenticated end-to-end encryption: pin its keys \
             (Endpoint::trust_server) and set a client identity (Endpoint::client_identity)"
                .to_owned(),
        )),
        message::Payload::Heartbeat(_) => Ok(()),
        message::Payload::Close(_) => Err(Error::Protocol(
            "the server closed the session before starting the command".to_owned(),
        )),
        message::Payload::Data(_) => Err(Error::Protocol(
            "output arrived before the server acknowledged the command".to_owned(),
        )),
        _ => Err(Error::Protocol(
            "an unexpected message before the server acknowledged the command".to_owned(),
        )),
    }
}

/// Owns the WebSocket: forwards outgoing messages, sends heartbeats, and
/// turns incoming messages into events until the exit status.
async fn drive(
    mut socket: Socket,
    mut outgoing: mpsc::Receiver<Message>,
    events: mpsc::Sender<Result<Event, Error>>,
    key: Option<SessionKey>,
) {
    let mut heartbeat = tokio::time::interval(HEARTBEAT_INTERVAL);
    heartbeat.tick().await;
    let result: Result<(), Error> = async {
        loop {
            tokio::select! {
                message = outgoing.recv() => match message {
                    Some(message) => wire::send(&mut socket, &message).await?,
                    // The Command is gone: nothing more to send, but the
                    // output still has a reader only if events is open.
                    None => return Ok(()),
                },
                _ = heartbeat.tick() => {
                    let beat = Message::new(message::Payload::Heartbeat(proto::Heartbeat {}));
                    wire::send(&mut socket, &beat).await?;
                }
                received = wire::recv(&mut socket) => {
                    let Some(message) = received? else {
                        return Err(Error::Closed);
                    };
                    let event = match message.payload {
                        Some(message::Payload::Data(d)) => data_event(d, key.as_ref())?,
                        Some(message::Payload::Close(c)) => {
                            let _ = events.send(Ok(Event::Exit(c.return_code))).await;
                            let _ = socket.close(None).await;
                            return Ok(());
                        }
                        Some(message::Payload::Error(e)) => return Err(Error::Server(e.msg)),
                        Some(message::Payload::ProtocolError(e)) => {
                            return Err(Error::ProtocolRefusal { code: e.code, message: e.msg });
                        }
                        Some(message::Payload::Ack(_)) => {
                            return Err(Error::Protocol("a second acknowledgement".to_owned()));
                        }
                        _ => None,
                    };
                    if let Some(event) = event {
                        if events.send(Ok(event)).await.is_err() {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
    .await;
    if let Err(e) = result {
        let _ = events.send(Err(e)).await;
    }
}

fn data_event(d: proto::Data, key: Option<&SessionKey>) -> Result<Option<Event>, Error> {
    let stream = data::Type::try_from(d.r#type).ok();
    let open = |which: Stream, sealed: &proto::EncryptedPayload| match key {
        Some(key) => key.decrypt(which, sealed),
        None => Err(Error::Protocol(
            "encrypted output in a session without a session key".to_owned(),
        )),
    };
    Ok(match (stream, d.payload) {
        (Some(data::Type::Stdout | data::Type::Stderr), Some(data::Payload::Data(_)))
            if key.is_some() =>
        {
            return Err(Error::Protocol(
                "plaintext output in an end-to-end encrypted session".to_owned(),
            ));
        }
        (Some(data::Type::Stdout), Some(data::Payload::Data(b))) => Some(Event::Stdout(b)),
        (Some(data::Type::Stderr), Some(data::Payload::Data(b))) => Some(Event::Stderr(b)),
        (Some(data::Type::Stdout), Some(data::Payload::EncryptedData(e))) => {
            Some(Event::Stdout(open(Stream::Stdout, &e)?))
        }
        (Some(data::Type::Stderr), Some(data::Payload::EncryptedData(e))) => {
            Some(Event::Stderr(open(Stream::Stderr, &e)?))
        }
        (Some(data::Type::Stdout), Some(data::Payload::Eos(_))) => Some(Event::StdoutEnd),
        (Some(data::Type::Stderr), Some(data::Payload::Eos(_))) => Some(Event::StderrEnd),
        // Stdin echoes or empty data from a server are ignored.
        _ => None,
    })
}

/// Runs a command to completion on the server at `endpoint` and collects
/// its exit status, stdout and stderr (bounded by
/// [`CommandOptions::output_limit`], stopped after
/// [`CommandOptions::timeout`]).
pub async fn run_command(endpoint: &Endpoint, options: &CommandOptions) -> Result<Output, Error> {
    let run = async {
        let interactive = options.interactive.unwrap_or(options.stdin.is_some());
        if options.stdin.is_some() && !interactive {
            return Err(Error::Config(
                "command input needs an interactive session".to_owned(),
            ));
        }
        let command = open(endpoint, options, interactive).await?;
        if let Some(input) = &options.stdin {
            if !input.is_empty() {
                command.write_stdin(input.clone()).await?;
            }
            command.close_stdin().await?;
        }
        command.wait_with_output(options.output_limit).await
    };
    match options.timeout {
        Some(timeout) => tokio::time::timeout(timeout, run)
            .await
            .map_err(|_| Error::Timeout(timeout))?,
        None => run.await,
    }
}
