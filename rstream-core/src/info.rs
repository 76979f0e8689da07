//! Typed views of what the engine reports: a tunnel as created
//! ([`TunnelInfo`]), the engine itself ([`EngineDetails`]) and the
//! negotiated heartbeat ([`Heartbeat`]). The protocol's message types stay
//! in [`proto`](crate::proto); these are what the runtime's handles return.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::options::{HttpVersion, Protocol, TlsMode};
use crate::proto::{ControlChannelLiveness, ServerDetails, TunnelProperties};

/// A tunnel as the engine created it, from [`Tunnel::info`](crate::Tunnel::info).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TunnelInfo {
    /// The engine's id of this creation (a new one after every reconnect).
    pub id: String,
    /// The tunnel's name.
    pub name: Option<String>,
    /// The published protocol; `None` when the engine reported none or one
    /// this runtime does not carry.
    pub protocol: Option<Protocol>,
    /// Whether it is published at a public address.
    pub published: bool,
    /// The public hostname.
    pub hostname: Option<String>,
    /// The public port (tcp tunnels).
    pub port: Option<u16>,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The HTTP version the edge speaks to it, when set.
    pub http_version: Option<HttpVersion>,
    /// How the edge handles TLS (tls tunnels), when set.
    pub tls_mode: Option<TlsMode>,
    /// Countries allowed at the edge (empty: all).
    pub geoip: Vec<String>,
    /// Client addresses or networks allowed at the edge (empty: all).
    pub trusted_ips: Vec<String>,
    /// Whether the edge asks for an rstream token.
    pub token_auth: bool,
    /// When the engine created it, when reported.
    pub created: Option<SystemTime>,
    /// Where it is reachable, in the rstream CLI's words.
    pub forwarding_address: String,
}

impl TunnelInfo {
    pub(crate) fn from_properties(p: &TunnelProperties) -> TunnelInfo {
        let protocol = match p.protocol.as_deref() {
            Some("http") => Some(Protocol::Http),
            Some("tcp") => Some(Protocol::Tcp),
            Some("tls") => Some(Protocol::Tls),
            _ => None,
        };
        let http_version = match p.http_version.as_deref() {
            Some("http/1.1") => Some(HttpVersion::Http11),
            Some("h2") => Some(HttpVersion::H2),
            Some("h2c") => Some(HttpVersion::H2c),
            _ => None,
        };
        let tls_mode = match p.tls_mode.as_deref() {
            Some("passthrough") => Some(TlsMode::Passthrough),
            Some("terminated") => Some(TlsMode::Terminated),
            _ => None,
        };
        let created = p.creation_date.as_ref().and_then(|t| {
            let secs = u64::try_from(t.seconds).ok()?;
            let nanos = u32::try_from(t.nanos).ok()?;
            SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
        });
        TunnelInfo {
            id: p.id.clone().unwrap_or_default(),
            name: p.name.clone(),
            protocol,
            published: p.publish == Some(true),
            hostname: p.hostname.clone().filter(|h| !h.is_empty()),
            port: p.port.and_then(|port| u16::try_from(port).ok()),
            labels: p
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            http_version,
            tls_mode,
            geoip: p.geoip.clone(),
            trusted_ips: p.trusted_ips.clone(),
            token_auth: p.token_auth == Some(true),
            created,
            forwarding_address: crate::options::forwarding_address(p),
        }
    }
}

/// What the engine says about itself when a control channel opens, from
/// [`ControlChannel::engine_details`](crate::ControlChannel::engine_details).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EngineDetails {
    /// The engine's agent name.
    pub agent: Option<String>,
    /// Its release channel.
    pub channel: Option<String>,
    /// Its version.
    pub version: Option<String>,
    /// The account's plan.
    pub plan: Option<String>,
    /// The hosting provider.
    pub provider: Option<String>,
    /// The region.
    pub region: Option<String>,
    /// An update notice for the operator.
    pub update: Option<String>,
}

impl From<&ServerDetails> for EngineDetails {
    fn from(d: &ServerDetails) -> Self {
        EngineDetails {
            agent: d.agent.clone(),
            channel: d.channel.clone(),
            version: d.version.clone(),
            plan: d.plan.clone(),
            provider: d.provider.clone(),
            region: d.region.clone(),
            update: d.update.clone(),
        }
    }
}

/// The heartbeat a control channel negotiated, from
/// [`ControlChannel::heartbeat`](crate::ControlChannel::heartbeat).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Heartbeat {
    /// How often the runtime sends a heartbeat.
    pub interval: Duration,
    /// How long the engine may stay silent before the channel counts as
    /// dead.
    pub timeout: Duration,
}

impl From<ControlChannelLiveness> for Heartbeat {
    fn from(l: ControlChannelLiveness) -> Self {
        Heartbeat {
            interval: Duration::from_millis(u64::from(l.heartbeat_interval_ms)),
            timeout: Duration::from_millis(u64::from(l.heartbeat_timeout_ms)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tcp_tunnel_as_the_engine_reports_it() {
        let properties = TunnelProperties {
            id: Some("tun_1".into()),
            name: Some("db".into()),
            protocol: Some("tcp".into()),
            publish: Some(true),
            hostname: Some("localhost".into()),
            port: Some(5432),
            labels: [("env".to_owned(), "dev".to_owned())].into(),
            creation_date: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            ..TunnelProperties::default()
        };
        let info = TunnelInfo::from_properties(&properties);
        assert_eq!(info.id, "tun_1");
        assert_eq!(info.protocol, Some(Protocol::Tcp));
        assert!(info.published);
        assert_eq!(info.port, Some(5432));
        assert_eq!(info.labels["env"], "dev");
        assert_eq!(info.forwarding_address, "localhost:5432 (tcp)");
        assert_eq!(
            info.created,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
    }

    #[test]
    fn what_this_runtime_does_not_carry_reads_as_none() {
        let info = TunnelInfo::from_properties(&TunnelProperties {
            protocol: Some("quic".into()),
            http_version: Some("h3".into()),
            port: Some(70_000),
            creation_date: Some(prost_types::Timestamp {
                seconds: -5,
                nanos: 0,
            }),
            ..TunnelProperties::default()
        });
        assert_eq!(
            (info.protocol, info.http_version, info.port, info.created),
            (None, None, None, None)
        );
        assert!(!info.published && !info.token_auth);
    }
}
