//! Decode arbitrary bytes as a stream of MQTT packets, for every protocol
//! version: never panic, and every packet decoded re-encodes and decodes back
//! to an equal packet. The body is shared with the crate's tests
//! (crates/mqtt/tests/fuzz_smoke.rs) so CI runs it without cargo-fuzz.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/mqtt/tests/common/fuzz_body.rs"]
mod fuzz_body;

fuzz_target!(|data: &[u8]| {
    fuzz_body::check(data);
});
