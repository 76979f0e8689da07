//! The protocol's cryptography, byte for byte as the references compute it:
//! key ids, the signed handshake transcripts (ECDSA P-256 with SHA-256, DER
//! signatures), and end-to-end payload encryption (a random 32-byte session
//! key wrapped per recipient with HPKE base mode — X25519, HKDF-SHA256,
//! AES-256-GCM — and AES-256-GCM payloads with random 12-byte nonces).
//!
//! Transcripts and labels are length-prefixed: `LP(x)` is `x`'s length as a
//! 4-byte big-endian integer, then `x`; strings are trimmed first.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit};
use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{DerSignature, SigningKey, VerifyingKey};
use p256::elliptic_curve::rand_core::{CryptoRng, RngCore};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use prost::Message as _;
use rand::RngCore as _;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::proto;

/// Domain label of signing key ids.
pub const SIGNING_KEY_ID_LABEL: &[u8] = b"rstream-webtty-signing-key-id-v1";
/// Domain label of encryption key ids.
pub const ENCRYPTION_KEY_ID_LABEL: &[u8] = b"rstream-webtty-e2e-key-id/v1";
/// Domain label of the server's handshake transcript.
pub const SERVER_AUTH_LABEL: &[u8] = b"rstream-webtty-server-auth-v1";
/// Domain label of the client's proof transcript.
pub const CLIENT_AUTH_LABEL: &[u8] = b"rstream-webtty-client-auth-v1";
/// Domain label of the HPKE `info` of a session key envelope.
pub const KEY_WRAP_INFO_LABEL: &[u8] = b"rstream-webtty-e2e-key/v1";
/// Domain label of the HPKE additional data of a session key envelope.
pub const KEY_WRAP_AAD_LABEL: &[u8] = b"key-wrap";
/// Domain label of a payload's additional data.
pub const PAYLOAD_LABEL: &[u8] = b"rstream-webtty-e2e-payload/v1";

/// The one payload suite implemented: AES-256-GCM.
pub const PAYLOAD_SUITE: u32 = proto::PayloadCipherSuite::Aes256Gcm as u32;
/// The one key envelope suite implemented: HPKE X25519/HKDF-SHA256/AES-256-GCM.
pub const KEY_ENVELOPE_SUITE: u32 = proto::KeyEnvelopeSuite::HpkeX25519HkdfSha256Aes256Gcm as u32;
/// The one signature suite implemented: ECDSA P-256 with SHA-256.
pub const SIGNATURE_SUITE: u32 = proto::SignatureSuite::EcdsaP256Sha256 as u32;

fn lp(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn lps(out: &mut Vec<u8>, text: &str) {
    lp(out, text.trim().as_bytes());
}

fn be32(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&n.to_be_bytes());
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    hash.finalize().into()
}

/// `SHA-256` of `bytes`.
pub fn sha256_of(bytes: &[u8]) -> [u8; 32] {
    sha256(&[bytes])
}

/// `SHA-256(label || SPKI DER)`: the 32-byte id of a P-256 signing key.
pub fn signing_key_id(spki_der: &[u8]) -> [u8; 32] {
    sha256(&[SIGNING_KEY_ID_LABEL, spki_der])
}

/// The first 16 bytes of `SHA-256(label || X25519 public key)`: the id of
/// an encryption key.
pub fn encryption_key_id(public_key: &[u8; 32]) -> [u8; 16] {
    let hash = sha256(&[ENCRYPTION_KEY_ID_LABEL, public_key]);
    let mut id = [0u8; 16];
    id.copy_from_slice(&hash[..16]);
    id
}

/// rand 0.9's thread generator with the rand_core 0.6 traits p256 0.13
/// asks for (HPKE takes rand 0.9's generator as it is).
struct Rng;

