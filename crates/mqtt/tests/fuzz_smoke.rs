//! The `mqtt_decode` fuzz body (fuzz/fuzz_targets/mqtt_decode.rs) over a few
//! thousand pseudo-random inputs, so CI exercises it without cargo-fuzz:
//! raw random bytes, and valid packets with random mutations (bit flips,
//! truncation, insertion, duplication), which reach much deeper. Crash inputs
//! found by the fuzzer are kept below as regression tests.

mod common;

use common::fuzz_body::check;
use common::*;
use kumo_mqtt::ProtocolVersion;
use proptest::collection::vec;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bits: u8 },
    Set { at: usize, byte: u8 },
    Truncate { at: usize },
    Insert { at: usize, byte: u8 },
    Remove { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(at, bits)| Mutation::Flip { at, bits }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Insert { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Remove { at }),
    ]
}

fn apply(data: &mut Vec<u8>, m: &Mutation) {
    if data.is_empty() {
        return;
    }
    let n = data.len();
    match *m {
        Mutation::Flip { at, bits } => data[at % n] ^= bits,
        Mutation::Set { at, byte } => data[at % n] = byte,
        Mutation::Truncate { at } => data.truncate(at % n),
        Mutation::Insert { at, byte } => data.insert(at % (n + 1), byte),
        Mutation::Remove { at } => {
            data.remove(at % n);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_body_random_bytes(data in vec(any::<u8>(), 0..64)) {
        check(&data);
    }

    #[test]
    fn fuzz_body_mutated_packets(
        v5 in any::<bool>(),
        p in packet(ProtocolVersion::V5),
        q in packet(ProtocolVersion::V311),
        twice in any::<bool>(),
        muts in vec(mutation(), 0..4),
    ) {
        let (p, v) = if v5 { (p, ProtocolVersion::V5) } else { (q, ProtocolVersion::V311) };
        let mut data = encode_to_vec(&p, v);
        if twice {
            data.extend_from_within(..);
        }
        for m in &muts {
            apply(&mut data, m);
        }
        check(&data);
    }
}

/// Inputs the fuzzer (or the tests above) found; each must stay harmless.
#[test]
fn fuzz_regressions() {
    let cases: &[&[u8]] = &[
        // A level-5 CONNECT decoded on a 3.1.1 connection re-encoded without
        // its property lengths (encode followed the connection's version).
        &[
            0x10, 0x0d, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x00,
        ],
        // CONNACK v5 with reason 0x90 Topic Name invalid (allowed by §3.2.2.2).
        &[0x20, 0x03, 0x00, 0x90, 0x00],
    ];
    for c in cases {
        check(c);
    }
}
