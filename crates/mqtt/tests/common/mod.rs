//! Shared proptest strategies: every packet type, with contents valid for
//! the protocol version, and every property a packet may carry per the
//! MQTT 5 table (§2.2.2.2).
//!
//! Reason-code lists are written out from the spec tables (§3.x.2.1 of each
//! packet), not derived from `ReasonCode::allowed_in`, so that a mistake in the
//! codec's table shows up as a failing round trip.

#![allow(dead_code)]

pub mod fuzz_body;

use bytes::Bytes;
use kumo_mqtt::*;
use proptest::collection::vec;
use proptest::option::of as opt;
use proptest::prelude::*;

use ReasonCode as R;

/// Number of proptest cases per property; keeps `cargo test -p kumo-mqtt` fast.
pub const CASES: u32 = 384;

pub fn config() -> ProptestConfig {
    ProptestConfig {
        cases: CASES,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Reason codes, from the spec tables.

/// MQTT 5 §3.2.2.2.
pub const CONNACK_REASONS: &[ReasonCode] = &[
    R::Success,
    R::UnspecifiedError,
    R::MalformedPacket,
    R::ProtocolError,
    R::ImplementationSpecificError,
    R::UnsupportedProtocolVersion,
    R::ClientIdentifierNotValid,
    R::BadUserNameOrPassword,
    R::NotAuthorized,
    R::ServerUnavailable,
    R::ServerBusy,
    R::Banned,
    R::BadAuthenticationMethod,
    R::TopicNameInvalid,
    R::PacketTooLarge,
    R::QuotaExceeded,
    R::PayloadFormatInvalid,
    R::RetainNotSupported,
    R::QosNotSupported,
    R::UseAnotherServer,
    R::ServerMoved,
    R::ConnectionRateExceeded,
];
/// MQTT 3.1.1 §3.2.2.3 return codes 0..=5, as the reasons they decode to.
pub const CONNACK_V3_REASONS: &[ReasonCode] = &[
    R::Success,
    R::UnsupportedProtocolVersion,
    R::ClientIdentifierNotValid,
    R::ServerUnavailable,
    R::BadUserNameOrPassword,
    R::NotAuthorized,
];
/// MQTT 5 §3.4.2.1 (PUBACK) and §3.5.2.1 (PUBREC).
pub const PUBACK_REASONS: &[ReasonCode] = &[
    R::Success,
    R::NoMatchingSubscribers,
    R::UnspecifiedError,
    R::ImplementationSpecificError,
    R::NotAuthorized,
    R::TopicNameInvalid,
    R::PacketIdentifierInUse,
    R::QuotaExceeded,
    R::PayloadFormatInvalid,
];
/// MQTT 5 §3.6.2.1 (PUBREL) and §3.7.2.1 (PUBCOMP).
pub const PUBREL_REASONS: &[ReasonCode] = &[R::Success, R::PacketIdentifierNotFound];
/// MQTT 5 §3.9.3.
pub const SUBACK_REASONS: &[ReasonCode] = &[
    R::Success,
    R::GrantedQos1,
    R::GrantedQos2,
    R::UnspecifiedError,
    R::ImplementationSpecificError,
    R::NotAuthorized,
    R::TopicFilterInvalid,
    R::PacketIdentifierInUse,
    R::QuotaExceeded,
    R::SharedSubscriptionsNotSupported,
    R::SubscriptionIdentifiersNotSupported,
    R::WildcardSubscriptionsNotSupported,
];
/// MQTT 3.1.1 §3.9.3: granted QoS 0/1/2 or 0x80 Failure.
pub const SUBACK_V3_REASONS: &[ReasonCode] = &[
    R::Success,
    R::GrantedQos1,
    R::GrantedQos2,
    R::UnspecifiedError,
];
/// MQTT 5 §3.11.3.
pub const UNSUBACK_REASONS: &[ReasonCode] = &[
    R::Success,
    R::NoSubscriptionExisted,
    R::UnspecifiedError,
    R::ImplementationSpecificError,
    R::NotAuthorized,
    R::TopicFilterInvalid,
    R::PacketIdentifierInUse,
];
/// MQTT 5 §3.14.2.1.
pub const DISCONNECT_REASONS: &[ReasonCode] = &[
    R::Success,
    R::DisconnectWithWill,
    R::UnspecifiedError,
    R::MalformedPacket,
    R::ProtocolError,
    R::ImplementationSpecificError,
    R::NotAuthorized,
    R::ServerBusy,
    R::ServerShuttingDown,
    R::KeepAliveTimeout,
    R::SessionTakenOver,
    R::TopicFilterInvalid,
    R::TopicNameInvalid,
    R::ReceiveMaximumExceeded,
    R::TopicAliasInvalid,
    R::PacketTooLarge,
    R::MessageRateTooHigh,
    R::QuotaExceeded,
    R::AdministrativeAction,
    R::PayloadFormatInvalid,
    R::RetainNotSupported,
    R::QosNotSupported,
    R::UseAnotherServer,
    R::ServerMoved,
    R::SharedSubscriptionsNotSupported,
    R::ConnectionRateExceeded,
    R::MaximumConnectTime,
    R::SubscriptionIdentifiersNotSupported,
    R::WildcardSubscriptionsNotSupported,
];
/// MQTT 5 §3.15.2.1.
pub const AUTH_REASONS: &[ReasonCode] = &[R::Success, R::ContinueAuthentication, R::ReAuthenticate];

pub fn reason(list: &'static [ReasonCode]) -> impl Strategy<Value = ReasonCode> + Clone {
    proptest::sample::select(list)
}

// ---------------------------------------------------------------------------
// Primitive values.

/// An MQTT UTF-8 string (§1.5.4): any scalar values but U+0000.
pub fn string() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        3 => "[a-zA-Z0-9_ ./-]{0,12}",
        1 => "[^\u{0}]{0,8}",
    ]
}

