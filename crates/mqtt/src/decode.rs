//! Bytes to packets. Every check the specs make of a packet's form happens
//! here, so the broker only ever sees well-formed packets.

use bytes::{Buf, Bytes, BytesMut};

use crate::properties::Scope;
use crate::wire::{self, check_utf8, Result};
use crate::*;

/// Most `decode` reserves ahead for a packet body still to come.
const MAX_RESERVE: usize = 64 * 1024;

/// Decode one packet from the front of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed; the bytes stay in `buf`.
/// A packet whose fixed header announces more than `max_packet_size` bytes
/// (header included) is refused as soon as the header is readable, before its
/// body is buffered. `version` is the protocol the connection speaks (any
/// value for the CONNECT packet, which says its own).
pub fn decode(
    buf: &mut BytesMut,
    version: ProtocolVersion,
    max_packet_size: usize,
) -> Result<Option<Packet>> {
    let Some((first, remaining, header_len)) = wire::peek_fixed_header(buf)? else {
        return Ok(None);
    };
    let total = header_len + remaining;
    if total > max_packet_size {
        return Err(DecodeError::PacketTooLarge {
            size: total,
            max: max_packet_size,
        });
    }
    if buf.len() < total {
        // Capped: a 5-byte header announcing 256 MB must not make us
        // allocate 256 MB before any of the body has arrived.
        buf.reserve((total - buf.len()).min(MAX_RESERVE));
        return Ok(None);
    }
    let mut body = buf.split_to(total).freeze();
    body.advance(header_len);
    let packet = decode_body(first, body, version)?;
    Ok(Some(packet))
}

/// The protocol level a buffered CONNECT asks for, if it can be read, so a
/// server can answer a broken CONNECT in the right dialect.
pub fn decode_connect_version(buf: &[u8]) -> Option<ProtocolVersion> {
    let (first, _, header_len) = wire::peek_fixed_header(buf).ok()??;
    if first >> 4 != PacketType::Connect as u8 {
        return None;
    }
    let rest = buf.get(header_len..)?;
    let name_len = u16::from_be_bytes([*rest.first()?, *rest.get(1)?]) as usize;
    let name = rest.get(2..2 + name_len)?;
    let level = *rest.get(2 + name_len)?;
    protocol(name, level)
}

fn protocol(name: &[u8], level: u8) -> Option<ProtocolVersion> {
    match (name, level) {
        (b"MQTT", 4) => Some(ProtocolVersion::V311),
        (b"MQTT", 5) => Some(ProtocolVersion::V5),
        (b"MQIsdp", 3) => Some(ProtocolVersion::V31),
        _ => None,
    }
}

fn decode_body(first: u8, mut b: Bytes, v: ProtocolVersion) -> Result<Packet> {
    let kind =
        PacketType::from_u8(first >> 4).ok_or(DecodeError::Malformed("reserved packet type 0"))?;
    let flags = first & 0x0F;
    let expected_flags = match kind {
        PacketType::Publish => flags,
        PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => 0b0010,
        _ => 0,
    };
    if flags != expected_flags {
        return Err(DecodeError::Malformed("invalid fixed header flags"));
    }
    let v5 = v.is_v5();
    let packet = match kind {
        PacketType::Connect => Packet::Connect(Box::new(connect(&mut b)?)),
        PacketType::ConnAck => Packet::ConnAck(connack(&mut b, v5)?),
        PacketType::Publish => Packet::Publish(publish(flags, &mut b, v5)?),
        PacketType::PubAck => Packet::PubAck(ack(kind, &mut b, v5)?),
        PacketType::PubRec => Packet::PubRec(ack(kind, &mut b, v5)?),
        PacketType::PubRel => Packet::PubRel(ack(kind, &mut b, v5)?),
        PacketType::PubComp => Packet::PubComp(ack(kind, &mut b, v5)?),
        PacketType::Subscribe => Packet::Subscribe(subscribe(&mut b, v5)?),
        PacketType::SubAck => Packet::SubAck(suback(kind, &mut b, v5)?),
        PacketType::Unsubscribe => Packet::Unsubscribe(unsubscribe(&mut b, v5)?),
        PacketType::UnsubAck => Packet::UnsubAck(suback(kind, &mut b, v5)?),
        PacketType::PingReq => Packet::PingReq,
        PacketType::PingResp => Packet::PingResp,
        PacketType::Disconnect => Packet::Disconnect(disconnect(&mut b, v5)?),
        PacketType::Auth => {
            if !v5 {
                return Err(DecodeError::Malformed("AUTH is not an MQTT 3.1.1 packet"));
            }
            Packet::Auth(auth(&mut b)?)
        }
    };
    if !b.is_empty() {
        return Err(DecodeError::Malformed("packet longer than its contents"));
    }
    Ok(packet)
}

