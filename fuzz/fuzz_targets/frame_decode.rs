//! Arbitrary bytes through the frame decoder; every decoded message is
//! re-encoded and must decode to the same message.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use rstream_core::proto;

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    while let Ok(Some(message)) = proto::decode_frame(&mut buf) {
        if let Ok(mut again) = proto::frame_bytes(&message) {
            let decoded = proto::decode_frame(&mut again)
                .expect("a frame we encoded decodes")
                .expect("a frame we encoded is complete");
            assert_eq!(decoded, message);
        }
    }
});
