//! A WebTTY server a Rust process embeds: serves commands on a tunnel it
//! owns, in-process.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use rstream_core::{Secret, Tunnel, TunnelOptions};
use subtle::ConstantTimeEq;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::fs_server::{self, Body, Sidecar, full};

use crate::Error;
use crate::crypto::{self, EncryptionIdentity, SessionKey, SigningIdentity, Stream};
use crate::discovery::{APPLICATION_PROTOCOL, labels};
use crate::handshake::{Refusal, ServerAuth};
use crate::proto::{self, Message, data, message};
use crate::wire::{self, CHUNK};

/// How long a connection may take to send its `Open`.
pub const OPEN_DEADLINE: Duration = Duration::from_secs(5);
/// How often the server sends a heartbeat during a session.
pub const SERVER_HEARTBEAT: Duration = Duration::from_secs(5);

/// Who may open sessions.
#[derive(Clone)]
enum Auth {
    /// `Authorization: Bearer <token>` on the WebSocket upgrade.
    Bearer(Secret),
    /// The engine authenticates: the tunnel is private (only authenticated
    /// rstream clients can dial it) or published with token authentication.
    Engine,
}

/// Builds a [`Server`]. Authentication is required: [`ServerBuilder::build`]
/// refuses a server with none.
#[derive(Clone, Default)]
pub struct ServerBuilder {
    auth: Option<Auth>,
    identity: Option<(SigningIdentity, EncryptionIdentity)>,
    clients: Vec<Vec<u8>>,
    filesystem: Option<(std::path::PathBuf, bool)>,
    exec_path: Option<String>,
    env: Vec<(String, String)>,
    labels: BTreeMap<String, String>,
    open_deadline: Option<Duration>,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("exec_path", &self.exec_path)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// Requires `Authorization: Bearer <token>` on every connection
    /// (compared in constant time). Works on any tunnel; on a published
    /// one, leave the tunnel's token authentication off, since the engine
    /// may read the same header.
    pub fn bearer_token(mut self, token: impl Into<Secret>) -> Self {
        self.auth = Some(Auth::Bearer(token.into()));
        self
    }

    /// Lets the engine authenticate: [`Server::serve`] then only serves a
    /// private tunnel (reached by authenticated private dials) or a
    /// published one with token authentication
    /// ([`TunnelOptions::token_auth`]), and refuses any other.
    pub fn engine_auth(mut self) -> Self {
        self.auth = Some(Auth::Engine);
        self
    }

    /// The server's identity: every session then starts with a hello
    /// signed by `signing`, requires a client proof by an
    /// [authorized](ServerBuilder::authorize_client) key, and encrypts
    /// stdin, stdout and stderr end to end with a session key wrapped to
    /// `encryption`. Clients pin [`ServerKeys::of`](crate::ServerKeys::of) these
    /// identities.
    pub fn identity(mut self, signing: SigningIdentity, encryption: EncryptionIdentity) -> Self {
        self.identity = Some((signing, encryption));
        self
    }

    /// Authorizes a client signing key (P-256, SPKI DER) to open sessions
    /// on a server with an [identity](ServerBuilder::identity).
    pub fn authorize_client(mut self, signing_public_key: impl Into<Vec<u8>>) -> Self {
        self.clients.push(signing_public_key.into());
        self
    }

    /// Shares `root` through the filesystem sidecar at `/fs` (WebDAV:
    /// list, read, write, delete, make directories), behind the same
    /// authentication; `read_only` refuses writes. Not offered with an
    /// [identity](ServerBuilder::identity): the sidecar's bytes are not
    /// end-to-end encrypted.
    pub fn filesystem(mut self, root: impl Into<std::path::PathBuf>, read_only: bool) -> Self {
        self.filesystem = Some((root.into(), read_only));
        self
    }

    /// The command endpoint's path (default `/`), published in the
    /// `rstream.webtty.exec.path` label.
    pub fn exec_path(mut self, path: impl Into<String>) -> Self {
        self.exec_path = Some(path.into());
        self
    }

    /// An environment variable every command gets (a client's own value for
    /// the same name wins).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// A custom label, published as `rstream.webtty.label.<key>`.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// How long a connection may take to open its session (default 5 s).
    pub fn open_deadline(mut self, deadline: Duration) -> Self {
        self.open_deadline = Some(deadline);
        self
    }

