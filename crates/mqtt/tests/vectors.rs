//! Byte-exact vectors from the MQTT 3.1.1 and 5.0 specifications, written out
//! by hand: each packet encodes to exactly these bytes and decodes back.
//! (The negative vectors are in `negative_vectors.rs`.)

mod vectors_util;

use bytes::{Bytes, BytesMut};
use kumo_mqtt::*;
use vectors_util::*;
// ---------------------------------------------------------------------------
// Positive vectors.

/// MQTT 3.1.1 §3.1.2.10, Figure 3.6: protocol name, level 4, connect flags
/// 0xCE (user name, password, will QoS 1, will flag, clean session), keep
/// alive 10 — followed by a hand-written payload.
#[test]
fn connect_v311_spec_example() {
    let wire = [
        0x10, 0x1F, // CONNECT, remaining length 31
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
        0x04, // level 4
        0xCE, // flags: user, password, will QoS 1, will, clean session
        0x00, 0x0A, // keep alive 10
        0x00, 0x03, b'c', b'i', b'd', // client id
        0x00, 0x03, b'w', b'/', b't', // will topic
        0x00, 0x03, b'b', b'y', b'e', // will message
        0x00, 0x01, b'u', // user name
        0x00, 0x01, b'p', // password
    ];
    let c = Connect {
        protocol: V3,
        clean_start: true,
        keep_alive: 10,
        client_id: "cid".into(),
        will: Some(Will {
            topic: "w/t".into(),
            payload: Bytes::from_static(b"bye"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: props(),
        }),
        username: Some("u".into()),
        password: Some(Bytes::from_static(b"p")),
        properties: props(),
    };
    both(&wire, Packet::Connect(Box::new(c)), V3);
    assert_eq!(decode_connect_version(&wire), Some(V3));
}

/// Minimal 3.1.1 CONNECT: clean session, empty client id.
#[test]
fn connect_v311_minimal() {
    let wire = [
        0x10, 0x0C, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x00,
    ];
    let c = Connect {
        protocol: V3,
        clean_start: true,
        keep_alive: 60,
        client_id: String::new(),
        will: None,
        username: None,
        password: None,
        properties: props(),
    };
    both(&wire, Packet::Connect(Box::new(c.clone())), V3);
    // A CONNECT says its own version: the connection's version is irrelevant.
    both(&wire, Packet::Connect(Box::new(c)), V5);
}

/// MQTT 3.1 (`MQIsdp`, level 3) is read as 3.1.1 and written back as 3.1.
#[test]
fn connect_v31() {
    let wire = [
        0x10, 0x10, 0x00, 0x06, b'M', b'Q', b'I', b's', b'd', b'p', 0x03, 0x02, 0x00, 0x0A, 0x00,
        0x02, b'i', b'd',
    ];
    let c = Connect {
        protocol: ProtocolVersion::V31,
        clean_start: true,
        keep_alive: 10,
        client_id: "id".into(),
        will: None,
        username: None,
        password: None,
        properties: props(),
    };
    both(&wire, Packet::Connect(Box::new(c)), V3);
    assert_eq!(decode_connect_version(&wire), Some(ProtocolVersion::V31));
}

/// MQTT 5 §3.1.2.11 Figure 3-6 variable header (flags 0xCE, keep alive 10,
/// Session Expiry Interval 10), followed by Will properties and payload.
#[test]
fn connect_v5_spec_example() {
    let wire = [
        0x10, 0x2D, // CONNECT, remaining length 45
        0x00, 0x04, b'M', b'Q', b'T', b'T', // protocol name
        0x05, // level 5
        0xCE, // flags
        0x00, 0x0A, // keep alive 10
        0x05, // property length 5
        0x11, 0x00, 0x00, 0x00, 0x0A, // Session Expiry Interval 10
        0x00, 0x03, b'c', b'i', b'd', // client id
        0x07, // will property length 7
        0x01, 0x01, // Payload Format Indicator 1
        0x18, 0x00, 0x00, 0x00, 0x05, // Will Delay Interval 5
        0x00, 0x03, b'w', b'/', b't', // will topic
        0x00, 0x03, b'b', b'y', b'e', // will payload
        0x00, 0x01, b'u', // user name
        0x00, 0x01, b'p', // password
    ];
    let c = Connect {
        protocol: V5,
        clean_start: true,
        keep_alive: 10,
        client_id: "cid".into(),
        will: Some(Will {
            topic: "w/t".into(),
            payload: Bytes::from_static(b"bye"),
            qos: QoS::AtLeastOnce,
            retain: false,
            properties: Properties::from(PropertySet {
                will_delay_interval: Some(5),
                payload_format_indicator: Some(1),
                ..PropertySet::default()
            }),
        }),
        username: Some("u".into()),
        password: Some(Bytes::from_static(b"p")),
        properties: Properties::from(PropertySet {
            session_expiry_interval: Some(10),
            ..PropertySet::default()
        }),
    };
    both(&wire, Packet::Connect(Box::new(c.clone())), V5);
    both(&wire, Packet::Connect(Box::new(c)), V3);
    assert_eq!(decode_connect_version(&wire), Some(V5));
}

/// MQTT 5: a password without a user name is allowed (§3.1.2.9).
#[test]
fn connect_v5_password_without_user_name() {
    let wire = [
        0x10, 0x11, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x05, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x02, 0xFF, 0x00,
    ];
    let c = Connect {
        protocol: V5,
        clean_start: false,
        keep_alive: 0,
        client_id: String::new(),
        will: None,
        username: None,
        password: Some(Bytes::from_static(&[0xFF, 0x00])),
        properties: props(),
    };
    both(&wire, Packet::Connect(Box::new(c)), V5);
}

#[test]
fn connack() {
    let ok = |sp| {
        Packet::ConnAck(ConnAck {
            session_present: sp,
            reason: ReasonCode::Success,
            properties: props(),
        })
    };
    both(&[0x20, 0x02, 0x01, 0x00], ok(true), V3);
    both(&[0x20, 0x02, 0x00, 0x00], ok(false), V3);
    // 3.1.1 return code 5 Not authorized.
    let na = Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::NotAuthorized,
        properties: props(),
    });
    both(&[0x20, 0x02, 0x00, 0x05], na.clone(), V3);
    both(&[0x20, 0x03, 0x00, 0x87, 0x00], na, V5);
    both(&[0x20, 0x03, 0x01, 0x00, 0x00], ok(true), V5);
    // 5.0 reasons without a 3.1.1 return code go out as 3 Server unavailable.
    let busy = Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::ServerBusy,
        properties: props(),
    });
    assert_eq!(enc(&busy, V3), [0x20, 0x02, 0x00, 0x03]);
    // 0x90 Topic Name invalid is a CONNACK reason (bad Will Topic).
    let tni = Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::TopicNameInvalid,
        properties: props(),
    });
    both(&[0x20, 0x03, 0x00, 0x90, 0x00], tni, V5);
    // With properties: Receive Maximum 20, Assigned Client Identifier "a".
    let p = Packet::ConnAck(ConnAck {
        session_present: false,
        reason: ReasonCode::Success,
        properties: Properties::from(PropertySet {
            receive_maximum: Some(20),
            assigned_client_identifier: Some("a".into()),
            ..PropertySet::default()
        }),
    });
    both(
        &[
            0x20, 0x0A, 0x00, 0x00, 0x07, 0x12, 0x00, 0x01, b'a', 0x21, 0x00, 0x14,
        ],
        p,
        V5,
    );
}

