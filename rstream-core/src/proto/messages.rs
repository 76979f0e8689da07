//! The protobuf messages of protocol 1.4.5, package `rstream.io_rstrm.protobuf`.
//!
//! Written with prost's derive macros so that no `protoc` is needed at build
//! time. Optional scalars use the well-known wrapper types, which prost maps to
//! `Option<String>`, `Option<bool>` and `Option<u32>`: `None` (unset) and
//! `Some("")` (empty) are different on the wire.

use std::collections::HashMap;

/// An IP address as the engine reports it.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct IpAddress {
    /// The address.
    #[prost(oneof = "ip_address::Addr", tags = "1, 2")]
    pub addr: Option<ip_address::Addr>,
}

/// Nested types of [`IpAddress`].
pub mod ip_address {
    /// The two address families.
    #[derive(Clone, PartialEq, Eq, prost::Oneof)]
    pub enum Addr {
        /// An IPv4 address, the big-endian address read as an integer.
        #[prost(fixed32, tag = "1")]
        V4(u32),
        /// An IPv6 address, 16 bytes.
        #[prost(bytes = "vec", tag = "2")]
        V6(Vec<u8>),
    }
}

/// Error codes of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ErrorCode {
    /// No code given.
    Unspecified = 0,
    /// Credentials missing or refused.
    Unauthorized = 1000,
    /// The request is invalid.
    InvalidRequest = 2000,
    /// The client did not say which protocol version it speaks.
    ProtocolVersionMissing = 2010,
    /// The protocol version could not be parsed.
    ProtocolVersionInvalid = 2020,
    /// The engine does not speak the client's protocol version.
    ProtocolVersionIncompatible = 2030,
    /// No tunnel has that id or name.
    TunnelNotFound = 3000,
    /// The stream is unknown or its secret is wrong.
    InvalidStream = 4000,
    /// The feature is not available (plan, engine or region).
    FeatureNotAvailable = 5000,
    /// The service is unavailable for now.
    ServiceUnavailable = 6000,
    /// Capacity is exhausted for now.
    CapacityExhausted = 7000,
    /// An internal engine error.
    Internal = 9000,
}

impl ErrorCode {
    /// The name of the code as the protobuf definition spells it.
    pub fn as_str_name(&self) -> &'static str {
        match self {
            ErrorCode::Unspecified => "ERROR_CODE_UNSPECIFIED",
            ErrorCode::Unauthorized => "ERROR_CODE_UNAUTHORIZED",
            ErrorCode::InvalidRequest => "ERROR_CODE_INVALID_REQUEST",
            ErrorCode::ProtocolVersionMissing => "ERROR_CODE_PROTOCOL_VERSION_MISSING",
            ErrorCode::ProtocolVersionInvalid => "ERROR_CODE_PROTOCOL_VERSION_INVALID",
            ErrorCode::ProtocolVersionIncompatible => "ERROR_CODE_PROTOCOL_VERSION_INCOMPATIBLE",
            ErrorCode::TunnelNotFound => "ERROR_CODE_TUNNEL_NOT_FOUND",
            ErrorCode::InvalidStream => "ERROR_CODE_INVALID_STREAM",
            ErrorCode::FeatureNotAvailable => "ERROR_CODE_FEATURE_NOT_AVAILABLE",
            ErrorCode::ServiceUnavailable => "ERROR_CODE_SERVICE_UNAVAILABLE",
            ErrorCode::CapacityExhausted => "ERROR_CODE_CAPACITY_EXHAUSTED",
            ErrorCode::Internal => "ERROR_CODE_INTERNAL",
        }
    }
}

/// An error returned by the engine.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Error {
    /// The code, see [`ErrorCode`].
    #[prost(enumeration = "ErrorCode", tag = "1")]
    pub code: i32,
    /// A human-readable message.
    #[prost(message, optional, tag = "2")]
    pub message: Option<String>,
}

/// Who the client is. Sent when opening a control channel, a proxy
/// connection or a stream.
#[derive(Clone, PartialEq, Eq, prost::Message)]
#[prost(skip_debug)]
pub struct ClientDetails {
    /// The runtime's agent name.
    #[prost(message, optional, tag = "1")]
    pub agent: Option<String>,
    /// The distribution channel (`sdk`).
    #[prost(message, optional, tag = "2")]
    pub channel: Option<String>,
    /// The runtime's version.
    #[prost(message, optional, tag = "3")]
    pub version: Option<String>,
    /// The operating system.
    #[prost(message, optional, tag = "4")]
    pub os: Option<String>,
    /// The CPU architecture.
    #[prost(message, optional, tag = "5")]
    pub arch: Option<String>,
    /// The authentication token, or a stream secret in a `ProxyReq`.
    #[prost(message, optional, tag = "6")]
    pub token: Option<String>,
    /// The protocol version the client speaks.
    #[prost(message, optional, tag = "7")]
    pub protocol_version: Option<String>,
}

