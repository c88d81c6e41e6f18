//! Differential tests against rumqttc 0.25's codecs
//! (`rumqttc::mqttbytes::v4` for 3.1.1, `rumqttc::v5::mqttbytes::v5` for 5.0).
//!
//! For each generated packet: encode with ours → decode with rumqttc → the
//! fields equal ours (compared as the rumqttc value ours maps to); and
//! encode that rumqttc value with rumqttc → decode with ours → equal to the
//! original packet.
//!
//! Where rumqttc deviates from the spec the case is excluded narrowly, with
//! the deviation documented at the exclusion (search "rumqttc deviation"):
//!
//! 1. Login: rumqttc keeps the password as a UTF-8 `String` (the spec says
//!    Binary Data, 3.1.1 §3.1.3.5 / 5.0 §3.1.3.5) and treats an empty user
//!    name or password as absent. Differential CONNECTs use non-empty, UTF-8
//!    credentials.
//! 2. 3.1.1 CONNECT: rumqttc only speaks "MQTT" level 4, not 3.1 `MQIsdp`.
//! 3. 5.0 Subscription Identifier (PUBLISH and SUBSCRIBE): rumqttc's property
//!    reader counts the identifier byte twice (`cursor += 1 + id_len` after
//!    `cursor += 1`), so it stops reading properties early when anything
//!    follows a Subscription Identifier. In the ours → rumqttc direction,
//!    packets with Subscription Identifiers carry nothing after them (our
//!    writer puts Topic Alias and User Properties after them) and at most
//!    two. rumqttc → ours covers them in full.
//! 4. 5.0 DISCONNECT with remaining length 0 (Normal disconnection, no
//!    properties, §3.14.2.1): rumqttc's `Packet::read` answers
//!    `PayloadRequired` for any remaining length 0 except PINGREQ/PINGRESP.
//!    We assert exactly that error for the bytes `E0 00`.
//! 5. 5.0 DISCONNECT with a reason code and no properties: the spec lets
//!    the property length go when the remaining length is 1 (§3.14.2.2.1),
//!    but rumqttc's reader insists on it (`InsufficientBytes`, asserted for
//!    exactly that case), and its writer's `Disconnect::len` counts only the
//!    reason byte while `write` also writes a property length of 0, so the
//!    packet is one byte longer than its remaining length says. Such packets
//!    are not taken from rumqttc.

mod common;

use bytes::{Bytes, BytesMut};
use common::*;
use kumo_mqtt::*;
use proptest::prelude::*;

const V3: ProtocolVersion = ProtocolVersion::V311;
const V5: ProtocolVersion = ProtocolVersion::V5;
const MAX: usize = 1 << 20;

fn ours_encode(p: &Packet, v: ProtocolVersion) -> BytesMut {
    let mut out = BytesMut::new();
    encode(p, v, &mut out);
    out
}

fn ours_decode(mut wire: BytesMut, v: ProtocolVersion) -> Packet {
    let p = decode(&mut wire, v, MAX)
        .unwrap_or_else(|e| panic!("ours refused rumqttc's bytes: {e}"))
        .expect("whole packet");
    assert!(wire.is_empty(), "ours left {} bytes", wire.len());
    p
}

/// Rumqttc deviation 1: credentials are non-empty UTF-8 strings.
fn login_representable(c: &mut Connect) {
    if c.username.as_deref() == Some("") {
        c.username = None;
    }
    c.password = c.password.take().and_then(|p| {
        let s = String::from_utf8_lossy(&p).into_owned();
        (!s.is_empty()).then(|| Bytes::from(s))
    });
    if !c.protocol.is_v5() && c.username.is_none() {
        c.password = None;
    }
    // Rumqttc deviation 2.
    if c.protocol == ProtocolVersion::V31 {
        c.protocol = ProtocolVersion::V311;
    }
}

fn password_string(p: &Option<Bytes>) -> String {
    p.as_ref()
        .map(|p| String::from_utf8(p.to_vec()).unwrap())
        .unwrap_or_default()
}

