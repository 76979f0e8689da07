//! [`Connector`]: TCP, optional proxy tunnel and TLS, under one timeout.

use std::fmt;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::proxy::{ProxyRoute, authority};
use super::resolve::Resolver;
use super::stream::ProxiedStream;
use super::{ProxySettings, TlsSettings, tls};
use crate::Error;

/// How long a whole connect (TCP, proxy tunnel, TLS handshake) may take
/// unless `ClientBuilder::connect_timeout` says otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A TLS connection to an engine, possibly through a proxy.
pub(crate) type TlsConnection = tokio_rustls::client::TlsStream<ProxiedStream>;

/// Opens TLS connections to engines with one fixed set of settings.
///
/// The rustls configuration is built once, in [`Connector::new`], and shared
/// by every connection, which lets rustls resume TLS sessions across them.
/// Cloning is cheap and clones share that configuration.
#[derive(Clone)]
pub(crate) struct Connector {
    inner: Arc<Inner>,
    connect_timeout: Duration,
}

struct Inner {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
    proxy: Option<Arc<ProxyRoute>>,
    resolver: Arc<Resolver>,
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connector")
            .field("server_name", &self.inner.server_name)
            .field("proxy", &self.inner.proxy)
            .field("alpn", &self.inner.config.alpn_protocols)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl Connector {
    /// Builds a connector: loads the roots, CA, client identity and proxy
    /// settings once, and offers `alpn` (normally
    /// `vec![ALPN_RSTRM.to_vec()]`) in every handshake.
    ///
    /// Fails with [`Error::Config`] when a file cannot be read or parsed or
    /// a setting is malformed, and with [`Error::Tls`] when rustls refuses
    /// the resulting configuration.
    pub(crate) fn new(
        tls: &TlsSettings,
        proxy: Option<ProxySettings>,
        alpn: Vec<Vec<u8>>,
    ) -> Result<Self, Error> {
        let config = tls::client_config(tls, alpn)?;
        let server_name = match tls.server_name.as_deref().map(str::trim) {
            Some(name) if !name.is_empty() => Some(tls::server_name(name)?),
            _ => None,
        };
        let proxy = match proxy {
            Some(settings) => Some(Arc::new(ProxyRoute::new(&settings)?)),
            None => None,
        };
        Ok(Connector {
            inner: Arc::new(Inner {
                config,
                server_name,
                proxy,
                resolver: Arc::default(),
            }),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        })
    }

    /// Sets the bound on a whole connect (TCP, proxy tunnel, TLS handshake).
    pub(crate) fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Turns TLS session resumption on (the default) or off.
    ///
    /// With resumption on, every connection made through this connector (and
    /// its clones) may resume a TLS session from an earlier one, using an
    /// in-memory store of session tickets with room for many concurrent
    /// connections per server: a resumed handshake skips the certificate
    /// exchange and its verification. Turning it off makes
    /// every handshake a full one; that is only useful to measure what
    /// resumption saves, or to work around a server that mishandles it.
    pub(crate) fn with_tls_resumption(self, enabled: bool) -> Self {
        let mut config = (*self.inner.config).clone();
        config.resumption = if enabled {
            tls::resumption()
        } else {
            Resumption::disabled()
        };
        Connector {
            inner: Arc::new(Inner {
                config: Arc::new(config),
                server_name: self.inner.server_name.clone(),
                proxy: self.inner.proxy.clone(),
                resolver: self.inner.resolver.clone(),
            }),
            connect_timeout: self.connect_timeout,
        }
    }

    /// The shared rustls configuration (its session cache included).
    #[cfg(test)]
    pub(crate) fn client_config(&self) -> Arc<ClientConfig> {
        self.inner.config.clone()
    }

    /// Opens TCP (through the proxy when one applies) and TLS to
    /// `host:port`.
    ///
    /// SNI and the verified name are the configured `server_name`, else
    /// `host`. `connect_to` replaces the address actually dialled (like
    /// curl's `--resolve`) while the name stays; through a proxy, the
    /// tunnel is then requested to that address. `NO_PROXY` is checked
    /// against `host`.
    ///
    /// `first` (may be empty) is the start of what the caller sends: rustls
    /// holds it until the server is verified and the handshake keys are in
    /// place, then it leaves in the same write as the handshake's last
    /// flight, which saves a write (and a segment) per connection. It is
    /// all on the wire when this returns.
    ///
    /// Fails with [`Error::Timeout`] when the whole connect takes longer than
    /// the connect timeout.
    pub(crate) async fn connect(
        &self,
        host: &str,
        port: u16,
        connect_to: Option<SocketAddr>,
        first: &[u8],
    ) -> Result<TlsConnection, Error> {
        let name = match &self.inner.server_name {
            Some(name) => name.clone(),
            None => tls::server_name(host)?,
        };
        self.connect_inner(host, port, name, connect_to, first)
            .await
    }

    /// Like [`Connector::connect`], but SNI and the verified name are always
    /// `server_name`, whatever the settings say. Used for an engine's
    /// redirect to another endpoint, which is verified under its own name.
    pub(crate) async fn connect_with_name(
        &self,
        host: &str,
        port: u16,
        server_name: &str,
        connect_to: Option<SocketAddr>,
        first: &[u8],
    ) -> Result<TlsConnection, Error> {
        let name = tls::server_name(server_name)?;
        self.connect_inner(host, port, name, connect_to, first)
            .await
    }

    async fn connect_inner(
        &self,
        host: &str,
        port: u16,
        name: ServerName<'static>,
        connect_to: Option<SocketAddr>,
        first: &[u8],
    ) -> Result<TlsConnection, Error> {
        let target = authority(host, port);
        let attempt = async {
            let stream = self.open_stream(host, port, connect_to, &target).await?;
            let name_text = name.to_str().into_owned();
            // rustls takes what fits in its buffer before the handshake
            // (all of any frame we send; the limit is 64 KiB); the rest, if
            // ever, goes after it.
            let mut queued = 0;
            let mut io = tokio_rustls::TlsConnector::from(self.inner.config.clone())
                .connect_with(name, stream, |conn| {
                    if !first.is_empty() {
                        queued = conn.writer().write(first).unwrap_or(0);
                    }
                })
                .await
                .map_err(|e| tls::handshake_error(e, &name_text, &target))?;
            if let Some(rest) = first.get(queued..).filter(|rest| !rest.is_empty()) {
                let context = || format!("writing to {target}");
                io.write_all(rest)
                    .await
                    .map_err(|e| Error::io(context(), e))?;
                io.flush().await.map_err(|e| Error::io(context(), e))?;
            }
            Ok(io)
        };
        match tokio::time::timeout(self.connect_timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(Error::timeout(
                format!("connecting to {target}"),
                self.connect_timeout,
            )),
        }
    }

    async fn open_stream(
        &self,
        host: &str,
        port: u16,
        connect_to: Option<SocketAddr>,
        target: &str,
    ) -> Result<ProxiedStream, Error> {
        let proxy = self
            .inner
            .proxy
            .as_ref()
            .and_then(|route| route.endpoint_for(host, port));
        if let Some(endpoint) = proxy {
            let tunnel_to = match connect_to {
                Some(addr) => addr.to_string(),
                None => target.to_owned(),
            };
            return endpoint.open(&tunnel_to).await;
        }
        let context = || format!("connecting to {target}");
        let tcp = match connect_to {
            Some(addr) => TcpStream::connect(addr).await,
            None => self.inner.resolver.connect(host, port).await,
        }
        .map_err(|e| Error::io(context(), e))?;
        tcp.set_nodelay(true)
            .map_err(|e| Error::io("setting TCP_NODELAY", e))?;
        Ok(ProxiedStream::Tcp(tcp))
    }
}