/// Who the engine is.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ServerDetails {
    /// The engine's agent name.
    #[prost(message, optional, tag = "1")]
    pub agent: Option<String>,
    /// The engine's release channel.
    #[prost(message, optional, tag = "2")]
    pub channel: Option<String>,
    /// The engine's version.
    #[prost(message, optional, tag = "3")]
    pub version: Option<String>,
    /// The plan of the account.
    #[prost(message, optional, tag = "4")]
    pub plan: Option<String>,
    /// The hosting provider.
    #[prost(message, optional, tag = "5")]
    pub provider: Option<String>,
    /// The region.
    #[prost(message, optional, tag = "6")]
    pub region: Option<String>,
    /// An update notice.
    #[prost(message, optional, tag = "7")]
    pub update: Option<String>,
}

/// The properties of a tunnel, as requested and as created.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TunnelProperties {
    /// The tunnel id (read-only, set by the engine).
    #[prost(message, optional, tag = "1")]
    pub id: Option<String>,
    /// When the tunnel was created (read-only).
    #[prost(message, optional, tag = "2")]
    pub creation_date: Option<prost_types::Timestamp>,
    /// The tunnel name.
    #[prost(message, optional, tag = "3")]
    pub name: Option<String>,
    /// `bytestream` or `datagram`.
    #[prost(message, optional, tag = "4")]
    pub r#type: Option<String>,
    /// Whether the tunnel is published at a public address.
    #[prost(message, optional, tag = "5")]
    pub publish: Option<bool>,
    /// `http`, `tcp`, `tls`, `dtls` or `quic`.
    #[prost(message, optional, tag = "6")]
    pub protocol: Option<String>,
    /// Free-form labels.
    #[prost(map = "string, string", tag = "7")]
    pub labels: HashMap<String, String>,
    /// Allowed countries.
    #[prost(string, repeated, tag = "8")]
    pub geoip: Vec<String>,
    /// Allowed client addresses or networks.
    #[prost(string, repeated, tag = "9")]
    pub trusted_ips: Vec<String>,
    /// The published host (deprecated, read-only).
    #[prost(message, optional, tag = "10")]
    pub host: Option<String>,
    /// `passthrough` or `terminated`.
    #[prost(message, optional, tag = "11")]
    pub tls_mode: Option<String>,
    /// TLS ALPN protocols offered at the edge.
    #[prost(string, repeated, tag = "12")]
    pub tls_alpns: Vec<String>,
    /// Minimum TLS version at the edge.
    #[prost(message, optional, tag = "13")]
    pub tls_min_version: Option<String>,
    /// TLS cipher suites at the edge.
    #[prost(string, repeated, tag = "14")]
    pub tls_ciphers: Vec<String>,
    /// Require client certificates at the edge.
    #[prost(message, optional, tag = "15")]
    pub mtls_auth: Option<bool>,
    /// CA for client certificates (deprecated).
    #[prost(message, optional, tag = "16")]
    pub mtls_cacert_pem: Option<String>,
    /// `http/1.1`, `h2`, `h2c` or `h3`.
    #[prost(message, optional, tag = "17")]
    pub http_version: Option<String>,
    /// Deprecated.
    #[prost(message, optional, tag = "18")]
    pub http_use_tls: Option<bool>,
    /// Require an rstream token at the edge.
    #[prost(message, optional, tag = "19")]
    pub token_auth: Option<bool>,
    /// Require an rstream login at the edge.
    #[prost(message, optional, tag = "20")]
    pub rstream_auth: Option<bool>,
    /// Challenge clients at the edge.
    #[prost(message, optional, tag = "21")]
    pub challenge_mode: Option<bool>,
    /// The public hostname.
    #[prost(message, optional, tag = "22")]
    pub hostname: Option<String>,
    /// The public port (tcp tunnels).
    #[prost(message, optional, tag = "23")]
    pub port: Option<u32>,
    /// The edge speaks TLS to the upstream.
    #[prost(message, optional, tag = "24")]
    pub upstream_tls: Option<bool>,
    /// Datagram delivery guarantee (datagram tunnels).
    #[prost(message, optional, tag = "25")]
    pub datagram_guaranteed_delivery: Option<bool>,
    /// Allow routing from other regions.
    #[prost(message, optional, tag = "26")]
    pub allow_cross_region_routing: Option<bool>,
}