// ===========================================================================
// MQTT 3.1.1

mod v4 {
    use super::*;
    use rumqttc::mqttbytes::v4 as r;
    use rumqttc::mqttbytes::QoS as RQoS;

    pub fn qos(q: QoS) -> RQoS {
        match q {
            QoS::AtMostOnce => RQoS::AtMostOnce,
            QoS::AtLeastOnce => RQoS::AtLeastOnce,
            QoS::ExactlyOnce => RQoS::ExactlyOnce,
        }
    }

    /// The rumqttc packet `p` corresponds to, or None for packets this test
    /// does not cover.
    pub fn to_rumqttc(p: &Packet) -> r::Packet {
        match p {
            Packet::Connect(c) => r::Packet::Connect(r::Connect {
                protocol: rumqttc::mqttbytes::Protocol::V4,
                keep_alive: c.keep_alive,
                client_id: c.client_id.clone(),
                clean_session: c.clean_start,
                last_will: c.will.as_ref().map(|w| r::LastWill {
                    topic: w.topic.clone(),
                    message: w.payload.clone(),
                    qos: qos(w.qos),
                    retain: w.retain,
                }),
                login: (c.username.is_some() || c.password.is_some()).then(|| r::Login {
                    username: c.username.clone().unwrap_or_default(),
                    password: password_string(&c.password),
                }),
            }),
            Packet::ConnAck(c) => r::Packet::ConnAck(r::ConnAck {
                session_present: c.session_present,
                code: match c.reason {
                    ReasonCode::Success => r::ConnectReturnCode::Success,
                    ReasonCode::UnsupportedProtocolVersion => {
                        r::ConnectReturnCode::RefusedProtocolVersion
                    }
                    ReasonCode::ClientIdentifierNotValid => r::ConnectReturnCode::BadClientId,
                    ReasonCode::ServerUnavailable => r::ConnectReturnCode::ServiceUnavailable,
                    ReasonCode::BadUserNameOrPassword => r::ConnectReturnCode::BadUserNamePassword,
                    ReasonCode::NotAuthorized => r::ConnectReturnCode::NotAuthorized,
                    other => panic!("not a 3.1.1 CONNACK code: {other}"),
                },
            }),
            Packet::Publish(p) => r::Packet::Publish(r::Publish {
                dup: p.dup,
                qos: qos(p.qos),
                retain: p.retain,
                topic: p.topic_str().to_owned(),
                pkid: p.packet_id,
                payload: p.payload.clone(),
            }),
            Packet::PubAck(a) => r::Packet::PubAck(r::PubAck { pkid: a.packet_id }),
            Packet::PubRec(a) => r::Packet::PubRec(r::PubRec { pkid: a.packet_id }),
            Packet::PubRel(a) => r::Packet::PubRel(r::PubRel { pkid: a.packet_id }),
            Packet::PubComp(a) => r::Packet::PubComp(r::PubComp { pkid: a.packet_id }),
            Packet::Subscribe(s) => r::Packet::Subscribe(r::Subscribe {
                pkid: s.packet_id,
                filters: s
                    .filters
                    .iter()
                    .map(|(f, o)| r::SubscribeFilter {
                        path: f.clone(),
                        qos: qos(o.qos),
                    })
                    .collect(),
            }),
            Packet::SubAck(s) => r::Packet::SubAck(r::SubAck {
                pkid: s.packet_id,
                return_codes: s
                    .reasons
                    .iter()
                    .map(|r| match r {
                        ReasonCode::Success => r::SubscribeReasonCode::Success(RQoS::AtMostOnce),
                        ReasonCode::GrantedQos1 => {
                            r::SubscribeReasonCode::Success(RQoS::AtLeastOnce)
                        }
                        ReasonCode::GrantedQos2 => {
                            r::SubscribeReasonCode::Success(RQoS::ExactlyOnce)
                        }
                        _ => r::SubscribeReasonCode::Failure,
                    })
                    .collect(),
            }),
            Packet::Unsubscribe(u) => r::Packet::Unsubscribe(r::Unsubscribe {
                pkid: u.packet_id,
                topics: u.filters.clone(),
            }),
            Packet::UnsubAck(u) => r::Packet::UnsubAck(r::UnsubAck { pkid: u.packet_id }),
            Packet::PingReq => r::Packet::PingReq,
            Packet::PingResp => r::Packet::PingResp,
            Packet::Disconnect(_) => r::Packet::Disconnect,
            Packet::Auth(_) => unreachable!("no AUTH in 3.1.1"),
        }
    }

