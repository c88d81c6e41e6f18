//! AWS IoT Core's lifecycle events, published by the broker itself:
//!
//! - `$aws/events/presence/connected/{clientId}`:
//!   `{"clientId", "timestamp", "eventType": "connected", "sessionIdentifier",
//!   "principalIdentifier", "ipAddress", "versionNumber"}`
//! - `$aws/events/presence/disconnected/{clientId}`: the same without
//!   `ipAddress`, with `"clientInitiatedDisconnect"` and `"disconnectReason"`
//!   (AWS's names: `CLIENT_INITIATED_DISCONNECT`, `CONNECTION_LOST`,
//!   `DUPLICATE_CLIENTID`, `MQTT_KEEP_ALIVE_TIMEOUT`, `FORBIDDEN_ACCESS`,
//!   `AUTH_ERROR`, `CLIENT_ERROR`, `SERVER_ERROR`,
//!   `SERVER_INITIATED_DISCONNECT`)
//! - `$aws/events/subscriptions/subscribed|unsubscribed/{clientId}`:
//!   `{"clientId", "timestamp", "eventType", "sessionIdentifier",
//!   "principalIdentifier", "topics"}`
//!
//! As on AWS they are always on; a client id containing `+` or `#` gets
//! none. `versionNumber` is the connection's number: it grows with every
//! connection, and a connect and its disconnect share it.
//! `principalIdentifier` is the certificate id, absent for a connection
//! without a certificate. Events go out at QoS 1, not retained, through the
//! normal routing (subscribers need `iot:Receive` on them).

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kumo_mqtt::{Properties, QoS};
use serde_json::{json, Value};

use crate::message::Message;
use crate::Inner;

/// Who an event is about: one connection.
pub(crate) struct Subject<'a> {
    pub client_id: &'a str,
    pub session_id: &'a str,
    pub principal: Option<&'a str>,
    pub version: u64,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A UUID-shaped session identifier for connection `n`.
pub(crate) fn session_identifier(n: u64) -> String {
    use std::hash::{BuildHasher, Hasher};
    // Random per process (foldhash seeds its random state from the OS).
    static SEEDS: std::sync::OnceLock<(foldhash::fast::RandomState, foldhash::fast::RandomState)> =
        std::sync::OnceLock::new();
    let (a, b) = SEEDS.get_or_init(Default::default);
    let h = |s: &foldhash::fast::RandomState| {
        let mut h = s.build_hasher();
        h.write_u64(n);
        h.finish()
    };
    let (x, y) = (h(a), h(b));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        x >> 32,
        (x >> 16) & 0xffff,
        x & 0xfff,
        0x8000 | ((y >> 48) & 0x3fff),
        y & 0xffff_ffff_ffff
    )
}

impl Inner {
    fn emit(&self, topic: String, mut body: Value, s: &Subject<'_>) {
        if s.client_id.contains(['+', '#']) {
            return;
        }
        body["clientId"] = json!(s.client_id);
        body["timestamp"] = json!(now_ms());
        body["sessionIdentifier"] = json!(s.session_id);
        if let Some(p) = s.principal {
            body["principalIdentifier"] = json!(p);
        }
        let payload = serde_json::to_vec(&body).unwrap_or_default();
        let msg = Message::new(
            Bytes::from(topic),
            Bytes::from(payload),
            QoS::AtLeastOnce,
            false,
            Properties::default(),
            None,
            0,
        );
        self.publish(msg);
    }

    pub(crate) fn event_connected(&self, s: &Subject<'_>, ip: IpAddr) {
        self.emit(
            format!("$aws/events/presence/connected/{}", s.client_id),
            json!({"eventType": "connected", "ipAddress": ip.to_string(), "versionNumber": s.version}),
            s,
        );
    }

    pub(crate) fn event_disconnected(&self, s: &Subject<'_>, reason: &'static str) {
        self.emit(
            format!("$aws/events/presence/disconnected/{}", s.client_id),
            json!({
                "eventType": "disconnected",
                "clientInitiatedDisconnect": reason == "CLIENT_INITIATED_DISCONNECT",
                "disconnectReason": reason,
                "versionNumber": s.version,
            }),
            s,
        );
    }

    pub(crate) fn event_subscriptions(&self, s: &Subject<'_>, subscribed: bool, topics: &[String]) {
        if topics.is_empty() {
            return;
        }
        let kind = if subscribed {
            "subscribed"
        } else {
            "unsubscribed"
        };
        self.emit(
            format!("$aws/events/subscriptions/{kind}/{}", s.client_id),
            json!({"eventType": kind, "topics": topics}),
            s,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_identifiers_are_uuid_shaped_and_distinct() {
        let a = session_identifier(1);
        let b = session_identifier(2);
        assert_ne!(a, b);
        assert_eq!(a.len(), 36, "{a}");
        assert_eq!(a.as_bytes()[14], b'4');
        assert!(matches!(a.as_bytes()[19], b'8' | b'9' | b'a' | b'b'), "{a}");
    }
}
