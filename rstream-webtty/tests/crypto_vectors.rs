//! The handshake transcripts and end-to-end payloads against vectors from
//! the reference SDKs' tests, and the properties that make them safe.

use base64::Engine as _;
use prost::Message as _;
use rstream_webtty::crypto::{
    ClientTranscript, EncryptionIdentity, Recipient, ServerTranscript, SessionKey, SigningIdentity,
    Stream, config_hash, encryption_key_id, grant_hash, key_context, verify_signature,
};
use rstream_webtty::proto;
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/reference.json")).unwrap()
}

/// Base64 in either alphabet, padded or not (the vectors mix them).
fn b64(text: &str) -> Vec<u8> {
    let standard = text.replace('-', "+").replace('_', "/");
    let trimmed = standard.trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(trimmed)
        .unwrap()
}

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn server<'a>(nonce: &'a [u8]) -> ServerTranscript<'a> {
    ServerTranscript {
        transport: "websocket",
        workspace_id: "workspace-1",
        project_id: "project-1",
        server_id: "server-1",
        session_id: "session-1",
        server_signing_key_id: b"server-signing-key-id",
        server_encryption_key_id: b"server-encryption-key-id",
        server_nonce: nonce,
        auth_requirement: 2,
        payload_suites: &[1],
        key_envelope_suites: &[1],
        signature_suites: &[1],
    }
}

#[test]
fn canonical_config_and_grant_encodings() {
    let v = vectors();
    let config = proto::Config {
        options: Some(proto::Options {
            interactive: false,
            allocate_tty: false,
            send_heartbeat: true,
        }),
        cmd_args: vec!["sh".into(), "-lc".into(), "whoami".into()],
        ..Default::default()
    };
    assert_eq!(
        config.encode_to_vec(),
        hex(v["transcripts"]["config_bytes_hex"].as_str().unwrap())
    );
    let grant = proto::SessionKeyGrant {
        payload_suite: 1,
        payload_key_id: b"payload-key-id".to_vec(),
        key_envelope_suite: 1,
        ..Default::default()
    };
    assert_eq!(
        grant.encode_to_vec(),
        hex(v["transcripts"]["grant_bytes_hex"].as_str().unwrap())
    );
    // An empty user name is left out of the hash, as the references do.
    let mut with_empty_user = config.clone();
    with_empty_user.username = Some(proto::Username {
        payload: Some(proto::username::Payload::Name(String::new())),
    });
    assert_eq!(config_hash(Some(&with_empty_user)), {
        let mut none = config.clone();
        none.username = Some(proto::Username { payload: None });
        config_hash(Some(&none))
    });
}

#[test]
fn transcript_hashes_match_the_reference_vectors() {
    let v = vectors();
    let t = &v["transcripts"];
    assert_eq!(
        server(b"nonce-1").hash().to_vec(),
        b64(t["server_hash"].as_str().unwrap())
    );

    let config_bytes = hex(t["config_bytes_hex"].as_str().unwrap());
    let config = proto::Config::decode(config_bytes.as_slice()).unwrap();
    let grant =
        proto::SessionKeyGrant::decode(hex(t["grant_bytes_hex"].as_str().unwrap()).as_slice())
            .unwrap();
    let command_hash = config_hash(Some(&config));
    let grant_digest = grant_hash(Some(&grant));
    let client = ClientTranscript {
        server: server(b"nonce-1"),
        payload_suite: 1,
        key_envelope_suite: 1,
        session_key_grant_hash: &grant_digest,
        command_config_hash: &command_hash,
        client_principal_id: "user-1",
        client_signing_key_id: b"client-signing-key-id",
        issued_at: "2026-06-12T10:00:00Z",
        expires_at: "2026-06-12T10:01:00Z",
        ..Default::default()
    };
    assert_eq!(
        client.hash().to_vec(),
        b64(t["client_hash"].as_str().unwrap())
    );

    let bound = ClientTranscript {
        server: server(b"server-nonce"),
        payload_suite: 1,
        key_envelope_suite: 1,
        session_key_grant_hash: b"session-key-grant-hash-32-bytes",
        command_config_hash: b"command-config-hash-32-bytes",
        client_principal_id: "client-1",
        client_signing_key_id: b"client-signing-key-id",
        client_credential_hash: b"client-credential-hash-32-bytes!",
        issued_at: "2026-06-21T10:00:00Z",
        expires_at: "2026-06-21T10:05:00Z",
        ..Default::default()
    };
    assert_eq!(
        bound.hash().to_vec(),
        b64(t["client_hash_with_credential"].as_str().unwrap())
    );

    // Every field is bound: changing any one changes the hash.
    let base = server(b"nonce-1").hash();
    let changed = [
        ServerTranscript {
            transport: "webtransport",
            ..server(b"nonce-1")
        },
        ServerTranscript {
            server_id: "server-2",
            ..server(b"nonce-1")
        },
        ServerTranscript {
            session_id: "session-2",
            ..server(b"nonce-1")
        },
        ServerTranscript {
            auth_requirement: 1,
            ..server(b"nonce-1")
        },
        ServerTranscript {
            signature_suites: &[],
            ..server(b"nonce-1")
        },
        server(b"nonce-2"),
    ];
    for t in changed {
        assert_ne!(t.hash(), base, "{t:?}");
    }
    // Strings are trimmed.
    assert_eq!(
        ServerTranscript {
            server_id: " server-1 ",
            ..server(b"nonce-1")
        }
        .hash(),
        base
    );
}