    pub fn check(mut p: Packet) -> Result<(), TestCaseError> {
        if let Packet::Connect(c) = &mut p {
            login_representable(c);
        }
        let expected = to_rumqttc(&p);

        // ours → rumqttc
        let mut wire = ours_encode(&p, V3);
        let bytes = wire.clone();
        let got = r::Packet::read(&mut wire, MAX);
        prop_assert!(
            got.is_ok(),
            "rumqttc refused {:02x?}: {:?}",
            &bytes[..],
            got
        );
        prop_assert_eq!(
            got.unwrap(),
            expected.clone(),
            "ours wrote {:02x?}",
            &bytes[..]
        );
        prop_assert!(wire.is_empty());

        // rumqttc → ours
        let mut wire = BytesMut::new();
        expected.write(&mut wire, MAX).unwrap();
        let bytes = wire.clone();
        prop_assert_eq!(
            &ours_decode(wire, V3),
            &p,
            "rumqttc wrote {:02x?}",
            &bytes[..]
        );
        Ok(())
    }
}

// ===========================================================================
// MQTT 5.0

mod v5 {
    use super::*;
    use rumqttc::v5::mqttbytes::v5 as r;
    use rumqttc::v5::mqttbytes::QoS as RQoS;

    pub fn qos(q: QoS) -> RQoS {
        match q {
            QoS::AtMostOnce => RQoS::AtMostOnce,
            QoS::AtLeastOnce => RQoS::AtLeastOnce,
            QoS::ExactlyOnce => RQoS::ExactlyOnce,
        }
    }

    fn some_if<T>(empty: bool, v: T) -> Option<T> {
        (!empty).then_some(v)
    }

    fn connect_props(p: &Properties) -> Option<r::ConnectProperties> {
        some_if(
            p.is_empty(),
            r::ConnectProperties {
                session_expiry_interval: p.session_expiry_interval,
                receive_maximum: p.receive_maximum,
                max_packet_size: p.maximum_packet_size,
                topic_alias_max: p.topic_alias_maximum,
                request_response_info: p.request_response_information,
                request_problem_info: p.request_problem_information,
                user_properties: p.user_properties.clone(),
                authentication_method: p.authentication_method.clone(),
                authentication_data: p.authentication_data.clone(),
            },
        )
    }

    fn will_props(p: &Properties) -> Option<r::LastWillProperties> {
        some_if(
            p.is_empty(),
            r::LastWillProperties {
                delay_interval: p.will_delay_interval,
                payload_format_indicator: p.payload_format_indicator,
                message_expiry_interval: p.message_expiry_interval,
                content_type: p.content_type.clone(),
                response_topic: p.response_topic.clone(),
                correlation_data: p.correlation_data.clone(),
                user_properties: p.user_properties.clone(),
            },
        )
    }