    /// The server, or [`Error::Config`] when nothing authenticates
    /// clients (no bearer token, no engine authentication, no authorized
    /// client keys), or an identity has no authorized client.
    pub fn build(self) -> Result<Server, Error> {
        if let Some(Auth::Bearer(token)) = &self.auth {
            if token.expose().trim().is_empty() {
                return Err(Error::Config("the bearer token is empty".to_owned()));
            }
        }
        let e2e = match (self.identity, self.clients.is_empty()) {
            (Some((signing, encryption)), false) => Some(ServerAuth {
                signing,
                encryption,
                clients: self
                    .clients
                    .into_iter()
                    .map(|key| (crypto::signing_key_id(&key), key))
                    .collect(),
                workspace_id: None,
                project_id: None,
                server_id: None,
            }),
            (Some(_), true) => {
                return Err(Error::Config(
                    "a WebTTY server with an identity needs at least one authorized client key"
                        .to_owned(),
                ));
            }
            (None, false) => {
                return Err(Error::Config(
                    "authorized client keys need a server identity (ServerBuilder::identity)"
                        .to_owned(),
                ));
            }
            (None, true) => None,
        };
        if self.auth.is_none() && e2e.is_none() {
            return Err(Error::Config(
                "a WebTTY server needs authentication: set bearer_token, an identity with \
                 authorized client keys, or engine_auth on a private tunnel or one published \
                 with token authentication"
                    .to_owned(),
            ));
        }
        let auth = self.auth;
        let sidecar = match self.filesystem {
            Some(_) if e2e.is_some() => {
                return Err(Error::Config(
                    "the filesystem sidecar is not end-to-end encrypted: it cannot be offered \
                     by a server with an identity"
                        .to_owned(),
                ));
            }
            Some((root, read_only)) => {
                let root = root.canonicalize().map_err(|e| {
                    Error::Config(format!("the shared directory {}: {e}", root.display()))
                })?;
                if !root.is_dir() {
                    return Err(Error::Config(format!(
                        "{} is not a directory",
                        root.display()
                    )));
                }
                Some(Sidecar { root, read_only })
            }
            None => None,
        };
        let exec_path = self.exec_path.unwrap_or_else(|| "/".to_owned());
        if !exec_path.starts_with('/') || exec_path.contains(['?', '#']) {
            return Err(Error::Config(format!(
                "the exec path {exec_path:?} must be an absolute path without query or fragment"
            )));
        }
        Ok(Server {
            inner: Arc::new(Inner {
                auth,
                e2e,
                sidecar,
                exec_path,
                env: self.env,
                labels: self.labels,
                open_deadline: self.open_deadline.unwrap_or(OPEN_DEADLINE),
            }),
        })
    }
}

/// Serves WebTTY sessions: each connection runs one command, with its
/// stdin, stdout, stderr and exit status.
#[derive(Clone)]
pub struct Server {
    inner: Arc<Inner>,
}

struct Inner {
    auth: Option<Auth>,
    e2e: Option<ServerAuth>,
    sidecar: Option<Sidecar>,
    exec_path: String,
    env: Vec<(String, String)>,
    labels: BTreeMap<String, String>,
    open_deadline: Duration,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("exec_path", &self.inner.exec_path)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A builder; see [`ServerBuilder::bearer_token`],
    /// [`ServerBuilder::engine_auth`] and [`ServerBuilder::identity`].
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The labels discovery reads: the application protocol, capabilities,
    /// exec path, transport, this machine's OS facts and the custom labels.
    pub fn labels(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        out.insert(
            labels::APPLICATION_PROTOCOL.to_owned(),
            APPLICATION_PROTOCOL.to_owned(),
        );
        match &self.inner.sidecar {
            Some(sidecar) => {
                out.insert(labels::CAPABILITIES.to_owned(), "exec,fs".to_owned());
                out.insert(labels::FS_PATH.to_owned(), fs_server::FS_PATH.to_owned());
                out.insert(
                    labels::FS_MODE.to_owned(),
                    if sidecar.read_only {
                        "read-only"
                    } else {
                        "read-write"
                    }
                    .to_owned(),
                );
                out.insert(labels::FS_BACKEND.to_owned(), "webdav".to_owned());
            }
            None => {
                out.insert(labels::CAPABILITIES.to_owned(), "exec".to_owned());
            }
        }
        out.insert(labels::EXEC_PATH.to_owned(), self.inner.exec_path.clone());
        out.insert(labels::TRANSPORT.to_owned(), "websocket".to_owned());
        out.insert(labels::EXECUTION_MODE.to_owned(), "spawn".to_owned());
        match &self.inner.e2e {
            Some(e2e) => {
                out.insert(labels::E2E.to_owned(), "required".to_owned());
                out.insert(labels::CLIENT_PROOF.to_owned(), "required".to_owned());
                out.insert(
                    labels::ENCRYPTION_POLICY.to_owned(),
                    "explicit_key".to_owned(),
                );
                out.insert(
                    labels::HOST_KEY_ID.to_owned(),
                    crate::b64u(&e2e.encryption.key_id()),
                );
            }
            None => {
                out.insert(labels::E2E.to_owned(), "disabled".to_owned());
                out.insert(labels::CLIENT_PROOF.to_owned(), "none".to_owned());
                out.insert(labels::ENCRYPTION_POLICY.to_owned(), "disabled".to_owned());
            }
        }
        for (key, value) in crate::host::facts() {
            out.insert(key.to_owned(), value);
        }
        for (key, value) in &self.inner.labels {
            out.insert(format!("{}{key}", labels::CUSTOM_PREFIX), value.clone());
        }
        out
    }

