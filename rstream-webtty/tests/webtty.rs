//! The WebTTY client against the Rust WebTTY server, end to end through the
//! local engine: real TLS control channels, the engine's edge and private
//! dials on loopback.

use std::time::Duration;

use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use prost::Message as _;
use rstream_core::api::TunnelFilters;
use rstream_core::{Client, TunnelOptions};
use rstream_local_engine::LocalEngine;
use rstream_webtty::crypto::{EncryptionIdentity, SigningIdentity};
use rstream_webtty::proto::{self, message};
use rstream_webtty::{
    Capability, CommandOptions, DiscoveryOptions, Endpoint, EntryKind, Error, Event, FileSystem,
    Server, ServerKeys, open_command, run_command, servers,
};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TOKEN: &str = "tok_webtty";

/// A local engine, a runtime, and a WebTTY server on a published tunnel
/// with token authentication (the engine authenticates).
struct Setup {
    engine: LocalEngine,
    client: Client,
    hostname: String,
    _serving: tokio::task::JoinHandle<Result<(), Error>>,
}

impl Setup {
    async fn published(name: &str) -> Setup {
        let server = Server::builder()
            .engine_auth()
            .label("role", "test")
            .build()
            .unwrap();
        Setup::serving(name, server).await
    }

    /// `server` on a published tunnel with token authentication.
    async fn serving(name: &str, server: Server) -> Setup {
        Setup::serving_with(name, server, true).await
    }

    /// `server` on a published tunnel, with or without token
    /// authentication.
    async fn serving_with(name: &str, server: Server, token_auth: bool) -> Setup {
        let engine = LocalEngine::builder().token(TOKEN).start().await.unwrap();
        let client = engine.client_builder().build().unwrap();
        let tunnel = client
            .tunnel(
                server.tunnel_options(
                    TunnelOptions::http()
                        .publish(true)
                        .token_auth(token_auth)
                        .name(name),
                ),
            )
            .await
            .unwrap();
        let hostname = tunnel.info().unwrap().hostname.unwrap();
        let serving = tokio::spawn(async move { server.serve(tunnel).await });
        Setup {
            engine,
            client,
            hostname,
            _serving: serving,
        }
    }

    /// The server's URL on the edge, with the engine token.
    fn endpoint(&self) -> Endpoint {
        Endpoint::url(format!("ws://{}/", self.hostname))
            .unwrap()
            .connect_to(self.engine.edge_addr())
            .token(TOKEN)
    }
}

fn sh(script: &str) -> CommandOptions {
    CommandOptions::new(["sh", "-c", script])
}

#[tokio::test]
async fn exit_codes_and_separate_streams() {
    let setup = Setup::published("shell-exit").await;
    let out = run_command(
        &setup.endpoint(),
        &sh("echo out; echo err >&2; echo \"$GREETING\"; exit 3").env("GREETING", "hi"),
    )
    .await
    .unwrap();
    assert_eq!(out.exit_code, 3);
    assert!(!out.success());
    assert_eq!(out.stdout, b"out\nhi\n");
    assert_eq!(out.stderr, b"err\n");

    let ok = run_command(&setup.endpoint(), &CommandOptions::new(["true"]))
        .await
        .unwrap();
    assert_eq!((ok.exit_code, ok.stdout.len(), ok.stderr.len()), (0, 0, 0));

    // A missing program is the server's error, not a hang.
    let err = run_command(
        &setup.endpoint(),
        &CommandOptions::new(["/no/such/program"]),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::Server(ref m) if m.contains("/no/such/program")),
        "{err}"
    );
}