/// Heartbeat settings of a control channel, in milliseconds.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct ControlChannelLiveness {
    /// How often the runtime sends a heartbeat.
    #[prost(uint32, tag = "1")]
    pub heartbeat_interval_ms: u32,
    /// How long without any frame before the channel is considered dead.
    #[prost(uint32, tag = "2")]
    pub heartbeat_timeout_ms: u32,
}

/// Opens a control channel.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct OpenControlChannelReq {
    /// Who the client is.
    #[prost(message, optional, tag = "1")]
    pub client_details: Option<ClientDetails>,
    /// The requested heartbeat interval.
    #[prost(message, optional, tag = "2")]
    pub liveness: Option<ControlChannelLiveness>,
}

/// The engine's answer to [`OpenControlChannelReq`].
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct OpenControlChannelRsp {
    /// Success or error.
    #[prost(oneof = "open_control_channel_rsp::Payload", tags = "1, 2")]
    pub payload: Option<open_control_channel_rsp::Payload>,
}

/// Nested types of [`OpenControlChannelRsp`].
pub mod open_control_channel_rsp {
    /// A successful open.
    #[derive(Clone, PartialEq, Eq, prost::Message)]
    pub struct Ok {
        /// The id the engine gave this client.
        #[prost(string, tag = "1")]
        pub client_id: String,
        /// Who the engine is.
        #[prost(message, optional, tag = "2")]
        pub server_details: Option<super::ServerDetails>,
        /// The negotiated liveness, absent in legacy mode.
        #[prost(message, optional, tag = "3")]
        pub liveness: Option<super::ControlChannelLiveness>,
    }

    /// Success or error.
    #[derive(Clone, PartialEq, Eq, prost::Oneof)]
    pub enum Payload {
        /// The channel is open.
        #[prost(message, tag = "1")]
        Ok(Ok),
        /// The engine refused.
        #[prost(message, tag = "2")]
        Error(super::Error),
    }
}

/// Asks the engine to close the control channel.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct CloseControlChannelReq {}

/// The engine closed the control channel.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct CloseControlChannelRsp {}

/// Creates a tunnel.
#[derive(Clone, PartialEq, prost::Message)]
pub struct OpenTunnelReq {
    /// Matches the answer to the request.
    #[prost(string, tag = "1")]
    pub request_id: String,
    /// The requested properties.
    #[prost(message, optional, tag = "2")]
    pub tunnel_properties: Option<TunnelProperties>,
}

/// The engine's answer to [`OpenTunnelReq`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct OpenTunnelRsp {
    /// The request this answers.
    #[prost(string, tag = "1")]
    pub request_id: String,
    /// The created tunnel or the error.
    #[prost(oneof = "open_tunnel_rsp::Payload", tags = "2, 3")]
    pub payload: Option<open_tunnel_rsp::Payload>,
}

/// Nested types of [`OpenTunnelRsp`].
pub mod open_tunnel_rsp {
    /// The created tunnel or the error.
    #[derive(Clone, PartialEq, prost::Oneof)]
    #[allow(clippy::large_enum_variant)] // mirrors the protobuf oneof
    pub enum Payload {
        /// The tunnel as created.
        #[prost(message, tag = "2")]
        TunnelProperties(super::TunnelProperties),
        /// The engine refused.
        #[prost(message, tag = "3")]
        Error(super::Error),
    }
}

/// Closes a tunnel.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct CloseTunnelReq {
    /// The tunnel to close.
    #[prost(string, tag = "1")]
    pub tunnel_id: String,
}

/// A tunnel was closed.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct CloseTunnelRsp {
    /// The closed tunnel.
    #[prost(string, tag = "1")]
    pub tunnel_id: String,
}

/// The engine has a new stream for one of our tunnels.
#[derive(Clone, PartialEq, Eq, prost::Message)]
#[prost(skip_debug)]
pub struct ProxyConnReq {
    /// The tunnel the stream belongs to.
    #[prost(string, tag = "1")]
    pub tunnel_id: String,
    /// The stream id.
    #[prost(string, tag = "2")]
    pub stream_id: String,
    /// The one-time secret that authenticates the proxy connection.
    #[prost(message, optional, tag = "3")]
    pub secret: Option<String>,
    /// The address of the client at the edge.
    #[prost(message, optional, tag = "4")]
    pub source_ip: Option<IpAddress>,
    /// Where to open the proxy connection, when not the engine itself.
    #[prost(message, optional, tag = "5")]
    pub proxy_endpoint: Option<String>,
}