pub fn binary() -> impl Strategy<Value = Bytes> + Clone {
    vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

/// One level of a topic name: no wildcards, no separator, no NUL.
fn level() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        4 => "[a-z0-9_$-]{0,6}",
        1 => "[^\u{0}+#/]{0,4}",
    ]
}

/// A valid, non-empty topic name.
pub fn topic_name() -> impl Strategy<Value = String> + Clone {
    vec(level(), 1..5)
        .prop_map(|l| l.join("/"))
        .prop_filter("topic names are not empty", |s| !s.is_empty())
}

/// A valid topic filter, sometimes shared, sometimes with wildcards.
pub fn topic_filter() -> impl Strategy<Value = String> + Clone {
    let lvl = prop_oneof![3 => level(), 1 => Just("+".to_owned())];
    (vec(lvl, 1..5), any::<bool>(), opt("[a-z0-9]{1,5}"))
        .prop_map(|(mut levels, hash, share)| {
            if hash {
                levels.push("#".into());
            }
            let f = levels.join("/");
            match share {
                Some(g) => format!("$share/{g}/{f}"),
                None => f,
            }
        })
        .prop_filter("filters are not empty", |s| !s.is_empty())
        .prop_filter("valid", |s| TopicFilter::new(s).is_ok())
}

pub fn qos() -> impl Strategy<Value = QoS> + Clone {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

pub fn packet_id() -> impl Strategy<Value = u16> + Clone {
    1..=u16::MAX
}

fn flag() -> impl Strategy<Value = Option<u8>> + Clone {
    opt(0u8..=1)
}

fn user_properties() -> impl Strategy<Value = Vec<(String, String)>> + Clone {
    vec((string(), string()), 0..3)
}

fn sub_id() -> impl Strategy<Value = u32> + Clone {
    prop_oneof![
        Just(1u32),
        Just(127),
        Just(128),
        Just(16_383),
        Just(16_384),
        Just(2_097_151),
        Just(2_097_152),
        Just(MAX_VARINT),
        1..=MAX_VARINT,
    ]
}

// ---------------------------------------------------------------------------
// Properties, per packet (§2.2.2.2).

pub fn connect_props() -> BoxedStrategy<Properties> {
    (
        opt(any::<u32>()),
        opt(1..=u16::MAX),
        opt(1..=u32::MAX),
        opt(any::<u16>()),
        flag(),
        flag(),
        user_properties(),
        opt(string()),
        opt(binary()),
    )
        .prop_map(|(sei, rm, mps, tam, rri, rpi, up, am, ad)| {
            Properties::from(PropertySet {
                session_expiry_interval: sei,
                receive_maximum: rm,
                maximum_packet_size: mps,
                topic_alias_maximum: tam,
                request_response_information: rri,
                request_problem_information: rpi,
                user_properties: up,
                authentication_method: am,
                authentication_data: ad,
                ..PropertySet::default()
            })
        })
        .boxed()
}

pub fn connack_props() -> BoxedStrategy<Properties> {
    (
        (
            opt(any::<u32>()),
            opt(1..=u16::MAX),
            flag(),
            flag(),
            opt(1..=u32::MAX),
            opt(string()),
            opt(any::<u16>()),
            opt(string()),
            user_properties(),
        ),
        (
            flag(),
            flag(),
            flag(),
            opt(any::<u16>()),
            opt(string()),
            opt(string()),
            opt(string()),
            opt(binary()),
        ),
    )
        .prop_map(
            |((sei, rm, mq, ra, mps, aci, tam, rs, up), (wsa, sia, ssa, ska, ri, sr, am, ad))| {
                Properties::from(PropertySet {
                    session_expiry_interval: sei,
                    receive_maximum: rm,
                    maximum_qos: mq,
                    retain_available: ra,
                    maximum_packet_size: mps,
                    assigned_client_identifier: aci,
                    topic_alias_maximum: tam,
                    reason_string: rs,
                    user_properties: up,
                    wildcard_subscription_available: wsa,
                    subscription_identifier_available: sia,
                    shared_subscription_available: ssa,
                    server_keep_alive: ska,
                    response_information: ri,
                    server_reference: sr,
                    authentication_method: am,
                    authentication_data: ad,
                    ..PropertySet::default()
                })
            },
        )
        .boxed()
}

/// PUBLISH properties; `sub_ids` says whether Subscription Identifiers
/// (server-to-client only) may appear.
pub fn publish_props_with(sub_ids: bool) -> BoxedStrategy<Properties> {
    let ids = if sub_ids {
        vec(sub_id(), 0..3).boxed()
    } else {
        Just(Vec::new()).boxed()
    };
    (
        flag(),
        opt(any::<u32>()),
        opt(1..=u16::MAX),
        opt(topic_name()),
        opt(binary()),
        user_properties(),
        ids,
        opt(string()),
    )
        .prop_map(|(pfi, mei, ta, rt, cd, up, si, ct)| {
            Properties::from(PropertySet {
                payload_format_indicator: pfi,
                message_expiry_interval: mei,
                topic_alias: ta,
                response_topic: rt,
                correlation_data: cd,
                user_properties: up,
                subscription_identifiers: si,
                content_type: ct,
                ..PropertySet::default()
            })
        })
        .boxed()
}

pub fn publish_props() -> BoxedStrategy<Properties> {
    publish_props_with(true)
}

pub fn will_props() -> BoxedStrategy<Properties> {
    (
        opt(any::<u32>()),
        flag(),
        opt(any::<u32>()),
        opt(string()),
        opt(topic_name()),
        opt(binary()),
        user_properties(),
    )
        .prop_map(|(wdi, pfi, mei, ct, rt, cd, up)| {
            Properties::from(PropertySet {
                will_delay_interval: wdi,
                payload_format_indicator: pfi,
                message_expiry_interval: mei,
                content_type: ct,
                response_topic: rt,
                correlation_data: cd,
                user_properties: up,
                ..PropertySet::default()
            })
        })
        .boxed()
}

/// PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK: Reason String and
/// User Properties.
pub fn ack_props() -> BoxedStrategy<Properties> {
    (opt(string()), user_properties())
        .prop_map(|(rs, up)| {
            Properties::from(PropertySet {
                reason_string: rs,
                user_properties: up,
                ..PropertySet::default()
            })
        })
        .boxed()
}

pub fn subscribe_props() -> BoxedStrategy<Properties> {
    (opt(sub_id()), user_properties())
        .prop_map(|(si, up)| {
            Properties::from(PropertySet {
                subscription_identifiers: si.into_iter().collect(),
                user_properties: up,
                ..PropertySet::default()
            })
        })
        .boxed()
}

pub fn unsubscribe_props() -> BoxedStrategy<Properties> {
    user_properties()
        .prop_map(|up| {
            Properties::from(PropertySet {
                user_properties: up,
                ..PropertySet::default()
            })
        })
        .boxed()
}

pub fn disconnect_props() -> BoxedStrategy<Properties> {
    (
        opt(any::<u32>()),
        opt(string()),
        user_properties(),
        opt(string()),
    )
        .prop_map(|(sei, rs, up, sr)| {
            Properties::from(PropertySet {
                session_expiry_interval: sei,
                reason_string: rs,
                user_properties: up,
                server_reference: sr,
                ..PropertySet::default()
            })
        })
        .boxed()
}

pub fn auth_props() -> BoxedStrategy<Properties> {
    (
        opt(string()),
        opt(binary()),
        opt(string()),
        user_properties(),
    )
        .prop_map(|(am, ad, rs, up)| {
            Properties::from(PropertySet {
                authentication_method: am,
                authentication_data: ad,
                reason_string: rs,
                user_properties: up,
                ..PropertySet::default()
            })
        })
        .boxed()
}

/// `props` for MQTT 5, empty for 3.1.1.
fn props_for(v: ProtocolVersion, props: BoxedStrategy<Properties>) -> BoxedStrategy<Properties> {
    if v.is_v5() {
        props
    } else {
        Just(Properties::default()).boxed()
    }
}

// ---------------------------------------------------------------------------
// Packets.

pub fn will(v: ProtocolVersion) -> BoxedStrategy<Will> {
    (
        topic_name(),
        binary(),
        qos(),
        any::<bool>(),
        props_for(v, will_props()),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        })
        .boxed()
}

