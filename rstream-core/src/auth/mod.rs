//! Application credentials and the short-lived tokens minted from them.
//!
//! A hosted rstream project hands a backend *application credentials*: a
//! client id and a client secret, the secret being the hex of a PKCS#8 DER
//! P-521 private key. From them the backend signs, locally and without any
//! request, short-lived ES512 JWTs (`type: "app"`) bounded to the tunnels
//! and actions it chooses, for devices, browsers and other services.
//!
//! ```
//! use rstream_core::auth::{
//!     AppCredentials, Scope, TokenRequest, TokenResources, TunnelResource, TunnelScopes,
//! };
//! # fn run(client_secret_hex: String) -> rstream_core::Result<()> {
//! let credentials = AppCredentials::new("my-client-id", client_secret_hex)?;
//! // Connect only, to the tunnels of project `prj_123`, for five minutes.
//! let request = TokenRequest::new(TokenResources::tunnels(TunnelResource::scopes(
//!     TunnelScopes::new().connect(Scope::Allowed(true)),
//! )))
//! .project("prj_123")
//! .expires_in(300);
//! let token = credentials.mint_now(&request)?;
//! # let _ = token; Ok(()) }
//! ```
//!
//! [`TokenProvider`] hands a long-lived client (an event watch, say) a
//! token per connection: fixed, minted here from application credentials
//! for each connection, or from any async source.
//!
//! Minting is pure: no I/O, no async. The claims, their order, the
//! lifetime bounds (1 to 3600 s, 60 s by default) and the signature format
//! (JOSE `r || s`, base64url without padding) follow the JavaScript SDK, so
//! the engine and the control plane accept these tokens as they accept its
//! own. Boundaries are checked before anything is signed; a request that
//! fails a check is an [`Error::Invalid`].

mod filter;
mod provider;
mod resources;
mod url_token;

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use p521::ecdsa::signature::{Signer as _, Verifier as _};
use p521::ecdsa::{Signature, SigningKey, VerifyingKey};
use p521::pkcs8::DecodePrivateKey as _;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::secret::Secret;

pub use filter::{
    ConnectParams, StringFilter, TunnelFilter, TunnelHttpVersion, TunnelProtocol, TunnelSelect,
    TunnelStatus, TunnelTlsMode, TunnelType,
};
pub use provider::TokenProvider;
pub use resources::{
    AllOf, AnyOf, ConnectRules, CreateRules, ListRules, MAX_RESOURCE_DEPTH, ResourceLeaf,
    ResourceScopes, Scope, TokenResources, TunnelResource, TunnelScopes,
};
pub use url_token::check_url_token;

use resources::Target;

/// The lifetime of a minted token when the request names none, in seconds.
pub const DEFAULT_TOKEN_LIFETIME: u32 = 60;
/// The longest lifetime a minted token may have, in seconds.
pub const MAX_TOKEN_LIFETIME: u32 = 3600;

/// The variable holding the application's client id.
pub const ENV_CLIENT_ID: &str = "RSTREAM_CLIENT_ID";
/// The variable holding the application's client secret.
pub const ENV_CLIENT_SECRET: &str = "RSTREAM_CLIENT_SECRET";

/// The most hex characters accepted for a key, well above a P-521 key's.
const MAX_KEY_HEX: usize = 16_384;

/// The JOSE header of every minted token.
const HEADER: &str = r#"{"alg":"ES512","typ":"JWT"}"#;

/// Application credentials: a client id and its P-521 signing key.
///
/// `Debug` shows the client id only.
#[derive(Clone)]
pub struct AppCredentials {
    client_id: String,
    client_secret: Secret,
    key: SigningKey,
}

impl fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .finish()
    }
}