#[tokio::test]
async fn stdin_and_large_output_in_both_directions() {
    let setup = Setup::published("shell-io").await;
    let out = run_command(
        &setup.endpoint(),
        &CommandOptions::new(["cat"]).stdin("hello\n"),
    )
    .await
    .unwrap();
    assert_eq!(out.stdout, b"hello\n");

    // 3 MiB through cat: stdin is fed while output flows back, so neither
    // side stalls on a full pipe.
    let input: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let out = run_command(
        &setup.endpoint(),
        &CommandOptions::new(["cat"]).stdin(input.clone()),
    )
    .await
    .unwrap();
    assert_eq!(out.exit_code, 0);
    assert!(
        out.stdout == input,
        "cat returned {} bytes",
        out.stdout.len()
    );

    let out = run_command(&setup.endpoint(), &sh("head -c 5000000 /dev/zero"))
        .await
        .unwrap();
    assert_eq!(out.stdout.len(), 5_000_000);
}

#[tokio::test]
async fn output_limit_and_timeout_stop_the_command() {
    let setup = Setup::published("shell-limits").await;
    let err = run_command(
        &setup.endpoint(),
        &sh("head -c 1000000 /dev/zero").output_limit(10_000),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::OutputLimit { limit: 10_000 }), "{err}");

    let marker = std::env::temp_dir().join(format!("webtty-timeout-{}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let script = format!("sleep 1; touch {}", marker.display());
    let started = std::time::Instant::now();
    let err = run_command(
        &setup.endpoint(),
        &sh(&script).timeout(Duration::from_millis(300)),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(1));
    // The session's end killed the command's process group: the marker is
    // never written.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!marker.exists(), "the timed-out command kept running");
}

#[tokio::test]
async fn streaming_stdin_and_a_terminal_with_resize() {
    let setup = Setup::published("shell-tty").await;
    // Without a terminal: events in order, stdin streamed.
    let mut command = open_command(&setup.endpoint(), &sh("read line; echo got:$line; exit 5"))
        .await
        .unwrap();
    command.write_stdin("abc\n").await.unwrap();
    let mut stdout = Vec::new();
    let exit = loop {
        match command.next_event().await.unwrap().unwrap() {
            Event::Stdout(bytes) => stdout.extend(bytes),
            Event::Exit(code) => break code,
            _ => {}
        }
    };
    assert_eq!((exit, stdout.as_slice()), (5, b"got:abc\n".as_slice()));
    // Resizing a command without a terminal is refused locally.
    let command = open_command(&setup.endpoint(), &CommandOptions::new(["true"]))
        .await
        .unwrap();
    assert!(matches!(
        command.resize(10, 10).await,
        Err(Error::Config(_))
    ));

    // On a terminal: the initial size, then a resize the program sees.
    let command = open_command(
        &setup.endpoint(),
        &sh("stty size; read go; stty size").tty(24, 80),
    )
    .await
    .unwrap();
    let mut seen = String::new();
    let mut command = command;
    while !seen.contains("24 80") {
        if let Event::Stdout(bytes) = command.next_event().await.unwrap().unwrap() {
            seen.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    command.resize(40, 100).await.unwrap();
    command.write_stdin("go\n").await.unwrap();
    let output = command.wait_with_output(1 << 20).await.unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("40 100"), "terminal output: {text:?}");
    assert_eq!(output.exit_code, 0);
    assert!(output.stderr.is_empty(), "a terminal has one output stream");
}

#[tokio::test]
async fn tokens_are_required() {
    let setup = Setup::published("shell-auth").await;
    // No token: the edge refuses the tunnel's URL.
    let bare = Endpoint::url(format!("ws://{}/", setup.hostname))
        .unwrap()
        .connect_to(setup.engine.edge_addr());
    let err = run_command(&bare, &CommandOptions::new(["true"]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Refused { status: 401 }), "{err}");
    let wrong = bare.clone().token("tok_wrong");
    let err = run_command(&wrong, &CommandOptions::new(["true"]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Refused { status: 401 }), "{err}");

    // A server with its own bearer token, on a private tunnel.
    let server = Server::builder().bearer_token("s3cret").build().unwrap();
    let tunnel = setup
        .client
        .tunnel(server.tunnel_options(TunnelOptions::http().name("shell-bearer")))
        .await
        .unwrap();
    tokio::spawn(async move { server.serve(tunnel).await });
    let private = Endpoint::private(setup.client.clone(), "shell-bearer");
    for endpoint in [private.clone(), private.clone().bearer("wrong")] {
        let err = run_command(&endpoint, &CommandOptions::new(["true"]))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Refused { status: 401 }), "{err}");
    }
    let out = run_command(&private.bearer("s3cret"), &sh("echo private"))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"private\n");
}