impl RngCore for Rng {
    fn next_u32(&mut self) -> u32 {
        rand::rng().next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        rand::rng().next_u64()
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        rand::rng().fill_bytes(dest)
    }
    fn try_fill_bytes(
        &mut self,
        dest: &mut [u8],
    ) -> Result<(), p256::elliptic_curve::rand_core::Error> {
        rand::rng().fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for Rng {}

/// `n` random bytes.
pub(crate) fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::rng().fill_bytes(&mut out);
    out
}

/// A P-256 signing key: what proves a client's or a server's identity.
#[derive(Clone)]
pub struct SigningIdentity {
    key: SigningKey,
    spki: Vec<u8>,
    key_id: [u8; 32],
}

impl std::fmt::Debug for SigningIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningIdentity")
            .field("key_id", &crate::b64u(&self.key_id))
            .finish_non_exhaustive()
    }
}

impl SigningIdentity {
    /// A new random key.
    pub fn generate() -> SigningIdentity {
        Self::from_key(SigningKey::random(&mut Rng))
    }

    /// A key from its PKCS#8 DER encoding.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<SigningIdentity, Error> {
        SigningKey::from_pkcs8_der(der)
            .map(Self::from_key)
            .map_err(|_| Error::Config("not a PKCS#8 P-256 private key".to_owned()))
    }

    fn from_key(key: SigningKey) -> SigningIdentity {
        let spki = p256::PublicKey::from(key.verifying_key())
            .to_public_key_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default();
        let key_id = signing_key_id(&spki);
        SigningIdentity { key, spki, key_id }
    }

    /// The private key, PKCS#8 DER (to store it).
    pub fn to_pkcs8_der(&self) -> Vec<u8> {
        p256::SecretKey::from(self.key.as_nonzero_scalar())
            .to_pkcs8_der()
            .map(|d| d.as_bytes().to_vec())
            .unwrap_or_default()
    }

    /// The public key, SPKI DER.
    pub fn public_key(&self) -> &[u8] {
        &self.spki
    }

    /// The key id ([`signing_key_id`] of the public key).
    pub fn key_id(&self) -> [u8; 32] {
        self.key_id
    }

    /// An ECDSA signature (DER) over `message`, hashed with SHA-256.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        let signature: DerSignature = self.key.sign(message);
        signature.as_bytes().to_vec()
    }
}

/// Checks an ECDSA P-256 signature (DER) over `message` by the SPKI DER
/// public key `public_key`.
pub fn verify_signature(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), Error> {
    let key = VerifyingKey::from_public_key_der(public_key)
        .map_err(|_| Error::Protocol("not a P-256 public key".to_owned()))?;
    let signature = DerSignature::try_from(signature)
        .map_err(|_| Error::Protocol("not a DER ECDSA signature".to_owned()))?;
    key.verify(message, &signature)
        .map_err(|_| Error::Protocol("the signature does not verify".to_owned()))
}

/// An X25519 key pair: what session keys are wrapped to.
#[derive(Clone)]
pub struct EncryptionIdentity {
    secret: [u8; 32],
    public: [u8; 32],
    key_id: [u8; 16],
}

impl std::fmt::Debug for EncryptionIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptionIdentity")
            .field("key_id", &crate::b64u(&self.key_id))
            .finish_non_exhaustive()
    }
}

impl EncryptionIdentity {
    /// A new random key pair.
    pub fn generate() -> EncryptionIdentity {
        let (secret, public) = X25519HkdfSha256::gen_keypair(&mut rand::rng());
        let public: [u8; 32] = public.to_bytes().into();
        EncryptionIdentity {
            secret: secret.to_bytes().into(),
            public,
            key_id: encryption_key_id(&public),
        }
    }

    /// A key pair from its 32-byte secret.
    pub fn from_secret(secret: [u8; 32]) -> Result<EncryptionIdentity, Error> {
        let private = <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(&secret)
            .map_err(|_| Error::Config("not an X25519 secret key".to_owned()))?;
        let public: [u8; 32] = X25519HkdfSha256::sk_to_pk(&private).to_bytes().into();
        Ok(EncryptionIdentity {
            secret,
            public,
            key_id: encryption_key_id(&public),
        })
    }

    /// The public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// The key id ([`encryption_key_id`] of the public key).
    pub fn key_id(&self) -> [u8; 16] {
        self.key_id
    }
}

