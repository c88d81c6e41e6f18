//! The body of the `mqtt_decode` fuzz target, shared with a plain `#[test]`
//! that runs it over pseudo-random inputs (the fuzz target includes this file
//! with `#[path]`). Depends only on `kumo_mqtt` and `bytes`.

use bytes::BytesMut;
use kumo_mqtt::{decode, decode_connect_version, encode, encoded_len, Packet, ProtocolVersion};

const VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V31,
    ProtocolVersion::V311,
    ProtocolVersion::V5,
];

/// Decode `data` as a stream of packets for every protocol version: it must
/// never panic, and every packet decoded must re-encode to bytes that
/// decode back to an equal packet.
pub fn check(data: &[u8]) {
    let _ = decode_connect_version(data);
    for v in VERSIONS {
        for max in [usize::MAX, 64] {
            let mut buf = BytesMut::from(data);
            loop {
                let before = buf.len();
                match decode(&mut buf, v, max) {
                    Ok(Some(p)) => {
                        assert!(buf.len() < before, "decode made no progress");
                        roundtrip(&p, v);
                    }
                    Ok(None) => {
                        assert_eq!(buf.len(), before, "Ok(None) must not consume input");
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
    }
}

fn roundtrip(p: &Packet, v: ProtocolVersion) {
    let mut out = BytesMut::new();
    encode(p, v, &mut out);
    assert_eq!(
        out.len(),
        encoded_len(p, v),
        "encoded_len disagrees with encode for {p:?}"
    );
    let bytes = out.clone();
    let q = match decode(&mut out, v, usize::MAX) {
        Ok(Some(q)) => q,
        other => panic!(
            "re-encoded {p:?} as {:02x?} ({v:?}) but decoding gave {other:?}",
            &bytes[..]
        ),
    };
    assert!(
        out.is_empty(),
        "re-encoded packet left {} trailing bytes",
        out.len()
    );
    assert_eq!(&q, p, "re-encoded as {:02x?} ({v:?})", &bytes[..]);
}
