//! The records a backend stores and the changes it applies.

use std::sync::Arc;

use bytes::Bytes;

/// A message as stored: the packet it travels as, opaque to the store (the
/// broker stores an MQTT 5 PUBLISH and decodes it with its own codec), and
/// when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMessage {
    pub packet: Bytes,
    /// Unix milliseconds after which the message is dropped, if it expires.
    pub expires_at: Option<u64>,
}

impl StoredMessage {
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at.is_some_and(|at| at <= now_ms)
    }
}

/// One subscription of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    /// The filter exactly as the client sent it (`$share/...` included).
    pub filter: String,
    /// The MQTT 5 subscription options byte (QoS, No Local, RAP, handling).
    pub options: u8,
    /// Subscription identifier (MQTT 5), if the client gave one.
    pub id: Option<u32>,
}

/// A will that is waiting for its delay to pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WillRecord {
    /// Unix milliseconds at which it is published.
    pub at: u64,
    pub message: StoredMessage,
}

/// A session's header: everything but its subscriptions and queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub client_id: Arc<str>,
    /// Session Expiry Interval, seconds; `u32::MAX` never expires.
    pub expiry: u32,
    /// Unix milliseconds when its client disconnected; `None` while
    /// connected (after a crash: connected until the restart).
    pub disconnected_at: Option<u64>,
}

impl SessionRecord {
    /// When the session ends, if its client stays away (Unix ms).
    pub fn expires_at(&self, now_ms: u64) -> Option<u64> {
        if self.expiry == u32::MAX {
            return None;
        }
        let since = self.disconnected_at.unwrap_or(now_ms);
        Some(since.saturating_add(u64::from(self.expiry) * 1000))
    }
}

/// A message queued for (or in flight to) a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRecord {
    /// Position in the session's queue; delivery order is ascending `seq`.
    /// Unique in the store (the broker numbers every queued message from
    /// one counter), never reused for a client ID.
    pub seq: u64,
    /// Delivery QoS (1 or 2: QoS 0 messages are never stored).
    pub qos: u8,
    /// RETAIN flag to deliver with.
    pub retain: bool,
    /// Subscription identifiers to deliver with (MQTT 5).
    pub sub_ids: Vec<u32>,
    pub message: StoredMessage,
}

/// Where a queued message is in its outgoing QoS 1/2 flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InFlightRecord {
    pub seq: u64,
    pub packet_id: u16,
    /// QoS 2: PUBREC received, PUBREL sent.
    pub released: bool,
}

/// A retained message and its topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetainedRecord {
    pub topic: String,
    pub message: StoredMessage,
}

/// A registry record (a thing, a certificate, a policy, an attachment...):
/// opaque bytes under a kind and a key. The registry decides what they
/// mean and how they are encoded; the store only keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Short name of the record type, e.g. `thing`.
    pub kind: String,
    /// Unique within `kind`.
    pub key: String,
    pub value: Bytes,
}

/// One device shadow (classic or named). Its version outlives deletion, so
/// a deleted shadow stays as a row without a document: the next update
/// continues counting from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShadowRecord {
    pub thing: String,
    /// Empty for the classic (unnamed) shadow.
    pub name: String,
    pub version: u64,
    /// The shadow service's encoding of the document; `None` once deleted.
    pub document: Option<Bytes>,
}

/// One change. A batch of ops is applied in order, in one transaction.
/// Client IDs are shared (`Arc<str>`): the broker emits many ops per
/// session and should not copy its ID into each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Create or update a session's header (subscriptions, queue and will
    /// are kept).
    SessionPut(SessionRecord),
    /// Forget a session with its subscriptions, queue and will.
    SessionDelete {
        client_id: Arc<str>,
    },
    /// Add or replace a subscription (by filter).
    Subscribe {
        client_id: Arc<str>,
        sub: SubscriptionRecord,
    },
    Unsubscribe {
        client_id: Arc<str>,
        filter: String,
    },
    /// Append a message to a session's queue.
    Enqueue {
        client_id: Arc<str>,
        record: QueuedRecord,
    },
    /// The message was delivered and acknowledged (or expired, or dropped).
    Dequeue {
        client_id: Arc<str>,
        seq: u64,
    },
    /// A queued message went out with this packet identifier (and, for
    /// QoS 2, whether PUBREC came back so that PUBREL is what to resend).
    /// A backend may make this durable a little later, like `Dequeue`.
    InFlight {
        client_id: Arc<str>,
        record: InFlightRecord,
    },
    /// Store (replace) the session's pending will.
    WillSet {
        client_id: Arc<str>,
        will: WillRecord,
    },
    WillClear {
        client_id: Arc<str>,
    },
    /// Store (replace) the retained message of a topic.
    RetainSet(RetainedRecord),
    RetainClear {
        topic: String,
    },
    /// Create or replace a registry record.
    RecordPut(Record),
    /// Forget a registry record (nothing happens if there is none).
    RecordDelete {
        kind: String,
        key: String,
    },
    /// Create or replace a shadow (by thing and name).
    ShadowPut(ShadowRecord),
}

/// One persisted session, as loaded at start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoadedSession {
    pub subscriptions: Vec<SubscriptionRecord>,
    /// Ascending `seq`.
    pub queue: Vec<QueuedRecord>,
    /// Packet identifiers of queued messages that had been sent (each
    /// refers to a `seq` in `queue`), ascending `seq`.
    pub inflight: Vec<InFlightRecord>,
    pub will: Option<WillRecord>,
}

/// Everything a backend holds, as loaded at start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Sessions that had not expired, ordered by client ID.
    pub sessions: Vec<(SessionRecord, LoadedSession)>,
    /// Wills of sessions that had expired: still to be published (their
    /// delay ended while Kumo was down, or ends with the session).
    pub orphan_wills: Vec<WillRecord>,
    /// Retained messages that had not expired, ordered by topic.
    pub retained: Vec<RetainedRecord>,
    /// Registry records, ordered by kind, then key.
    pub records: Vec<Record>,
    /// Shadows, deleted ones included, ordered by thing, then name.
    pub shadows: Vec<ShadowRecord>,
}