/// The server's handshake transcript (signed in `ServerHello`).
#[derive(Debug, Clone, Default)]
pub struct ServerTranscript<'a> {
    /// `websocket`, `plain` or `webtransport`.
    pub transport: &'a str,
    /// The workspace id, if any.
    pub workspace_id: &'a str,
    /// The project id, if any.
    pub project_id: &'a str,
    /// The registered server id, if any.
    pub server_id: &'a str,
    /// The session id the server chose.
    pub session_id: &'a str,
    /// The server's signing key id.
    pub server_signing_key_id: &'a [u8],
    /// The server's encryption key id.
    pub server_encryption_key_id: &'a [u8],
    /// The server's random nonce.
    pub server_nonce: &'a [u8],
    /// 1: none, 2: client proof.
    pub auth_requirement: u32,
    /// Offered payload suites.
    pub payload_suites: &'a [u32],
    /// Offered key envelope suites.
    pub key_envelope_suites: &'a [u32],
    /// Offered signature suites.
    pub signature_suites: &'a [u32],
}

impl ServerTranscript<'_> {
    /// The bytes signed.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        lp(&mut out, SERVER_AUTH_LABEL);
        be32(&mut out, proto::ProtocolVersion::Webtty1 as u32);
        lps(&mut out, self.transport);
        lps(&mut out, self.workspace_id);
        lps(&mut out, self.project_id);
        lps(&mut out, self.server_id);
        lps(&mut out, self.session_id);
        lp(&mut out, self.server_signing_key_id);
        lp(&mut out, self.server_encryption_key_id);
        lp(&mut out, self.server_nonce);
        be32(&mut out, self.auth_requirement);
        for list in [
            self.payload_suites,
            self.key_envelope_suites,
            self.signature_suites,
        ] {
            be32(&mut out, list.len() as u32);
            for &suite in list {
                be32(&mut out, suite);
            }
        }
        out
    }

    /// `SHA-256` of [`ServerTranscript::bytes`].
    pub fn hash(&self) -> [u8; 32] {
        sha256(&[&self.bytes()])
    }
}

/// The client's proof transcript (signed in `Open.client_proof`).
#[derive(Debug, Clone, Default)]
pub struct ClientTranscript<'a> {
    /// The server fields, as in the server's transcript.
    pub server: ServerTranscript<'a>,
    /// The payload suite the client uses.
    pub payload_suite: u32,
    /// The key envelope suite the client uses.
    pub key_envelope_suite: u32,
    /// [`grant_hash`] of the `Open`'s session key grant.
    pub session_key_grant_hash: &'a [u8],
    /// [`config_hash`] of the `Open`'s command config.
    pub command_config_hash: &'a [u8],
    /// Hash of an attach grant (empty for `Open`).
    pub attach_grant_hash: &'a [u8],
    /// Requested attach role (empty for `Open`).
    pub requested_role: &'a str,
    /// The client's principal id, if any.
    pub client_principal_id: &'a str,
    /// The client's signing key id.
    pub client_signing_key_id: &'a [u8],
    /// `SHA-256` of the client's credential (empty bytes when none).
    pub client_credential_hash: &'a [u8],
    /// When the proof was made (RFC 3339, whole seconds, UTC).
    pub issued_at: &'a str,
    /// When it expires.
    pub expires_at: &'a str,
}