pub fn connect(v: ProtocolVersion) -> BoxedStrategy<Connect> {
    let protocol = if v.is_v5() {
        Just(ProtocolVersion::V5).boxed()
    } else {
        prop_oneof![4 => Just(ProtocolVersion::V311), 1 => Just(ProtocolVersion::V31)].boxed()
    };
    (
        protocol,
        any::<bool>(),
        any::<u16>(),
        string(),
        opt(will(v)),
        opt(string()),
        opt(binary()),
        props_for(v, connect_props()),
    )
        .prop_map(
            move |(
                protocol,
                clean_start,
                keep_alive,
                client_id,
                will,
                username,
                password,
                properties,
            )| {
                // 3.1.1 §3.1.2.9: no password without a user name (allowed in 5.0).
                let password = if v.is_v5() || username.is_some() {
                    password
                } else {
                    None
                };
                Connect {
                    protocol,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                }
            },
        )
        .boxed()
}

pub fn connack(v: ProtocolVersion) -> BoxedStrategy<ConnAck> {
    let reasons = if v.is_v5() {
        CONNACK_REASONS
    } else {
        CONNACK_V3_REASONS
    };
    (
        any::<bool>(),
        reason(reasons),
        props_for(v, connack_props()),
    )
        .prop_map(|(sp, reason, properties)| ConnAck {
            // Session Present must be 0 with a failing reason (§3.2.2.2).
            session_present: sp && reason == ReasonCode::Success,
            reason,
            properties,
        })
        .boxed()
}

