//! Build an HTTP request from arbitrary bytes (method, path and query,
//! headers, body) and verify it against a fixed key: never panic. Then sign
//! a cleaned-up version with sign_headers() and presign_url() and check that
//! verify() accepts both at the signing time. The body is shared with the
//! crate's tests (crates/sigv4/tests/fuzz_smoke.rs) so CI runs it without
//! cargo-fuzz.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/sigv4/tests/common/fuzz_body.rs"]
mod fuzz_body;

fuzz_target!(|data: &[u8]| {
    fuzz_body::check(data);
});
