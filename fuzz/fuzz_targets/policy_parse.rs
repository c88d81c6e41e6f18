//! Parse arbitrary bytes as an AWS IoT policy document; when it parses,
//! compile it against a fixed context and evaluate every action on a few
//! resources: never panic. The body is shared with the crate's tests
//! (crates/policy/tests/fuzz_smoke.rs) so CI runs it without cargo-fuzz.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/policy/tests/common/fuzz_body.rs"]
mod fuzz_body;

fuzz_target!(|data: &[u8]| {
    fuzz_body::check(data);
});