/// Variable Byte Integer boundaries, 3.1.1 §2.2.3 / 5.0 §1.5.5, in the
/// fixed header's Remaining Length and in a Subscription Identifier.
const VBI: &[(u32, &[u8])] = &[
    (0, &[0x00]),
    (127, &[0x7F]),
    (128, &[0x80, 0x01]),
    (16_383, &[0xFF, 0x7F]),
    (16_384, &[0x80, 0x80, 0x01]),
    (2_097_151, &[0xFF, 0xFF, 0x7F]),
    (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
    (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
];

#[test]
fn remaining_length_boundaries_decode() {
    // The fixed header alone says the size: with a maximum of 0 every one is
    // refused with the exact size (header + remaining length).
    for &(value, bytes) in VBI {
        let mut wire = vec![0x30];
        wire.extend_from_slice(bytes);
        let mut buf = BytesMut::from(&wire[..]);
        let size = 1 + bytes.len() + value as usize;
        assert_eq!(
            decode(&mut buf, V3, size - 1),
            Err(DecodeError::PacketTooLarge {
                size,
                max: size - 1
            }),
            "{value}"
        );
        // Within the limit, it is only a matter of waiting for the body.
        if value > 0 {
            assert_eq!(decode(&mut buf, V3, size), Ok(None), "{value}");
            assert_eq!(buf.len(), wire.len());
        }
    }
    // Remaining length 0 is a whole PINGREQ.
    assert_eq!(dec(&[0xC0, 0x00], V3), Ok(Packet::PingReq));
}

#[test]
fn remaining_length_boundaries_encode() {
    // PUBLISH QoS 0, topic "a": body is 3 + payload bytes.
    for &(value, bytes) in &VBI[1..7] {
        let p = Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: "a".into(),
            packet_id: 0,
            properties: props(),
            payload: vec![0u8; value as usize - 3].into(),
        });
        let wire = enc(&p, V3);
        assert_eq!(
            &wire[..1 + bytes.len()],
            [&[0x30][..], bytes].concat(),
            "{value}"
        );
        assert_eq!(wire.len(), 1 + bytes.len() + value as usize);
        assert_eq!(dec(&wire, V3), Ok(p));
    }
}