    /// `options` with [`Server::labels`] added.
    pub fn tunnel_options(&self, options: TunnelOptions) -> TunnelOptions {
        self.labels()
            .into_iter()
            .fold(options, |options, (k, v)| options.label(k, v))
    }

    /// Serves every stream `tunnel` accepts until it closes. With
    /// [`ServerBuilder::engine_auth`], refuses a tunnel published without
    /// token authentication.
    pub async fn serve(&self, tunnel: Tunnel) -> Result<(), Error> {
        if let Some(Auth::Engine) = self.inner.auth {
            let info = match tunnel.info() {
                Some(info) => info,
                None => {
                    tunnel.online().await?;
                    tunnel.info().ok_or(Error::Closed)?
                }
            };
            if info.published && !info.token_auth {
                return Err(Error::Config(
                    "refusing to serve WebTTY on a tunnel published without token \
                     authentication: anyone reaching its URL could run commands; publish it \
                     with token_auth(true), keep it private, or set a bearer token"
                        .to_owned(),
                ));
            }
        }
        while let Some(stream) = tunnel.accept().await? {
            let server = self.clone();
            tokio::spawn(async move {
                if let Err(e) = server.serve_connection(stream).await {
                    tracing::debug!(error = %e, "WebTTY session ended with an error");
                }
            });
        }
        Ok(())
    }

    /// Serves one connection (HTTP/1.1): the command endpoint's WebSocket
    /// upgrade, and the filesystem sidecar when there is one; the
    /// authentication is checked on every request.
    pub async fn serve_connection<S>(&self, io: S) -> Result<(), Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let server = self.clone();
        let service = hyper::service::service_fn(move |request| {
            let server = server.clone();
            async move { Ok::<_, std::convert::Infallible>(server.route(request).await) }
        });
        hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(self.inner.open_deadline)
            .serve_connection(hyper_util::rt::TokioIo::new(io), service)
            .with_upgrades()
            .await
            .map_err(|e| Error::Protocol(format!("HTTP: {e}")))
    }

    async fn route(&self, request: Request<Incoming>) -> Response<Body> {
        if let Err(status) = check_auth(&self.inner, request.headers()) {
            return full(status, "");
        }
        let path = request.uri().path();
        if let Some(sidecar) = &self.inner.sidecar {
            if path == fs_server::FS_PATH || path.starts_with("/fs/") {
                return sidecar.handle(request).await;
            }
        }
        if path.trim_end_matches('/') != self.inner.exec_path.trim_end_matches('/') {
            return full(StatusCode::NOT_FOUND, "");
        }
        let upgrade = request
            .headers()
            .get("upgrade")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        let key = request.headers().get("sec-websocket-key").cloned();
        let (true, Some(key)) = (upgrade, key) else {
            return full(
                StatusCode::UPGRADE_REQUIRED,
                "the WebTTY endpoint speaks WebSocket\n",
            );
        };
        let accept = derive_accept_key(key.as_bytes());
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let upgraded = match hyper::upgrade::on(request).await {
                Ok(upgraded) => upgraded,
                Err(e) => {
                    tracing::debug!(error = %e, "WebTTY upgrade failed");
                    return;
                }
            };
            let socket = WebSocketStream::from_raw_socket(
                hyper_util::rt::TokioIo::new(upgraded),
                Role::Server,
                Some(wire::websocket_config()),
            )
            .await;
            if let Err(e) = Session::new(inner, socket).run().await {
                tracing::debug!(error = %e, "WebTTY session ended with an error");
            }
        });
        let mut response = full(StatusCode::SWITCHING_PROTOCOLS, "");
        let headers = response.headers_mut();
        headers.insert("upgrade", http::HeaderValue::from_static("websocket"));
        headers.insert("connection", http::HeaderValue::from_static("Upgrade"));
        if let Ok(accept) = http::HeaderValue::from_str(&accept) {
            headers.insert("sec-websocket-accept", accept);
        }
        response
    }
}

