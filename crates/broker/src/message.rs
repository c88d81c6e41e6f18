//! A routed message, shared by every subscriber it goes to, and its encoded
//! forms: the PUBLISH bytes are built once per wire variant (protocol, QoS,
//! RETAIN flag) and reused for every subscriber of that variant; only the
//! packet identifier and DUP bit are patched per delivery.

use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use kumo_mqtt::{encode_publish_ref, Properties, ProtocolVersion, PublishRef, QoS};

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
    /// The publishing client's ID, for subscribers that asked to see it
    /// (the console's test client); None for the broker and the API.
    pub publisher_id: Option<Arc<str>>,
    /// The first encoding asked for, which is nearly always the only one.
    encoded: OnceLock<(usize, Encoded)>,
    /// Every other (version, QoS, RETAIN) variant, when subscribers differ.
    variants: OnceLock<Box<[OnceLock<Encoded>; 12]>>,
    /// The stored form, encoded once however many sessions store it.
    pub(crate) stored: OnceLock<Bytes>,
}

/// MQTT 3.1.1 carries no properties.
static NO_PROPERTIES: LazyLock<Properties> = LazyLock::new(Properties::default);

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
        Self::published_by(
            topic, payload, qos, retain, properties, expires_at, publisher, None,
        )
    }

    /// A message a client published: its session and client ID.
    #[allow(clippy::too_many_arguments)]
    pub fn published_by(
        topic: Bytes,
        payload: Bytes,
        qos: QoS,
        retain: bool,
        properties: Properties,
        expires_at: Option<Instant>,
        publisher: u64,
        publisher_id: Option<Arc<str>>,
    ) -> Arc<Message> {
        Arc::new(Message {
            topic,
            payload,
            qos,
            retain,
            properties,
            expires_at,
            publisher,
            publisher_id,
            encoded: OnceLock::new(),
            variants: OnceLock::new(),
            stored: OnceLock::new(),
        })
    }

    pub fn topic_str(&self) -> &str {
        std::str::from_utf8(&self.topic).unwrap_or("")
    }

    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    /// The message as a PUBLISH for `version`, borrowing its parts.
    pub fn publish_ref<'a>(
        &'a self,
        version: ProtocolVersion,
        qos: QoS,
        retain: bool,
        properties: &'a Properties,
    ) -> PublishRef<'a> {
        PublishRef {
            dup: false,
            qos,
            retain,
            topic: &self.topic,
            packet_id: 0,
            properties: if version.is_v5() {
                properties
            } else {
                &NO_PROPERTIES
            },
            payload: &self.payload,
        }
    }

    /// The shared encoding for (version, qos, retain), built on first use.
    /// Only for messages without per-subscriber parts (subscription
    /// identifiers, topic alias, remaining expiry).
    pub fn encoded(&self, version: ProtocolVersion, qos: QoS, retain: bool) -> &Encoded {
        let slot = usize::from(version.is_v5()) * 6 + (qos as usize) * 2 + usize::from(retain);
        let build = || {
            let p = self.publish_ref(version, qos, retain, &self.properties);
            let mut buf = BytesMut::new();
            let packet_id_at = encode_publish_ref(&p, version, &mut buf);
            Encoded {
                bytes: buf.freeze(),
                packet_id_at,
            }
        };
        let (first, enc) = self.encoded.get_or_init(|| (slot, build()));
        if *first == slot {
            return enc;
        }
        self.variants.get_or_init(Default::default)[slot].get_or_init(build)
    }

    /// Whether an encoding for this variant is already cached.
    pub fn has_encoding(&self, version: ProtocolVersion, qos: QoS, retain: bool) -> bool {
        let slot = usize::from(version.is_v5()) * 6 + (qos as usize) * 2 + usize::from(retain);
        self.encoded.get().is_some_and(|(s, _)| *s == slot)
            || self.variants.get().is_some_and(|v| v[slot].get().is_some())
    }
}
