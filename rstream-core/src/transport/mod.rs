//! TLS client side of the runtime: every connection to an engine. Internal:
//! its settings types ([`TlsSettings`], [`ClientIdentity`], [`ProxySettings`])
//! are re-exported at the crate root.
//!
//! The runtime keeps one control channel to the engine and opens a new TLS
//! connection for each stream it accepts or dials. All of them go through a
//! [`Connector`], which builds its rustls [`ClientConfig`] once per settings
//! and reuses it, so later connections resume earlier TLS sessions from an
//! in-memory ticket store (sized for many concurrent streams, see
//! [`Connector::with_tls_resumption`]). The engine's resolved addresses are
//! reused for 30 s, so a new stream does not wait for the system resolver.
//!
//! What a [`Connector`] does for one connection:
//!
//! 1. opens TCP to the engine, to an address override, or to an HTTP
//!    `CONNECT` proxy (plain or TLS, see [`ProxySettings`]);
//! 2. asks the proxy, if any, for a tunnel to the engine;
//! 3. runs the TLS handshake with ALPN (normally [`ALPN_RSTRM`]) and the
//!    engine host, or the configured `server_name`, as SNI and verified name.
//!
//! The whole sequence is bounded by one connect timeout (15 s unless changed
//! with [`Connector::with_connect_timeout`]).
//!
//! Certificates are checked against the system roots plus any CA configured
//! in [`TlsSettings`]; a configured CA is added to the system roots, it does
//! not replace them. Verification is turned off only when
//! [`TlsSettings::insecure_skip_verify`] is set.
//!
//! [`ClientConfig`]: rustls::ClientConfig

use std::fmt;
use std::path::PathBuf;

use crate::Secret;

mod connect;
#[cfg(test)]
mod connector_tests;
mod no_proxy;
mod proxy;
mod resolve;
mod session;
mod stream;
pub(crate) mod tls;

pub use connect::DEFAULT_CONNECT_TIMEOUT;
pub(crate) use connect::{Connector, TlsConnection};
pub use proxy::ProxySettings;
pub(crate) use proxy::{
    HTTPS_CLIENT_PROXY_VARIABLES, NO_PROXY_VARIABLES, PROXY_URL_VARIABLES, first_set,
};

/// The ALPN protocol identifier of the rstream wire protocol.
pub(crate) const ALPN_RSTRM: &[u8] = crate::proto::ALPN;

/// How to verify the engine (or an `https://` proxy) and, optionally, how
/// to prove who we are.
///
/// The configuration resolves the engine's (`transport.tls`) and the
/// proxy's (`transport.proxy.tls`) into this type; it leaves
/// `client_identity` to the credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// A PEM file of CA certificates trusted in addition to the system roots.
    pub ca_file: Option<PathBuf>,
    /// PEM text of CA certificates trusted in addition to the system roots.
    pub ca_pem: Option<String>,
    /// The name sent as SNI and checked against the engine's certificate,
    /// instead of the host being dialled.
    pub server_name: Option<String>,
    /// Accept any server certificate. Only for tests and local engines: the
    /// connection is then encrypted but not authenticated.
    pub insecure_skip_verify: bool,
    /// A client certificate and key for mutual TLS.
    pub client_identity: Option<ClientIdentity>,
}

/// A client certificate chain and its private key, for mutual TLS.
///
/// `Debug` never prints the inline key.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientIdentity {
    /// PEM files on disk.
    Files {
        /// The certificate chain, leaf first.
        cert: PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
    /// PEM text held in memory.
    Pem {
        /// The certificate chain, leaf first.
        cert_pem: String,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        key_pem: Secret,
    },
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientIdentity::Files { cert, key } => f
                .debug_struct("Files")
                .field("cert", cert)
                .field("key", key)
                .finish(),
            ClientIdentity::Pem { cert_pem, .. } => f
                .debug_struct("Pem")
                .field("cert_pem", &format_args!("<{} bytes>", cert_pem.len()))
                .field("key_pem", &format_args!("<redacted>"))
                .finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_debug_hides_the_key() {
        let id = ClientIdentity::Pem {
            cert_pem: "CERT".into(),
            key_pem: Secret::new("-----BEGIN PRIVATE KEY-----\nsecretbytes"),
        };
        let text = format!("{id:?}");
        assert!(!text.contains("secretbytes"), "{text}");
        assert!(text.contains("redacted"), "{text}");
    }

    fn assert_send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<Connector>();
        assert_send_sync::<TlsConnection>();
        assert_send_sync::<stream::ProxiedStream>();
        assert_send_sync::<TlsSettings>();
        assert_send_sync::<ProxySettings>();
    }
}