impl ClientTranscript<'_> {
    /// The bytes signed.
    pub fn bytes(&self) -> Vec<u8> {
        let s = &self.server;
        let mut out = Vec::with_capacity(512);
        lp(&mut out, CLIENT_AUTH_LABEL);
        be32(&mut out, proto::ProtocolVersion::Webtty1 as u32);
        lps(&mut out, s.transport);
        lps(&mut out, s.workspace_id);
        lps(&mut out, s.project_id);
        lps(&mut out, s.server_id);
        lps(&mut out, s.session_id);
        lp(&mut out, s.server_signing_key_id);
        lp(&mut out, s.server_encryption_key_id);
        lp(&mut out, s.server_nonce);
        be32(&mut out, s.auth_requirement);
        be32(&mut out, self.payload_suite);
        be32(&mut out, self.key_envelope_suite);
        lp(&mut out, self.session_key_grant_hash);
        lp(&mut out, self.command_config_hash);
        lp(&mut out, self.attach_grant_hash);
        lps(&mut out, self.requested_role);
        lps(&mut out, self.client_principal_id);
        lp(&mut out, self.client_signing_key_id);
        lp(&mut out, self.client_credential_hash);
        lps(&mut out, self.issued_at);
        lps(&mut out, self.expires_at);
        out
    }

    /// `SHA-256` of [`ClientTranscript::bytes`].
    pub fn hash(&self) -> [u8; 32] {
        sha256(&[&self.bytes()])
    }
}

/// `SHA-256` of the canonical encoding of a command config (of nothing when
/// there is none). Default values are left out, an empty user name or a
/// zero user id included.
pub fn config_hash(config: Option<&proto::Config>) -> [u8; 32] {
    let Some(config) = config else {
        return sha256(&[]);
    };
    let mut config = config.clone();
    if let Some(user) = &config.username {
        let empty = match &user.payload {
            Some(proto::username::Payload::Name(n)) => n.is_empty(),
            Some(proto::username::Payload::Id(id)) => *id == 0,
            None => true,
        };
        if empty {
            config.username = Some(proto::Username { payload: None });
        }
    }
    sha256(&[&config.encode_to_vec()])
}

/// `SHA-256` of the canonical encoding of a session key grant (of nothing
/// when there is none).
pub fn grant_hash(grant: Option<&proto::SessionKeyGrant>) -> [u8; 32] {
    match grant {
        Some(grant) => sha256(&[&grant.encode_to_vec()]),
        None => sha256(&[]),
    }
}

/// Which stream a payload belongs to (bound into its additional data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Client to server.
    Stdin,
    /// Server to client.
    Stdout,
    /// Server to client.
    Stderr,
}

impl Stream {
    fn label(self) -> &'static [u8] {
        match self {
            Stream::Stdin => b"stdin",
            Stream::Stdout => b"stdout",
            Stream::Stderr => b"stderr",
        }
    }
}

/// A session's payload key, with the id and context bound into every
/// payload.
#[derive(Clone)]
pub struct SessionKey {
    key: [u8; 32],
    payload_key_id: Vec<u8>,
    key_context: Vec<u8>,
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKey")
            .field("payload_key_id", &crate::b64u(&self.payload_key_id))
            .finish_non_exhaustive()
    }
}

/// One recipient of a session key: its encryption key id and public key.
#[derive(Debug, Clone, Copy)]
pub struct Recipient {
    /// The recipient's key id ([`encryption_key_id`]).
    pub key_id: [u8; 16],
    /// The recipient's X25519 public key.
    pub public_key: [u8; 32],
}

fn wrap_info(payload_key_id: &[u8], key_context: &[u8]) -> Vec<u8> {
    let mut info = Vec::new();
    lp(&mut info, KEY_WRAP_INFO_LABEL);
    be32(&mut info, PAYLOAD_SUITE);
    be32(&mut info, KEY_ENVELOPE_SUITE);
    lp(&mut info, payload_key_id);
    lp(&mut info, key_context);
    info
}

fn wrap_aad(recipient_key_id: &[u8], payload_key_id: &[u8], key_context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::new();
    lp(&mut aad, KEY_WRAP_AAD_LABEL);
    be32(&mut aad, PAYLOAD_SUITE);
    be32(&mut aad, KEY_ENVELOPE_SUITE);
    lp(&mut aad, recipient_key_id);
    lp(&mut aad, payload_key_id);
    lp(&mut aad, key_context);
    aad
}

