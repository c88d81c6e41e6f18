//! MQTT 5 properties (§2.2.2.2): one struct holds every property; a table
//! says which packet may carry which, so a property in the wrong packet, or
//! twice, is a Protocol Error wherever it appears.

use std::fmt;
use std::ops::{Deref, DerefMut};

use bytes::{BufMut, Bytes};

use crate::wire::{self, Result};
use crate::{DecodeError, PacketType, MAX_VARINT};

/// A packet's properties: one pointer, null when the packet has none, so
/// that packets without any (all of MQTT 3.1.1, most MQTT 5 PUBLISHes) are
/// small to move and cost no allocation. It reads as a [`PropertySet`]
/// (empty when there is none); the first write through it allocates one,
/// so code that may only clear or take a property uses [`Properties::get_mut`].
#[derive(Clone, Default)]
pub struct Properties(Option<Box<PropertySet>>);

/// Every MQTT 5 property. `None` / empty = absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PropertySet {
    pub payload_format_indicator: Option<u8>,
    pub message_expiry_interval: Option<u32>,
    pub content_type: Option<String>,
    pub response_topic: Option<String>,
    pub correlation_data: Option<Bytes>,
    /// In PUBLISH there may be several; in SUBSCRIBE at most one.
    pub subscription_identifiers: Vec<u32>,
    pub session_expiry_interval: Option<u32>,
    pub assigned_client_identifier: Option<String>,
    pub server_keep_alive: Option<u16>,
    pub authentication_method: Option<String>,
    pub authentication_data: Option<Bytes>,
    pub request_problem_information: Option<u8>,
    pub will_delay_interval: Option<u32>,
    pub request_response_information: Option<u8>,
    pub response_information: Option<String>,
    pub server_reference: Option<String>,
    pub reason_string: Option<String>,
    pub receive_maximum: Option<u16>,
    pub topic_alias_maximum: Option<u16>,
    pub topic_alias: Option<u16>,
    pub maximum_qos: Option<u8>,
    pub retain_available: Option<u8>,
    pub user_properties: Vec<(String, String)>,
    pub maximum_packet_size: Option<u32>,
    pub wildcard_subscription_available: Option<u8>,
    pub subscription_identifier_available: Option<u8>,
    pub shared_subscription_available: Option<u8>,
}

static EMPTY: PropertySet = PropertySet {
    payload_format_indicator: None,
    message_expiry_interval: None,
    content_type: None,
    response_topic: None,
    correlation_data: None,
    subscription_identifiers: Vec::new(),
    session_expiry_interval: None,
    assigned_client_identifier: None,
    server_keep_alive: None,
    authentication_method: None,
    authentication_data: None,
    request_problem_information: None,
    will_delay_interval: None,
    request_response_information: None,
    response_information: None,
    server_reference: None,
    reason_string: None,
    receive_maximum: None,
    topic_alias_maximum: None,
    topic_alias: None,
    maximum_qos: None,
    retain_available: None,
    user_properties: Vec::new(),
    maximum_packet_size: None,
    wildcard_subscription_available: None,
    subscription_identifier_available: None,
    shared_subscription_available: None,
};

impl Properties {
    /// True when the packet carries no property at all.
    pub fn is_none(&self) -> bool {
        self.0.is_none()
    }

    pub fn is_empty(&self) -> bool {
        self.0.as_deref().is_none_or(PropertySet::is_empty)
    }

    /// The properties to change in place, if there are any (never allocates).
    pub fn get_mut(&mut self) -> Option<&mut PropertySet> {
        self.0.as_deref_mut()
    }

    /// Read a property length and the properties that follow, checking each
    /// against `scope`.
    pub(crate) fn read(b: &mut Bytes, scope: Scope) -> Result<Properties> {
        let len = wire::read_varint(b)? as usize;
        if b.len() < len {
            return Err(DecodeError::Malformed("property length exceeds packet"));
        }
        let mut p = b.split_to(len);
        let mut props = Properties::default();
        while !p.is_empty() {
            // Identifiers are variable byte integers; every defined one fits in one byte.
            let pid = wire::read_varint(&mut p)?;
            let pid = u8::try_from(pid).map_err(|_| DecodeError::Malformed("unknown property"))?;
            if !allowed(pid, scope) {
                return Err(
                    if pid > id::SHARED_SUBSCRIPTION_AVAILABLE || !is_defined(pid) {
                        DecodeError::Malformed("unknown property identifier")
                    } else {
                        DecodeError::Protocol("property not allowed in this packet")
                    },
                );
            }
            props.read_one(pid, &mut p, scope)?;
        }
        Ok(props)
    }

