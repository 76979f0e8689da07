//! The engine as the runtime's lower layers see it: where it is, how to
//! reach it (the transport's connector), what the runtime says about itself,
//! and the timing settings. A [`Client`](crate::Client) holds one; control
//! channels, sessions and stream handshakes work from it alone, so none of
//! them depends on the client module.

use std::net::SocketAddr;
use std::time::Duration;

use crate::proto::{self, ClientDetails, Message};
use crate::transport::{Connector, ProxySettings, TlsConnection, TlsSettings};
use crate::{Error, ReconnectPolicy, Secret};

/// The engine and the settings for talking to it.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) token: Option<Secret>,
    pub(crate) connect_to: Option<SocketAddr>,
    pub(crate) connector: Connector,
    pub(crate) operation_timeout: Duration,
    pub(crate) heartbeat_interval: Option<Duration>,
    pub(crate) reconnect: ReconnectPolicy,
    pub(crate) zero_rtt: bool,
    pub(crate) agent: String,
    pub(crate) version: String,
    /// The TLS settings the connector was built from, for HTTP clients of
    /// the engine API that must trust and present the same things.
    #[cfg_attr(not(feature = "engine-api"), allow(dead_code))]
    pub(crate) tls: TlsSettings,
    /// The proxy settings the connector was built from.
    #[cfg_attr(not(feature = "engine-api"), allow(dead_code))]
    pub(crate) proxy: Option<ProxySettings>,
}

impl Link {
    /// The engine address, `host:port`.
    pub(crate) fn engine(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The details this runtime sends about itself, with `token` as the token.
    pub(crate) fn client_details(&self, token: Option<&Secret>) -> ClientDetails {
        ClientDetails {
            agent: Some(self.agent.clone()),
            channel: Some("sdk".into()),
            version: Some(self.version.clone()),
            os: Some(std::env::consts::OS.into()),
            arch: Some(std::env::consts::ARCH.into()),
            token: token.map(|t| t.expose().to_owned()),
            protocol_version: Some(proto::PROTOCOL_VERSION.into()),
        }
    }

    /// A new TLS connection to the engine, or to `endpoint` (`host[:port]`)
    /// when the engine redirected us there, with `first` as its first frame:
    /// the frame leaves with the handshake's last flight and is on the wire
    /// when this returns.
    pub(crate) async fn open_with(
        &self,
        endpoint: Option<&str>,
        first: &Message,
    ) -> Result<TlsConnection, Error> {
        let frame = proto::frame_bytes(first)?;
        match endpoint {
            None => {
                self.connector
                    .connect(&self.host, self.port, self.connect_to, &frame)
                    .await
            }
            Some(endpoint) => {
                let (host, port) = split_host_port(endpoint)?;
                self.connector
                    .connect_with_name(&host, port, &host, None, &frame)
                    .await
            }
        }
    }
}

/// Splits `host[:port]` (port 443 by default; `[v6]:port` accepted).
pub(crate) fn split_host_port(address: &str) -> Result<(String, u16), Error> {
    let bad = || {
        Error::config(format!(
            "invalid address {address:?}: expected host or host:port"
        ))
    };
    if let Some(rest) = address.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?,
            None if after.is_empty() => 443,
            None => return Err(bad()),
        };
        return Ok((host.to_owned(), port));
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => {
            let port = port
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(bad)?;
            if host.is_empty() {
                return Err(bad());
            }
            Ok((host.to_owned(), port))
        }
        Some(_) => Ok((address.to_owned(), 443)), // a bare IPv6 literal
        None if !address.is_empty() => Ok((address.to_owned(), 443)),
        None => Err(bad()),
    }
}
