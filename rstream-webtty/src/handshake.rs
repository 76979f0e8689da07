//! The authenticated handshake: the server's signed hello, the client's
//! proof, and the session key grant that turns on end-to-end encryption.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use crate::Error;
use crate::crypto::{
    self, ClientTranscript, EncryptionIdentity, KEY_ENVELOPE_SUITE, PAYLOAD_SUITE, Recipient,
    SIGNATURE_SUITE, ServerTranscript, SessionKey, SigningIdentity,
};
use crate::proto::{self, ProtocolErrorCode};

/// The transport name bound into transcripts.
pub(crate) const TRANSPORT: &str = "websocket";
/// How long a client proof is valid.
pub const PROOF_LIFETIME: Duration = Duration::from_secs(30);
/// How far in the future a proof's issue time may be (clock skew).
pub const PROOF_SKEW: Duration = Duration::from_secs(5);

/// A server's public keys, as a client pins them: its P-256 signing key
/// (SPKI DER) and its X25519 encryption key. Written as the references'
/// known-server string `encKeyId:encPub:signKeyId:signPub` (base64url).
#[derive(Clone, PartialEq, Eq)]
pub struct ServerKeys {
    signing_public_key: Vec<u8>,
    encryption_public_key: [u8; 32],
}

impl fmt::Debug for ServerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ServerKeys({self})")
    }
}

impl ServerKeys {
    /// The keys from their public halves.
    pub fn new(signing_public_key: Vec<u8>, encryption_public_key: [u8; 32]) -> ServerKeys {
        ServerKeys {
            signing_public_key,
            encryption_public_key,
        }
    }

    /// The public keys of a server's identities.
    pub fn of(signing: &SigningIdentity, encryption: &EncryptionIdentity) -> ServerKeys {
        ServerKeys::new(signing.public_key().to_vec(), encryption.public_key())
    }

    /// The encryption key id (published as the `host_key_id` label).
    pub fn encryption_key_id(&self) -> [u8; 16] {
        crypto::encryption_key_id(&self.encryption_public_key)
    }

    /// The signing key id.
    pub fn signing_key_id(&self) -> [u8; 32] {
        crypto::signing_key_id(&self.signing_public_key)
    }
}

impl fmt::Display for ServerKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}:{}",
            crate::b64u(&self.encryption_key_id()),
            crate::b64u(&self.encryption_public_key),
            crate::b64u(&self.signing_key_id()),
            crate::b64u(&self.signing_public_key)
        )
    }
}

impl FromStr for ServerKeys {
    type Err = Error;

    /// Parses `encKeyId:encPub:signKeyId:signPub`; the ids must be the
    /// ones the keys derive.
    fn from_str(s: &str) -> Result<ServerKeys, Error> {
        let invalid = || {
            Error::Config(
                "not a WebTTY server identity (encKeyId:encPub:signKeyId:signPub)".to_owned(),
            )
        };
        let parts: Vec<Vec<u8>> = s
            .trim()
            .split(':')
            .map(crate::b64u_decode)
            .collect::<Option<_>>()
            .ok_or_else(invalid)?;
        let [enc_id, enc_pub, sign_id, sign_pub] = parts.as_slice() else {
            return Err(invalid());
        };
        let encryption_public_key: [u8; 32] =
            enc_pub.as_slice().try_into().map_err(|_| invalid())?;
        let keys = ServerKeys::new(sign_pub.clone(), encryption_public_key);
        if keys.encryption_key_id().as_slice() != enc_id.as_slice()
            || keys.signing_key_id().as_slice() != sign_id.as_slice()
        {
            return Err(Error::Config(
                "a WebTTY server identity's key ids do not match its keys".to_owned(),
            ));
        }
        Ok(keys)
    }
}

/// What a server proves and requires.
#[derive(Clone)]
pub(crate) struct ServerAuth {
    pub(crate) signing: SigningIdentity,
    pub(crate) encryption: EncryptionIdentity,
    /// Authorized client signing keys: (key id, SPKI DER).
    pub(crate) clients: Vec<([u8; 32], Vec<u8>)>,
    pub(crate) workspace_id: Option<String>,
    pub(crate) project_id: Option<String>,
    pub(crate) server_id: Option<String>,
}