#[test]
fn subscription_identifier_boundaries() {
    for &(value, bytes) in &VBI[1..] {
        let s = Subscribe {
            packet_id: 1,
            properties: Properties::from(PropertySet {
                subscription_identifiers: vec![value],
                ..PropertySet::default()
            }),
            filters: vec![("a".into(), SubscriptionOptions::default())],
        };
        let prop_len = 1 + bytes.len() as u8;
        let mut wire = vec![0x82, 2 + 1 + prop_len + 4, 0x00, 0x01, prop_len, 0x0B];
        wire.extend_from_slice(bytes);
        wire.extend_from_slice(&[0x00, 0x01, b'a', 0x00]);
        both(&wire, Packet::Subscribe(s), V5);
    }
}

#[test]
fn publish_qos0() {
    let p = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: true,
        topic: "a/b".into(),
        packet_id: 0,
        properties: props(),
        payload: Bytes::from_static(b"hi"),
    };
    both(
        &[0x31, 0x07, 0x00, 0x03, b'a', b'/', b'b', b'h', b'i'],
        Packet::Publish(p.clone()),
        V3,
    );
    both(
        &[0x31, 0x08, 0x00, 0x03, b'a', b'/', b'b', 0x00, b'h', b'i'],
        Packet::Publish(p),
        V5,
    );
}

/// 3.1.1 §3.3.2.3 example: topic "a/b", packet identifier 10.
#[test]
fn publish_qos1_with_packet_id() {
    let p = Publish {
        dup: true,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "a/b".into(),
        packet_id: 10,
        properties: props(),
        payload: Bytes::from_static(b"x"),
    };
    let v3 = [0x3A, 0x08, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, b'x'];
    both(&v3, Packet::Publish(p.clone()), V3);
    let mut out = BytesMut::new();
    assert_eq!(encode_publish(&p, V3, &mut out), Some(7));
    assert_eq!(&out[..], v3);
    let v5 = [
        0x3A, 0x09, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, 0x00, b'x',
    ];
    both(&v5, Packet::Publish(p), V5);
}

#[test]
fn publish_qos2_v5_with_properties() {
    let p = Publish {
        dup: false,
        qos: QoS::ExactlyOnce,
        retain: false,
        topic: "t".into(),
        packet_id: 0x1234,
        properties: Properties::from(PropertySet {
            payload_format_indicator: Some(1),
            message_expiry_interval: Some(60),
            topic_alias: Some(3),
            subscription_identifiers: vec![1, 200],
            user_properties: vec![("k".into(), "v".into())],
            ..PropertySet::default()
        }),
        payload: Bytes::new(),
    };
    let wire = [
        0x34, 0x1C, // PUBLISH QoS 2, remaining length 28
        0x00, 0x01, b't', // topic
        0x12, 0x34, // packet id
        0x16, // property length 22
        0x01, 0x01, // Payload Format Indicator
        0x02, 0x00, 0x00, 0x00, 0x3C, // Message Expiry Interval 60
        0x0B, 0x01, // Subscription Identifier 1
        0x0B, 0xC8, 0x01, // Subscription Identifier 200
        0x23, 0x00, 0x03, // Topic Alias 3
        0x26, 0x00, 0x01, b'k', 0x00, 0x01, b'v', // User Property k=v
    ];
    both(&wire, Packet::Publish(p), V5);
}

/// MQTT 5: empty topic name with a Topic Alias.
#[test]
fn publish_v5_topic_alias_only() {
    let p = Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: Bytes::new(),
        packet_id: 0,
        properties: Properties::from(PropertySet {
            topic_alias: Some(1),
            ..PropertySet::default()
        }),
        payload: Bytes::from_static(b"z"),
    };
    both(
        &[0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01, b'z'],
        Packet::Publish(p),
        V5,
    );
}