pub fn publish_with(
    v: ProtocolVersion,
    props: BoxedStrategy<Properties>,
) -> BoxedStrategy<Publish> {
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        topic_name(),
        packet_id(),
        props_for(v, props),
        vec(any::<u8>(), 0..64),
        any::<bool>(),
    )
        .prop_map(
            move |(qos, dup, retain, topic, pid, properties, payload, alias_only)| {
                let mut topic = Bytes::from(topic);
                // MQTT 5: a PUBLISH with a Topic Alias may leave the name empty.
                if v.is_v5() && alias_only && properties.topic_alias.is_some() {
                    topic = Bytes::new();
                }
                Publish {
                    dup: dup && qos != QoS::AtMostOnce,
                    qos,
                    retain,
                    topic,
                    packet_id: if qos == QoS::AtMostOnce { 0 } else { pid },
                    properties,
                    payload: Bytes::from(payload),
                }
            },
        )
        .boxed()
}

pub fn publish(v: ProtocolVersion) -> BoxedStrategy<Publish> {
    publish_with(v, publish_props())
}

/// PUBACK/PUBREC (`PUBACK_REASONS`) or PUBREL/PUBCOMP (`PUBREL_REASONS`).
pub fn ack(v: ProtocolVersion, reasons: &'static [ReasonCode]) -> BoxedStrategy<Ack> {
    if !v.is_v5() {
        return packet_id().prop_map(Ack::new).boxed();
    }
    (
        packet_id(),
        reason(reasons),
        prop_oneof![Just(Properties::default()), ack_props()],
    )
        .prop_map(|(packet_id, reason, properties)| Ack {
            packet_id,
            reason,
            properties,
        })
        .boxed()
}

pub fn sub_options(v: ProtocolVersion) -> BoxedStrategy<SubscriptionOptions> {
    if !v.is_v5() {
        return qos()
            .prop_map(|qos| SubscriptionOptions {
                qos,
                ..Default::default()
            })
            .boxed();
    }
    let rh = prop_oneof![
        Just(RetainHandling::OnSubscribe),
        Just(RetainHandling::OnNewSubscribe),
        Just(RetainHandling::Never)
    ];
    (qos(), any::<bool>(), any::<bool>(), rh)
        .prop_map(
            |(qos, no_local, retain_as_published, retain_handling)| SubscriptionOptions {
                qos,
                no_local,
                retain_as_published,
                retain_handling,
            },
        )
        .boxed()
}

