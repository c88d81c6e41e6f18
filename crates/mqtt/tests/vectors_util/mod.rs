//! Helpers shared by the spec-vector tests (`vectors.rs`, `negative_vectors.rs`).
#![allow(dead_code)] // each test file uses its own subset

use bytes::BytesMut;
use kumo_mqtt::*;

pub const V3: ProtocolVersion = ProtocolVersion::V311;
pub const V5: ProtocolVersion = ProtocolVersion::V5;

pub fn enc(p: &Packet, v: ProtocolVersion) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode(p, v, &mut out);
    assert_eq!(out.len(), encoded_len(p, v), "encoded_len of {p:?}");
    out.to_vec()
}

pub fn dec(wire: &[u8], v: ProtocolVersion) -> Result<Packet, DecodeError> {
    let mut buf = BytesMut::from(wire);
    match decode(&mut buf, v, usize::MAX) {
        Ok(Some(p)) => {
            assert!(buf.is_empty(), "{} bytes left after {p:?}", buf.len());
            Ok(p)
        }
        Ok(None) => panic!("incomplete: {wire:02x?}"),
        Err(e) => Err(e),
    }
}

/// `p` encodes to exactly `wire`, and `wire` decodes to exactly `p`.
#[track_caller]
pub fn both(wire: &[u8], p: Packet, v: ProtocolVersion) {
    assert_eq!(enc(&p, v), wire, "encoding {p:?}");
    assert_eq!(dec(wire, v), Ok(p), "decoding {wire:02x?}");
}

#[track_caller]
pub fn malformed(wire: &[u8], v: ProtocolVersion) {
    match dec(wire, v) {
        Err(DecodeError::Malformed(_)) => {}
        other => panic!("{wire:02x?}: expected Malformed, got {other:?}"),
    }
}

#[track_caller]
pub fn protocol_error(wire: &[u8], v: ProtocolVersion) {
    match dec(wire, v) {
        Err(DecodeError::Protocol(_)) => {}
        other => panic!("{wire:02x?}: expected Protocol, got {other:?}"),
    }
}

#[track_caller]
pub fn topic_invalid(wire: &[u8], v: ProtocolVersion) {
    match dec(wire, v) {
        Err(DecodeError::TopicNameInvalid(_)) => {}
        other => panic!("{wire:02x?}: expected TopicNameInvalid, got {other:?}"),
    }
}

pub fn props() -> Properties {
    Properties::default()
}
