//! Decode arbitrary bytes as a stored block of queued messages (what the
//! SQLite backend reads back from `queued_block.records`): never panic, and
//! whatever decodes re-encodes to the same bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kumo_store::sqlite::fuzz_check_queued_block(data);
});
