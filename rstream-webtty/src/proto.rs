//! The WebTTY wire messages (protobuf, proto3), with the field numbers of the
//! reference schema. One [`Message`] travels per WebSocket binary message.
//!
//! The messages of the authenticated, end-to-end encrypted handshake
//! ([`ServerHello`], [`ClientProof`], [`SessionKeyGrant`], ...) are decoded
//! so that a peer using them gets a clear refusal rather than a decode
//! error; see the crate documentation for what is implemented.

#![allow(missing_docs)] // Field names are the schema's; see the crate docs.

/// `google.protobuf.StringValue`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct StringValue {
    #[prost(string, tag = "1")]
    pub value: String,
}

/// `google.protobuf.BytesValue`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct BytesValue {
    #[prost(bytes = "vec", tag = "1")]
    pub value: Vec<u8>,
}

/// How a command runs.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Options {
    /// Whether the client sends stdin.
    #[prost(bool, tag = "1")]
    pub interactive: bool,
    /// Whether the command gets a pseudo-terminal.
    #[prost(bool, tag = "2")]
    pub allocate_tty: bool,
    /// Whether the client sends heartbeats.
    #[prost(bool, tag = "3")]
    pub send_heartbeat: bool,
}

/// One environment variable.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Environment {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// The OS user to run as.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Username {
    #[prost(oneof = "username::Payload", tags = "1, 2")]
    pub payload: Option<username::Payload>,
}

/// [`Username`]'s oneof.
pub mod username {
    /// A user name or a numeric id.
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Payload {
        #[prost(string, tag = "1")]
        Name(String),
        #[prost(uint32, tag = "2")]
        Id(u32),
    }
}

/// The working directory.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Workdir {
    #[prost(string, tag = "1")]
    pub value: String,
}