/// The bearer token of a request, when the server has one; the refusal's
/// status otherwise.
fn check_auth(inner: &Inner, headers: &http::HeaderMap) -> Result<(), StatusCode> {
    if let Some(Auth::Bearer(token)) = &inner.auth {
        let presented = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let mut parts = v.split_whitespace();
                match (parts.next(), parts.next(), parts.next()) {
                    (Some(scheme), Some(value), None) if scheme.eq_ignore_ascii_case("bearer") => {
                        Some(value)
                    }
                    _ => None,
                }
            });
        let ok = presented
            .is_some_and(|p| bool::from(p.as_bytes().ct_eq(token.expose().trim().as_bytes())));
        if !ok {
            return Err(StatusCode::UNAUTHORIZED);
        }
    }
    Ok(())
}

/// What the command's side produced.
enum Out {
    Chunk(data::Type, Vec<u8>),
    End(data::Type),
    Exit(i32),
}

struct Session<S> {
    inner: Arc<Inner>,
    socket: WebSocketStream<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    fn new(inner: Arc<Inner>, socket: WebSocketStream<S>) -> Self {
        Session { inner, socket }
    }

    async fn run(mut self) -> Result<(), Error> {
        let deadline = self.inner.open_deadline;
        let opened = tokio::time::timeout(deadline, self.open()).await;
        let (open, key) = match opened {
            Ok(Ok(opened)) => opened,
            // A refusal was already sent.
            Ok(Err(e @ Error::ProtocolRefusal { .. })) => return Err(e),
            Ok(Err(e)) => return self.fail(e).await,
            Err(_) => {
                let _ = self.socket.close(None).await;
                return Err(Error::Timeout(deadline));
            }
        };
        let process = match crate::process::spawn(&open, &self.inner.env) {
            Ok(process) => process,
            Err(e) => return self.fail(e).await,
        };
        wire::send(
            &mut self.socket,
            &Message::new(message::Payload::Ack(proto::Ack {})),
        )
        .await?;
        let result = self.pump(process, key).await;
        let _ = self.socket.close(None).await;
        result
    }

    /// The session's opening: with an identity, the signed hello, then the
    /// `Open` with its proof and key grant checked; without, the `Open`.
    async fn open(&mut self) -> Result<(proto::Open, Option<SessionKey>), Error> {
        let Some(e2e) = self.inner.e2e.clone() else {
            let open = self.read_open().await?;
            if open.session_key_grant.is_some() {
                return Err(Error::Protocol(
                    "this server has no identity for end-to-end encryption; open the session \
                     without a session key grant"
                        .to_owned(),
                ));
            }
            return Ok((open, None));
        };
        let session_id: String = crypto::random::<12>()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let hello = e2e.hello(&session_id, &crypto::random::<32>());
        wire::send(
            &mut self.socket,
            &Message::new(message::Payload::ServerHello(hello.clone())),
        )
        .await?;
        let open = self.read_open().await?;
        match e2e.check_open(&hello, &open, std::time::SystemTime::now()) {
            Ok(key) => Ok((open, Some(key))),
            Err(Refusal(code, msg)) => {
                let refusal = if code == proto::ProtocolErrorCode::Unspecified {
                    message::Payload::Error(proto::Error { msg: msg.clone() })
                } else {
                    message::Payload::ProtocolError(proto::ProtocolError {
                        code: code as i32,
                        msg: msg.clone(),
                    })
                };
                let _ = wire::send(&mut self.socket, &Message::new(refusal)).await;
                let _ = self.socket.close(None).await;
                Err(Error::ProtocolRefusal {
                    code: code as i32,
                    message: msg,
                })
            }
        }
    }