/// 3.1.1 §3.8.3 example: "a/b" QoS 1, "c/d" QoS 2, packet id 10.
#[test]
fn subscribe_v311_spec_example() {
    let s = Subscribe {
        packet_id: 10,
        properties: props(),
        filters: vec![
            (
                "a/b".into(),
                SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    ..Default::default()
                },
            ),
            (
                "c/d".into(),
                SubscriptionOptions {
                    qos: QoS::ExactlyOnce,
                    ..Default::default()
                },
            ),
        ],
    };
    let wire = [
        0x82, 0x0E, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x01, 0x00, 0x03, b'c', b'/', b'd',
        0x02,
    ];
    both(&wire, Packet::Subscribe(s), V3);
}

/// MQTT 5 §3.8.3.1 subscription options byte: QoS 1, No Local, Retain As
/// Published, Retain Handling 2 = 0b0010_1101.
#[test]
fn subscribe_v5_options_byte() {
    let s = Subscribe {
        packet_id: 10,
        properties: props(),
        filters: vec![(
            "a/b".into(),
            SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::Never,
            },
        )],
    };
    both(
        &[
            0x82, 0x09, 0x00, 0x0A, 0x00, 0x00, 0x03, b'a', b'/', b'b', 0x2D,
        ],
        Packet::Subscribe(s),
        V5,
    );
    let s = Subscribe {
        packet_id: 1,
        properties: props(),
        filters: vec![(
            "#".into(),
            SubscriptionOptions {
                retain_handling: RetainHandling::OnNewSubscribe,
                ..Default::default()
            },
        )],
    };
    both(
        &[0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, b'#', 0x10],
        Packet::Subscribe(s),
        V5,
    );
}

#[test]
fn suback() {
    use ReasonCode::*;
    let s = SubAck {
        packet_id: 10,
        properties: props(),
        reasons: vec![Success, GrantedQos2, UnspecifiedError],
    };
    both(
        &[0x90, 0x05, 0x00, 0x0A, 0x00, 0x02, 0x80],
        Packet::SubAck(s.clone()),
        V3,
    );
    both(
        &[0x90, 0x06, 0x00, 0x0A, 0x00, 0x00, 0x02, 0x80],
        Packet::SubAck(s),
        V5,
    );
    // 5.0-only failure reasons go out as 0x80 in 3.1.1.
    let s = SubAck {
        packet_id: 10,
        properties: props(),
        reasons: vec![NotAuthorized],
    };
    assert_eq!(
        enc(&Packet::SubAck(s.clone()), V3),
        [0x90, 0x03, 0x00, 0x0A, 0x80]
    );
    both(&[0x90, 0x04, 0x00, 0x0A, 0x00, 0x87], Packet::SubAck(s), V5);
}

#[test]
fn unsubscribe_and_unsuback() {
    let u = Unsubscribe {
        packet_id: 10,
        properties: props(),
        filters: vec!["a/b".into(), "c".into()],
    };
    both(
        &[
            0xA2, 0x0A, 0x00, 0x0A, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x01, b'c',
        ],
        Packet::Unsubscribe(u.clone()),
        V3,
    );
    both(
        &[
            0xA2, 0x0B, 0x00, 0x0A, 0x00, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x01, b'c',
        ],
        Packet::Unsubscribe(u),
        V5,
    );
    let ua = SubAck {
        packet_id: 10,
        properties: props(),
        reasons: vec![],
    };
    both(&[0xB0, 0x02, 0x00, 0x0A], Packet::UnsubAck(ua), V3);
    let ua = SubAck {
        packet_id: 10,
        properties: props(),
        reasons: vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted],
    };
    both(
        &[0xB0, 0x05, 0x00, 0x0A, 0x00, 0x00, 0x11],
        Packet::UnsubAck(ua.clone()),
        V5,
    );
    // 3.1.1 UNSUBACK has no reason codes: they are left out.
    assert_eq!(enc(&Packet::UnsubAck(ua), V3), [0xB0, 0x02, 0x00, 0x0A]);
}

