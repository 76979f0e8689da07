//! Arbitrary config file text and environment through configuration
//! resolution. Lines before a `---ENV---` line are `NAME=value` pairs.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use rstream_core::config::{ConfigOptions, resolve};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (env_part, file) = text.split_once("---ENV---\n").unwrap_or(("", text));
    let env: HashMap<String, String> = env_part
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let _ = resolve(&ConfigOptions::default(), &env, Some(file), 1_700_000_000);
});