    /// Length of the encoded properties, without their own length prefix.
    pub(crate) fn body_len(&self) -> usize {
        self.0.as_deref().map_or(0, PropertySet::body_len)
    }

    /// Length including the variable-byte-integer length prefix.
    pub(crate) fn encoded_len(&self) -> usize {
        let n = self.body_len();
        wire::varint_len(n as u32) + n
    }

    pub(crate) fn write(&self, out: &mut impl BufMut) {
        match self.0.as_deref() {
            Some(set) => set.write(out),
            None => wire::put_varint(out, 0),
        }
    }
}

impl Deref for Properties {
    type Target = PropertySet;

    fn deref(&self) -> &PropertySet {
        self.0.as_deref().unwrap_or(&EMPTY)
    }
}

impl DerefMut for Properties {
    fn deref_mut(&mut self) -> &mut PropertySet {
        self.0.get_or_insert_with(Box::default)
    }
}

impl From<PropertySet> for Properties {
    fn from(set: PropertySet) -> Properties {
        Properties((set != EMPTY).then(|| Box::new(set)))
    }
}

impl PartialEq for Properties {
    fn eq(&self, other: &Properties) -> bool {
        **self == **other
    }
}

impl Eq for Properties {}

impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

/// Where a property set lives: a packet type, or the Will properties of CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Packet(PacketType),
    Will,
}

mod id {
    pub const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    pub const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    pub const CONTENT_TYPE: u8 = 0x03;
    pub const RESPONSE_TOPIC: u8 = 0x08;
    pub const CORRELATION_DATA: u8 = 0x09;
    pub const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
    pub const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    pub const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub const AUTHENTICATION_METHOD: u8 = 0x15;
    pub const AUTHENTICATION_DATA: u8 = 0x16;
    pub const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    pub const WILL_DELAY_INTERVAL: u8 = 0x18;
    pub const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    pub const RESPONSE_INFORMATION: u8 = 0x1A;
    pub const SERVER_REFERENCE: u8 = 0x1C;
    pub const REASON_STRING: u8 = 0x1F;
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub const TOPIC_ALIAS: u8 = 0x23;
    pub const MAXIMUM_QOS: u8 = 0x24;
    pub const RETAIN_AVAILABLE: u8 = 0x25;
    pub const USER_PROPERTY: u8 = 0x26;
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    pub const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    pub const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;
}

/// Whether property `pid` may appear in `scope` (§2.2.2.2 table).
fn allowed(pid: u8, scope: Scope) -> bool {
    use PacketType as T;
    use Scope::*;
    match pid {
        id::USER_PROPERTY => true,
        id::PAYLOAD_FORMAT_INDICATOR
        | id::MESSAGE_EXPIRY_INTERVAL
        | id::CONTENT_TYPE
        | id::RESPONSE_TOPIC
        | id::CORRELATION_DATA => matches!(scope, Packet(T::Publish) | Will),
        id::WILL_DELAY_INTERVAL => scope == Will,
        id::SUBSCRIPTION_IDENTIFIER => matches!(scope, Packet(T::Publish) | Packet(T::Subscribe)),
        id::SESSION_EXPIRY_INTERVAL => {
            matches!(
                scope,
                Packet(T::Connect) | Packet(T::ConnAck) | Packet(T::Disconnect)
            )
        }
        id::ASSIGNED_CLIENT_IDENTIFIER
        | id::SERVER_KEEP_ALIVE
        | id::RESPONSE_INFORMATION
        | id::MAXIMUM_QOS
        | id::RETAIN_AVAILABLE
        | id::WILDCARD_SUBSCRIPTION_AVAILABLE
        | id::SUBSCRIPTION_IDENTIFIER_AVAILABLE
        | id::SHARED_SUBSCRIPTION_AVAILABLE => scope == Packet(T::ConnAck),
        id::AUTHENTICATION_METHOD | id::AUTHENTICATION_DATA => {
            matches!(
                scope,
                Packet(T::Connect) | Packet(T::ConnAck) | Packet(T::Auth)
            )
        }
        id::REQUEST_PROBLEM_INFORMATION | id::REQUEST_RESPONSE_INFORMATION => {
            scope == Packet(T::Connect)
        }
        id::SERVER_REFERENCE => matches!(scope, Packet(T::ConnAck) | Packet(T::Disconnect)),
        id::REASON_STRING => matches!(
            scope,
            Packet(
                T::ConnAck
                    | T::PubAck
                    | T::PubRec
                    | T::PubRel
                    | T::PubComp
                    | T::SubAck
                    | T::UnsubAck
                    | T::Disconnect
                    | T::Auth
            )
        ),
        id::RECEIVE_MAXIMUM | id::TOPIC_ALIAS_MAXIMUM | id::MAXIMUM_PACKET_SIZE => {
            matches!(scope, Packet(T::Connect) | Packet(T::ConnAck))
        }
        id::TOPIC_ALIAS => scope == Packet(T::Publish),
        _ => false,
    }
}