#[tokio::test]
async fn servers_refuse_to_run_unauthenticated() {
    let err = Server::builder().build().unwrap_err();
    assert!(matches!(err, Error::Config(_)));
    assert!(matches!(
        Server::builder().bearer_token("  ").build(),
        Err(Error::Config(_))
    ));

    // engine_auth on a tunnel published without token authentication.
    let engine = LocalEngine::builder().token(TOKEN).start().await.unwrap();
    let client = engine.client_builder().build().unwrap();
    let server = Server::builder().engine_auth().build().unwrap();
    let open = client
        .tunnel(server.tunnel_options(TunnelOptions::http().publish(true).name("open-shell")))
        .await
        .unwrap();
    let err = server.serve(open).await.unwrap_err();
    assert!(
        matches!(err, Error::Config(ref m) if m.contains("token authentication")),
        "{err}"
    );
}

#[tokio::test]
async fn malformed_frames_get_a_clear_error() {
    let setup = Setup::published("shell-garbage").await;
    let url = format!("ws://{}/?rstream.token={TOKEN}", setup.hostname);
    let raw = async || {
        let tcp = tokio::net::TcpStream::connect(setup.engine.edge_addr())
            .await
            .unwrap();
        let request = url.as_str().into_client_request().unwrap();
        tokio_tungstenite::client_async(request, tcp)
            .await
            .unwrap()
            .0
    };
    let error_text = |ws_message: WsMessage| -> Option<String> {
        let WsMessage::Binary(bytes) = ws_message else {
            return None;
        };
        match proto::Message::decode(bytes.as_ref()).ok()?.payload? {
            message::Payload::Error(e) => Some(e.msg),
            _ => None,
        }
    };
    // Bytes that are not a message; a text frame; data before Open; a
    // tampered Open (truncated mid-field).
    let open = proto::Message::new(message::Payload::Open(proto::Open {
        config: Some(proto::Config {
            cmd_args: vec!["true".into()],
            ..Default::default()
        }),
        ..Default::default()
    }))
    .encode_to_vec();
    let cases = [
        WsMessage::Binary(vec![0xff, 0x01, 0x02].into()),
        WsMessage::Text("{\"open\":{}}".into()),
        WsMessage::Binary(
            proto::Message::data(proto::data::Type::Stdin, b"x".to_vec())
                .encode_to_vec()
                .into(),
        ),
        WsMessage::Binary(open[..open.len() - 2].to_vec().into()),
    ];
    for case in cases {
        let mut ws = raw().await;
        ws.send(case.clone()).await.unwrap();
        let reply = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let text = error_text(reply).unwrap_or_else(|| panic!("no Error for {case:?}"));
        assert!(!text.is_empty());
        // Then the server closes.
        let next = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap();
        assert!(
            matches!(next, None | Some(Ok(WsMessage::Close(_))) | Some(Err(_))),
            "{next:?}"
        );
    }
    // The server still serves well-formed sessions.
    let out = run_command(&setup.endpoint(), &sh("echo still"))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"still\n");
}

