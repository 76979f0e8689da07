//! TURN credentials for WebRTC, derived locally.
//!
//! An rstream cluster runs TURN relays that accept short-lived
//! credentials in the REST-API style: the username says when it expires,
//! which project it is for and on whose behalf
//! (`v1:<expiry>:pat:<project endpoint>:<token endpoint>` or
//! `v1:<expiry>:app:<project endpoint>:<client id>`), and the credential is
//! the base64 HMAC-SHA256 of the username under a key the relay can derive
//! too:
//!
//! - **PAT mode**: HKDF-SHA256 over SHA-256 of the personal access token,
//!   salted with the cluster domain, info `turn-pat-v1`.
//! - **APP mode**: HKDF-SHA256 over the ECDH secret of the application's
//!   P-521 key and the cluster's TURN keyring key, salted with the cluster
//!   domain, info `turn-app-v1`.
//!
//! ```
//! use rstream_core::Secret;
//! use rstream_core::turn::{self, TurnOptions};
//! # fn run(pat: Secret, now: u64) -> rstream_core::Result<()> {
//! let options = TurnOptions::new("my-project", "cluster.example.com", now).ttl(300);
//! let credentials = turn::pat_credentials(&pat, "a1b2c3d4", &options)?;
//! println!("{} {:?}", credentials.username, credentials.urls);
//! # Ok(()) }
//! ```
//!
//! The module is pure: no I/O, no clock (the caller passes the time), no
//! async. Fetching the keyring key, or asking the control plane for
//! credentials instead, belongs to the `control_plane` module.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use p521::pkcs8::DecodePublicKey as _;
use sha2::{Digest, Sha256};

use crate::auth::AppCredentials;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// The TURN port when none is given.
pub const DEFAULT_TURN_PORT: u16 = 3478;
/// The TURNS (TURN over TLS) port when none is given.
pub const DEFAULT_TURNS_PORT: u16 = 5349;
/// The lifetime of derived credentials when none is given, in seconds.
pub const DEFAULT_TURN_TTL: u32 = 600;
/// The longest lifetime derived credentials may have, in seconds.
pub const MAX_TURN_TTL: u32 = 3600;

/// The most hex characters accepted for the keyring's public key.
const MAX_PUBLIC_KEY_HEX: usize = 8192;

/// Credentials for a cluster's TURN relays, in the shape WebRTC's
/// `RTCIceServer` takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredentials {
    /// The username, which carries the expiry and the project.
    pub username: String,
    /// The credential (password); hidden from `Debug`.
    pub credential: Secret,
    /// Seconds from issue to expiry.
    pub ttl: u32,
    /// The relay URLs: TURN over UDP and TCP, then TURNS over UDP and TCP.
    pub urls: Vec<String>,
}

/// What both modes need: where, when, for how long, on which ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnOptions {
    project_endpoint: String,
    cluster_domain: String,
    now: u64,
    ttl: u32,
    turn_port: u16,
    turns_port: u16,
}

impl TurnOptions {
    /// Credentials for `project_endpoint` on the relays of `cluster_domain`
    /// (see [`cluster_domain_from_engine`]), issued at `now` (Unix
    /// seconds), living [`DEFAULT_TURN_TTL`] seconds, on the default ports.
    pub fn new(
        project_endpoint: impl Into<String>,
        cluster_domain: impl Into<String>,
        now: u64,
    ) -> Self {
        TurnOptions {
            project_endpoint: project_endpoint.into(),
            cluster_domain: cluster_domain.into(),
            now,
            ttl: DEFAULT_TURN_TTL,
            turn_port: DEFAULT_TURN_PORT,
            turns_port: DEFAULT_TURNS_PORT,
        }
    }

    /// The lifetime in seconds, 1 to [`MAX_TURN_TTL`].
    pub fn ttl(mut self, seconds: u32) -> Self {
        self.ttl = seconds;
        self
    }

    /// The TURN port (1 to 65535).
    pub fn turn_port(mut self, port: u16) -> Self {
        self.turn_port = port;
        self
    }

    /// The TURNS port (1 to 65535).
    pub fn turns_port(mut self, port: u16) -> Self {
        self.turns_port = port;
        self
    }

    /// Checks every option; returns the normalised project endpoint and
    /// cluster domain.
    /// The cluster domain the credentials are for (the TURN realm), as
    /// given.
    pub fn cluster_domain(&self) -> &str {
        &self.cluster_domain
    }