const DUPLICATE: DecodeError = DecodeError::Protocol("property included more than once");

fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<()> {
    if slot.is_some() {
        return Err(DUPLICATE);
    }
    *slot = Some(value);
    Ok(())
}

fn read_flag(b: &mut Bytes) -> Result<u8> {
    let v = wire::read_u8(b)?;
    if v > 1 {
        return Err(DecodeError::Protocol("property value must be 0 or 1"));
    }
    Ok(v)
}

impl PropertySet {
    pub fn is_empty(&self) -> bool {
        self.body_len() == 0
    }

    fn read_one(&mut self, pid: u8, p: &mut Bytes, scope: Scope) -> Result<()> {
        use wire::*;
        match pid {
            id::PAYLOAD_FORMAT_INDICATOR => {
                set_once(&mut self.payload_format_indicator, read_flag(p)?)
            }
            id::MESSAGE_EXPIRY_INTERVAL => {
                set_once(&mut self.message_expiry_interval, read_u32(p)?)
            }
            id::CONTENT_TYPE => set_once(&mut self.content_type, read_string(p)?),
            id::RESPONSE_TOPIC => {
                let t = read_string(p)?;
                if t.is_empty() || t.contains(['+', '#']) {
                    return Err(DecodeError::Protocol(
                        "response topic must be a valid topic name",
                    ));
                }
                set_once(&mut self.response_topic, t)
            }
            id::CORRELATION_DATA => set_once(&mut self.correlation_data, read_binary(p)?),
            id::SUBSCRIPTION_IDENTIFIER => {
                let v = read_varint(p)?;
                if v == 0 {
                    return Err(DecodeError::Protocol("subscription identifier of 0"));
                }
                if scope == Scope::Packet(PacketType::Subscribe)
                    && !self.subscription_identifiers.is_empty()
                {
                    return Err(DUPLICATE);
                }
                self.subscription_identifiers.push(v);
                Ok(())
            }
            id::SESSION_EXPIRY_INTERVAL => {
                set_once(&mut self.session_expiry_interval, read_u32(p)?)
            }
            id::ASSIGNED_CLIENT_IDENTIFIER => {
                set_once(&mut self.assigned_client_identifier, read_string(p)?)
            }
            id::SERVER_KEEP_ALIVE => set_once(&mut self.server_keep_alive, read_u16(p)?),
            id::AUTHENTICATION_METHOD => set_once(&mut self.authentication_method, read_string(p)?),
            id::AUTHENTICATION_DATA => set_once(&mut self.authentication_data, read_binary(p)?),
            id::REQUEST_PROBLEM_INFORMATION => {
                set_once(&mut self.request_problem_information, read_flag(p)?)
            }
            id::WILL_DELAY_INTERVAL => set_once(&mut self.will_delay_interval, read_u32(p)?),
            id::REQUEST_RESPONSE_INFORMATION => {
                set_once(&mut self.request_response_information, read_flag(p)?)
            }
            id::RESPONSE_INFORMATION => set_once(&mut self.response_information, read_string(p)?),
            id::SERVER_REFERENCE => set_once(&mut self.server_reference, read_string(p)?),
            id::REASON_STRING => set_once(&mut self.reason_string, read_string(p)?),
            id::RECEIVE_MAXIMUM => {
                let v = read_u16(p)?;
                if v == 0 {
                    return Err(DecodeError::Protocol("receive maximum of 0"));
                }
                set_once(&mut self.receive_maximum, v)
            }
            id::TOPIC_ALIAS_MAXIMUM => set_once(&mut self.topic_alias_maximum, read_u16(p)?),
            id::TOPIC_ALIAS => {
                let v = read_u16(p)?;
                if v == 0 {
                    return Err(DecodeError::Protocol("topic alias of 0"));
                }
                set_once(&mut self.topic_alias, v)
            }
            id::MAXIMUM_QOS => set_once(&mut self.maximum_qos, read_flag(p)?),
            id::RETAIN_AVAILABLE => set_once(&mut self.retain_available, read_flag(p)?),
            id::USER_PROPERTY => {
                let k = read_string(p)?;
                let v = read_string(p)?;
                self.user_properties.push((k, v));
                Ok(())
            }
            id::MAXIMUM_PACKET_SIZE => {
                let v = read_u32(p)?;
                if v == 0 {
                    return Err(DecodeError::Protocol("maximum packet size of 0"));
                }
                set_once(&mut self.maximum_packet_size, v)
            }
            id::WILDCARD_SUBSCRIPTION_AVAILABLE => {
                set_once(&mut self.wildcard_subscription_available, read_flag(p)?)
            }
            id::SUBSCRIPTION_IDENTIFIER_AVAILABLE => {
                set_once(&mut self.subscription_identifier_available, read_flag(p)?)
            }
            id::SHARED_SUBSCRIPTION_AVAILABLE => {
                set_once(&mut self.shared_subscription_available, read_flag(p)?)
            }
            _ => Err(DecodeError::Malformed("unknown property identifier")),
        }
    }