/// The runtime's answer to [`ProxyConnReq`].
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ProxyConnRsp {
    /// The stream this answers.
    #[prost(string, tag = "1")]
    pub stream_id: String,
    /// Set when the runtime could not take the stream.
    #[prost(message, optional, tag = "2")]
    pub error: Option<Error>,
}

/// First frame of a proxy connection.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ProxyReq {
    /// Who the client is; the token is the stream secret.
    #[prost(message, optional, tag = "1")]
    pub client_details: Option<ClientDetails>,
    /// The stream id.
    #[prost(string, tag = "2")]
    pub stream_id: String,
    /// Whether the engine sends no [`ProxyRsp`].
    #[prost(message, optional, tag = "3")]
    pub zero_rtt: Option<bool>,
}

/// The engine's answer to [`ProxyReq`] when zero-RTT is off.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ProxyRsp {
    /// Set when the engine refused the proxy connection.
    #[prost(message, optional, tag = "1")]
    pub error: Option<Error>,
}

/// First frame of a dialed stream to a private tunnel.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct StreamReq {
    /// Who the client is, with its token.
    #[prost(message, optional, tag = "1")]
    pub client_details: Option<ClientDetails>,
    /// The tunnel's id or name.
    #[prost(string, tag = "2")]
    pub tunnel_id_name: String,
    /// Whether the engine sends no [`StreamRsp`].
    #[prost(message, optional, tag = "3")]
    pub zero_rtt: Option<bool>,
    /// Whether this is a datagram channel.
    #[prost(message, optional, tag = "4")]
    pub datagram_channel: Option<bool>,
}

/// The engine's answer to [`StreamReq`] when zero-RTT is off.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct StreamRsp {
    /// The stream id or the error.
    #[prost(oneof = "stream_rsp::Payload", tags = "1, 2")]
    pub payload: Option<stream_rsp::Payload>,
}

/// Nested types of [`StreamRsp`].
pub mod stream_rsp {
    /// The stream id or the error.
    #[derive(Clone, PartialEq, Eq, prost::Oneof)]
    pub enum Payload {
        /// The new stream's id.
        #[prost(string, tag = "1")]
        StreamId(String),
        /// The engine refused.
        #[prost(message, tag = "2")]
        Error(super::Error),
    }
}

/// Closes a datagram channel.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct DatagramChannelClose {
    /// The stream id.
    #[prost(string, tag = "1")]
    pub stream_id: String,
    /// Why, if an error.
    #[prost(message, optional, tag = "2")]
    pub error: Option<Error>,
}

/// A heartbeat or its acknowledgement.
#[derive(Clone, Copy, PartialEq, Eq, prost::Message)]
pub struct Heartbeat {
    /// The runtime's sequence number (0 in an acknowledgement).
    #[prost(uint64, tag = "1")]
    pub sequence: u64,
    /// The acknowledged sequence number (0 in a heartbeat).
    #[prost(uint64, tag = "2")]
    pub acknowledgement: u64,
}

/// A text message from the engine.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct ServerMessage {
    /// The text.
    #[prost(string, tag = "1")]
    pub message: String,
}

/// The envelope of every frame.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    /// What the frame carries.
    #[prost(
        oneof = "message::Payload",
        tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17"
    )]
    pub payload: Option<message::Payload>,
}