    fn checked(&self) -> Result<(String, String)> {
        let domain = self.cluster_domain.trim().to_ascii_lowercase();
        if domain.is_empty() {
            return Err(Error::invalid("the TURN cluster domain is empty"));
        }
        if !valid_domain(&domain) {
            return Err(Error::invalid(
                "the TURN cluster domain is not a valid DNS name",
            ));
        }
        let endpoint = component(&self.project_endpoint, "project endpoint")?;
        if !(1..=MAX_TURN_TTL).contains(&self.ttl) {
            return Err(Error::invalid(format!(
                "the TURN TTL must be 1 to {MAX_TURN_TTL} seconds, not {}",
                self.ttl
            )));
        }
        if self.turn_port == 0 || self.turns_port == 0 {
            return Err(Error::invalid("TURN and TURNS ports must be 1 to 65535"));
        }
        Ok((endpoint, domain))
    }
}

/// The four relay URLs of a cluster: TURN over UDP and TCP on `turn_port`,
/// then TURNS over UDP and TCP on `turns_port`.
pub fn turn_urls(cluster_domain: &str, turn_port: u16, turns_port: u16) -> Vec<String> {
    vec![
        format!("turn:{cluster_domain}:{turn_port}?transport=udp"),
        format!("turn:{cluster_domain}:{turn_port}?transport=tcp"),
        format!("turns:{cluster_domain}:{turns_port}?transport=udp"),
        format!("turns:{cluster_domain}:{turns_port}?transport=tcp"),
    ]
}

/// The cluster domain of an engine address: its host name with
/// `<project_endpoint>.` taken off the front
/// (`my-project.eu-1.rstream.io:443` gives `eu-1.rstream.io`).
pub fn cluster_domain_from_engine(project_endpoint: &str, engine: &str) -> Result<String> {
    let fail = || Error::invalid("the cluster domain cannot be derived from the engine address");
    let endpoint = project_endpoint.trim();
    let engine = engine.trim();
    if endpoint.is_empty() || engine.is_empty() {
        return Err(fail());
    }
    let authority = engine.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    if host_port.starts_with('[') {
        return Err(fail());
    }
    let host = match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        Some(_) => return Err(fail()),
        None => host_port,
    };
    let host = host.to_ascii_lowercase();
    let domain = host
        .strip_prefix(endpoint)
        .and_then(|rest| rest.strip_prefix('.'))
        .ok_or_else(fail)?;
    if domain.is_empty() {
        return Err(fail());
    }
    Ok(domain.to_owned())
}

/// PAT mode: credentials from a personal access token (a JWT of `type`
/// `pat`, with an expiry, whose token endpoint is `token_endpoint`).
///
/// The credentials expire at the earlier of `now + ttl` and the token's own
/// expiry; an expired token is refused.
pub fn pat_credentials(
    token: &Secret,
    token_endpoint: &str,
    options: &TurnOptions,
) -> Result<TurnCredentials> {
    let (project_endpoint, domain) = options.checked()?;
    let token = token.expose().trim();
    if token.is_empty() {
        return Err(Error::invalid("the PAT token is empty"));
    }
    let claims = PatClaims::parse(token)?;
    if claims.kind != "pat" {
        return Err(Error::invalid("TURN PAT mode requires a PAT token"));
    }
    let token_endpoint = component(token_endpoint, "token endpoint")?;
    if claims
        .token_endpoint
        .as_ref()
        .is_some_and(|carried| *carried != token_endpoint)
    {
        return Err(Error::invalid(
            "the token endpoint does not match the PAT token",
        ));
    }
    let Some(token_exp) = claims.exp else {
        return Err(Error::invalid(
            "TURN PAT mode requires a PAT token with an expiry",
        ));
    };
    let now = i128::from(options.now);
    if i128::from(token_exp) <= now {
        return Err(Error::invalid("the PAT token has expired"));
    }
    let exp = (now + i128::from(options.ttl)).min(i128::from(token_exp));
    let ttl =
        u32::try_from(exp - now).map_err(|_| Error::invalid("the TURN TTL is out of range"))?;
    let username = format!("v1:{exp}:pat:{project_endpoint}:{token_endpoint}");
    let ikm = Sha256::digest(token.as_bytes());
    let credential = sign_username(&ikm, &domain, b"turn-pat-v1", &username)?;
    Ok(TurnCredentials {
        username,
        credential,
        ttl,
        urls: turn_urls(&domain, options.turn_port, options.turns_port),
    })
}

