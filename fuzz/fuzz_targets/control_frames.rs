//! Arbitrary frames from the engine through the control channel's handler.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rstream_core::fuzz_handle_frames(data);
});