/// What to run.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Config {
    #[prost(message, optional, tag = "1")]
    pub options: Option<Options>,
    #[prost(string, repeated, tag = "2")]
    pub cmd_args: Vec<String>,
    #[prost(message, repeated, tag = "3")]
    pub env_vars: Vec<Environment>,
    #[prost(message, optional, tag = "4")]
    pub workdir: Option<Workdir>,
    #[prost(message, optional, tag = "5")]
    pub username: Option<Username>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum OpenCapability {
    Unspecified = 0,
    EncryptedPayload = 1,
    SessionCrypto = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum PayloadCipherSuite {
    Unspecified = 0,
    Aes256Gcm = 1,
    Chacha20Poly1305 = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum KeyEnvelopeSuite {
    Unspecified = 0,
    HpkeX25519HkdfSha256Aes256Gcm = 1,
    HpkeX25519HkdfSha256Chacha20Poly1305 = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum ProtocolVersion {
    Unspecified = 0,
    Webtty1 = 1,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum SignatureSuite {
    Unspecified = 0,
    EcdsaP256Sha256 = 1,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum AuthRequirement {
    Unspecified = 0,
    None = 1,
    ClientProof = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum ProtocolErrorCode {
    Unspecified = 0,
    UnknownServer = 1,
    ServerKeyChanged = 2,
    ServerProofInvalid = 3,
    ClientProofRequired = 4,
    ClientProofInvalid = 5,
    ClientUnauthorized = 6,
    ClientRevoked = 7,
    ChallengeExpired = 8,
    ChallengeReplayed = 9,
    DowngradeDetected = 10,
    UnsupportedSuite = 11,
    WorkspaceTrustRequired = 12,
    WorkspaceDeviceUntrusted = 13,
    RegisteredServerMismatch = 14,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum AttachRole {
    Unspecified = 0,
    Spectator = 1,
    Controller = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum AttachTransport {
    Unspecified = 0,
    Plain = 1,
    Websocket = 2,
    Webtransport = 3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
#[repr(i32)]
pub enum AttachCapability {
    Unspecified = 0,
    ReadStream = 1,
    RequestControl = 2,
    ReceiveControl = 3,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct KeyEnvelope {
    #[prost(bytes = "vec", tag = "1")]
    pub recipient_key_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub encapsulated_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub wrapped_key: Vec<u8>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct EndpointIdentity {
    #[prost(bytes = "vec", tag = "1")]
    pub signing_key_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub signing_public_key: Vec<u8>,
    #[prost(enumeration = "SignatureSuite", tag = "3")]
    pub signature_suite: i32,
    #[prost(bytes = "vec", tag = "4")]
    pub encryption_key_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    pub encryption_public_key: Vec<u8>,
    #[prost(enumeration = "KeyEnvelopeSuite", tag = "6")]
    pub key_envelope_suite: i32,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ServerProof {
    #[prost(enumeration = "SignatureSuite", tag = "1")]
    pub signature_suite: i32,
    #[prost(bytes = "vec", tag = "2")]
    pub signing_key_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub transcript_hash: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub signature: Vec<u8>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ServerHello {
    #[prost(enumeration = "ProtocolVersion", tag = "1")]
    pub protocol_version: i32,
    #[prost(bytes = "vec", tag = "2")]
    pub session_nonce: Vec<u8>,
    #[prost(message, optional, tag = "3")]
    pub server_identity: Option<EndpointIdentity>,
    #[prost(enumeration = "PayloadCipherSuite", repeated, tag = "4")]
    pub payload_suites: Vec<i32>,
    #[prost(enumeration = "KeyEnvelopeSuite", repeated, tag = "5")]
    pub key_envelope_suites: Vec<i32>,
    #[prost(enumeration = "SignatureSuite", repeated, tag = "6")]
    pub signature_suites: Vec<i32>,
    #[prost(enumeration = "AuthRequirement", tag = "7")]
    pub auth_requirement: i32,
    #[prost(message, optional, tag = "8")]
    pub workspace_id: Option<StringValue>,
    #[prost(message, optional, tag = "9")]
    pub project_id: Option<StringValue>,
    #[prost(message, optional, tag = "10")]
    pub server_id: Option<StringValue>,
    #[prost(string, tag = "11")]
    pub session_id: String,
    #[prost(message, optional, tag = "12")]
    pub server_proof: Option<ServerProof>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ClientHello {
    #[prost(enumeration = "ProtocolVersion", tag = "1")]
    pub protocol_version: i32,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct SessionKeyGrant {
    #[prost(enumeration = "PayloadCipherSuite", tag = "1")]
    pub payload_suite: i32,
    #[prost(bytes = "vec", tag = "2")]
    pub payload_key_id: Vec<u8>,
    #[prost(message, repeated, tag = "3")]
    pub key_envelopes: Vec<KeyEnvelope>,
    #[prost(bytes = "vec", tag = "4")]
    pub key_context: Vec<u8>,
    #[prost(enumeration = "KeyEnvelopeSuite", tag = "5")]
    pub key_envelope_suite: i32,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PayloadCrypto {
    #[prost(enumeration = "PayloadCipherSuite", tag = "1")]
    pub payload_suite: i32,
    #[prost(bytes = "vec", tag = "2")]
    pub payload_key_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub nonce: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub aad_context: Vec<u8>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ClientProof {
    #[prost(message, optional, tag = "1")]
    pub principal_id: Option<StringValue>,
    #[prost(bytes = "vec", tag = "2")]
    pub signing_key_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    pub signing_public_key: Vec<u8>,
    #[prost(enumeration = "SignatureSuite", tag = "4")]
    pub signature_suite: i32,
    #[prost(bytes = "vec", tag = "5")]
    pub transcript_hash: Vec<u8>,
    #[prost(bytes = "vec", tag = "6")]
    pub signature: Vec<u8>,
    #[prost(string, tag = "7")]
    pub issued_at: String,
    #[prost(string, tag = "8")]
    pub expires_at: String,
    #[prost(message, optional, tag = "9")]
    pub device_id: Option<StringValue>,
    #[prost(message, optional, tag = "10")]
    pub browser_id: Option<StringValue>,
    #[prost(message, optional, tag = "11")]
    pub credential: Option<BytesValue>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ProtocolError {
    #[prost(enumeration = "ProtocolErrorCode", tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub msg: String,
}

/// Starts a command: the first message a client sends.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Open {
    #[prost(message, optional, tag = "1")]
    pub config: Option<Config>,
    #[prost(enumeration = "OpenCapability", repeated, tag = "2")]
    pub capabilities: Vec<i32>,
    #[prost(message, optional, tag = "4")]
    pub session_key_grant: Option<SessionKeyGrant>,
    #[prost(message, optional, tag = "5")]
    pub client_proof: Option<ClientProof>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Attach {
    #[prost(string, tag = "1")]
    pub session_id: String,
    #[prost(string, tag = "2")]
    pub participant_id: String,
    #[prost(bytes = "vec", tag = "3")]
    pub attach_grant: Vec<u8>,
    #[prost(enumeration = "AttachRole", tag = "4")]
    pub requested_role: i32,
    #[prost(enumeration = "AttachTransport", tag = "5")]
    pub transport: i32,
    #[prost(enumeration = "AttachCapability", repeated, tag = "6")]
    pub capabilities: Vec<i32>,
    #[prost(message, optional, tag = "7")]
    pub device_id: Option<StringValue>,
    #[prost(message, optional, tag = "8")]
    pub browser_id: Option<StringValue>,
    #[prost(message, optional, tag = "9")]
    pub client_proof: Option<ClientProof>,
}

/// The server started the command.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Ack {}

/// A session error, as text.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Error {
    #[prost(string, tag = "1")]
    pub msg: String,
}

/// The command exited.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Close {
    #[prost(int32, tag = "1")]
    pub return_code: i32,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct EndOfStream {}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct EncryptedPayload {
    #[prost(bytes = "vec", tag = "1")]
    pub ciphertext: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub plaintext_length: u32,
    #[prost(message, optional, tag = "4")]
    pub payload_crypto: Option<PayloadCrypto>,
}

/// Bytes of one of the three streams, or its end.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Data {
    #[prost(enumeration = "data::Type", tag = "1")]
    pub r#type: i32,
    #[prost(oneof = "data::Payload", tags = "2, 3, 4")]
    pub payload: Option<data::Payload>,
}

/// [`Data`]'s stream type and payload.
pub mod data {
    /// Which stream.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, ::prost::Enumeration)]
    #[repr(i32)]
    pub enum Type {
        Stdin = 0,
        Stdout = 1,
        Stderr = 2,
    }

    /// Bytes, the end of the stream, or encrypted bytes.
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Payload {
        #[prost(bytes = "vec", tag = "2")]
        Data(Vec<u8>),
        #[prost(message, tag = "3")]
        Eos(super::EndOfStream),
        #[prost(message, tag = "4")]
        EncryptedData(super::EncryptedPayload),
    }
}

/// A terminal size in characters (and pixels, unused by servers).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TerminalSize {
    #[prost(uint32, tag = "1")]
    pub row: u32,
    #[prost(uint32, tag = "2")]
    pub col: u32,
    #[prost(uint32, tag = "3")]
    pub xpixel: u32,
    #[prost(uint32, tag = "4")]
    pub ypixel: u32,
}

/// A session parameter change.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Parameter {
    #[prost(oneof = "parameter::Parameter", tags = "1")]
    pub parameter: Option<parameter::Parameter>,
}

/// [`Parameter`]'s oneof.
pub mod parameter {
    /// The only parameter: the terminal size.
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Parameter {
        #[prost(message, tag = "1")]
        TerminalSize(super::TerminalSize),
    }
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Heartbeat {}

/// The envelope of every frame.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Message {
    #[prost(oneof = "message::Payload", tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11")]
    pub payload: Option<message::Payload>,
}

/// [`Message`]'s oneof.
pub mod message {
    /// One of the session messages.
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Payload {
        #[prost(message, tag = "1")]
        Open(super::Open),
        #[prost(message, tag = "2")]
        Ack(super::Ack),
        #[prost(message, tag = "3")]
        Error(super::Error),
        #[prost(message, tag = "4")]
        Close(super::Close),
        #[prost(message, tag = "5")]
        Data(super::Data),
        #[prost(message, tag = "6")]
        Parameter(super::Parameter),
        #[prost(message, tag = "7")]
        Heartbeat(super::Heartbeat),
        #[prost(message, tag = "8")]
        Attach(super::Attach),
        #[prost(message, tag = "9")]
        ServerHello(super::ServerHello),
        #[prost(message, tag = "10")]
        ProtocolError(super::ProtocolError),
        #[prost(message, tag = "11")]
        ClientHello(super::ClientHello),
    }
}

impl Message {
    /// A message carrying `payload`.
    pub fn new(payload: message::Payload) -> Message {
        Message {
            payload: Some(payload),
        }
    }

    /// Stream bytes.
    pub fn data(stream: data::Type, bytes: Vec<u8>) -> Message {
        Message::new(message::Payload::Data(Data {
            r#type: stream as i32,
            payload: Some(data::Payload::Data(bytes)),
        }))
    }

    /// The end of a stream.
    pub fn eos(stream: data::Type) -> Message {
        Message::new(message::Payload::Data(Data {
            r#type: stream as i32,
            payload: Some(data::Payload::Eos(EndOfStream {})),
        }))
    }
}
