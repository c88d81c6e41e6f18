//! Packets to bytes. Lengths are computed first so each packet is written
//! in one pass, payload included, with no intermediate buffer.

use bytes::{BufMut, BytesMut};

use crate::wire::{put_binary, put_varint, varint_len};
use crate::*;

/// Append `packet`, encoded for `version`, to `out`.
pub fn encode(packet: &Packet, version: ProtocolVersion, out: &mut BytesMut) {
    let v5 = is_v5(packet, version);
    let body = body_len(packet, v5);
    out.reserve(1 + varint_len(body as u32) + body);
    out.put_u8(first_byte(packet));
    put_varint(out, body as u32);
    write_body(packet, v5, out);
}

/// A PUBLISH by reference: lets a broker encode a message it keeps in its
/// own form without building (and cloning into) a [`Publish`].
#[derive(Debug, Clone, Copy)]
pub struct PublishRef<'a> {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    pub topic: &'a [u8],
    pub packet_id: u16,
    pub properties: &'a Properties,
    pub payload: &'a [u8],
}

impl<'a> From<&'a Publish> for PublishRef<'a> {
    fn from(p: &'a Publish) -> Self {
        PublishRef {
            dup: p.dup,
            qos: p.qos,
            retain: p.retain,
            topic: &p.topic,
            packet_id: p.packet_id,
            properties: &p.properties,
            payload: &p.payload,
        }
    }
}

/// Append a PUBLISH and return the offset, from the start of the appended
/// packet, of its two packet-identifier bytes (None for QoS 0). A broker
/// encodes a message once and patches the identifier per subscriber.
pub fn encode_publish(p: &Publish, version: ProtocolVersion, out: &mut BytesMut) -> Option<usize> {
    encode_publish_ref(&PublishRef::from(p), version, out)
}

/// [`encode_publish`] for a borrowed PUBLISH.
pub fn encode_publish_ref(
    p: &PublishRef<'_>,
    version: ProtocolVersion,
    out: &mut BytesMut,
) -> Option<usize> {
    let body = publish_len(p, version.is_v5());
    let header = 1 + varint_len(body as u32);
    out.reserve(header + body);
    out.put_u8(publish_first_byte(p));
    put_varint(out, body as u32);
    write_publish(p, version.is_v5(), out);
    (p.qos != QoS::AtMostOnce).then_some(header + 2 + p.topic.len())
}

/// Size on the wire of a borrowed PUBLISH, fixed header included.
pub fn publish_ref_len(p: &PublishRef<'_>, version: ProtocolVersion) -> usize {
    let body = publish_len(p, version.is_v5());
    1 + varint_len(body as u32) + body
}

/// The size of `packet` on the wire, fixed header included.
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> usize {
    let body = body_len(packet, is_v5(packet, version));
    1 + varint_len(body as u32) + body
}

/// Whether to write MQTT 5 fields. A CONNECT says its own protocol level (as
/// `decode` reads it), so its properties follow `Connect::protocol`, not the
/// connection's version: otherwise a level-5 CONNECT encoded with `V311`
/// would omit the property lengths its level byte promises.
fn is_v5(packet: &Packet, version: ProtocolVersion) -> bool {
    match packet {
        Packet::Connect(c) => c.protocol.is_v5(),
        _ => version.is_v5(),
    }
}

fn publish_first_byte(p: &PublishRef<'_>) -> u8 {
    (PacketType::Publish as u8) << 4
        | (u8::from(p.dup) << 3)
        | ((p.qos as u8) << 1)
        | u8::from(p.retain)
}

fn first_byte(packet: &Packet) -> u8 {
    let kind = packet.packet_type();
    match packet {
        Packet::Publish(p) => publish_first_byte(&p.into()),
        Packet::PubRel(_) | Packet::Subscribe(_) | Packet::Unsubscribe(_) => {
            (kind as u8) << 4 | 0b0010
        }
        _ => (kind as u8) << 4,
    }
}

fn props_len(p: &Properties, v5: bool) -> usize {
    if v5 {
        p.encoded_len()
    } else {
        0
    }
}

fn publish_len(p: &PublishRef<'_>, v5: bool) -> usize {
    2 + p.topic.len()
        + if p.qos == QoS::AtMostOnce { 0 } else { 2 }
        + props_len(p.properties, v5)
        + p.payload.len()
}

/// PUBACK-like packets: the reason and properties may be left out when
/// they are Success / empty (§3.4.2.1).
fn ack_len(a: &Ack, v5: bool) -> usize {
    if !v5 || (a.reason == ReasonCode::Success && a.properties.is_empty()) {
        2
    } else if a.properties.is_empty() {
        3
    } else {
        3 + a.properties.encoded_len()
    }
}

