//! Building rustls client configurations and explaining handshake failures.

use std::io;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::session::SessionStore;
use super::{ClientIdentity, TlsSettings};
use crate::Error;
use rustls::client::Resumption;

/// The crypto provider every configuration uses. No process-wide default
/// provider is installed or consulted.
///
/// TLS 1.3 with AES-128-GCM and SHA-256 is offered first (the other suites
/// follow in rustls' order): every stream is a new handshake, and its key
/// schedule with SHA-256 costs a fraction of SHA-384's on CPUs with SHA
/// instructions, while AES-128-GCM moves bulk data faster than AES-256-GCM.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    #[cfg(feature = "aws-lc-rs")]
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
    let mut provider = rustls::crypto::ring::default_provider();
    provider
        .cipher_suites
        .sort_by_key(|s| s.suite() != rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);
    Arc::new(provider)
}

/// TLS session resumption with a store sized for many concurrent
/// connections to one engine (see [`SessionStore`]).
pub(crate) fn resumption() -> Resumption {
    Resumption::store(Arc::new(SessionStore::default()))
}

/// Builds a client configuration from `settings`, offering `alpn`.
///
/// Sessions are resumed from an in-memory store that belongs to the
/// configuration, so callers should build once and share the result.
pub(crate) fn client_config(
    settings: &TlsSettings,
    alpn: Vec<Vec<u8>>,
) -> Result<Arc<ClientConfig>, Error> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(format!("cannot select TLS protocol versions: {e}")))?;

    let builder = if settings.insecure_skip_verify {
        tracing::warn!(
            "TLS certificate verification is disabled (insecure_skip_verify); \
             connections are encrypted but not authenticated"
        );
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert { provider }))
    } else {
        builder.with_root_certificates(root_store(settings)?)
    };

    let mut config = match &settings.client_identity {
        None => builder.with_no_client_auth(),
        Some(identity) => {
            let (chain, key) = load_identity(identity)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::config(format!("unusable client certificate or key: {e}")))?
        }
    };
    config.alpn_protocols = alpn;
    config.resumption = resumption();
    Ok(Arc::new(config))
}

/// System roots (which honour `SSL_CERT_FILE` and `SSL_CERT_DIR`) plus the
/// configured CA file and inline CA PEM.
fn root_store(settings: &TlsSettings) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::debug!(error = %e, "skipping unreadable system certificates");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "loaded system root certificates");

    if let Some(path) = &settings.ca_file {
        let certs = read_cert_file(path, "CA file")?;
        add_cas(&mut roots, certs, &format!("CA file {}", path.display()))?;
    }
    if let Some(pem) = &settings.ca_pem {
        let certs = parse_cert_pem(pem, "inline CA PEM")?;
        add_cas(&mut roots, certs, "inline CA PEM")?;
    }
    Ok(roots)
}

fn add_cas(
    roots: &mut RootCertStore,
    certs: Vec<CertificateDer<'static>>,
    origin: &str,
) -> Result<(), Error> {
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| Error::config(format!("{origin} holds an unusable certificate: {e}")))?;
    }
    Ok(())
}

fn read_cert_file(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let origin = format!("{what} {}", path.display());
    let iter = CertificateDer::pem_file_iter(path)
        .map_err(|e| Error::config(format!("cannot read {origin}: {e}")))?;
    let certs = iter
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::config(format!("cannot parse {origin} as PEM: {e}")))?;
    if certs.is_empty() {
        return Err(Error::config(format!("{origin} holds no PEM certificate")));
    }
    Ok(certs)
}

fn parse_cert_pem(pem: &str, origin: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::config(format!("cannot parse {origin}: {e}")))?;
    if certs.is_empty() {
        return Err(Error::config(format!("{origin} holds no PEM certificate")));
    }
    Ok(certs)
}

fn load_identity(
    identity: &ClientIdentity,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    match identity {
        ClientIdentity::Files { cert, key } => {
            let chain = read_cert_file(cert, "client certificate file")?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                Error::config(format!(
                    "cannot read a private key from client key file {}: {e}",
                    key.display()
                ))
            })?;
            Ok((chain, key))
        }
        ClientIdentity::Pem { cert_pem, key_pem } => {
            // The parser's message could quote part of the key; keep it out.
            let key = PrivateKeyDer::from_pem_slice(key_pem.expose().as_bytes()).map_err(|_| {
                Error::config(
                    "the inline client key is not a PEM private key (PKCS#8, PKCS#1 or SEC1)",
                )
            })?;
            let chain = parse_cert_pem(cert_pem, "inline client certificate PEM")?;
            Ok((chain, key))
        }
    }
}