#[tokio::test]
async fn discovery_finds_the_rust_server_in_the_inventory() {
    let setup = Setup::published("shell-discovered").await;
    let api = setup.client.engine_api().unwrap();
    let items = api.list_tunnels(&TunnelFilters::new(), None).await.unwrap();
    let found = servers(&items, DiscoveryOptions::default());
    assert_eq!(found.len(), 1, "{found:?}");
    let server = &found[0];
    assert_eq!(server.target, "shell-discovered");
    assert_eq!(server.exec_path.as_deref(), Some("/"));
    assert_eq!(server.capabilities, [Capability::Exec]);
    assert!(server.token_auth);
    assert_eq!(server.labels.get("role").map(String::as_str), Some("test"));
    if cfg!(target_os = "linux") {
        assert_eq!(server.os_family.as_deref(), Some("linux"));
    }
    // The local engine publishes on its edge port, which the host keeps.
    assert!(
        server.host.starts_with(&format!("{}:", setup.hostname)),
        "{}",
        server.host
    );
    assert_eq!(server.url().unwrap(), format!("wss://{}/", server.host));

    // The discovered server is reachable (the local edge speaks plain
    // HTTP, so the URL's host is dialled at the edge address).
    let endpoint = Endpoint::url(format!(
        "ws://{}{}",
        server.host,
        server.exec_path.as_deref().unwrap()
    ))
    .unwrap()
    .connect_to(setup.engine.edge_addr())
    .token(TOKEN);
    let out = run_command(&endpoint, &CommandOptions::new(["echo", "found"]))
        .await
        .unwrap();
    assert_eq!(out.stdout, b"found\n");
}

/// A server with an identity on a private tunnel: signed hello, client
/// proofs, end-to-end encrypted payloads.
struct Authenticated {
    _setup: Setup,
    endpoint: Endpoint,
    keys: ServerKeys,
    client_key: SigningIdentity,
}

impl Authenticated {
    async fn start(name: &str) -> Authenticated {
        let setup = Setup::published(&format!("{name}-unused")).await;
        let signing = SigningIdentity::generate();
        let encryption = EncryptionIdentity::generate();
        let keys = ServerKeys::of(&signing, &encryption);
        let client_key = SigningIdentity::generate();
        let server = Server::builder()
            .identity(signing, encryption)
            .authorize_client(client_key.public_key().to_vec())
            .build()
            .unwrap();
        let labels = server.labels();
        assert_eq!(labels["rstream.webtty.e2e"], "required");
        assert_eq!(labels["rstream.webtty.client_proof"], "required");
        assert_eq!(
            labels["rstream.webtty.host_key_id"],
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(keys.encryption_key_id())
        );
        let tunnel = setup
            .client
            .tunnel(server.tunnel_options(TunnelOptions::http().name(name)))
            .await
            .unwrap();
        tokio::spawn(async move { server.serve(tunnel).await });
        let endpoint = Endpoint::private(setup.client.clone(), name);
        Authenticated {
            _setup: setup,
            endpoint,
            keys,
            client_key,
        }
    }
}