/// The fields of a hello that both transcripts bind.
struct HelloFields<'a> {
    workspace_id: &'a str,
    project_id: &'a str,
    server_id: &'a str,
    session_id: &'a str,
    signing_key_id: &'a [u8],
    encryption_key_id: &'a [u8],
    nonce: &'a [u8],
    auth_requirement: u32,
}

fn string_value(v: &Option<proto::StringValue>) -> &str {
    v.as_ref().map_or("", |v| v.value.as_str())
}

impl HelloFields<'_> {
    fn from_hello<'h>(
        hello: &'h proto::ServerHello,
        identity: &'h proto::EndpointIdentity,
    ) -> HelloFields<'h> {
        HelloFields {
            workspace_id: string_value(&hello.workspace_id),
            project_id: string_value(&hello.project_id),
            server_id: string_value(&hello.server_id),
            session_id: &hello.session_id,
            signing_key_id: &identity.signing_key_id,
            encryption_key_id: &identity.encryption_key_id,
            nonce: &hello.session_nonce,
            auth_requirement: hello.auth_requirement as u32,
        }
    }

    fn server_transcript(&self) -> ServerTranscript<'_> {
        ServerTranscript {
            transport: TRANSPORT,
            workspace_id: self.workspace_id,
            project_id: self.project_id,
            server_id: self.server_id,
            session_id: self.session_id,
            server_signing_key_id: self.signing_key_id,
            server_encryption_key_id: self.encryption_key_id,
            server_nonce: self.nonce,
            auth_requirement: self.auth_requirement,
            payload_suites: &[PAYLOAD_SUITE],
            key_envelope_suites: &[KEY_ENVELOPE_SUITE],
            signature_suites: &[SIGNATURE_SUITE],
        }
    }
}

/// A protocol refusal: the code and message sent as `ProtocolError`.
pub(crate) struct Refusal(pub(crate) ProtocolErrorCode, pub(crate) String);

impl ServerAuth {
    /// The hello of session `session_id`, signed.
    pub(crate) fn hello(&self, session_id: &str, nonce: &[u8; 32]) -> proto::ServerHello {
        let wrap = |v: &Option<String>| {
            v.clone()
                .filter(|v| !v.is_empty())
                .map(|value| proto::StringValue { value })
        };
        let mut hello = proto::ServerHello {
            protocol_version: proto::ProtocolVersion::Webtty1 as i32,
            session_nonce: nonce.to_vec(),
            server_identity: Some(proto::EndpointIdentity {
                signing_key_id: self.signing.key_id().to_vec(),
                signing_public_key: self.signing.public_key().to_vec(),
                signature_suite: SIGNATURE_SUITE as i32,
                encryption_key_id: self.encryption.key_id().to_vec(),
                encryption_public_key: self.encryption.public_key().to_vec(),
                key_envelope_suite: KEY_ENVELOPE_SUITE as i32,
            }),
            payload_suites: vec![PAYLOAD_SUITE as i32],
            key_envelope_suites: vec![KEY_ENVELOPE_SUITE as i32],
            signature_suites: vec![SIGNATURE_SUITE as i32],
            auth_requirement: proto::AuthRequirement::ClientProof as i32,
            workspace_id: wrap(&self.workspace_id),
            project_id: wrap(&self.project_id),
            server_id: wrap(&self.server_id),
            session_id: session_id.to_owned(),
            server_proof: None,
        };
        let identity = hello.server_identity.clone().unwrap_or_default();
        let bytes = HelloFields::from_hello(&hello, &identity)
            .server_transcript()
            .bytes();
        hello.server_proof = Some(proto::ServerProof {
            signature_suite: SIGNATURE_SUITE as i32,
            signing_key_id: self.signing.key_id().to_vec(),
            transcript_hash: crypto::sha256_of(&bytes).to_vec(),
            signature: self.signing.sign(&bytes),
        });
        hello
    }