    fn connack_props(p: &Properties) -> Option<r::ConnAckProperties> {
        some_if(
            p.is_empty(),
            r::ConnAckProperties {
                session_expiry_interval: p.session_expiry_interval,
                receive_max: p.receive_maximum,
                max_qos: p.maximum_qos,
                retain_available: p.retain_available,
                max_packet_size: p.maximum_packet_size,
                assigned_client_identifier: p.assigned_client_identifier.clone(),
                topic_alias_max: p.topic_alias_maximum,
                reason_string: p.reason_string.clone(),
                user_properties: p.user_properties.clone(),
                wildcard_subscription_available: p.wildcard_subscription_available,
                subscription_identifiers_available: p.subscription_identifier_available,
                shared_subscription_available: p.shared_subscription_available,
                server_keep_alive: p.server_keep_alive,
                response_information: p.response_information.clone(),
                server_reference: p.server_reference.clone(),
                authentication_method: p.authentication_method.clone(),
                authentication_data: p.authentication_data.clone(),
            },
        )
    }

    fn publish_props(p: &Properties) -> Option<r::PublishProperties> {
        some_if(
            p.is_empty(),
            r::PublishProperties {
                payload_format_indicator: p.payload_format_indicator,
                message_expiry_interval: p.message_expiry_interval,
                topic_alias: p.topic_alias,
                response_topic: p.response_topic.clone(),
                correlation_data: p.correlation_data.clone(),
                user_properties: p.user_properties.clone(),
                subscription_identifiers: p
                    .subscription_identifiers
                    .iter()
                    .map(|&i| i as usize)
                    .collect(),
                content_type: p.content_type.clone(),
            },
        )
    }

    macro_rules! ack_props {
        ($ty:ident, $p:expr) => {
            some_if(
                $p.is_empty(),
                r::$ty {
                    reason_string: $p.reason_string.clone(),
                    user_properties: $p.user_properties.clone(),
                },
            )
        };
    }

    fn connack_code(reason: ReasonCode) -> r::ConnectReturnCode {
        use r::ConnectReturnCode as C;
        use ReasonCode as R;
        match reason {
            R::Success => C::Success,
            R::UnspecifiedError => C::UnspecifiedError,
            R::MalformedPacket => C::MalformedPacket,
            R::ProtocolError => C::ProtocolError,
            R::ImplementationSpecificError => C::ImplementationSpecificError,
            R::UnsupportedProtocolVersion => C::UnsupportedProtocolVersion,
            R::ClientIdentifierNotValid => C::ClientIdentifierNotValid,
            R::BadUserNameOrPassword => C::BadUserNamePassword,
            R::NotAuthorized => C::NotAuthorized,
            R::ServerUnavailable => C::ServerUnavailable,
            R::ServerBusy => C::ServerBusy,
            R::Banned => C::Banned,
            R::BadAuthenticationMethod => C::BadAuthenticationMethod,
            R::TopicNameInvalid => C::TopicNameInvalid,
            R::PacketTooLarge => C::PacketTooLarge,
            R::QuotaExceeded => C::QuotaExceeded,
            R::PayloadFormatInvalid => C::PayloadFormatInvalid,
            R::RetainNotSupported => C::RetainNotSupported,
            R::QosNotSupported => C::QoSNotSupported,
            R::UseAnotherServer => C::UseAnotherServer,
            R::ServerMoved => C::ServerMoved,
            R::ConnectionRateExceeded => C::ConnectionRateExceeded,
            other => panic!("not a CONNACK reason: {other}"),
        }
    }

    fn puback_reason(reason: ReasonCode) -> r::PubAckReason {
        use r::PubAckReason as A;
        use ReasonCode as R;
        match reason {
            R::Success => A::Success,
            R::NoMatchingSubscribers => A::NoMatchingSubscribers,
            R::UnspecifiedError => A::UnspecifiedError,
            R::ImplementationSpecificError => A::ImplementationSpecificError,
            R::NotAuthorized => A::NotAuthorized,
            R::TopicNameInvalid => A::TopicNameInvalid,
            R::PacketIdentifierInUse => A::PacketIdentifierInUse,
            R::QuotaExceeded => A::QuotaExceeded,
            R::PayloadFormatInvalid => A::PayloadFormatInvalid,
            other => panic!("not a PUBACK reason: {other}"),
        }
    }

