//! Property tests: every packet type, valid for MQTT 3.1.1 or 5.0, survives
//! encode → decode unchanged; `encoded_len` is exact; any strict prefix is
//! "need more bytes"; a too-small maximum is refused from the fixed header.

mod common;

use bytes::BytesMut;
use common::*;
use kumo_mqtt::*;
use proptest::prelude::*;

fn check_roundtrip(p: &Packet, v: ProtocolVersion) -> Result<(), TestCaseError> {
    let mut out = BytesMut::new();
    encode(p, v, &mut out);
    let wire = out.clone().freeze();
    prop_assert_eq!(encoded_len(p, v), wire.len(), "encoded_len");

    // encode → decode.
    let decoded = decode(&mut out, v, wire.len());
    prop_assert_eq!(decoded, Ok(Some(p.clone())), "wire {:02x?}", &wire[..]);
    prop_assert!(out.is_empty());

    // Two packets back to back decode one at a time.
    let mut two = BytesMut::from(&wire[..]);
    two.extend_from_slice(&wire);
    prop_assert_eq!(decode(&mut two, v, usize::MAX), Ok(Some(p.clone())));
    prop_assert_eq!(two.len(), wire.len());

    // Every strict prefix: need more bytes, and nothing consumed.
    for n in 0..wire.len() {
        let mut part = BytesMut::from(&wire[..n]);
        prop_assert_eq!(
            decode(&mut part, v, usize::MAX),
            Ok(None),
            "prefix of {} bytes",
            n
        );
        prop_assert_eq!(part.len(), n);
    }

    // One byte over the limit is refused from the fixed header alone.
    let mut head = BytesMut::from(&wire[..wire.len().min(5)]);
    prop_assert_eq!(
        decode(&mut head, v, wire.len() - 1),
        Err(DecodeError::PacketTooLarge {
            size: wire.len(),
            max: wire.len() - 1
        })
    );

    // encode_publish agrees with encode and points at the packet id.
    if let Packet::Publish(pub_) = p {
        let mut out2 = BytesMut::from(&b"xyz"[..]);
        let at = encode_publish(pub_, v, &mut out2);
        prop_assert_eq!(&out2[3..], &wire[..]);
        match at {
            None => prop_assert_eq!(pub_.qos, QoS::AtMostOnce),
            Some(i) => {
                prop_assert_eq!(u16::from_be_bytes([wire[i], wire[i + 1]]), pub_.packet_id);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn roundtrip_v311(p in packet(ProtocolVersion::V311)) {
        check_roundtrip(&p, ProtocolVersion::V311)?;
    }

    #[test]
    fn roundtrip_v5(p in packet(ProtocolVersion::V5)) {
        check_roundtrip(&p, ProtocolVersion::V5)?;
    }

    /// The CONNECT says its own version: whatever the connection's version
    /// argument, a CONNECT round-trips.
    #[test]
    fn connect_roundtrip_whatever_the_connection_version(
        c in prop_oneof![connect(ProtocolVersion::V311), connect(ProtocolVersion::V5)],
        conn_v in prop_oneof![Just(ProtocolVersion::V311), Just(ProtocolVersion::V5)],
    ) {
        let p = Packet::Connect(Box::new(c));
        check_roundtrip(&p, conn_v)?;
        let wire = encode_to_vec(&p, conn_v);
        let Packet::Connect(c) = &p else { unreachable!() };
        prop_assert_eq!(decode_connect_version(&wire), Some(c.protocol));
    }

    /// Large payloads cross the remaining-length byte boundaries.
    #[test]
    fn roundtrip_large_publish(
        len in prop_oneof![100usize..200, 16_300usize..16_500],
        v5 in any::<bool>(),
        qos in 0u8..=2,
    ) {
        let v = if v5 { ProtocolVersion::V5 } else { ProtocolVersion::V311 };
        let qos = QoS::from_u8(qos).unwrap();
        let p = Packet::Publish(Publish {
            dup: false,
            qos,
            retain: false,
            topic: "a/b".into(),
            packet_id: if qos == QoS::AtMostOnce { 0 } else { 7 },
            properties: Properties::default(),
            payload: vec![0xA5; len].into(),
        });
        check_roundtrip(&p, v)?;
    }
}

/// Every reason code the spec allows in a packet is accepted by the codec's
/// table, and nothing else (§2.4 and each packet's reason table).
#[test]
fn reason_tables_match_the_spec() {
    use PacketType as T;
    let tables: &[(T, &[ReasonCode])] = &[
        (T::ConnAck, CONNACK_REASONS),
        (T::PubAck, PUBACK_REASONS),
        (T::PubRec, PUBACK_REASONS),
        (T::PubRel, PUBREL_REASONS),
        (T::PubComp, PUBREL_REASONS),
        (T::SubAck, SUBACK_REASONS),
        (T::UnsubAck, UNSUBACK_REASONS),
        (T::Disconnect, DISCONNECT_REASONS),
        (T::Auth, AUTH_REASONS),
    ];
    for (kind, allowed) in tables {
        for &r in ReasonCode::ALL {
            assert_eq!(r.allowed_in(*kind), allowed.contains(&r), "{r} in {kind:?}");
        }
    }
}

#[test]
fn subscription_options_byte_round_trips_and_rejects_reserved_values() {
    use kumo_mqtt::SubscriptionOptions;
    let mut valid = 0;
    for b in 0..=255u8 {
        match SubscriptionOptions::from_byte(b) {
            Some(o) => {
                valid += 1;
                assert_eq!(o.to_byte(), b);
            }
            None => assert!(
                b & 0xC0 != 0 || b & 0x03 == 3 || (b >> 4) & 0x03 == 3,
                "{b:#04x}"
            ),
        }
    }
    // 3 QoS x no-local x RAP x 3 retain handlings.
    assert_eq!(valid, 3 * 2 * 2 * 3);
}