    /// Checks the client proof of `open`, answering hello `hello`.
    pub(crate) fn check_open(
        &self,
        hello: &proto::ServerHello,
        open: &proto::Open,
        now: SystemTime,
    ) -> Result<SessionKey, Refusal> {
        let invalid = |why: &str| {
            Refusal(
                ProtocolErrorCode::ClientProofInvalid,
                format!("WebTTY client proof is invalid: {why}"),
            )
        };
        let proof = open.client_proof.as_ref().ok_or_else(|| {
            Refusal(
                ProtocolErrorCode::ClientProofRequired,
                "WebTTY client proof is required".to_owned(),
            )
        })?;
        if proof.signing_key_id.len() != 32
            || proof.signing_key_id != crypto::signing_key_id(&proof.signing_public_key)
        {
            return Err(invalid("the signing key id does not match the key"));
        }
        let issued = humantime::parse_rfc3339_weak(proof.issued_at.trim())
            .map_err(|_| invalid("issued_at is not an RFC 3339 time"))?;
        let expires = humantime::parse_rfc3339_weak(proof.expires_at.trim())
            .map_err(|_| invalid("expires_at is not an RFC 3339 time"))?;
        if expires < now {
            return Err(invalid("expired"));
        }
        if issued > now + PROOF_SKEW {
            return Err(invalid("issued in the future"));
        }
        if expires.duration_since(issued).unwrap_or(Duration::MAX) > PROOF_LIFETIME {
            return Err(invalid("valid for too long"));
        }
        let identity = hello.server_identity.clone().unwrap_or_default();
        let fields = HelloFields::from_hello(hello, &identity);
        let credential_hash = crypto::sha256_of(
            proof
                .credential
                .as_ref()
                .map_or(&[][..], |c| c.value.as_slice()),
        );
        let bytes = open_transcript(
            &fields,
            open,
            string_value(&proof.principal_id),
            &proof.signing_key_id,
            &credential_hash,
            &proof.issued_at,
            &proof.expires_at,
        );
        if proof.transcript_hash != crypto::sha256_of(&bytes) {
            return Err(invalid("the transcript does not match this session"));
        }
        crypto::verify_signature(&proof.signing_public_key, &bytes, &proof.signature)
            .map_err(|_| invalid("the signature does not verify"))?;
        match self
            .clients
            .iter()
            .find(|(id, _)| id[..] == proof.signing_key_id[..])
        {
            None => {
                return Err(Refusal(
                    ProtocolErrorCode::ClientUnauthorized,
                    "WebTTY client signing key is not authorized".to_owned(),
                ));
            }
            Some((_, key)) if *key != proof.signing_public_key => {
                return Err(invalid("the key differs from the authorized one"));
            }
            Some(_) => {}
        }
        let grant = open.session_key_grant.as_ref().ok_or_else(|| {
            Refusal(
                ProtocolErrorCode::Unspecified,
                "E2E session key grant is required".to_owned(),
            )
        })?;
        SessionKey::from_grant(grant, &self.encryption).map_err(|e| {
            Refusal(
                ProtocolErrorCode::Unspecified,
                format!("failed to resolve session key grant: {e}"),
            )
        })
    }
}

/// What a client proves and expects.
#[derive(Clone)]
pub(crate) struct ClientAuth {
    pub(crate) server: ServerKeys,
    pub(crate) identity: Option<SigningIdentity>,
}

impl ClientAuth {
    /// Checks `hello` against the pinned server keys and its signature,
    /// then fills `open` with a session key grant and, when the server
    /// asks, a client proof. Returns the session key.
    pub(crate) fn answer(
        &self,
        hello: &proto::ServerHello,
        open: &mut proto::Open,
        now: SystemTime,
    ) -> Result<SessionKey, Error> {
        let identity = hello
            .server_identity
            .as_ref()
            .ok_or_else(|| Error::Protocol("the server hello has no identity".to_owned()))?;
        if identity.signing_public_key != self.server.signing_public_key
            || identity.encryption_public_key != self.server.encryption_public_key
            || identity.signing_key_id != self.server.signing_key_id()
            || identity.encryption_key_id != self.server.encryption_key_id()
        {
            return Err(Error::ProtocolRefusal {
                code: ProtocolErrorCode::ServerKeyChanged as i32,
                message: "the server's identity is not the pinned one".to_owned(),
            });
        }
        if !hello.payload_suites.contains(&(PAYLOAD_SUITE as i32))
            || !hello
                .key_envelope_suites
                .contains(&(KEY_ENVELOPE_SUITE as i32))
            || !hello.signature_suites.contains(&(SIGNATURE_SUITE as i32))
        {
            return Err(Error::ProtocolRefusal {
                code: ProtocolErrorCode::UnsupportedSuite as i32,
                message: "the server offers no suite this client implements".to_owned(),
            });
        }
        let fields = HelloFields::from_hello(hello, identity);
        let bytes = fields.server_transcript().bytes();
        let proof = hello
            .server_proof
            .as_ref()
            .ok_or_else(|| Error::Protocol("the server hello is not signed".to_owned()))?;
        if proof.transcript_hash != crypto::sha256_of(&bytes)
            || crypto::verify_signature(&self.server.signing_public_key, &bytes, &proof.signature)
                .is_err()
        {
            return Err(Error::ProtocolRefusal {
                code: ProtocolErrorCode::ServerProofInvalid as i32,
                message: "the server's proof does not verify".to_owned(),
            });
        }

        let recipient = Recipient {
            key_id: self.server.encryption_key_id(),
            public_key: self.server.encryption_public_key,
        };
        let context = crypto::key_context(
            Some(fields.workspace_id),
            Some(fields.project_id),
            Some(fields.server_id),
            &[recipient],
        );
        let key = SessionKey::generate(context);
        open.session_key_grant = Some(key.grant(&[recipient])?);
        open.capabilities = vec![
            proto::OpenCapability::EncryptedPayload as i32,
            proto::OpenCapability::SessionCrypto as i32,
        ];
        if hello.auth_requirement == proto::AuthRequirement::ClientProof as i32 {
            let signing = self.identity.as_ref().ok_or_else(|| {
                Error::Config(
                    "the WebTTY server requires a client proof: set Endpoint::client_identity"
                        .to_owned(),
                )
            })?;
            open.client_proof = Some(prove(signing, &fields, open, now));
        }
        Ok(key)
    }
}