/// APP mode: credentials from application credentials and the cluster's
/// TURN keyring key (`server_public_key_hex`: the hex of its SPKI DER,
/// P-521), as the keyring serves it at `/keyrings/turn/<domain>.spki.der.hex`.
pub fn app_credentials(
    credentials: &AppCredentials,
    server_public_key_hex: &str,
    options: &TurnOptions,
) -> Result<TurnCredentials> {
    let (project_endpoint, domain) = options.checked()?;
    let client_id = component(credentials.client_id(), "client id")?;
    let hex_text = server_public_key_hex.trim();
    if hex_text.is_empty() || hex_text.len() > MAX_PUBLIC_KEY_HEX {
        return Err(Error::invalid(
            "the TURN server public key is empty or too long",
        ));
    }
    let der = hex::decode(hex_text)
        .map_err(|_| Error::invalid("the TURN server public key is not hexadecimal"))?;
    let server = p521::PublicKey::from_public_key_der(&der).map_err(|_| {
        Error::invalid("the TURN server public key is not a SPKI DER P-521 public key")
    })?;
    let shared = p521::ecdh::diffie_hellman(
        credentials.signing_key().as_nonzero_scalar(),
        server.as_affine(),
    );
    let exp = u128::from(options.now) + u128::from(options.ttl);
    let username = format!("v1:{exp}:app:{project_endpoint}:{client_id}");
    let credential = sign_username(
        shared.raw_secret_bytes().as_slice(),
        &domain,
        b"turn-app-v1",
        &username,
    )?;
    Ok(TurnCredentials {
        username,
        credential,
        ttl: options.ttl,
        urls: turn_urls(&domain, options.turn_port, options.turns_port),
    })
}

/// base64(HMAC-SHA256(HKDF-SHA256(ikm, salt = domain, info), username)).
fn sign_username(ikm: &[u8], domain: &str, info: &[u8], username: &str) -> Result<Secret> {
    let failed = |_| Error::invalid("the TURN key derivation failed");
    let mut key = [0u8; 32];
    Hkdf::<Sha256>::new(Some(domain.as_bytes()), ikm)
        .expand(info, &mut key)
        .map_err(|_| Error::invalid("the TURN key derivation failed"))?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&key).map_err(failed)?;
    mac.update(username.as_bytes());
    Ok(Secret::new(STANDARD.encode(mac.finalize().into_bytes())))
}

/// A part of the username: 1 to 128 of `A-Z a-z 0-9 - _ .`, so that the
/// `:` separators stay unambiguous.
fn component(value: &str, what: &str) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::invalid(format!("the TURN {what} is empty")));
    }
    let valid = value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !valid {
        return Err(Error::invalid(format!(
            "the TURN {what} must be 1 to 128 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(value.to_owned())
}

/// A lower-case DNS name: labels of 1 to 63 of `a-z 0-9 -`, not starting or
/// ending with `-`, 253 characters at most.
pub(crate) fn valid_domain(domain: &str) -> bool {
    domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// The claims PAT mode reads from the token's payload (unverified: the
/// relay checks the credential, not this SDK).
struct PatClaims {
    kind: String,
    exp: Option<i64>,
    token_endpoint: Option<String>,
}

impl PatClaims {
    fn parse(token: &str) -> Result<Self> {
        let bad = || Error::invalid("the PAT token is not a JWT with valid claims");
        let payload = token
            .split('.')
            .nth(1)
            .filter(|p| !p.is_empty())
            .ok_or_else(bad)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| bad())?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let object = value.as_object().ok_or_else(bad)?;
        let kind = match object.get("type").and_then(|v| v.as_str()) {
            Some(kind @ ("app" | "auth" | "pat")) => kind.to_owned(),
            _ => return Err(bad()),
        };
        let integer = |name: &str| -> Result<Option<i64>> {
            match object.get(name) {
                None => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or_else(bad),
            }
        };
        let exp = integer("exp")?;
        integer("iat")?;
        let endpoint = |name: &str| -> Result<Option<String>> {
            match object.get(name) {
                None => Ok(None),
                Some(v) => match v.as_str() {
                    Some(s) if s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
                        Ok(Some(s.to_owned()))
                    }
                    _ => Err(bad()),
                },
            }
        };
        let token_endpoint = match (endpoint("token_endpoint")?, endpoint("tokendpoint")?) {
            (Some(a), Some(b)) if a != b => {
                return Err(Error::invalid(
                    "the PAT token carries two different token endpoints",
                ));
            }
            (a, b) => a.or(b),
        };
        Ok(PatClaims {
            kind,
            exp,
            token_endpoint,
        })
    }
}

#[cfg(test)]
mod tests;