impl AppCredentials {
    /// Credentials from a client id and a client secret (the hex of a PKCS#8
    /// DER P-521 private key). Both are trimmed; the key is decoded here, so
    /// a bad secret fails now, with an error that does not repeat it.
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<Secret>) -> Result<Self> {
        let client_id = client_id.into().trim().to_owned();
        if client_id.is_empty() {
            return Err(Error::invalid("the client id is empty"));
        }
        let client_secret: Secret = client_secret.into();
        let secret = Secret::new(client_secret.expose().trim());
        let key = SigningKey::from_bytes(&decode_p521_private_key(&secret)?.to_bytes())
            .map_err(|_| Error::invalid("the client secret is not a valid P-521 private key"))?;
        Ok(AppCredentials {
            client_id,
            client_secret: secret,
            key,
        })
    }

    /// The credentials `RSTREAM_CLIENT_ID` and `RSTREAM_CLIENT_SECRET` name,
    /// the variables the JavaScript SDK's documentation and examples read
    /// them from. `Ok(None)` when neither is set (blank counts as unset).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when only one of the two is set, naming the
    /// missing one; [`Error::Invalid`] when the secret is not a P-521 key.
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_env_lookup(|name| std::env::var(name).ok())
    }

    fn from_env_lookup(env: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let read = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        match (read(ENV_CLIENT_ID), read(ENV_CLIENT_SECRET)) {
            (None, None) => Ok(None),
            (Some(id), Some(secret)) => AppCredentials::new(id, secret).map(Some),
            (Some(_), None) => Err(Error::config(format!(
                "{ENV_CLIENT_ID} is set but {ENV_CLIENT_SECRET} is not; set both or neither"
            ))),
            (None, Some(_)) => Err(Error::config(format!(
                "{ENV_CLIENT_SECRET} is set but {ENV_CLIENT_ID} is not; set both or neither"
            ))),
        }
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The client secret, the hex of a PKCS#8 DER private key.
    pub fn client_secret(&self) -> &Secret {
        &self.client_secret
    }

    /// The public half of the signing key, as SEC1 uncompressed point bytes
    /// (what a verifier of the minted tokens needs).
    pub fn public_key_sec1(&self) -> Vec<u8> {
        VerifyingKey::from(&self.key)
            .to_encoded_point(false)
            .as_bytes()
            .to_vec()
    }

    /// The signing key, for the derivations that need its scalar (TURN APP
    /// mode's ECDH).
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// Mints a token for `request`, issued at `issued_at` (Unix seconds,
    /// the current time) and expiring `request`'s lifetime later.
    pub fn mint(&self, request: &TokenRequest, issued_at: u64) -> Result<Secret> {
        let claims = request.claims(&self.client_id, issued_at)?;
        Ok(Secret::new(self.sign(&claims)?))
    }

    /// Mints a bare application token, with no boundary claims, for the
    /// control-plane API: `{"permissions": null, "clientId", "exp", "iat",
    /// "type": "app"}` as the JavaScript SDK's control-plane client signs
    /// it, living `expires_in` seconds (1 to [`MAX_TOKEN_LIFETIME`]).
    pub fn mint_api_token(&self, expires_in: u32, issued_at: u64) -> Result<Secret> {
        check_lifetime(expires_in)?;
        #[derive(Serialize)]
        struct BareClaims<'a> {
            permissions: Option<()>,
            #[serde(rename = "clientId")]
            client_id: &'a str,
            exp: u64,
            iat: u64,
            #[serde(rename = "type")]
            kind: &'static str,
        }
        let claims = BareClaims {
            permissions: None,
            client_id: &self.client_id,
            exp: issued_at + u64::from(expires_in),
            iat: issued_at,
            kind: "app",
        };
        Ok(Secret::new(self.sign(&claims)?))
    }

    /// Mints a token for `request`, issued now.
    pub fn mint_now(&self, request: &TokenRequest) -> Result<Secret> {
        self.mint(request, unix_now())
    }

    /// Signs `claims` as an ES512 JWT.
    fn sign<T: Serialize>(&self, claims: &T) -> Result<String> {
        let payload = serde_json::to_string(claims)
            .map_err(|e| Error::invalid(format!("the token claims do not serialise: {e}")))?;
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(HEADER),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature: Signature = self.key.sign(message.as_bytes());
        Ok(format!(
            "{message}.{}",
            URL_SAFE_NO_PAD.encode(signature.to_bytes())
        ))
    }
}