/// The client transcript of an `Open` (no attach grant, no role) answering
/// the hello `fields`.
fn open_transcript(
    fields: &HelloFields<'_>,
    open: &proto::Open,
    principal_id: &str,
    signing_key_id: &[u8],
    credential_hash: &[u8],
    issued_at: &str,
    expires_at: &str,
) -> Vec<u8> {
    let grant_hash = crypto::grant_hash(open.session_key_grant.as_ref());
    let config_hash = crypto::config_hash(open.config.as_ref());
    ClientTranscript {
        server: fields.server_transcript(),
        payload_suite: PAYLOAD_SUITE,
        key_envelope_suite: KEY_ENVELOPE_SUITE,
        session_key_grant_hash: &grant_hash,
        command_config_hash: &config_hash,
        attach_grant_hash: &[],
        requested_role: "",
        client_principal_id: principal_id,
        client_signing_key_id: signing_key_id,
        client_credential_hash: credential_hash,
        issued_at,
        expires_at,
    }
    .bytes()
}

/// The client proof for `open`, answering `fields`.
fn prove(
    signing: &SigningIdentity,
    fields: &HelloFields<'_>,
    open: &proto::Open,
    now: SystemTime,
) -> proto::ClientProof {
    let issued = SystemTime::UNIX_EPOCH
        + Duration::from_secs(
            now.duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        );
    let issued_at = humantime::format_rfc3339_seconds(issued).to_string();
    let expires_at = humantime::format_rfc3339_seconds(issued + PROOF_LIFETIME).to_string();
    let key_id = signing.key_id();
    let bytes = open_transcript(
        fields,
        open,
        "",
        &key_id,
        &crypto::sha256_of(&[]),
        &issued_at,
        &expires_at,
    );
    proto::ClientProof {
        principal_id: None,
        signing_key_id: key_id.to_vec(),
        signing_public_key: signing.public_key().to_vec(),
        signature_suite: SIGNATURE_SUITE as i32,
        transcript_hash: crypto::sha256_of(&bytes).to_vec(),
        signature: signing.sign(&bytes),
        issued_at,
        expires_at,
        device_id: None,
        browser_id: None,
        credential: None,
    }
}

/// The `Open` a client sends in answer to a server's `hello`, for
/// `config`: the hello checked against the pinned `server` keys, a fresh
/// session key granted to the server, and the client proof signed by
/// `identity`. What [`crate::open_command`] does; public for custom
/// transports and for tests.
pub fn answer_hello(
    server: &ServerKeys,
    identity: &SigningIdentity,
    hello: &proto::ServerHello,
    config: proto::Config,
) -> Result<(proto::Open, SessionKey), Error> {
    let auth = ClientAuth {
        server: server.clone(),
        identity: Some(identity.clone()),
    };
    let mut open = proto::Open {
        config: Some(config),
        ..Default::default()
    };
    let key = auth.answer(hello, &mut open, SystemTime::now())?;
    Ok((open, key))
}
