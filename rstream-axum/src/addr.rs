//! [`TunnelAddr`]: who is at the other end of a tunnel stream.

use std::fmt;
use std::net::IpAddr;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use rstream_core::{Accept, StreamInfo};

use crate::TunnelListener;

/// The address of a connection accepted through a tunnel: the stream's
/// [`StreamInfo`], with the client's IP address as the engine reported it.
///
/// It is [`TunnelListener`]'s `Addr`, and what
/// `Router::into_make_service_with_connect_info::<TunnelAddr>()` hands to
/// handlers as `ConnectInfo<TunnelAddr>`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TunnelAddr {
    info: StreamInfo,
}

impl TunnelAddr {
    /// The address of the stream `info` describes.
    pub fn new(info: StreamInfo) -> Self {
        TunnelAddr { info }
    }

    /// The client's IP address at the engine's edge, when reported.
    pub fn source_ip(&self) -> Option<IpAddr> {
        self.info.source_ip
    }

    /// The tunnel the connection came through.
    pub fn tunnel_id(&self) -> &str {
        &self.info.tunnel_id
    }

    /// The engine's id for the stream.
    pub fn stream_id(&self) -> &str {
        &self.info.stream_id
    }

    /// Everything the engine told us about the stream.
    pub fn info(&self) -> &StreamInfo {
        &self.info
    }

    /// The stream information, by value.
    pub fn into_info(self) -> StreamInfo {
        self.info
    }
}

impl From<StreamInfo> for TunnelAddr {
    fn from(info: StreamInfo) -> Self {
        TunnelAddr::new(info)
    }
}

/// `<source ip> via <tunnel id>/<stream id>`, with `unknown` for a missing
/// source address.
impl fmt::Display for TunnelAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.info.source_ip {
            Some(ip) => write!(f, "{ip}")?,
            None => f.write_str("unknown")?,
        }
        write!(f, " via {}/{}", self.info.tunnel_id, self.info.stream_id)
    }
}

impl<A: Accept> Connected<IncomingStream<'_, TunnelListener<A>>> for TunnelAddr {
    fn connect_info(stream: IncomingStream<'_, TunnelListener<A>>) -> Self {
        stream.remote_addr().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_source_and_stream() {
        let mut info = StreamInfo {
            tunnel_id: "tun_1".into(),
            stream_id: "str_2".into(),
            source_ip: Some("203.0.113.7".parse().unwrap()),
        };
        assert_eq!(
            TunnelAddr::new(info.clone()).to_string(),
            "203.0.113.7 via tun_1/str_2"
        );
        info.source_ip = None;
        let addr = TunnelAddr::from(info);
        assert_eq!(addr.to_string(), "unknown via tun_1/str_2");
        assert_eq!(addr.source_ip(), None);
        assert_eq!(addr.tunnel_id(), "tun_1");
        assert_eq!(addr.stream_id(), "str_2");
    }
}