fn body_len(packet: &Packet, v5: bool) -> usize {
    match packet {
        Packet::Connect(c) => {
            let proto = if c.protocol == ProtocolVersion::V31 {
                8
            } else {
                6
            };
            let mut n = proto + 1 + 1 + 2 + props_len(&c.properties, v5) + 2 + c.client_id.len();
            if let Some(w) = &c.will {
                n += props_len(&w.properties, v5) + 2 + w.topic.len() + 2 + w.payload.len();
            }
            n += c.username.as_ref().map_or(0, |u| 2 + u.len());
            n += c.password.as_ref().map_or(0, |p| 2 + p.len());
            n
        }
        Packet::ConnAck(c) => 2 + props_len(&c.properties, v5),
        Packet::Publish(p) => publish_len(&p.into(), v5),
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            ack_len(a, v5)
        }
        Packet::Subscribe(s) => {
            2 + props_len(&s.properties, v5)
                + s.filters.iter().map(|(f, _)| 3 + f.len()).sum::<usize>()
        }
        Packet::SubAck(s) => 2 + props_len(&s.properties, v5) + s.reasons.len(),
        Packet::UnsubAck(s) => {
            if v5 {
                2 + s.properties.encoded_len() + s.reasons.len()
            } else {
                2
            }
        }
        Packet::Unsubscribe(u) => {
            2 + props_len(&u.properties, v5) + u.filters.iter().map(|f| 2 + f.len()).sum::<usize>()
        }
        Packet::PingReq | Packet::PingResp => 0,
        Packet::Disconnect(d) => {
            if !v5 || (d.reason == ReasonCode::Success && d.properties.is_empty()) {
                0
            } else if d.properties.is_empty() {
                1
            } else {
                1 + d.properties.encoded_len()
            }
        }
        Packet::Auth(a) => {
            if a.reason == ReasonCode::Success && a.properties.is_empty() {
                0
            } else {
                1 + a.properties.encoded_len()
            }
        }
    }
}

fn write_publish(p: &PublishRef<'_>, v5: bool, out: &mut BytesMut) {
    put_binary(out, p.topic);
    if p.qos != QoS::AtMostOnce {
        out.put_u16(p.packet_id);
    }
    if v5 {
        p.properties.write(out);
    }
    out.extend_from_slice(p.payload);
}

fn write_body(packet: &Packet, v5: bool, out: &mut BytesMut) {
    match packet {
        Packet::Connect(c) => {
            match c.protocol {
                ProtocolVersion::V31 => put_binary(out, b"MQIsdp"),
                _ => put_binary(out, b"MQTT"),
            }
            out.put_u8(c.protocol.level());
            let mut flags = u8::from(c.clean_start) << 1;
            if let Some(w) = &c.will {
                flags |= 0x04 | ((w.qos as u8) << 3) | (u8::from(w.retain) << 5);
            }
            if c.password.is_some() {
                flags |= 0x40;
            }
            if c.username.is_some() {
                flags |= 0x80;
            }
            out.put_u8(flags);
            out.put_u16(c.keep_alive);
            if v5 {
                c.properties.write(out);
            }
            put_binary(out, c.client_id.as_bytes());
            if let Some(w) = &c.will {
                if v5 {
                    w.properties.write(out);
                }
                put_binary(out, w.topic.as_bytes());
                put_binary(out, &w.payload);
            }
            if let Some(u) = &c.username {
                put_binary(out, u.as_bytes());
            }
            if let Some(p) = &c.password {
                put_binary(out, p);
            }
        }
        Packet::ConnAck(c) => {
            out.put_u8(u8::from(c.session_present));
            if v5 {
                out.put_u8(c.reason as u8);
                c.properties.write(out);
            } else {
                out.put_u8(c.reason.to_v3_connack());
            }
        }
        Packet::Publish(p) => write_publish(&p.into(), v5, out),
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            out.put_u16(a.packet_id);
            match ack_len(a, v5) {
                2 => {}
                3 => out.put_u8(a.reason as u8),
                _ => {
                    out.put_u8(a.reason as u8);
                    a.properties.write(out);
                }
            }
        }
        Packet::Subscribe(s) => {
            out.put_u16(s.packet_id);
            if v5 {
                s.properties.write(out);
            }
            for (f, o) in &s.filters {
                put_binary(out, f.as_bytes());
                // MQTT 3.1.1 has only the QoS bits.
                out.put_u8(if v5 { o.to_byte() } else { o.qos as u8 });
            }
        }
        Packet::SubAck(s) => {
            out.put_u16(s.packet_id);
            if v5 {
                s.properties.write(out);
                out.extend(s.reasons.iter().map(|r| *r as u8));
            } else {
                out.extend(s.reasons.iter().map(|r| r.to_v3_suback()));
            }
        }
        Packet::UnsubAck(s) => {
            out.put_u16(s.packet_id);
            if v5 {
                s.properties.write(out);
                out.extend(s.reasons.iter().map(|r| *r as u8));
            }
        }
        Packet::Unsubscribe(u) => {
            out.put_u16(u.packet_id);
            if v5 {
                u.properties.write(out);
            }
            for f in &u.filters {
                put_binary(out, f.as_bytes());
            }
        }
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(d) => {
            let n = body_len(packet, v5);
            if n >= 1 {
                out.put_u8(d.reason as u8);
            }
            if n > 1 {
                d.properties.write(out);
            }
        }
        Packet::Auth(a) => {
            if body_len(packet, v5) > 0 {
                out.put_u8(a.reason as u8);
                a.properties.write(out);
            }
        }
    }
}
