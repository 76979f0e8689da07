//! Property tests: hostile bytes, YAML and environments give errors, never
//! panics.

use std::collections::HashMap;

use bytes::BytesMut;
use proptest::prelude::*;
use rstream_core::config::{ConfigOptions, resolve};
use rstream_core::proto::{self, MAX_FRAME_LEN};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes: the decoder returns a message, asks for more, or
    /// errors; it never panics and never consumes a partial frame.
    #[test]
    fn frame_decoder_takes_any_bytes(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut buf = BytesMut::from(&data[..]);
        loop {
            let before = buf.len();
            match proto::decode_frame(&mut buf) {
                Ok(Some(_)) => prop_assert!(buf.len() < before),
                Ok(None) => {
                    prop_assert_eq!(buf.len(), before);
                    break;
                }
                Err(_) => break,
            }
        }
    }

    /// A well-formed length prefix over arbitrary payload bytes: decoding
    /// errors or yields a message, and the frame is consumed either way when
    /// it decodes.
    #[test]
    fn framed_garbage_payloads(payload in proptest::collection::vec(any::<u8>(), 0..1024)) {
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        buf.extend_from_slice(&payload);
        if let Ok(Some(_)) = proto::decode_frame(&mut buf) {
            prop_assert!(buf.is_empty());
        }
    }

    /// Length prefixes above the limit are refused without waiting for the
    /// body.
    #[test]
    fn oversize_lengths_are_refused(len in (MAX_FRAME_LEN as u32 + 1)..=u32::MAX) {
        let mut buf = BytesMut::from(&len.to_be_bytes()[..]);
        prop_assert!(proto::decode_frame(&mut buf).is_err());
    }

    /// Arbitrary config file text and environment values.
    #[test]
    fn config_resolution_takes_any_input(
        text in ".{0,400}",
        engine in proptest::option::of(".{0,40}"),
        token in proptest::option::of(".{0,40}"),
        context in proptest::option::of("[a-z]{0,8}"),
    ) {
        let mut env = HashMap::new();
        if let Some(engine) = engine {
            env.insert("RSTREAM_ENGINE".to_owned(), engine);
        }
        if let Some(token) = token {
            env.insert("RSTREAM_AUTHENTICATION_TOKEN".to_owned(), token);
        }
        if let Some(context) = context {
            env.insert("RSTREAM_CONTEXT".to_owned(), context);
        }
        let _ = resolve(&ConfigOptions::default(), &env, Some(&text), 1_700_000_000);
    }

    /// YAML-shaped config files with arbitrary scalar values.
    #[test]
    fn config_resolution_takes_any_yaml_values(
        engine in ".{0,30}",
        token in ".{0,30}",
        port in any::<i64>(),
        quic in ".{0,8}",
    ) {
        let text = format!(
            "version: 1\ncurrent-context: a\ncontexts:\n  - name: a\n    engine: {engine:?}\n    token: {token:?}\n    port: {port}\n    useQuic: {quic:?}\n"
        );
        let _ = resolve(&ConfigOptions::default(), &HashMap::new(), Some(&text), 1_700_000_000);
    }
}