/// Nested types of [`Message`].
pub mod message {
    /// What a frame carries.
    #[derive(Clone, PartialEq, prost::Oneof)]
    #[allow(clippy::large_enum_variant)] // mirrors the protobuf oneof
    pub enum Payload {
        /// See [`super::OpenControlChannelReq`].
        #[prost(message, tag = "1")]
        OpenControlChannelReq(super::OpenControlChannelReq),
        /// See [`super::OpenControlChannelRsp`].
        #[prost(message, tag = "2")]
        OpenControlChannelRsp(super::OpenControlChannelRsp),
        /// See [`super::CloseControlChannelReq`].
        #[prost(message, tag = "3")]
        CloseControlChannelReq(super::CloseControlChannelReq),
        /// See [`super::CloseControlChannelRsp`].
        #[prost(message, tag = "4")]
        CloseControlChannelRsp(super::CloseControlChannelRsp),
        /// See [`super::OpenTunnelReq`].
        #[prost(message, tag = "5")]
        OpenTunnelReq(super::OpenTunnelReq),
        /// See [`super::OpenTunnelRsp`].
        #[prost(message, tag = "6")]
        OpenTunnelRsp(super::OpenTunnelRsp),
        /// See [`super::CloseTunnelReq`].
        #[prost(message, tag = "7")]
        CloseTunnelReq(super::CloseTunnelReq),
        /// See [`super::CloseTunnelRsp`].
        #[prost(message, tag = "8")]
        CloseTunnelRsp(super::CloseTunnelRsp),
        /// See [`super::ProxyConnReq`].
        #[prost(message, tag = "9")]
        ProxyConnReq(super::ProxyConnReq),
        /// See [`super::ProxyConnRsp`].
        #[prost(message, tag = "10")]
        ProxyConnRsp(super::ProxyConnRsp),
        /// See [`super::ProxyReq`].
        #[prost(message, tag = "11")]
        ProxyReq(super::ProxyReq),
        /// See [`super::ProxyRsp`].
        #[prost(message, tag = "12")]
        ProxyRsp(super::ProxyRsp),
        /// See [`super::StreamReq`].
        #[prost(message, tag = "13")]
        StreamReq(super::StreamReq),
        /// See [`super::StreamRsp`].
        #[prost(message, tag = "14")]
        StreamRsp(super::StreamRsp),
        /// See [`super::Heartbeat`].
        #[prost(message, tag = "15")]
        Heartbeat(super::Heartbeat),
        /// See [`super::ServerMessage`].
        #[prost(message, tag = "16")]
        ServerMessage(super::ServerMessage),
        /// See [`super::DatagramChannelClose`].
        #[prost(message, tag = "17")]
        DatagramChannelClose(super::DatagramChannelClose),
    }
}

macro_rules! into_message {
    ($($variant:ident),* $(,)?) => {
        $(
            impl From<$variant> for Message {
                fn from(value: $variant) -> Self {
                    Message { payload: Some(message::Payload::$variant(value)) }
                }
            }
        )*
    };
}

into_message!(
    OpenControlChannelReq,
    OpenControlChannelRsp,
    CloseControlChannelReq,
    CloseControlChannelRsp,
    OpenTunnelReq,
    OpenTunnelRsp,
    CloseTunnelReq,
    CloseTunnelRsp,
    ProxyConnReq,
    ProxyConnRsp,
    ProxyReq,
    ProxyRsp,
    StreamReq,
    StreamRsp,
    Heartbeat,
    ServerMessage,
    DatagramChannelClose,
);

impl message::Payload {
    /// The protobuf field name of this payload, for logs and errors.
    pub fn name(&self) -> &'static str {
        use message::Payload::*;
        match self {
            OpenControlChannelReq(_) => "open_control_channel_req",
            OpenControlChannelRsp(_) => "open_control_channel_rsp",
            CloseControlChannelReq(_) => "close_control_channel_req",
            CloseControlChannelRsp(_) => "close_control_channel_rsp",
            OpenTunnelReq(_) => "open_tunnel_req",
            OpenTunnelRsp(_) => "open_tunnel_rsp",
            CloseTunnelReq(_) => "close_tunnel_req",
            CloseTunnelRsp(_) => "close_tunnel_rsp",
            ProxyConnReq(_) => "proxy_conn_req",
            ProxyConnRsp(_) => "proxy_conn_rsp",
            ProxyReq(_) => "proxy_req",
            ProxyRsp(_) => "proxy_rsp",
            StreamReq(_) => "stream_req",
            StreamRsp(_) => "stream_rsp",
            Heartbeat(_) => "heartbeat",
            ServerMessage(_) => "server_message",
            DatagramChannelClose(_) => "datagram_channel_close",
        }
    }
}

impl Error {
    /// Builds an engine error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code: code as i32,
            message: Some(message.into()),
        }
    }
}

/// Shows whether a secret is set without showing it.
fn redacted(value: &Option<String>) -> &'static str {
    match value {
        Some(_) => "Some(<redacted>)",
        None => "None",
    }
}

impl std::fmt::Debug for ClientDetails {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientDetails")
            .field("agent", &self.agent)
            .field("channel", &self.channel)
            .field("version", &self.version)
            .field("os", &self.os)
            .field("arch", &self.arch)
            .field("token", &format_args!("{}", redacted(&self.token)))
            .field("protocol_version", &self.protocol_version)
            .finish()
    }
}

impl std::fmt::Debug for ProxyConnReq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyConnReq")
            .field("tunnel_id", &self.tunnel_id)
            .field("stream_id", &self.stream_id)
            .field("secret", &format_args!("{}", redacted(&self.secret)))
            .field("source_ip", &self.source_ip)
            .field("proxy_endpoint", &self.proxy_endpoint)
            .finish()
    }
}