    fn pubrec_reason(reason: ReasonCode) -> r::PubRecReason {
        use r::PubRecReason as A;
        use ReasonCode as R;
        match reason {
            R::Success => A::Success,
            R::NoMatchingSubscribers => A::NoMatchingSubscribers,
            R::UnspecifiedError => A::UnspecifiedError,
            R::ImplementationSpecificError => A::ImplementationSpecificError,
            R::NotAuthorized => A::NotAuthorized,
            R::TopicNameInvalid => A::TopicNameInvalid,
            R::PacketIdentifierInUse => A::PacketIdentifierInUse,
            R::QuotaExceeded => A::QuotaExceeded,
            R::PayloadFormatInvalid => A::PayloadFormatInvalid,
            other => panic!("not a PUBREC reason: {other}"),
        }
    }

    fn suback_reason(reason: ReasonCode) -> r::SubscribeReasonCode {
        use r::SubscribeReasonCode as S;
        use ReasonCode as R;
        match reason {
            R::Success => S::Success(RQoS::AtMostOnce),
            R::GrantedQos1 => S::Success(RQoS::AtLeastOnce),
            R::GrantedQos2 => S::Success(RQoS::ExactlyOnce),
            R::UnspecifiedError => S::Unspecified,
            R::ImplementationSpecificError => S::ImplementationSpecific,
            R::NotAuthorized => S::NotAuthorized,
            R::TopicFilterInvalid => S::TopicFilterInvalid,
            R::PacketIdentifierInUse => S::PkidInUse,
            R::QuotaExceeded => S::QuotaExceeded,
            R::SharedSubscriptionsNotSupported => S::SharedSubscriptionsNotSupported,
            R::SubscriptionIdentifiersNotSupported => S::SubscriptionIdNotSupported,
            R::WildcardSubscriptionsNotSupported => S::WildcardSubscriptionsNotSupported,
            other => panic!("not a SUBACK reason: {other}"),
        }
    }

    fn unsuback_reason(reason: ReasonCode) -> r::UnsubAckReason {
        use r::UnsubAckReason as U;
        use ReasonCode as R;
        match reason {
            R::Success => U::Success,
            R::NoSubscriptionExisted => U::NoSubscriptionExisted,
            R::UnspecifiedError => U::UnspecifiedError,
            R::ImplementationSpecificError => U::ImplementationSpecificError,
            R::NotAuthorized => U::NotAuthorized,
            R::TopicFilterInvalid => U::TopicFilterInvalid,
            R::PacketIdentifierInUse => U::PacketIdentifierInUse,
            other => panic!("not an UNSUBACK reason: {other}"),
        }
    }

    fn disconnect_reason(reason: ReasonCode) -> r::DisconnectReasonCode {
        // rumqttc's DisconnectReasonCode is repr(u8) with the spec's values.
        let code = if reason == ReasonCode::Success {
            0
        } else {
            reason as u8
        };
        r::DisconnectReasonCode::try_from(code).expect("a DISCONNECT reason")
    }