/// Decodes a hex PKCS#8 DER P-521 private key, without ever echoing it.
pub(crate) fn decode_p521_private_key(secret: &Secret) -> Result<p521::SecretKey> {
    let hex_text = secret.expose();
    if hex_text.is_empty() {
        return Err(Error::invalid("the client secret is empty"));
    }
    if hex_text.len() > MAX_KEY_HEX {
        return Err(Error::invalid("the client secret is too long for a key"));
    }
    let der = hex::decode(hex_text)
        .map_err(|_| Error::invalid("the client secret is not hexadecimal"))?;
    p521::SecretKey::from_pkcs8_der(&der)
        .map_err(|_| Error::invalid("the client secret is not a PKCS#8 DER P-521 private key"))
}

/// Checks an ES512 JWT's signature with a P-521 public key (SEC1 bytes) and
/// returns its decoded payload. Expiry and claims are left to the caller.
pub fn verify_es512(token: &str, public_key_sec1: &[u8]) -> Result<Vec<u8>> {
    let key = VerifyingKey::from_sec1_bytes(public_key_sec1)
        .map_err(|_| Error::invalid("the public key is not a P-521 point"))?;
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Error::invalid("the token is not a JWT"));
    };
    let header_json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| Error::invalid("the token's header is not base64url"))?;
    let header_value: serde_json::Value = serde_json::from_slice(&header_json)
        .map_err(|_| Error::invalid("the token's header is not JSON"))?;
    if header_value.get("alg").and_then(|v| v.as_str()) != Some("ES512") {
        return Err(Error::invalid("the token is not ES512"));
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .ok()
        .and_then(|bytes| Signature::from_slice(&bytes).ok())
        .ok_or_else(|| Error::invalid("the token's signature is malformed"))?;
    let message_len = header.len() + 1 + payload.len();
    key.verify(&token.as_bytes()[..message_len], &signature)
        .map_err(|_| Error::invalid("the token's signature does not verify"))?;
    URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| Error::invalid("the token's payload is not base64url"))
}

/// What to mint: resources, lifetime, permissions, and the project the
/// scope-only parts are bound to.
///
/// Scope-only leaves ([`TunnelResource::scopes`]) must be bound to a target:
/// set [`project`](Self::project) or [`workspace`](Self::workspace), or opt
/// out explicitly with [`unscoped`](Self::unscoped), which leaves them
/// unbound (the token then covers every project the application may reach).
#[derive(Debug, Clone)]
pub struct TokenRequest {
    resources: TokenResources,
    expires_in: u32,
    permissions: Option<Vec<String>>,
    engine: Option<String>,
    binding: Binding,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Binding {
    Unset,
    Project(String),
    Workspace(String),
    Unscoped,
}

impl TokenRequest {
    /// A request for `resources`, living [`DEFAULT_TOKEN_LIFETIME`] seconds.
    pub fn new(resources: TokenResources) -> Self {
        TokenRequest {
            resources,
            expires_in: DEFAULT_TOKEN_LIFETIME,
            permissions: None,
            engine: None,
            binding: Binding::Unset,
        }
    }

    /// The lifetime in seconds, 1 to [`MAX_TOKEN_LIFETIME`].
    pub fn expires_in(mut self, seconds: u32) -> Self {
        self.expires_in = seconds;
        self
    }

    /// Control-plane permissions the token carries (none by default, sent as
    /// `null`).
    pub fn permissions<I, S>(mut self, permissions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.permissions = Some(permissions.into_iter().map(Into::into).collect());
        self
    }

    /// The engine address the token is meant for (`metadata.engine`).
    pub fn engine(mut self, engine: impl Into<String>) -> Self {
        self.engine = Some(engine.into());
        self
    }