    /// Sends the error to the client, then closes.
    async fn fail(mut self, e: Error) -> Result<(), Error> {
        let msg = match &e {
            Error::Config(m) | Error::Protocol(m) | Error::Server(m) => m.clone(),
            other => other.to_string(),
        };
        let _ = wire::send(
            &mut self.socket,
            &Message::new(message::Payload::Error(proto::Error { msg })),
        )
        .await;
        let _ = self.socket.close(None).await;
        Err(e)
    }

    /// The session's `Open`; heartbeats and hellos before it are ignored.
    async fn read_open(&mut self) -> Result<proto::Open, Error> {
        loop {
            let Some(message) = wire::recv(&mut self.socket).await? else {
                return Err(Error::Closed);
            };
            match message.payload {
                Some(message::Payload::Open(open)) => return Ok(open),
                Some(message::Payload::Attach(_)) => {
                    return Err(Error::Protocol(
                        "attaching to a session is handled by the rstream engine; this server \
                         accepts only new sessions"
                            .to_owned(),
                    ));
                }
                Some(message::Payload::Heartbeat(_) | message::Payload::ClientHello(_)) | None => {}
                Some(_) => {
                    return Err(Error::Protocol(
                        "the session must start with an Open message".to_owned(),
                    ));
                }
            }
        }
    }