/// PUBACK/PUBREC/PUBREL/PUBCOMP: MQTT 5 leaves out a Success reason with no
/// properties (remaining length 2, §3.4.2.1).
#[test]
fn ack_short_forms() {
    let a = Ack::new(10);
    both(&[0x40, 0x02, 0x00, 0x0A], Packet::PubAck(a.clone()), V3);
    both(&[0x40, 0x02, 0x00, 0x0A], Packet::PubAck(a.clone()), V5);
    both(&[0x50, 0x02, 0x00, 0x0A], Packet::PubRec(a.clone()), V5);
    both(&[0x62, 0x02, 0x00, 0x0A], Packet::PubRel(a.clone()), V3);
    both(&[0x62, 0x02, 0x00, 0x0A], Packet::PubRel(a.clone()), V5);
    both(&[0x70, 0x02, 0x00, 0x0A], Packet::PubComp(a.clone()), V5);
    // Longer forms of the same Success decode to the same value.
    assert_eq!(
        dec(&[0x40, 0x03, 0x00, 0x0A, 0x00], V5),
        Ok(Packet::PubAck(a.clone()))
    );
    assert_eq!(
        dec(&[0x40, 0x04, 0x00, 0x0A, 0x00, 0x00], V5),
        Ok(Packet::PubAck(a))
    );
    // A reason without properties: remaining length 3.
    let nms = Ack {
        packet_id: 10,
        reason: ReasonCode::NoMatchingSubscribers,
        properties: props(),
    };
    both(&[0x40, 0x03, 0x00, 0x0A, 0x10], Packet::PubAck(nms), V5);
    let nf = Ack {
        packet_id: 10,
        reason: ReasonCode::PacketIdentifierNotFound,
        properties: props(),
    };
    both(&[0x62, 0x03, 0x00, 0x0A, 0x92], Packet::PubRel(nf), V5);
    // Success with a Reason String.
    let rs = Ack {
        packet_id: 10,
        reason: ReasonCode::Success,
        properties: Properties::from(PropertySet {
            reason_string: Some("ok".into()),
            ..PropertySet::default()
        }),
    };
    both(
        &[
            0x70, 0x09, 0x00, 0x0A, 0x00, 0x05, 0x1F, 0x00, 0x02, b'o', b'k',
        ],
        Packet::PubComp(rs),
        V5,
    );
}

/// DISCONNECT: MQTT 5 normal disconnection has remaining length 0 (§3.14.2.1).
#[test]
fn disconnect() {
    let d = Disconnect::new(ReasonCode::Success);
    both(&[0xE0, 0x00], Packet::Disconnect(d.clone()), V3);
    both(&[0xE0, 0x00], Packet::Disconnect(d.clone()), V5);
    assert_eq!(
        dec(&[0xE0, 0x01, 0x00], V5),
        Ok(Packet::Disconnect(d.clone()))
    );
    assert_eq!(
        dec(&[0xE0, 0x02, 0x00, 0x00], V5),
        Ok(Packet::Disconnect(d))
    );
    both(
        &[0xE0, 0x01, 0x04],
        Packet::Disconnect(Disconnect::new(ReasonCode::DisconnectWithWill)),
        V5,
    );
    let d = Disconnect {
        reason: ReasonCode::Success,
        properties: Properties::from(PropertySet {
            session_expiry_interval: Some(60),
            ..PropertySet::default()
        }),
    };
    both(
        &[0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x3C],
        Packet::Disconnect(d),
        V5,
    );
}

#[test]
fn ping_and_auth() {
    both(&[0xC0, 0x00], Packet::PingReq, V3);
    both(&[0xD0, 0x00], Packet::PingResp, V3);
    both(&[0xC0, 0x00], Packet::PingReq, V5);
    both(&[0xD0, 0x00], Packet::PingResp, V5);
    let a = Auth {
        reason: ReasonCode::Success,
        properties: props(),
    };
    both(&[0xF0, 0x00], Packet::Auth(a), V5);
    let a = Auth {
        reason: ReasonCode::ContinueAuthentication,
        properties: Properties::from(PropertySet {
            authentication_method: Some("m".into()),
            ..PropertySet::default()
        }),
    };
    both(
        &[0xF0, 0x06, 0x18, 0x04, 0x15, 0x00, 0x01, b'm'],
        Packet::Auth(a),
        V5,
    );
    let a = Auth {
        reason: ReasonCode::ReAuthenticate,
        properties: props(),
    };
    both(&[0xF0, 0x02, 0x19, 0x00], Packet::Auth(a), V5);
}

#[test]
fn partial_input_is_not_an_error() {
    let wire = [0x3A, 0x08, 0x00, 0x03, b'a', b'/', b'b', 0x00, 0x0A, b'x'];
    for n in 0..wire.len() {
        let mut buf = BytesMut::from(&wire[..n]);
        assert_eq!(decode(&mut buf, V3, usize::MAX), Ok(None), "{n}");
        assert_eq!(buf.len(), n);
    }
    // A fixed header whose remaining length is still incomplete.
    let mut buf = BytesMut::from(&[0x30, 0x80, 0x80][..]);
    assert_eq!(decode(&mut buf, V3, usize::MAX), Ok(None));
}