    /// Length of the encoded properties, without their own length prefix.
    pub(crate) fn body_len(&self) -> usize {
        let s = |v: &Option<String>| v.as_ref().map_or(0, |s| 3 + s.len());
        let b = |v: &Option<Bytes>| v.as_ref().map_or(0, |s| 3 + s.len());
        let u8_ = |v: &Option<u8>| v.map_or(0, |_| 2);
        let u16_ = |v: &Option<u16>| v.map_or(0, |_| 3);
        let u32_ = |v: &Option<u32>| v.map_or(0, |_| 5);
        u8_(&self.payload_format_indicator)
            + u32_(&self.message_expiry_interval)
            + s(&self.content_type)
            + s(&self.response_topic)
            + b(&self.correlation_data)
            + self
                .subscription_identifiers
                .iter()
                .map(|&v| 1 + wire::varint_len(v))
                .sum::<usize>()
            + u32_(&self.session_expiry_interval)
            + s(&self.assigned_client_identifier)
            + u16_(&self.server_keep_alive)
            + s(&self.authentication_method)
            + b(&self.authentication_data)
            + u8_(&self.request_problem_information)
            + u32_(&self.will_delay_interval)
            + u8_(&self.request_response_information)
            + s(&self.response_information)
            + s(&self.server_reference)
            + s(&self.reason_string)
            + u16_(&self.receive_maximum)
            + u16_(&self.topic_alias_maximum)
            + u16_(&self.topic_alias)
            + u8_(&self.maximum_qos)
            + u8_(&self.retain_available)
            + self
                .user_properties
                .iter()
                .map(|(k, v)| 5 + k.len() + v.len())
                .sum::<usize>()
            + u32_(&self.maximum_packet_size)
            + u8_(&self.wildcard_subscription_available)
            + u8_(&self.subscription_identifier_available)
            + u8_(&self.shared_subscription_available)
    }