    /// Binds scope-only leaves to this project id.
    pub fn project(mut self, project_id: impl Into<String>) -> Self {
        self.binding = Binding::Project(project_id.into());
        self
    }

    /// Binds scope-only leaves to this workspace id.
    pub fn workspace(mut self, workspace_id: impl Into<String>) -> Self {
        self.binding = Binding::Workspace(workspace_id.into());
        self
    }

    /// Leaves scope-only leaves unbound: the explicit opt-out of project
    /// scoping.
    pub fn unscoped(mut self) -> Self {
        self.binding = Binding::Unscoped;
        self
    }

    /// Whether the resources hold scope-only leaves that must be bound to a
    /// project or workspace (false when the resources are invalid anyway).
    pub fn needs_binding(&self) -> bool {
        let mut tunnels = self.resources.tunnels.clone();
        tunnels.normalize(0).is_ok() && tunnels.needs_default_target(false)
    }

    /// The resources as the token will carry them: checked, ids trimmed,
    /// scope-only leaves bound.
    pub fn resolved_resources(&self) -> Result<TokenResources> {
        let mut tunnels = self.resources.tunnels.clone();
        tunnels.normalize(0)?;
        if tunnels.needs_default_target(false) {
            let target = match &self.binding {
                Binding::Project(id) => Some(Target::Project(non_empty(id, "project id")?)),
                Binding::Workspace(id) => Some(Target::Workspace(non_empty(id, "workspace id")?)),
                Binding::Unscoped => None,
                Binding::Unset => {
                    return Err(Error::invalid(
                        "scope-only tunnel resources need a project or workspace id \
                         (or an explicit opt-out of project scoping)",
                    ));
                }
            };
            if let Some(target) = target {
                tunnels.apply_default_target(&target, false);
            }
        }
        if tunnels.has_branch_without_scopes() {
            return Err(Error::invalid(
                "every branch of the tunnel resources must include explicit scopes",
            ));
        }
        Ok(TokenResources { tunnels })
    }

    /// The lifetime, the permissions (trimmed) and the resolved resources,
    /// each checked: what a token carries, minted here or by the control
    /// plane.
    pub(crate) fn checked(&self) -> Result<(u32, Option<Vec<String>>, TokenResources)> {
        check_lifetime(self.expires_in)?;
        let resources = self.resolved_resources()?;
        let permissions = match &self.permissions {
            None => None,
            Some(list) => Some(
                list.iter()
                    .map(|p| non_empty(p, "permission"))
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        Ok((self.expires_in, permissions, resources))
    }

    /// The claims of the token, in the order they are signed.
    fn claims<'a>(&'a self, client_id: &'a str, issued_at: u64) -> Result<AppClaims<'a>> {
        let (_, permissions, resources) = self.checked()?;
        Ok(AppClaims {
            metadata: Metadata {
                engine: self.engine.as_deref(),
            },
            permissions,
            resources,
            client_id,
            exp: issued_at + u64::from(self.expires_in),
            iat: issued_at,
            kind: "app",
        })
    }
}

fn check_lifetime(seconds: u32) -> Result<()> {
    if !(1..=MAX_TOKEN_LIFETIME).contains(&seconds) {
        return Err(Error::invalid(format!(
            "the token lifetime must be 1 to {MAX_TOKEN_LIFETIME} seconds, not {seconds}"
        )));
    }
    Ok(())
}

fn non_empty(value: &str, what: &str) -> Result<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid(format!("the {what} is empty")));
    }
    Ok(trimmed.to_owned())
}

/// The payload of an application token. Field order is signed order.
#[derive(Serialize)]
struct AppClaims<'a> {
    metadata: Metadata<'a>,
    permissions: Option<Vec<String>>,
    resources: TokenResources,
    #[serde(rename = "clientId")]
    client_id: &'a str,
    exp: u64,
    iat: u64,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct Metadata<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    engine: Option<&'a str>,
}

/// The current Unix time in seconds (0 if the clock is before 1970).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