#[test]
fn the_go_made_payload_decrypts() {
    let v = vectors();
    let e = &v["e2e"];
    let secret: [u8; 32] = b64(e["identity_private_key"].as_str().unwrap())
        .try_into()
        .unwrap();
    let identity = EncryptionIdentity::from_secret(secret).unwrap();
    assert_eq!(
        identity.public_key().to_vec(),
        b64(e["identity_public_key"].as_str().unwrap())
    );
    assert_eq!(
        identity.key_id().to_vec(),
        b64(e["identity_key_id"].as_str().unwrap())
    );
    assert_eq!(encryption_key_id(&identity.public_key()), identity.key_id());

    let grant = proto::SessionKeyGrant {
        payload_suite: 1,
        payload_key_id: b64(e["payload_key_id"].as_str().unwrap()),
        key_envelopes: vec![proto::KeyEnvelope {
            recipient_key_id: identity.key_id().to_vec(),
            encapsulated_key: b64(e["encapsulated_key"].as_str().unwrap()),
            wrapped_key: b64(e["wrapped_key"].as_str().unwrap()),
        }],
        key_context: b64(e["key_context"].as_str().unwrap()),
        key_envelope_suite: 1,
    };
    let key = SessionKey::from_grant(&grant, &identity).unwrap();
    let payload = proto::EncryptedPayload {
        ciphertext: b64(e["stdin_ciphertext"].as_str().unwrap()),
        plaintext_length: e["stdin_plaintext_length"].as_u64().unwrap() as u32,
        payload_crypto: Some(proto::PayloadCrypto {
            payload_suite: 1,
            payload_key_id: grant.payload_key_id.clone(),
            nonce: b64(e["stdin_nonce"].as_str().unwrap()),
            aad_context: grant.key_context.clone(),
        }),
    };
    assert_eq!(
        key.decrypt(Stream::Stdin, &payload).unwrap(),
        e["stdin_plaintext"].as_str().unwrap().as_bytes()
    );
    // Bound to its stream, its bytes and its key.
    assert!(key.decrypt(Stream::Stdout, &payload).is_err());
    let mut tampered = payload.clone();
    tampered.ciphertext[0] ^= 1;
    assert!(key.decrypt(Stream::Stdin, &tampered).is_err());
    let mut wrong_length = payload.clone();
    wrong_length.plaintext_length += 1;
    assert!(key.decrypt(Stream::Stdin, &wrong_length).is_err());
    // A grant for someone else does not open.
    let stranger = EncryptionIdentity::generate();
    assert!(SessionKey::from_grant(&grant, &stranger).is_err());
    let mut bad_suite = grant.clone();
    bad_suite.payload_suite = 2;
    assert!(SessionKey::from_grant(&bad_suite, &identity).is_err());
}

#[test]
fn our_grants_and_payloads_round_trip() {
    let server = EncryptionIdentity::generate();
    let recipient = Recipient {
        key_id: server.key_id(),
        public_key: server.public_key(),
    };
    let context = key_context(Some("ws-1"), None, Some("srv-1"), &[recipient]);
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(server.key_id());
    assert_eq!(
        String::from_utf8(context.clone()).unwrap(),
        format!(
            "{{\"v\":1,\"type\":\"rstream.webtty.session_key_grant\",\"workspace_id\":\"ws-1\",\
             \"server_id\":\"srv-1\",\"recipients\":[{{\"key_id\":\"{id}\",\"kind\":\"public_key\",\
             \"id\":\"{id}\"}}]}}"
        )
    );
    let key = SessionKey::generate(context);
    let grant = key.grant(&[recipient]).unwrap();
    let opened = SessionKey::from_grant(&grant, &server).unwrap();
    let sealed = key.encrypt(Stream::Stdout, b"hello").unwrap();
    assert_eq!(opened.decrypt(Stream::Stdout, &sealed).unwrap(), b"hello");
    assert!(opened.decrypt(Stream::Stderr, &sealed).is_err());
}

#[test]
fn signatures_verify_and_bind_the_transcript() {
    let identity = SigningIdentity::generate();
    let transcript = server(b"nonce-1").bytes();
    let signature = identity.sign(&transcript);
    verify_signature(identity.public_key(), &transcript, &signature).unwrap();
    assert!(
        verify_signature(
            identity.public_key(),
            &server(b"nonce-2").bytes(),
            &signature
        )
        .is_err()
    );
    let other = SigningIdentity::generate();
    assert!(verify_signature(other.public_key(), &transcript, &signature).is_err());
    assert!(verify_signature(identity.public_key(), &transcript, b"\x30\x02\x01").is_err());
    // Keys survive their PKCS#8 encoding.
    let again = SigningIdentity::from_pkcs8_der(&identity.to_pkcs8_der()).unwrap();
    assert_eq!(again.key_id(), identity.key_id());
    assert!(SigningIdentity::from_pkcs8_der(b"not a key").is_err());
}