#[tokio::test]
async fn end_to_end_encrypted_sessions_with_client_proofs() {
    let a = Authenticated::start("shell-e2e").await;
    let trusted = a
        .endpoint
        .clone()
        .trust_server(a.keys.clone())
        .client_identity(a.client_key.clone());
    let out = run_command(
        &trusted,
        &sh("cat; echo err >&2; exit 2").stdin("secret input\n"),
    )
    .await
    .unwrap();
    assert_eq!(
        (out.exit_code, out.stdout.as_slice(), out.stderr.as_slice()),
        (2, b"secret input\n".as_slice(), b"err\n".as_slice())
    );

    // The pinned keys travel as the references' known-server string.
    let parsed: ServerKeys = a.keys.to_string().parse().unwrap();
    assert_eq!(parsed, a.keys);

    // No pinned keys: the client says what the server requires.
    let err = run_command(&a.endpoint, &CommandOptions::new(["true"]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Config(ref m) if m.contains("trust_server")),
        "{err}"
    );

    // Pinned keys but no client identity: refused before anything is sent.
    let err = run_command(
        &a.endpoint.clone().trust_server(a.keys.clone()),
        &CommandOptions::new(["true"]),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::Config(ref m) if m.contains("client_identity")),
        "{err}"
    );

    // A key the server does not know: CLIENT_UNAUTHORIZED (6).
    let stranger = a
        .endpoint
        .clone()
        .trust_server(a.keys.clone())
        .client_identity(SigningIdentity::generate());
    let err = run_command(&stranger, &CommandOptions::new(["true"]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::ProtocolRefusal { code: 6, .. }),
        "{err}"
    );

    // Other pinned keys (an impostor, or a key change): refused by the
    // client, which sends no Open.
    let other = ServerKeys::of(
        &SigningIdentity::generate(),
        &EncryptionIdentity::generate(),
    );
    let err = run_command(
        &a.endpoint
            .clone()
            .trust_server(other)
            .client_identity(a.client_key.clone()),
        &CommandOptions::new(["true"]),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, Error::ProtocolRefusal { code: 2, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn missing_and_tampered_client_proofs_are_refused() {
    let a = Authenticated::start("shell-proofs").await;
    // A raw session over a private dial: read the hello, answer by hand.
    let session = async || {
        let stream = a._setup.client.dial("shell-proofs").await.unwrap();
        let request = "ws://shell-proofs/".into_client_request().unwrap();
        let mut ws = tokio_tungstenite::client_async(request, stream)
            .await
            .unwrap()
            .0;
        let hello = match next_message(&mut ws).await.payload {
            Some(message::Payload::ServerHello(hello)) => hello,
            other => panic!("expected a hello, got {other:?}"),
        };
        (ws, hello)
    };
    let refusal_code = |m: proto::Message| match m.payload {
        Some(message::Payload::ProtocolError(e)) => e.code,
        other => panic!("expected a protocol error, got {other:?}"),
    };

    // An Open without a proof: CLIENT_PROOF_REQUIRED (4).
    let (mut ws, _) = session().await;
    let open = proto::Message::new(message::Payload::Open(proto::Open {
        config: Some(proto::Config {
            cmd_args: vec!["true".into()],
            ..Default::default()
        }),
        ..Default::default()
    }));
    ws.send(WsMessage::Binary(open.encode_to_vec().into()))
        .await
        .unwrap();
    assert_eq!(refusal_code(next_message(&mut ws).await), 4);

    // A valid proof made for another session (replayed): the transcript
    // does not match, CLIENT_PROOF_INVALID (5). The proof is taken from a
    // real client's Open by proxying its first session.
    let (mut first, first_hello) = session().await;
    let auth_open = answered_open(&a, &first_hello);
    first
        .send(WsMessage::Binary(auth_open.encode_to_vec().into()))
        .await
        .unwrap();
    assert!(matches!(
        next_message(&mut first).await.payload,
        Some(message::Payload::Ack(_))
    ));
    let (mut second, _) = session().await;
    second
        .send(WsMessage::Binary(auth_open.encode_to_vec().into()))
        .await
        .unwrap();
    assert_eq!(refusal_code(next_message(&mut second).await), 5);

    // A proof with one signature byte flipped: 5.
    let (mut third, hello) = session().await;
    let mut tampered = answered_open(&a, &hello);
    if let Some(message::Payload::Open(open)) = &mut tampered.payload {
        let proof = open.client_proof.as_mut().unwrap();
        let last = proof.signature.len() - 1;
        proof.signature[last] ^= 0x01;
    }
    third
        .send(WsMessage::Binary(tampered.encode_to_vec().into()))
        .await
        .unwrap();
    assert_eq!(refusal_code(next_message(&mut third).await), 5);

    // A changed command after signing (the config hash no longer
    // matches): 5.
    let (mut fourth, hello) = session().await;
    let mut swapped = answered_open(&a, &hello);
    if let Some(message::Payload::Open(open)) = &mut swapped.payload {
        open.config.as_mut().unwrap().cmd_args = vec!["rm".into(), "-rf".into(), "/tmp/x".into()];
    }
    fourth
        .send(WsMessage::Binary(swapped.encode_to_vec().into()))
        .await
        .unwrap();
    assert_eq!(refusal_code(next_message(&mut fourth).await), 5);
}

/// An `Open` for `true`, answered to `hello` as the client library does.
fn answered_open(a: &Authenticated, hello: &proto::ServerHello) -> proto::Message {
    let (open, _key) = rstream_webtty::answer_hello(
        &a.keys,
        &a.client_key,
        hello,
        proto::Config {
            cmd_args: vec!["true".into()],
            ..Default::default()
        },
    )
    .unwrap();
    proto::Message::new(message::Payload::Open(open))
}

async fn next_message<S>(ws: &mut tokio_tungstenite::WebSocketStream<S>) -> proto::Message
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let WsMessage::Binary(bytes) = frame {
            let message = proto::Message::decode(bytes.as_ref()).unwrap();
            if !matches!(message.payload, Some(message::Payload::Heartbeat(_))) {
                return message;
            }
        }
    }
}