fn packet_id(b: &mut Bytes) -> Result<u16> {
    match wire::read_u16(b)? {
        0 => Err(DecodeError::Malformed("packet identifier of 0")),
        id => Ok(id),
    }
}

fn reason(b: &mut Bytes, kind: PacketType) -> Result<ReasonCode> {
    let code = wire::read_u8(b)?;
    match ReasonCode::from_u8(code) {
        Some(r) if r.allowed_in(kind) => Ok(r),
        _ => Err(DecodeError::Malformed(
            "reason code not valid for this packet",
        )),
    }
}

fn connect(b: &mut Bytes) -> Result<Connect> {
    let name = wire::read_binary(b)?;
    let level = wire::read_u8(b)?;
    let protocol =
        protocol(&name, level).ok_or_else(|| DecodeError::UnsupportedProtocolVersion {
            name: String::from_utf8_lossy(&name).into_owned(),
            level,
        })?;
    let v5 = protocol.is_v5();
    let flags = wire::read_u8(b)?;
    if flags & 0x01 != 0 {
        return Err(DecodeError::Malformed("CONNECT reserved flag set"));
    }
    let clean_start = flags & 0x02 != 0;
    let will_flag = flags & 0x04 != 0;
    let will_qos = QoS::from_u8((flags >> 3) & 0x03).ok_or(DecodeError::Malformed("will QoS 3"))?;
    let will_retain = flags & 0x20 != 0;
    let has_password = flags & 0x40 != 0;
    let has_username = flags & 0x80 != 0;
    if !will_flag && (will_qos != QoS::AtMostOnce || will_retain) {
        return Err(DecodeError::Malformed(
            "will QoS or retain set without will flag",
        ));
    }
    if !v5 && has_password && !has_username {
        return Err(DecodeError::Malformed(
            "password flag without user name flag",
        ));
    }
    let keep_alive = wire::read_u16(b)?;
    let properties = if v5 {
        Properties::read(b, Scope::Packet(PacketType::Connect))?
    } else {
        Properties::default()
    };
    let client_id = wire::read_string(b)?;
    let will = if will_flag {
        let properties = if v5 {
            Properties::read(b, Scope::Will)?
        } else {
            Properties::default()
        };
        let topic = wire::read_string(b)?;
        if topic::validate_name(&topic).is_err() {
            return Err(DecodeError::TopicNameInvalid(
                "will topic is not a valid topic name",
            ));
        }
        let payload = wire::read_binary(b)?;
        Some(Will {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties,
        })
    } else {
        None
    };
    let username = if has_username {
        Some(wire::read_string(b)?)
    } else {
        None
    };
    let password = if has_password {
        Some(wire::read_binary(b)?)
    } else {
        None
    };
    Ok(Connect {
        protocol,
        clean_start,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

fn connack(b: &mut Bytes, v5: bool) -> Result<ConnAck> {
    let flags = wire::read_u8(b)?;
    if flags & 0xFE != 0 {
        return Err(DecodeError::Malformed("CONNACK reserved flags set"));
    }
    let session_present = flags & 1 == 1;
    let (reason, properties) = if v5 {
        let r = reason(b, PacketType::ConnAck)?;
        (r, Properties::read(b, Scope::Packet(PacketType::ConnAck))?)
    } else {
        let code = wire::read_u8(b)?;
        let r = ReasonCode::from_v3_connack(code)
            .ok_or(DecodeError::Malformed("CONNACK return code above 5"))?;
        (r, Properties::default())
    };
    if session_present && reason != ReasonCode::Success {
        return Err(DecodeError::Protocol(
            "session present with a failing CONNACK",
        ));
    }
    Ok(ConnAck {
        session_present,
        reason,
        properties,
    })
}

fn publish(flags: u8, b: &mut Bytes, v5: bool) -> Result<Publish> {
    let dup = flags & 0x08 != 0;
    let retain = flags & 0x01 != 0;
    let qos = QoS::from_u8((flags >> 1) & 0x03).ok_or(DecodeError::Malformed("PUBLISH QoS 3"))?;
    if qos == QoS::AtMostOnce && dup {
        return Err(DecodeError::Malformed("DUP set on a QoS 0 PUBLISH"));
    }
    let topic = wire::read_binary(b)?;
    let name = check_utf8(&topic)?;
    if name.contains(['+', '#']) {
        return Err(DecodeError::TopicNameInvalid("wildcard in a PUBLISH topic"));
    }
    if name.is_empty() && !v5 {
        return Err(DecodeError::TopicNameInvalid("empty topic name"));
    }
    let packet_id = if qos == QoS::AtMostOnce {
        0
    } else {
        packet_id(b)?
    };
    let properties = if v5 {
        Properties::read(b, Scope::Packet(PacketType::Publish))?
    } else {
        Properties::default()
    };
    if name.is_empty() && properties.topic_alias.is_none() {
        return Err(DecodeError::Protocol(
            "empty topic name without a topic alias",
        ));
    }
    let payload = std::mem::take(b);
    Ok(Publish {
        dup,
        qos,
        retain,
        topic,
        packet_id,
        properties,
        payload,
    })
}

fn ack(kind: PacketType, b: &mut Bytes, v5: bool) -> Result<Ack> {
    let packet_id = packet_id(b)?;
    let mut a = Ack::new(packet_id);
    if v5 && !b.is_empty() {
        a.reason = reason(b, kind)?;
        if !b.is_empty() {
            a.properties = Properties::read(b, Scope::Packet(kind))?;
        }
    }
    Ok(a)
}

fn subscribe(b: &mut Bytes, v5: bool) -> Result<Subscribe> {
    let packet_id = packet_id(b)?;
    let properties = if v5 {
        Properties::read(b, Scope::Packet(PacketType::Subscribe))?
    } else {
        Properties::default()
    };
    let mut filters = Vec::new();
    while !b.is_empty() {
        let filter = wire::read_string(b)?;
        let opts = wire::read_u8(b)?;
        let reserved = if v5 { 0xC0 } else { 0xFC };
        if opts & reserved != 0 {
            return Err(DecodeError::Malformed(
                "subscription options reserved bits set",
            ));
        }
        let qos = QoS::from_u8(opts & 0x03).ok_or(DecodeError::Malformed("subscription QoS 3"))?;
        let retain_handling = match (opts >> 4) & 0x03 {
            0 => RetainHandling::OnSubscribe,
            1 => RetainHandling::OnNewSubscribe,
            2 => RetainHandling::Never,
            _ => return Err(DecodeError::Protocol("retain handling 3")),
        };
        let options = SubscriptionOptions {
            qos,
            no_local: opts & 0x04 != 0,
            retain_as_published: opts & 0x08 != 0,
            retain_handling,
        };
        filters.push((filter, options));
    }
    if filters.is_empty() {
        return Err(DecodeError::Protocol("SUBSCRIBE without topic filters"));
    }
    Ok(Subscribe {
        packet_id,
        properties,
        filters,
    })
}

fn suback(kind: PacketType, b: &mut Bytes, v5: bool) -> Result<SubAck> {
    let packet_id = packet_id(b)?;
    let properties = if v5 {
        Properties::read(b, Scope::Packet(kind))?
    } else {
        Properties::default()
    };
    let mut reasons = Vec::new();
    while !b.is_empty() {
        if v5 {
            reasons.push(reason(b, kind)?);
        } else if kind == PacketType::SubAck {
            let code = wire::read_u8(b)?;
            reasons.push(match code {
                0 => ReasonCode::Success,
                1 => ReasonCode::GrantedQos1,
                2 => ReasonCode::GrantedQos2,
                0x80 => ReasonCode::UnspecifiedError,
                _ => return Err(DecodeError::Malformed("SUBACK return code")),
            });
        } else {
            return Err(DecodeError::Malformed(
                "UNSUBACK longer than its packet identifier",
            ));
        }
    }
    Ok(SubAck {
        packet_id,
        properties,
        reasons,
    })
}

fn unsubscribe(b: &mut Bytes, v5: bool) -> Result<Unsubscribe> {
    let packet_id = packet_id(b)?;
    let properties = if v5 {
        Properties::read(b, Scope::Packet(PacketType::Unsubscribe))?
    } else {
        Properties::default()
    };
    let mut filters = Vec::new();
    while !b.is_empty() {
        filters.push(wire::read_string(b)?);
    }
    if filters.is_empty() {
        return Err(DecodeError::Protocol("UNSUBSCRIBE without topic filters"));
    }
    Ok(Unsubscribe {
        packet_id,
        properties,
        filters,
    })
}

fn disconnect(b: &mut Bytes, v5: bool) -> Result<Disconnect> {
    let mut d = Disconnect::new(ReasonCode::Success);
    if v5 && !b.is_empty() {
        d.reason = reason(b, PacketType::Disconnect)?;
        if !b.is_empty() {
            d.properties = Properties::read(b, Scope::Packet(PacketType::Disconnect))?;
        }
    }
    Ok(d)
}

fn auth(b: &mut Bytes) -> Result<Auth> {
    let mut a = Auth {
        reason: ReasonCode::Success,
        properties: Properties::default(),
    };
    if !b.is_empty() {
        a.reason = reason(b, PacketType::Auth)?;
        if !b.is_empty() {
            a.properties = Properties::read(b, Scope::Packet(PacketType::Auth))?;
        }
    }
    Ok(a)
}
