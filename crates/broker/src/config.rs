//! Broker limits and behaviour switches. The server crate fills this from
//! its TOML file; the broker never parses configuration itself.

use std::time::Duration;

/// Which behaviour to follow where AWS IoT Core deviates from the MQTT spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compat {
    /// Spec-correct MQTT 3.1.1 / 5.0 (the default).
    #[default]
    Spec,
    /// Reproduce AWS IoT Core's documented deviations: QoS 2 refused,
    /// retained messages only on exact-match subscriptions, `#` not matching
    /// its parent level, 128 KiB payloads / 149504-byte packets, keep-alive
    /// clamped to 30..=1200 s, persistent sessions expire after one hour.
    AwsStrict,
}

#[derive(Debug, Clone)]
pub struct BrokerConfig {
    pub compat: Compat,
    /// Largest packet (fixed header included) the broker accepts.
    pub max_packet_size: u32,
    /// Largest PUBLISH payload accepted (AWS: 128 KiB). `None` = only the packet limit.
    pub max_payload_size: Option<u32>,
    /// How many QoS 1/2 PUBLISHes a client may have unacknowledged towards us.
    pub receive_maximum: u16,
    /// How many QoS 1/2 PUBLISHes we keep in flight towards one client at most
    /// (further bounded by the client's own Receive Maximum).
    pub max_inflight: u16,
    /// Messages queued per session (in flight excluded) before new ones are dropped.
    pub max_queued_messages: usize,
    /// Topic aliases a client may use towards us.
    pub topic_alias_maximum: u16,
    /// Upper bound on the keep-alive a client may ask for (None = any). The
    /// broker answers with Server Keep Alive when it lowers the value.
    pub max_keep_alive: Option<u16>,
    /// Lower bound on keep-alive (AWS clamps 1..29 up to 30). None = any.
    pub min_keep_alive: Option<u16>,
    /// Upper bound on a session's expiry. MQTT 3.1.1 persistent sessions use
    /// this as their expiry (u32::MAX = never expire).
    pub max_session_expiry: u32,
    /// How long a new connection may take to send CONNECT.
    pub connect_timeout: Duration,
    /// Whether retained messages are supported at all.
    pub retain_available: bool,
    /// Whether `$share/...` subscriptions are accepted.
    pub shared_subscriptions: bool,
    /// Whether wildcard subscriptions are accepted.
    pub wildcard_subscriptions: bool,
    /// Whether subscription identifiers are accepted.
    pub subscription_identifiers: bool,
    /// Longest accepted client identifier, in bytes.
    pub max_client_id_len: usize,
    /// Topic filters nobody may subscribe to: a SUBSCRIBE naming one of
    /// these exact filters (string equality, no wildcard matching) is refused
    /// with reason code 0x80 (Unspecified error). Empty by default.
    pub deny_subscribe: Vec<String>,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            compat: Compat::Spec,
            max_packet_size: 1024 * 1024,
            max_payload_size: None,
            receive_maximum: 1024,
            max_inflight: 1024,
            max_queued_messages: 100_000,
            topic_alias_maximum: 64,
            max_keep_alive: None,
            min_keep_alive: None,
            max_session_expiry: u32::MAX,
            connect_timeout: Duration::from_secs(10),
            retain_available: true,
            shared_subscriptions: true,
            wildcard_subscriptions: true,
            subscription_identifiers: true,
            max_client_id_len: 128,
            deny_subscribe: Vec::new(),
        }
    }
}

impl BrokerConfig {
    /// The AWS IoT Core profile: the default limits changed where AWS documents
    /// its own (`aws-iot-core.md` §1.5–1.6).
    pub fn aws_strict() -> Self {
        BrokerConfig {
            compat: Compat::AwsStrict,
            max_packet_size: 149_504,
            max_payload_size: Some(128 * 1024),
            receive_maximum: 100,
            max_inflight: 100,
            topic_alias_maximum: 8,
            max_keep_alive: Some(1200),
            min_keep_alive: Some(30),
            max_session_expiry: 3600,
            subscription_identifiers: false,
            ..BrokerConfig::default()
        }
    }
}
