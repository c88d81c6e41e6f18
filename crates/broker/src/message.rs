//! A routed message, shared by every subscriber it goes to, and its encoded
//! forms: the PUBLISH bytes are built once per wire variant (protocol, QoS,
//! RETAIN flag) and reused for every subscriber of that variant; only the
//! packet identifier and DUP bit are patched per delivery.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use kumo_mqtt::{encode_publish, Properties, ProtocolVersion, Publish, QoS};

/// A message as the broker routes it.
#[derive(Debug)]
pub struct Message {
    /// The topic name (validated UTF-8).
    pub topic: Bytes,
    pub payload: Bytes,
    /// QoS it was published with.
    pub qos: QoS,
    /// RETAIN flag it was published with.
    pub retain: bool,
    /// The MQTT 5 properties that travel with the message to subscribers
    /// (payload format, content type, response topic, correlation data,
    /// user properties). Never topic alias or subscription identifiers.
    pub properties: Properties,
    /// When the message expires (from Message Expiry Interval).
    pub expires_at: Option<Instant>,
    /// Session that published it (for No Local); 0 for the broker itself.
    pub publisher: u64,
    encoded: [OnceLock<Encoded>; 12],
}

/// One encoded PUBLISH and where its packet identifier sits.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub bytes: Bytes,
    pub packet_id_at: Option<usize>,
}

impl Message {
    pub fn new(
        topic: Bytes,
        payload: Bytes,
        qos: QoS,
        retain: bool,
        properties: Properties,
        expires_at: Option<Instant>,
        publisher: u64,
    ) -> Arc<Message> {
        Arc::new(Message {
            topic,
            payload,
            qos,
            retain,
            properties,
            expires_at,
            publisher,
            encoded: Default::default(),
        })
    }

    pub fn topic_str(&self) -> &str {
        std::str::from_utf8(&self.topic).unwrap_or("")
    }

    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    /// The PUBLISH for one subscriber, built fresh (used when the packet has
    /// per-subscriber parts: subscription identifiers, topic alias, expiry).
    pub fn to_publish(&self, version: ProtocolVersion, qos: QoS, retain: bool) -> Publish {
        Publish {
            dup: false,
            qos,
            retain,
            topic: self.topic.clone(),
            packet_id: 0,
            properties: if version.is_v5() { self.properties.clone() } else { Properties::default() },
            payload: self.payload.clone(),
        }
    }

    /// The shared encoding for (version, qos, retain), built on first use.
    /// Only for messages without an expiry (their properties change with time).
    pub fn encoded(&self, version: ProtocolVersion, qos: QoS, retain: bool) -> &Encoded {
        let slot = usize::from(version.is_v5()) * 6 + (qos as usize) * 2 + usize::from(retain);
        self.encoded[slot].get_or_init(|| {
            let p = self.to_publish(version, qos, retain);
            let mut buf = BytesMut::new();
            let packet_id_at = encode_publish(&p, version, &mut buf);
            Encoded { bytes: buf.freeze(), packet_id_at }
        })
    }
}