pub fn subscribe(v: ProtocolVersion) -> BoxedStrategy<Subscribe> {
    (
        packet_id(),
        props_for(v, subscribe_props()),
        vec((topic_filter(), sub_options(v)), 1..4),
    )
        .prop_map(|(packet_id, properties, filters)| Subscribe {
            packet_id,
            properties,
            filters,
        })
        .boxed()
}

pub fn suback(v: ProtocolVersion) -> BoxedStrategy<SubAck> {
    let reasons = if v.is_v5() {
        SUBACK_REASONS
    } else {
        SUBACK_V3_REASONS
    };
    (
        packet_id(),
        props_for(v, ack_props()),
        vec(reason(reasons), 1..4),
    )
        .prop_map(|(packet_id, properties, reasons)| SubAck {
            packet_id,
            properties,
            reasons,
        })
        .boxed()
}

pub fn unsubscribe(v: ProtocolVersion) -> BoxedStrategy<Unsubscribe> {
    (
        packet_id(),
        props_for(v, unsubscribe_props()),
        vec(topic_filter(), 1..4),
    )
        .prop_map(|(packet_id, properties, filters)| Unsubscribe {
            packet_id,
            properties,
            filters,
        })
        .boxed()
}

pub fn unsuback(v: ProtocolVersion) -> BoxedStrategy<SubAck> {
    if !v.is_v5() {
        // 3.1.1 UNSUBACK is only a packet identifier.
        return packet_id()
            .prop_map(|packet_id| SubAck {
                packet_id,
                properties: Properties::default(),
                reasons: vec![],
            })
            .boxed();
    }
    (
        packet_id(),
        ack_props(),
        vec(reason(UNSUBACK_REASONS), 1..4),
    )
        .prop_map(|(packet_id, properties, reasons)| SubAck {
            packet_id,
            properties,
            reasons,
        })
        .boxed()
}

pub fn disconnect(v: ProtocolVersion) -> BoxedStrategy<Disconnect> {
    if !v.is_v5() {
        return Just(Disconnect::new(ReasonCode::Success)).boxed();
    }
    (
        reason(DISCONNECT_REASONS),
        prop_oneof![Just(Properties::default()), disconnect_props()],
    )
        .prop_map(|(reason, properties)| Disconnect { reason, properties })
        .boxed()
}

pub fn auth() -> BoxedStrategy<Auth> {
    (
        reason(AUTH_REASONS),
        prop_oneof![Just(Properties::default()), auth_props()],
    )
        .prop_map(|(reason, properties)| Auth { reason, properties })
        .boxed()
}

/// Any packet valid for `v`.
pub fn packet(v: ProtocolVersion) -> BoxedStrategy<Packet> {
    let mut all: Vec<BoxedStrategy<Packet>> = vec![
        connect(v)
            .prop_map(|c| Packet::Connect(Box::new(c)))
            .boxed(),
        connack(v).prop_map(Packet::ConnAck).boxed(),
        publish(v).prop_map(Packet::Publish).boxed(),
        ack(v, PUBACK_REASONS).prop_map(Packet::PubAck).boxed(),
        ack(v, PUBACK_REASONS).prop_map(Packet::PubRec).boxed(),
        ack(v, PUBREL_REASONS).prop_map(Packet::PubRel).boxed(),
        ack(v, PUBREL_REASONS).prop_map(Packet::PubComp).boxed(),
        subscribe(v).prop_map(Packet::Subscribe).boxed(),
        suback(v).prop_map(Packet::SubAck).boxed(),
        unsubscribe(v).prop_map(Packet::Unsubscribe).boxed(),
        unsuback(v).prop_map(Packet::UnsubAck).boxed(),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect(v).prop_map(Packet::Disconnect).boxed(),
    ];
    if v.is_v5() {
        all.push(auth().prop_map(Packet::Auth).boxed());
    }
    proptest::strategy::Union::new(all).boxed()
}

pub fn encode_to_vec(p: &Packet, v: ProtocolVersion) -> Vec<u8> {
    let mut out = bytes::BytesMut::new();
    encode(p, v, &mut out);
    out.to_vec()
}