    /// Moves bytes between the WebSocket and the process until the process
    /// has exited and both outputs ended, then sends the exit status.
    async fn pump(
        &mut self,
        mut process: crate::process::Process,
        key: Option<SessionKey>,
    ) -> Result<(), Error> {
        let seal = |stream: data::Type, bytes: Vec<u8>| -> Result<Message, Error> {
            let Some(key) = &key else {
                return Ok(Message::data(stream, bytes));
            };
            let which = if stream == data::Type::Stderr {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            Ok(Message::new(message::Payload::Data(proto::Data {
                r#type: stream as i32,
                payload: Some(data::Payload::EncryptedData(key.encrypt(which, &bytes)?)),
            })))
        };
        let (out_tx, mut out_rx) = mpsc::channel::<Out>(32);
        let mut readers = Vec::new();
        let mut open_outputs = 0;
        for (stream, reader) in process.take_outputs() {
            open_outputs += 1;
            readers.push(tokio::spawn(read_output(stream, reader, out_tx.clone())));
        }
        let (stdin_tx, stdin_rx) = mpsc::channel::<Option<Vec<u8>>>(16);
        let writer = process
            .take_stdin()
            .map(|stdin| tokio::spawn(write_stdin(stdin, stdin_rx)));
        let resizer = process.resizer();
        let waiter = {
            let out_tx = out_tx.clone();
            let mut child = process;
            tokio::spawn(async move {
                let code = child.wait().await;
                let _ = out_tx.send(Out::Exit(code)).await;
                child
            })
        };
        drop(out_tx);
        let mut heartbeat = tokio::time::interval(SERVER_HEARTBEAT);
        heartbeat.tick().await;
        let mut pending: VecDeque<Option<Vec<u8>>> = VecDeque::new();
        let mut exit = None;
        let result = loop {
            if let (Some(code), 0) = (exit, open_outputs) {
                let close =
                    Message::new(message::Payload::Close(proto::Close { return_code: code }));
                break wire::send(&mut self.socket, &close).await;
            }
            tokio::select! {
                out = out_rx.recv() => match out {
                    Some(Out::Chunk(stream, bytes)) => {
                        let sent = match seal(stream, bytes) {
                            Ok(message) => wire::send(&mut self.socket, &message).await,
                            Err(e) => Err(e),
                        };
                        if let Err(e) = sent {
                            break Err(e);
                        }
                    }
                    Some(Out::End(stream)) => {
                        open_outputs -= 1;
                        if let Err(e) = wire::send(&mut self.socket, &Message::eos(stream)).await {
                            break Err(e);
                        }
                    }
                    Some(Out::Exit(code)) => exit = Some(code),
                    None => break Err(Error::Closed),
                },
                permit = stdin_tx.reserve(), if !pending.is_empty() => {
                    if let (Ok(permit), Some(item)) = (permit, pending.pop_front()) {
                        permit.send(item);
                    }
                }
                received = wire::recv(&mut self.socket), if pending.is_empty() => {
                    let message = match received {
                        Ok(Some(message)) => message,
                        Ok(None) => break Err(Error::Closed),
                        Err(e) => break Err(e),
                    };
                    match message.payload {
                        Some(message::Payload::Data(d)) => {
                            if d.r#type != data::Type::Stdin as i32 {
                                break Err(Error::Protocol("clients send only stdin".to_owned()));
                            }
                            match d.payload {
                                Some(data::Payload::Data(_)) if key.is_some() => {
                                    break Err(Error::Protocol(
                                        "plaintext stdin in an end-to-end encrypted session".to_owned(),
                                    ));
                                }
                                Some(data::Payload::Data(bytes)) if writer.is_some() => {
                                    pending.push_back(Some(bytes));
                                }
                                Some(data::Payload::Eos(_)) => pending.push_back(None),
                                Some(data::Payload::EncryptedData(sealed)) => {
                                    let Some(key) = &key else {
                                        break Err(Error::Protocol(
                                            "encrypted stdin, and no session key".to_owned(),
                                        ));
                                    };
                                    match key.decrypt(Stream::Stdin, &sealed) {
                                        Ok(bytes) if writer.is_some() => pending.push_back(Some(bytes)),
                                        Ok(_) => {}
                                        Err(e) => break Err(e),
                                    }
                                }
                                Some(data::Payload::Data(_)) | None => {}
                            }
                        }
                        Some(message::Payload::Parameter(p)) => {
                            let Some(proto::parameter::Parameter::TerminalSize(size)) = p.parameter else {
                                continue;
                            };
                            match &resizer {
                                Some(resize) => {
                                    let rows = u16::try_from(size.row).unwrap_or(u16::MAX);
                                    let cols = u16::try_from(size.col).unwrap_or(u16::MAX);
                                    if let Err(e) = resize(rows, cols) {
                                        break Err(e);
                                    }
                                }
                                None => break Err(Error::Protocol(
                                    "resize needs a terminal; this command has none".to_owned(),
                                )),
                            }
                        }
                        Some(message::Payload::Heartbeat(_) | message::Payload::ClientHello(_)) | None => {}
                        Some(message::Payload::Error(e)) => {
                            break Err(Error::Protocol(format!("the client reported: {}", e.msg)));
                        }
                        Some(_) => break Err(Error::Protocol("an unexpected message during a session".to_owned())),
                    }
                }
                _ = heartbeat.tick() => {
                    let beat = Message::new(message::Payload::Heartbeat(proto::Heartbeat {}));
                    if let Err(e) = wire::send(&mut self.socket, &beat).await {
                        break Err(e);
                    }
                }
            }
        };
        // Whatever ended the session, the command does not outlive it.
        waiter.abort();
        if let Ok(mut child) = waiter.await {
            child.kill();
        }
        for reader in readers {
            reader.abort();
        }
        if let Some(writer) = writer {
            writer.abort();
        }
        if let Err(e) = &result {
            if !matches!(e, Error::Closed | Error::Io { .. }) {
                let msg = e.to_string();
                let _ = wire::send(
                    &mut self.socket,
                    &Message::new(message::Payload::Error(proto::Error { msg })),
                )
                .await;
            }
        }
        result
    }
}

async fn read_output(
    stream: data::Type,
    mut reader: Box<dyn AsyncRead + Unpin + Send>,
    out: mpsc::Sender<Out>,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if out
                    .send(Out::Chunk(stream, buf[..n].to_vec()))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    }
    let _ = out.send(Out::End(stream)).await;
}

async fn write_stdin(
    mut stdin: Box<dyn AsyncWrite + Unpin + Send>,
    mut input: mpsc::Receiver<Option<Vec<u8>>>,
) {
    while let Some(Some(bytes)) = input.recv().await {
        if stdin.write_all(&bytes).await.is_err() || stdin.flush().await.is_err() {
            // The command closed its stdin: later input is dropped.
            return;
        }
    }
    // End of input (or the session ended): dropping stdin closes it.
    let _ = stdin.shutdown().await;
}