    pub fn to_rumqttc(p: &Packet) -> r::Packet {
        match p {
            Packet::Connect(c) => r::Packet::Connect(
                r::Connect {
                    keep_alive: c.keep_alive,
                    client_id: c.client_id.clone(),
                    clean_start: c.clean_start,
                    properties: connect_props(&c.properties),
                },
                c.will.as_ref().map(|w| r::LastWill {
                    topic: Bytes::from(w.topic.clone()),
                    message: w.payload.clone(),
                    qos: qos(w.qos),
                    retain: w.retain,
                    properties: will_props(&w.properties),
                }),
                (c.username.is_some() || c.password.is_some()).then(|| r::Login {
                    username: c.username.clone().unwrap_or_default(),
                    password: password_string(&c.password),
                }),
            ),
            Packet::ConnAck(c) => r::Packet::ConnAck(r::ConnAck {
                session_present: c.session_present,
                code: connack_code(c.reason),
                properties: connack_props(&c.properties),
            }),
            Packet::Publish(p) => r::Packet::Publish(r::Publish {
                dup: p.dup,
                qos: qos(p.qos),
                retain: p.retain,
                topic: p.topic.clone(),
                pkid: p.packet_id,
                payload: p.payload.clone(),
                properties: publish_props(&p.properties),
            }),
            Packet::PubAck(a) => r::Packet::PubAck(r::PubAck {
                pkid: a.packet_id,
                reason: puback_reason(a.reason),
                properties: ack_props!(PubAckProperties, a.properties),
            }),
            Packet::PubRec(a) => r::Packet::PubRec(r::PubRec {
                pkid: a.packet_id,
                reason: pubrec_reason(a.reason),
                properties: ack_props!(PubRecProperties, a.properties),
            }),
            Packet::PubRel(a) => r::Packet::PubRel(r::PubRel {
                pkid: a.packet_id,
                reason: match a.reason {
                    ReasonCode::Success => r::PubRelReason::Success,
                    _ => r::PubRelReason::PacketIdentifierNotFound,
                },
                properties: ack_props!(PubRelProperties, a.properties),
            }),
            Packet::PubComp(a) => r::Packet::PubComp(r::PubComp {
                pkid: a.packet_id,
                reason: match a.reason {
                    ReasonCode::Success => r::PubCompReason::Success,
                    _ => r::PubCompReason::PacketIdentifierNotFound,
                },
                properties: ack_props!(PubCompProperties, a.properties),
            }),
            Packet::Subscribe(s) => r::Packet::Subscribe(r::Subscribe {
                pkid: s.packet_id,
                filters: s
                    .filters
                    .iter()
                    .map(|(f, o)| r::Filter {
                        path: f.clone(),
                        qos: qos(o.qos),
                        nolocal: o.no_local,
                        preserve_retain: o.retain_as_published,
                        retain_forward_rule: match o.retain_handling {
                            RetainHandling::OnSubscribe => r::RetainForwardRule::OnEverySubscribe,
                            RetainHandling::OnNewSubscribe => r::RetainForwardRule::OnNewSubscribe,
                            RetainHandling::Never => r::RetainForwardRule::Never,
                        },
                    })
                    .collect(),
                properties: some_if(
                    s.properties.is_empty(),
                    r::SubscribeProperties {
                        id: s
                            .properties
                            .subscription_identifiers
                            .first()
                            .map(|&i| i as usize),
                        user_properties: s.properties.user_properties.clone(),
                    },
                ),
            }),
            Packet::SubAck(s) => r::Packet::SubAck(r::SubAck {
                pkid: s.packet_id,
                return_codes: s.reasons.iter().map(|&r| suback_reason(r)).collect(),
                properties: ack_props!(SubAckProperties, s.properties),
            }),
            Packet::Unsubscribe(u) => r::Packet::Unsubscribe(r::Unsubscribe {
                pkid: u.packet_id,
                filters: u.filters.clone(),
                properties: some_if(
                    u.properties.is_empty(),
                    r::UnsubscribeProperties {
                        user_properties: u.properties.user_properties.clone(),
                    },
                ),
            }),
            Packet::UnsubAck(u) => r::Packet::UnsubAck(r::UnsubAck {
                pkid: u.packet_id,
                reasons: u.reasons.iter().map(|&r| unsuback_reason(r)).collect(),
                properties: ack_props!(UnsubAckProperties, u.properties),
            }),
            Packet::PingReq => r::Packet::PingReq(r::PingReq),
            Packet::PingResp => r::Packet::PingResp(r::PingResp),
            Packet::Disconnect(d) => r::Packet::Disconnect(r::Disconnect {
                reason_code: disconnect_reason(d.reason),
                properties: some_if(
                    d.properties.is_empty(),
                    r::DisconnectProperties {
                        session_expiry_interval: d.properties.session_expiry_interval,
                        reason_string: d.properties.reason_string.clone(),
                        user_properties: d.properties.user_properties.clone(),
                        server_reference: d.properties.server_reference.clone(),
                    },
                ),
            }),
            Packet::Auth(_) => unreachable!("AUTH is not covered"),
        }
    }