/// Parses the name to send as SNI and to verify.
pub(crate) fn server_name(name: &str) -> Result<ServerName<'static>, Error> {
    let trimmed = name.trim().trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(trimmed.to_owned())
        .map_err(|_| Error::config(format!("`{name}` is not a valid TLS server name")))
}

/// Turns a failed handshake into an error that says what to change.
pub(crate) fn handshake_error(err: io::Error, name: &str, target: &str) -> Error {
    let Some(tls) = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    else {
        return Error::io(format!("running the TLS handshake with {target}"), err);
    };
    let rejected = match tls {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "the certificate of {target} is not trusted: it was issued by an unknown CA. \
             Add that CA with the CA file setting, or, for a local test engine only, \
             enable insecure_skip_verify"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "the certificate of {target} is not valid for the name `{name}`; \
             set server_name to a name the certificate covers"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => format!("the certificate of {target} has expired (or the local clock is wrong)"),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => format!("the certificate of {target} is not valid yet (or the local clock is wrong)"),
        rustls::Error::InvalidCertificate(other) => {
            format!("the certificate of {target} was rejected: {other:?}")
        }
        rustls::Error::AlertReceived(alert) => {
            return Error::Tls(format!(
                "{target} aborted the TLS handshake ({alert:?}); if it requires a client \
                 certificate, configure one"
            ));
        }
        rustls::Error::NoApplicationProtocol => {
            format!("{target} does not speak any offered ALPN protocol; is it an rstream engine?")
        }
        other => return Error::Tls(format!("TLS handshake with {target} failed: {other}")),
    };
    // Certificate and ALPN refusals: retrying the same handshake cannot help.
    Error::TlsRejected(rejected)
}

/// The verifier behind `insecure_skip_verify`: any certificate for any name
/// is accepted. Handshake signatures are still checked, so the peer must at
/// least hold the key of the certificate it shows.
#[derive(Debug)]
struct AcceptAnyServerCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ca_file_is_a_config_error() {
        let settings = TlsSettings {
            ca_file: Some("does/not/exist/ca.pem".into()),
            ..TlsSettings::default()
        };
        let err = client_config(&settings, vec![]).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
        assert!(err.to_string().contains("ca.pem"), "{err}");
    }

    #[test]
    fn inline_ca_without_certificates_is_a_config_error() {
        let settings = TlsSettings {
            ca_pem: Some("no pem here".into()),
            ..TlsSettings::default()
        };
        let err = client_config(&settings, vec![]).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
    }

    #[test]
    fn garbage_inline_key_is_rejected_without_echo() {
        let settings = TlsSettings {
            client_identity: Some(ClientIdentity::Pem {
                cert_pem: String::new(),
                key_pem: "not-a-key-zzz".into(),
            }),
            ..TlsSettings::default()
        };
        let err = client_config(&settings, vec![]).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
        assert!(!err.to_string().contains("zzz"), "{err}");
    }

    #[test]
    fn aes_128_with_sha_256_is_offered_first() {
        let suites = &provider().cipher_suites;
        assert_eq!(
            suites[0].suite(),
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
        );
        #[cfg(feature = "aws-lc-rs")]
        let default = rustls::crypto::aws_lc_rs::default_provider();
        #[cfg(all(feature = "ring", not(feature = "aws-lc-rs")))]
        let default = rustls::crypto::ring::default_provider();
        // Reordered, none dropped.
        assert_eq!(suites.len(), default.cipher_suites.len());
    }

    #[test]
    fn alpn_is_offered() {
        let config = client_config(&TlsSettings::default(), vec![b"rstrm/1".to_vec()]).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"rstrm/1".to_vec()]);
    }

    #[test]
    fn server_names() {
        assert!(server_name("engine.rstream.io").is_ok());
        assert!(matches!(
            server_name("127.0.0.1").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(matches!(
            server_name("[::1]").unwrap(),
            ServerName::IpAddress(_)
        ));
        assert!(server_name("bad name").is_err());
    }
}
