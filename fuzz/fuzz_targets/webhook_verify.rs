//! Arbitrary signature headers and bodies through webhook verification. The
//! first line of the input is the header, the rest the body. The secret and
//! clock match the signature vectors, so seeds made from them verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rstream_webhooks::{Secret, Verifier};

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let Ok(header) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let body = data.get(split + 1..).unwrap_or_default();
    let verifier = Verifier::new(Secret::new("whsec_dGVzdC1zZWNyZXQtZm9yLXZlY3RvcnMtMDAwMDAwMDA"));
    let _ = verifier.verify_at(header, body, 1_790_000_000);
});
