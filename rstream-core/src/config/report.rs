//! A printable summary of a resolved configuration, for diagnostics and for
//! comparing this resolver with the other SDKs. It never holds a secret.

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::config::{Credentials, MtlsIdentity, ResolvedConfig};

/// What a [`ResolvedConfig`] would make the runtime use, safe to print:
/// the token appears only as its SHA-256, inline key material not at all.
///
/// Serialises to one JSON object with exactly these keys (the contract of
/// the `resolve-config` example): `engine`, `token_sha256`,
/// `mtls_cert_file`, `mtls_key_file`, `project_endpoint`, `region`,
/// `api_url`, `ca_file`, `server_name`, `insecure_skip_verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ConfigReport {
    /// The engine as `host:port`, or `None` when the control plane must
    /// name it (a project endpoint or a region) or nothing is configured.
    pub engine: Option<String>,
    /// Lowercase hex SHA-256 of the token, when a token is used.
    pub token_sha256: Option<String>,
    /// The mTLS certificate file, when mTLS from files is used.
    pub mtls_cert_file: Option<String>,
    /// The mTLS key file, when mTLS from files is used.
    pub mtls_key_file: Option<String>,
    /// The managed project endpoint.
    pub project_endpoint: Option<String>,
    /// The region, lowercase.
    pub region: Option<String>,
    /// The control-plane API URL.
    pub api_url: Option<String>,
    /// The CA bundle added to the system roots for the engine.
    pub ca_file: Option<String>,
    /// The name the engine certificate is verified against.
    pub server_name: Option<String>,
    /// Whether engine certificate verification is skipped.
    pub insecure_skip_verify: bool,
}

impl ResolvedConfig {
    /// A summary of this configuration that is safe to print or log.
    pub fn report(&self) -> ConfigReport {
        let (token_sha256, cert, key) = match &self.credentials {
            Credentials::Token(token) => (Some(sha256_hex(token.expose())), None, None),
            Credentials::Mtls(MtlsIdentity::Files { cert, key }) => (
                None,
                Some(cert.display().to_string()),
                Some(key.display().to_string()),
            ),
            _ => (None, None, None),
        };
        ConfigReport {
            engine: self.engine.as_ref().map(ToString::to_string),
            token_sha256,
            mtls_cert_file: cert,
            mtls_key_file: key,
            project_endpoint: self.project_endpoint.clone(),
            region: self.region.clone(),
            api_url: Some(self.api_url.clone()),
            ca_file: self.tls.ca_file.as_ref().map(|p| p.display().to_string()),
            server_name: self.tls.server_name.clone(),
            insecure_skip_verify: self.tls.insecure_skip_verify,
        }
    }
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::config::{ConfigOptions, resolve};

    #[test]
    fn the_report_holds_the_token_digest_never_the_token() {
        let env = HashMap::from([
            ("RSTREAM_ENGINE".to_owned(), "Engine.Example.com".to_owned()),
            ("RSTREAM_AUTHENTICATION_TOKEN".to_owned(), "abc".to_owned()),
        ]);
        let report = resolve(&ConfigOptions::default(), &env, None, 0)
            .unwrap()
            .report();
        let json = serde_json::to_value(&report).unwrap();
        // SHA-256("abc"), from FIPS 180-2 appendix B.1.
        assert_eq!(
            json["token_sha256"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(json["engine"], "engine.example.com:443");
        assert_eq!(json["api_url"], "https://rstream.io");
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 10, "{keys:?}");
        assert!(!json.to_string().contains("\"abc\""));
    }
}
