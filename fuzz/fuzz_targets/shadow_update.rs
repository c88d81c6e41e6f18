//! Apply up to four shadow requests (updates, gets, deletes) from the input
//! to one shadow: never panic, and after every accepted update the delta,
//! version, storage round trip and response documents agree. The body is
//! shared with the crate's tests (crates/shadow/tests/fuzz_smoke.rs) so CI
//! runs it without cargo-fuzz.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/shadow/tests/common/fuzz_body.rs"]
mod fuzz_body;

fuzz_target!(|data: &[u8]| {
    fuzz_body::check(data);
});
