//! A CA and server certificates generated at start, and the TLS server
//! set-up.
//!
//! The default certificate names `localhost`, `*.localhost` and
//! `127.0.0.1`. Common TLS stacks (rustls and OpenSSL included) do not match
//! a wildcard directly under a single-label name, so a client that sends
//! another name under `localhost` as SNI (say `engine.localhost`) gets a
//! certificate made for that exact name, signed by the same CA.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::Error;

/// ALPN offered for the HTTP API on the engine port.
pub(crate) const ALPN_HTTP1: &[u8] = b"http/1.1";

/// How many TLS sessions the server remembers for resumption.
const SESSION_CACHE: usize = 8192;

/// How many per-name certificates are kept.
const CACHE_LIMIT: usize = 1024;

/// The engine's CA and certificates.
pub(crate) struct Pki {
    pub(crate) ca_pem: String,
    ca_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    provider: Arc<CryptoProvider>,
    default: Arc<CertifiedKey>,
    by_name: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki").finish_non_exhaustive()
    }
}

fn tls_err(e: impl std::fmt::Display) -> Error {
    Error::Tls(e.to_string())
}

/// Whether `name` is a DNS name under `localhost` (not `localhost` itself).
fn under_localhost(name: &str) -> bool {
    let Some(prefix) = name.strip_suffix(".localhost") else {
        return false;
    };
    !prefix.is_empty()
        && name.len() <= 253
        && prefix.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

impl Pki {
    /// A fresh CA and the default server certificate.
    pub(crate) fn generate() -> Result<Pki, Error> {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "rstream local engine test CA");
        let ca_key = KeyPair::generate().map_err(tls_err)?;
        let ca_cert = ca_params.self_signed(&ca_key).map_err(tls_err)?;
        let issuer = Issuer::new(ca_params, ca_key);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let default = leaf(
            &issuer,
            &provider,
            vec!["localhost".into(), "*.localhost".into(), "127.0.0.1".into()],
        )?;
        Ok(Pki {
            ca_pem: ca_cert.pem(),
            ca_der: CertificateDer::from(ca_cert.der().to_vec()),
            issuer,
            provider,
            default,
            by_name: Mutex::new(HashMap::new()),
        })
    }

    /// A server configuration offering `rstrm/1` and `http/1.1`; with
    /// `client_certificates`, clients may present a certificate signed by
    /// the CA (and are verified when they do).
    pub(crate) fn server_config(
        self: &Arc<Self>,
        client_certificates: bool,
    ) -> Result<Arc<ServerConfig>, Error> {
        let builder = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(tls_err)?;
        let builder = if client_certificates {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.ca_der.clone()).map_err(tls_err)?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                self.provider.clone(),
            )
            .allow_unauthenticated()
            .build()
            .map_err(tls_err)?;
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder.with_cert_resolver(self.clone());
        config.alpn_protocols = vec![rstream_core::proto::ALPN.to_vec(), ALPN_HTTP1.to_vec()];
        // Session resumption, like a real engine: stateless TLS 1.3 tickets
        // and a session cache large enough for benchmarks.
        config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(tls_err)?;
        config.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE);
        Ok(Arc::new(config))
    }
}

impl Pki {
    /// A client certificate and its key (PEM), signed by the CA, for `name`.
    pub(crate) fn client_identity(&self, name: &str) -> Result<(String, String), Error> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().map_err(tls_err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(tls_err)?;
        Ok((cert.pem(), key.serialize_pem()))
    }
}

/// A certificate for `names`, signed by the CA.
fn leaf(
    issuer: &Issuer<'static, KeyPair>,
    provider: &CryptoProvider,
    names: Vec<String>,
) -> Result<Arc<CertifiedKey>, Error> {
    let mut params = CertificateParams::new(names.clone()).map_err(tls_err)?;
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().cloned().unwrap_or_default(),
    );
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let key = KeyPair::generate().map_err(tls_err)?;
    let cert = params.signed_by(&key, issuer).map_err(tls_err)?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let chain = vec![CertificateDer::from(cert.der().to_vec())];
    CertifiedKey::from_der(chain, key_der, provider)
        .map(Arc::new)
        .map_err(tls_err)
}

impl ResolvesServerCert for Pki {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = hello
            .server_name()
            .map(str::to_ascii_lowercase)
            .filter(|n| under_localhost(n))
        else {
            return Some(self.default.clone());
        };
        let mut cache = self.by_name.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = cache.get(&name) {
            return Some(found.clone());
        }
        let made = leaf(&self.issuer, &self.provider, vec![name.clone()]).ok()?;
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(name, made.clone());
        Some(made)
    }
}

#[cfg(test)]
mod tests {
    use super::under_localhost;

    #[test]
    fn names_under_localhost() {
        assert!(under_localhost("engine.localhost"));
        assert!(under_localhost("a.b-c.localhost"));
        assert!(!under_localhost("localhost"));
        assert!(!under_localhost(".localhost"));
        assert!(!under_localhost("-a.localhost"));
        assert!(!under_localhost("a..localhost"));
        assert!(!under_localhost("example.com"));
    }
}