/// The implicit key context of a grant: which ids and recipients it is
/// for, as the JavaScript SDK writes it.
pub fn key_context(
    workspace_id: Option<&str>,
    project_id: Option<&str>,
    server_id: Option<&str>,
    recipients: &[Recipient],
) -> Vec<u8> {
    let quote = |s: &str| serde_json::Value::String(s.to_owned()).to_string();
    let mut json = String::from("{\"v\":1,\"type\":\"rstream.webtty.session_key_grant\"");
    for (name, value) in [
        ("workspace_id", workspace_id),
        ("project_id", project_id),
        ("server_id", server_id),
    ] {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            json.push_str(&format!(",\"{name}\":{}", quote(value)));
        }
    }
    json.push_str(",\"recipients\":[");
    for (i, r) in recipients.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        let id = crate::b64u(&r.key_id);
        json.push_str(&format!(
            "{{\"key_id\":{},\"kind\":\"public_key\",\"id\":{}}}",
            quote(&id),
            quote(&id)
        ));
    }
    json.push_str("]}");
    json.into_bytes()
}

impl SessionKey {
    /// A new random key (and key id) for `key_context`.
    pub fn generate(key_context: Vec<u8>) -> SessionKey {
        SessionKey {
            key: random(),
            payload_key_id: random::<16>().to_vec(),
            key_context,
        }
    }

    /// The grant that gives this key to `recipients`, each in its own HPKE
    /// envelope.
    pub fn grant(&self, recipients: &[Recipient]) -> Result<proto::SessionKeyGrant, Error> {
        let info = wrap_info(&self.payload_key_id, &self.key_context);
        let mut key_envelopes = Vec::with_capacity(recipients.len());
        for r in recipients {
            let public = <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(&r.public_key)
                .map_err(|_| Error::Config("not an X25519 public key".to_owned()))?;
            let (encapped, mut context) =
                hpke::setup_sender::<AesGcm256, HkdfSha256, X25519HkdfSha256, _>(
                    &OpModeS::Base,
                    &public,
                    &info,
                    &mut rand::rng(),
                )
                .map_err(|e| Error::Protocol(format!("wrapping the session key: {e}")))?;
            let aad = wrap_aad(&r.key_id, &self.payload_key_id, &self.key_context);
            let wrapped_key = context
                .seal(&self.key, &aad)
                .map_err(|e| Error::Protocol(format!("wrapping the session key: {e}")))?;
            key_envelopes.push(proto::KeyEnvelope {
                recipient_key_id: r.key_id.to_vec(),
                encapsulated_key: encapped.to_bytes().to_vec(),
                wrapped_key,
            });
        }
        Ok(proto::SessionKeyGrant {
            payload_suite: PAYLOAD_SUITE as i32,
            payload_key_id: self.payload_key_id.clone(),
            key_envelopes,
            key_context: self.key_context.clone(),
            key_envelope_suite: KEY_ENVELOPE_SUITE as i32,
        })
    }

