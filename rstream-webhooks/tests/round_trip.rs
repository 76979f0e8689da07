//! Sign, then verify; and every single-byte change is refused.

use std::time::Duration;

use rstream_webhooks::{Error, Secret, Verifier, generate_secret, sign};

const BODY: &[u8] =
    br#"{"id":"evt_9","type":"client.created","workspace_id":"wsp_1","object":{"id":"cli_1"}}"#;
const T: u64 = 1_790_000_000;

#[test]
fn sign_then_verify() {
    let secret = generate_secret();
    let header = sign(BODY, &secret, T).unwrap();
    let event = Verifier::new(secret.clone())
        .verify_at(&header, BODY, T)
        .unwrap();
    assert_eq!(event.id, "evt_9");
    assert_eq!(event.workspace_id.as_deref(), Some("wsp_1"));
    // The system clock path accepts a fresh signature.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let fresh = sign(BODY, &secret, now).unwrap();
    assert!(Verifier::new(secret).verify(&fresh, BODY).is_ok());
}

#[test]
fn another_secret_is_refused() {
    let header = sign(BODY, &generate_secret(), T).unwrap();
    let result = Verifier::new(generate_secret()).verify_at(&header, BODY, T);
    assert_eq!(result.unwrap_err(), Error::SignatureMismatch);
}

#[test]
fn the_key_is_the_whole_secret_string() {
    // Same base64 part, other prefix: another key.
    let header = sign(BODY, &Secret::new("whsec_abc"), T).unwrap();
    let result = Verifier::new("abc").verify_at(&header, BODY, T);
    assert_eq!(result.unwrap_err(), Error::SignatureMismatch);
}

#[test]
fn flipping_any_body_byte_is_refused() {
    let secret = Secret::new("whsec_flip");
    let header = sign(BODY, &secret, T).unwrap();
    let verifier = Verifier::new(secret);
    for i in 0..BODY.len() {
        for bit in [0x01u8, 0x80] {
            let mut body = BODY.to_vec();
            body[i] ^= bit;
            let result = verifier.verify_at(&header, &body, T);
            assert_eq!(
                result.unwrap_err(),
                Error::SignatureMismatch,
                "byte {i} bit {bit:#x}"
            );
        }
    }
}

#[test]
fn flipping_any_signature_byte_is_refused() {
    let secret = Secret::new("whsec_flip");
    let header = sign(BODY, &secret, T).unwrap();
    let verifier = Verifier::new(secret);
    for i in 0..header.len() {
        for bit in [0x01u8, 0x80] {
            let mut bytes = header.clone().into_bytes();
            bytes[i] ^= bit;
            let Ok(tampered) = String::from_utf8(bytes) else {
                continue; // not a header value anyone could send
            };
            assert!(
                verifier.verify_at(&tampered, BODY, T).is_err(),
                "byte {i} bit {bit:#x}: {tampered}"
            );
        }
    }
}

#[test]
fn timestamp_is_bound_to_the_signature() {
    let secret = Secret::new("whsec_t");
    let header = sign(BODY, &secret, T).unwrap();
    let moved = header.replace(&format!("t={T}"), &format!("t={}", T + 1));
    let result = Verifier::new(secret).verify_at(&moved, BODY, T);
    assert_eq!(result.unwrap_err(), Error::SignatureMismatch);
}

#[test]
fn tolerance_is_inclusive_and_symmetric() {
    let secret = Secret::new("whsec_t");
    let header = sign(BODY, &secret, T).unwrap();
    let verifier = Verifier::new(secret).tolerance(Duration::from_secs(10));
    assert!(verifier.verify_at(&header, BODY, T + 10).is_ok());
    assert!(verifier.verify_at(&header, BODY, T - 10).is_ok());
    for now in [T + 11, T - 11] {
        assert!(matches!(
            verifier.verify_at(&header, BODY, now),
            Err(Error::TimestampOutOfTolerance {
                timestamp: T,
                tolerance_secs: 10,
                ..
            })
        ));
    }
}

#[test]
fn rotation_accepts_any_matching_v1() {
    let old = sign(BODY, &Secret::new("whsec_old"), T).unwrap();
    let new = sign(BODY, &Secret::new("whsec_new"), T).unwrap();
    let both = format!("{new},{}", &old[old.find("v1=").unwrap()..]);
    assert!(Verifier::new("whsec_old").verify_at(&both, BODY, T).is_ok());
    assert!(Verifier::new("whsec_new").verify_at(&both, BODY, T).is_ok());
    assert!(
        Verifier::new("whsec_other")
            .verify_at(&both, BODY, T)
            .is_err()
    );
}

#[test]
fn leading_zeros_in_t_sign_the_normalised_number() {
    // The Python SDK signs `f"{int(t)}."`, so `t=0...` verifies against the
    // number without its zeros.
    let secret = Secret::new("whsec_z");
    let header = sign(BODY, &secret, T).unwrap();
    let padded = header.replacen("t=", "t=00", 1);
    assert!(Verifier::new(secret).verify_at(&padded, BODY, T).is_ok());
}

#[test]
fn errors_do_not_leak_secret_or_body() {
    let secret = "whsec_never-shown";
    let verifier = Verifier::new(secret);
    let body = br#"{"id":"e","type":"nope-private","object":{}}"#;
    let header = sign(body, &Secret::new(secret), T).unwrap();
    let errors = [
        verifier.verify_at(&header, body, T).unwrap_err(),
        verifier
            .verify_at(&header, b"private stuff", T)
            .unwrap_err(),
        verifier.verify_at(&header, BODY, T).unwrap_err(),
        verifier.verify_at("t=1,v1=xx", BODY, T).unwrap_err(),
    ];
    let signature = &header[header.find("v1=").unwrap() + 3..];
    for error in errors {
        let text = format!("{error} {error:?}");
        assert!(!text.contains("never-shown"), "{text}");
        assert!(!text.contains("private"), "{text}");
        assert!(!text.contains(signature), "{text}");
    }
}