#[tokio::test]
async fn the_filesystem_sidecar_lists_reads_writes_and_deletes() {
    let dir = std::env::temp_dir().join(format!("webtty-fs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    std::fs::write(dir.join("docs/readme.txt"), b"hello fs\n").unwrap();
    let server = Server::builder()
        .engine_auth()
        .filesystem(&dir, false)
        .build()
        .unwrap();
    let setup = Setup::serving("shell-fs", server).await;

    // Discovery says where the sidecar is.
    let items = setup
        .client
        .engine_api()
        .unwrap()
        .list_tunnels(&TunnelFilters::new(), None)
        .await
        .unwrap();
    let info = servers(&items, DiscoveryOptions::default()).remove(0);
    assert_eq!(info.capabilities, [Capability::Exec, Capability::Fs]);
    assert_eq!(info.fs_path.as_deref(), Some("/fs"));
    let fs = FileSystem::for_server(&info, setup.endpoint()).unwrap();

    let listing = fs.list("/").await.unwrap();
    assert_eq!(listing.len(), 1, "{listing:?}");
    assert_eq!(
        (listing[0].path.as_str(), listing[0].kind),
        ("/docs", EntryKind::Directory)
    );
    let file = fs.stat("/docs/readme.txt").await.unwrap();
    assert_eq!((file.kind, file.size), (EntryKind::File, Some(9)));
    assert!(file.modified.is_some());
    assert_eq!(fs.read("docs/readme.txt").await.unwrap(), b"hello fs\n");

    fs.mkdir("/new dir").await.unwrap();
    let big: Vec<u8> = (0..2_000_000u32).map(|i| (i % 7) as u8).collect();
    fs.write("/new dir/data.bin", big.clone()).await.unwrap();
    assert_eq!(std::fs::read(dir.join("new dir/data.bin")).unwrap(), big);
    assert_eq!(fs.read("/new dir/data.bin").await.unwrap(), big);
    let names: Vec<String> = fs
        .list("/new dir")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(names, ["/new dir/data.bin"]);
    fs.delete("/new dir").await.unwrap();
    assert!(!dir.join("new dir").exists());

    // Errors are typed, with the server's status.
    let missing = fs.read("/nope.txt").await.unwrap_err();
    assert!(
        matches!(
            missing,
            Error::Filesystem {
                operation: "read",
                status: 404,
                ..
            }
        ),
        "{missing}"
    );
    let orphan = fs.write("/no/parent.txt", "x").await.unwrap_err();
    assert!(
        matches!(orphan, Error::Filesystem { status: 409, .. }),
        "{orphan}"
    );
    let escape = fs.read("/../../etc/passwd").await.unwrap_err();
    assert!(
        matches!(escape, Error::Filesystem { status: 400, .. }),
        "{escape}"
    );
    // Without the token the edge refuses the sidecar like the terminal.
    let bare = Endpoint::url(format!("ws://{}/", setup.hostname))
        .unwrap()
        .connect_to(setup.engine.edge_addr());
    let refused = FileSystem::new(bare, "/fs").list("/").await.unwrap_err();
    assert!(
        matches!(refused, Error::Filesystem { status: 401, .. }),
        "{refused}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_read_only_sidecar_refuses_writes_and_bearer_guards_it() {
    let dir = std::env::temp_dir().join(format!("webtty-fs-ro-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("kept.txt"), b"kept").unwrap();
    let server = Server::builder()
        .bearer_token("fs-secret")
        .filesystem(&dir, true)
        .build()
        .unwrap();
    assert_eq!(server.labels()["rstream.webtty.fs.mode"], "read-only");
    // The server's own bearer token travels in the Authorization header,
    // which the edge reads as the engine token: no token authentication
    // on this tunnel (as the Go server does).
    let setup = Setup::serving_with("shell-fs-ro", server, false).await;
    let fs = FileSystem::new(setup.endpoint().bearer("fs-secret"), "/fs");
    assert_eq!(fs.read("/kept.txt").await.unwrap(), b"kept");
    for err in [
        fs.write("/new.txt", "x").await.unwrap_err(),
        fs.delete("/kept.txt").await.unwrap_err(),
        fs.mkdir("/d").await.unwrap_err(),
    ] {
        assert!(
            matches!(err, Error::Filesystem { status: 403, .. }),
            "{err}"
        );
    }
    assert!(dir.join("kept.txt").exists());
    let no_bearer = FileSystem::new(setup.endpoint(), "/fs");
    let err = no_bearer.read("/kept.txt").await.unwrap_err();
    assert!(
        matches!(err, Error::Filesystem { status: 401, .. }),
        "{err}"
    );

    // A server with an identity does not offer the (unencrypted) sidecar.
    let refused = Server::builder()
        .identity(SigningIdentity::generate(), EncryptionIdentity::generate())
        .authorize_client(SigningIdentity::generate().public_key().to_vec())
        .filesystem(&dir, false)
        .build()
        .unwrap_err();
    assert!(matches!(refused, Error::Config(_)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn commands_as_tokio_io() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let setup = Setup::published("shell-io-traits").await;
    let command = open_command(&setup.endpoint(), &sh("tr a-z A-Z; echo done >&2; exit 4"))
        .await
        .unwrap();
    let mut io = command.into_io();
    io.stdin.write_all(b"piped through\n").await.unwrap();
    io.stdin.shutdown().await.unwrap();
    let mut stdout = String::new();
    io.stdout.read_to_string(&mut stdout).await.unwrap();
    let mut stderr = String::new();
    io.stderr.read_to_string(&mut stderr).await.unwrap();
    assert_eq!(
        (stdout.as_str(), stderr.as_str()),
        ("PIPED THROUGH\n", "done\n")
    );
    assert_eq!(io.wait().await.unwrap(), 4);
    assert_eq!(io.wait().await.unwrap(), 4, "the status is kept");
    assert!(matches!(io.resize(1, 1).await, Err(Error::Config(_))));

    // On a terminal: resize through the I/O handle.
    let command = open_command(&setup.endpoint(), &sh("read go; stty size").tty(24, 80))
        .await
        .unwrap();
    let mut io = command.into_io();
    io.resize(30, 90).await.unwrap();
    io.stdin.write_all(b"go\n").await.unwrap();
    let mut seen = String::new();
    io.stdout.read_to_string(&mut seen).await.unwrap();
    assert!(seen.contains("30 90"), "{seen:?}");
    assert_eq!(io.wait().await.unwrap(), 0);
}

#[tokio::test]
async fn an_interactive_login_shell_on_a_terminal() {
    let setup = Setup::published("shell-interactive").await;
    let command = open_command(&setup.endpoint(), &CommandOptions::shell(30, 100))
        .await
        .unwrap();
    command
        .write_stdin("stty size; echo $((6 * 7)); exit 3\n")
        .await
        .unwrap();
    let output = command.wait_with_output(1 << 20).await.unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("30 100"), "{text:?}");
    assert!(text.contains("42"), "{text:?}");
    assert_eq!(output.exit_code, 3);
}