    /// The key a grant gives to `identity`.
    pub fn from_grant(
        grant: &proto::SessionKeyGrant,
        identity: &EncryptionIdentity,
    ) -> Result<SessionKey, Error> {
        if grant.payload_suite != PAYLOAD_SUITE as i32 {
            return Err(Error::Protocol(format!(
                "unsupported payload suite {}",
                grant.payload_suite
            )));
        }
        if grant.key_envelope_suite != KEY_ENVELOPE_SUITE as i32 {
            return Err(Error::Protocol(format!(
                "unsupported key envelope suite {}",
                grant.key_envelope_suite
            )));
        }
        if grant.payload_key_id.is_empty() {
            return Err(Error::Protocol(
                "the grant has no payload key id".to_owned(),
            ));
        }
        let envelope = grant
            .key_envelopes
            .iter()
            .find(|e| e.recipient_key_id == identity.key_id)
            .ok_or_else(|| {
                Error::Protocol(
                    "the session key grant has no key envelope for this identity".to_owned(),
                )
            })?;
        let private = <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(&identity.secret)
            .map_err(|_| Error::Config("not an X25519 secret key".to_owned()))?;
        let encapped =
            <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(&envelope.encapsulated_key)
                .map_err(|_| Error::Protocol("invalid encapsulated key".to_owned()))?;
        let info = wrap_info(&grant.payload_key_id, &grant.key_context);
        let mut context = hpke::setup_receiver::<AesGcm256, HkdfSha256, X25519HkdfSha256>(
            &OpModeR::Base,
            &private,
            &encapped,
            &info,
        )
        .map_err(|_| Error::Protocol("the key envelope does not open".to_owned()))?;
        let aad = wrap_aad(
            &envelope.recipient_key_id,
            &grant.payload_key_id,
            &grant.key_context,
        );
        let key = context
            .open(&envelope.wrapped_key, &aad)
            .map_err(|_| Error::Protocol("the key envelope does not open".to_owned()))?;
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| Error::Protocol("the session key is not 32 bytes".to_owned()))?;
        Ok(SessionKey {
            key,
            payload_key_id: grant.payload_key_id.clone(),
            key_context: grant.key_context.clone(),
        })
    }

    fn aad(&self, stream: Stream, nonce: &[u8], length: u32) -> Vec<u8> {
        let mut aad = Vec::new();
        lp(&mut aad, PAYLOAD_LABEL);
        lp(&mut aad, stream.label());
        be32(&mut aad, PAYLOAD_SUITE);
        lp(&mut aad, &self.payload_key_id);
        lp(&mut aad, &self.key_context);
        lp(&mut aad, nonce);
        be32(&mut aad, length);
        aad
    }

    /// Encrypts one payload of `stream`.
    pub fn encrypt(
        &self,
        stream: Stream,
        plaintext: &[u8],
    ) -> Result<proto::EncryptedPayload, Error> {
        let nonce: [u8; 12] = random();
        let length = u32::try_from(plaintext.len())
            .map_err(|_| Error::Protocol("a payload passes 4 GiB".to_owned()))?;
        let cipher = Aes256Gcm::new((&self.key).into());
        let ciphertext = cipher
            .encrypt(
                (&nonce).into(),
                Payload {
                    msg: plaintext,
                    aad: &self.aad(stream, &nonce, length),
                },
            )
            .map_err(|_| Error::Protocol("encrypting a payload failed".to_owned()))?;
        Ok(proto::EncryptedPayload {
            ciphertext,
            plaintext_length: length,
            payload_crypto: Some(proto::PayloadCrypto {
                payload_suite: PAYLOAD_SUITE as i32,
                payload_key_id: self.payload_key_id.clone(),
                nonce: nonce.to_vec(),
                aad_context: self.key_context.clone(),
            }),
        })
    }

    /// Decrypts one payload of `stream`, checking that it is bound to this
    /// key, its context and `stream`.
    pub fn decrypt(
        &self,
        stream: Stream,
        payload: &proto::EncryptedPayload,
    ) -> Result<Vec<u8>, Error> {
        let crypto = payload.payload_crypto.as_ref().ok_or_else(|| {
            Error::Protocol("an encrypted payload without its parameters".to_owned())
        })?;
        if crypto.payload_suite != PAYLOAD_SUITE as i32 {
            return Err(Error::Protocol(
                "the payload suite does not match".to_owned(),
            ));
        }
        if crypto.payload_key_id != self.payload_key_id {
            return Err(Error::Protocol(
                "the payload key id does not match".to_owned(),
            ));
        }
        if crypto.aad_context != self.key_context {
            return Err(Error::Protocol(
                "the payload key context does not match".to_owned(),
            ));
        }
        let nonce: [u8; 12] = crypto
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| Error::Protocol("the payload nonce is not 12 bytes".to_owned()))?;
        let cipher = Aes256Gcm::new((&self.key).into());
        let plaintext = cipher
            .decrypt(
                (&nonce).into(),
                Payload {
                    msg: &payload.ciphertext,
                    aad: &self.aad(stream, &nonce, payload.plaintext_length),
                },
            )
            .map_err(|_| {
                Error::Protocol("an encrypted payload does not authenticate".to_owned())
            })?;
        if plaintext.len() != payload.plaintext_length as usize {
            return Err(Error::Protocol(
                "the payload length does not match".to_owned(),
            ));
        }
        Ok(plaintext)
    }
}