    pub(crate) fn write(&self, out: &mut impl BufMut) {
        let n = self.body_len();
        debug_assert!(n as u32 <= MAX_VARINT);
        wire::put_varint(out, n as u32);
        macro_rules! put {
            ($pid:expr, $v:expr, $put:ident) => {
                if let Some(v) = $v {
                    out.put_u8($pid);
                    out.$put(v);
                }
            };
        }
        put!(
            id::PAYLOAD_FORMAT_INDICATOR,
            self.payload_format_indicator,
            put_u8
        );
        put!(
            id::MESSAGE_EXPIRY_INTERVAL,
            self.message_expiry_interval,
            put_u32
        );
        s(out, id::CONTENT_TYPE, &self.content_type);
        s(out, id::RESPONSE_TOPIC, &self.response_topic);
        if let Some(v) = &self.correlation_data {
            out.put_u8(id::CORRELATION_DATA);
            wire::put_binary(out, v);
        }
        for &v in &self.subscription_identifiers {
            out.put_u8(id::SUBSCRIPTION_IDENTIFIER);
            wire::put_varint(out, v);
        }
        put!(
            id::SESSION_EXPIRY_INTERVAL,
            self.session_expiry_interval,
            put_u32
        );
        s(
            out,
            id::ASSIGNED_CLIENT_IDENTIFIER,
            &self.assigned_client_identifier,
        );
        put!(id::SERVER_KEEP_ALIVE, self.server_keep_alive, put_u16);
        s(out, id::AUTHENTICATION_METHOD, &self.authentication_method);
        if let Some(v) = &self.authentication_data {
            out.put_u8(id::AUTHENTICATION_DATA);
            wire::put_binary(out, v);
        }
        put!(
            id::REQUEST_PROBLEM_INFORMATION,
            self.request_problem_information,
            put_u8
        );
        put!(id::WILL_DELAY_INTERVAL, self.will_delay_interval, put_u32);
        put!(
            id::REQUEST_RESPONSE_INFORMATION,
            self.request_response_information,
            put_u8
        );
        s(out, id::RESPONSE_INFORMATION, &self.response_information);
        s(out, id::SERVER_REFERENCE, &self.server_reference);
        s(out, id::REASON_STRING, &self.reason_string);
        put!(id::RECEIVE_MAXIMUM, self.receive_maximum, put_u16);
        put!(id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum, put_u16);
        put!(id::TOPIC_ALIAS, self.topic_alias, put_u16);
        put!(id::MAXIMUM_QOS, self.maximum_qos, put_u8);
        put!(id::RETAIN_AVAILABLE, self.retain_available, put_u8);
        for (k, v) in &self.user_properties {
            out.put_u8(id::USER_PROPERTY);
            wire::put_binary(out, k.as_bytes());
            wire::put_binary(out, v.as_bytes());
        }
        put!(id::MAXIMUM_PACKET_SIZE, self.maximum_packet_size, put_u32);
        put!(
            id::WILDCARD_SUBSCRIPTION_AVAILABLE,
            self.wildcard_subscription_available,
            put_u8
        );
        put!(
            id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            self.subscription_identifier_available,
            put_u8
        );
        put!(
            id::SHARED_SUBSCRIPTION_AVAILABLE,
            self.shared_subscription_available,
            put_u8
        );
    }
}

fn s<B: BufMut>(out: &mut B, pid: u8, v: &Option<String>) {
    if let Some(v) = v {
        out.put_u8(pid);
        wire::put_binary(out, v.as_bytes());
    }
}

fn is_defined(pid: u8) -> bool {
    matches!(pid, 0x01..=0x03 | 0x08 | 0x09 | 0x0B | 0x11..=0x13 | 0x15..=0x19 | 0x1A | 0x1C
        | 0x1F | 0x21..=0x2A)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_properties_is_one_null_pointer() {
        assert_eq!(
            std::mem::size_of::<Properties>(),
            std::mem::size_of::<usize>()
        );
        let mut b = Bytes::from_static(&[0]);
        let p = Properties::read(&mut b, Scope::Packet(PacketType::Publish)).unwrap();
        assert!(p.is_none() && p.is_empty());
        assert!(Properties::from(PropertySet::default()).is_none());
        assert_eq!(p, Properties::from(PropertySet::default()));
    }

    #[test]
    fn first_write_allocates_and_reads_see_it() {
        let mut p = Properties::default();
        assert_eq!(p.content_type, None);
        p.content_type = Some("text/plain".into());
        assert!(!p.is_none() && !p.is_empty());
        let mut out = Vec::new();
        p.write(&mut out);
        assert_eq!(out[0] as usize, p.body_len());
        let mut b = Bytes::from(out);
        let back = Properties::read(&mut b, Scope::Packet(PacketType::Publish)).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn get_mut_takes_without_allocating() {
        let mut p = Properties::default();
        assert_eq!(p.get_mut().and_then(|s| s.topic_alias.take()), None);
        assert!(p.is_none());
        p.topic_alias = Some(3);
        assert_eq!(p.get_mut().and_then(|s| s.topic_alias.take()), Some(3));
        assert!(p.is_empty());
    }
}