    /// Rumqttc deviation 3: nothing may follow a Subscription Identifier,
    /// and no more than two of them, for rumqttc to read our properties.
    fn subscription_id_workaround(p: &mut Packet) {
        let props = match p {
            Packet::Publish(p) => &mut p.properties,
            Packet::Subscribe(s) => &mut s.properties,
            _ => return,
        };
        if !props.subscription_identifiers.is_empty() {
            props.subscription_identifiers.truncate(2);
            props.topic_alias = None;
            props.user_properties.clear();
        }
    }

    pub fn check(mut p: Packet) -> Result<(), TestCaseError> {
        if let Packet::Connect(c) = &mut p {
            login_representable(c);
        }

        // rumqttc → ours: rumqttc writes the full packet.
        let rumqttc_writes_it_right = match &p {
            // Rumqttc deviation 5.
            Packet::Disconnect(d) => d.reason == ReasonCode::Success || !d.properties.is_empty(),
            _ => true,
        };
        if rumqttc_writes_it_right {
            let expected = to_rumqttc(&p);
            let mut wire = BytesMut::new();
            expected.write(&mut wire, None).unwrap();
            let bytes = wire.clone();
            prop_assert_eq!(
                &ours_decode(wire, V5),
                &p,
                "rumqttc wrote {:02x?}",
                &bytes[..]
            );
        }

        // ours → rumqttc
        subscription_id_workaround(&mut p);
        let expected = to_rumqttc(&p);
        let mut wire = ours_encode(&p, V5);
        let bytes = wire.clone();
        let got = r::Packet::read(&mut wire, None);
        if bytes[..] == [0xE0, 0x00] {
            // Rumqttc deviation 4.
            prop_assert!(
                matches!(got, Err(rumqttc::v5::mqttbytes::Error::PayloadRequired)),
                "{:?}",
                got
            );
            return Ok(());
        }
        if bytes[0] == 0xE0 && bytes[1] == 1 {
            // Rumqttc deviation 5.
            prop_assert!(
                matches!(
                    got,
                    Err(rumqttc::v5::mqttbytes::Error::InsufficientBytes(1))
                ),
                "{:?}",
                got
            );
            return Ok(());
        }
        prop_assert!(
            got.is_ok(),
            "rumqttc refused {:02x?}: {:?}",
            &bytes[..],
            got
        );
        prop_assert_eq!(got.unwrap(), expected, "ours wrote {:02x?}", &bytes[..]);
        prop_assert!(wire.is_empty());
        Ok(())
    }
}

/// The packet types both codecs cover (AUTH is left out: rumqttc's
/// `Packet::read` does not read it).
fn covered(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    prop_oneof![
        connect(v).prop_map(|c| Packet::Connect(Box::new(c))),
        connack(v).prop_map(Packet::ConnAck),
        publish(v).prop_map(Packet::Publish),
        ack(v, PUBACK_REASONS).prop_map(Packet::PubAck),
        ack(v, PUBACK_REASONS).prop_map(Packet::PubRec),
        ack(v, PUBREL_REASONS).prop_map(Packet::PubRel),
        ack(v, PUBREL_REASONS).prop_map(Packet::PubComp),
        subscribe(v).prop_map(Packet::Subscribe),
        suback(v).prop_map(Packet::SubAck),
        unsubscribe(v).prop_map(Packet::Unsubscribe),
        unsuback(v).prop_map(Packet::UnsubAck),
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        disconnect(v).prop_map(Packet::Disconnect),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn differential_v311(p in covered(V3)) {
        v4::check(p)?;
    }

    #[test]
    fn differential_v5(p in covered(V5)) {
        v5::check(p)?;
    }
}
