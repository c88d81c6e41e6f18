//! The writing half of a connection. It owns the socket's write side and
//! sends, in this order each time it wakes: control packets the reader
//! queued (CONNACK first of all, acks, SUBACK, PINGRESP, DISCONNECT), then
//! redeliveries after a reconnect, then new messages from the session queue,
//! as far as the client's Receive Maximum allows.

use foldhash::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use kumo_mqtt::{
    encode, encode_publish_ref, encoded_len, publish_ref_len, Ack, Packet, ProtocolVersion, QoS,
    ReasonCode,
};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use kumo_store::{InFlightRecord, Op, Store};

use crate::auth::Permissions;
use crate::session::{low_water, Control, InFlight, OutMsg, Phase, Session};

/// Control packets the reader has encoded for the writer (CONNACK, acks,
/// SUBACK, PINGRESP, DISCONNECT), in order. The reader encodes straight into
/// this buffer, so nothing larger than a few bytes crosses between the tasks.
pub(crate) struct Outbox {
    params: Params,
    state: Mutex<OutboxState>,
}

#[derive(Default)]
struct OutboxState {
    bytes: BytesMut,
    closing: bool,
}

impl Outbox {
    pub(crate) fn new(params: Params) -> Outbox {
        Outbox {
            params,
            state: Mutex::new(OutboxState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Encode a control packet for the client, leaving out optional
    /// diagnostics when the client asked for none or they would make the
    /// packet too large. The caller wakes the writer.
    pub(crate) fn push(&self, mut p: Packet) {
        let params = &self.params;
        if params.version.is_v5() {
            let strip_allowed = !matches!(
                p,
                Packet::ConnAck(_) | Packet::Disconnect(_) | Packet::Publish(_)
            );
            if (strip_allowed && !params.problem_information)
                || !params.fits(encoded_len(&p, params.version))
            {
                strip_diagnostics(&mut p);
            }
        }
        encode(&p, params.version, &mut self.lock().bytes);
    }

    /// Ask the writer to flush what is pending and close the socket.
    pub(crate) fn close(&self) {
        self.lock().closing = true;
    }
}

/// What the client told us in CONNECT that shapes what we send it.
#[derive(Debug, Clone)]
pub(crate) struct Params {
    pub version: ProtocolVersion,
    /// The client's Maximum Packet Size (None = unlimited).
    pub max_packet_size: Option<u32>,
    /// min(client's Receive Maximum, our in-flight cap).
    pub window: usize,
    /// The client's Topic Alias Maximum.
    pub topic_alias_maximum: u16,
    /// Request Problem Information (MQTT 5; default true).
    pub problem_information: bool,
    /// The broker's queue limit per session (for the high/low-water marks).
    pub max_queued: usize,
    /// Add the publisher's client ID to each PUBLISH as the user property
    /// [`PUBLISHER_PROPERTY`] (MQTT 5 only; see `ConnectionInfo`).
    pub publisher_ids: bool,
}

/// The user property that carries the publishing client's ID to
/// connections that asked for it.
pub const PUBLISHER_PROPERTY: &str = "x-kumo-publisher";

impl Params {
    fn fits(&self, len: usize) -> bool {
        self.max_packet_size.is_none_or(|m| len <= m as usize)
    }
}

/// Largest write buffer a connection keeps while it has nothing to send.
const IDLE_WRITE_BUFFER: usize = 4096;

/// Stop filling the buffer past this many bytes and write it out.
const BATCH_BYTES: usize = 64 * 1024;

struct Writer {
    params: Params,
    session: Arc<Session>,
    aliases: HashMap<Bytes, u16>,
    buf: BytesMut,
    /// To dequeue stored messages that are dropped here (expired, too large).
    store: Option<Store>,
    /// Receive checks (None: everything may be delivered).
    perms: Option<Arc<dyn Permissions>>,
}

pub(crate) async fn run<W>(
    mut wr: W,
    session: Arc<Session>,
    outbox: Arc<Outbox>,
    control: Arc<Control>,
    store: Option<Store>,
    perms: Option<Arc<dyn Permissions>>,
) where
    W: AsyncWrite + Unpin,
{
    let params = outbox.params.clone();
    let mut w = Writer {
        params,
        session,
        aliases: HashMap::default(),
        buf: BytesMut::new(),
        store,
        perms,
    };
    loop {
        w.session.notify.notified().await;
        let closing = {
            let mut ob = outbox.lock();
            w.buf.extend_from_slice(&ob.bytes);
            ob.bytes.clear();
            ob.closing
        };
        let more = if closing { false } else { w.drain_session() };
        if !w.buf.is_empty() {
            let res = wr.write_all(&w.buf).await;
            w.buf.clear();
            if let Err(e) = res {
                tracing::debug!(client_id = %w.session.client_id, error = %e, "write failed");
                control.kick(ReasonCode::UnspecifiedError);
                return;
            }
        }
        if !more && w.buf.capacity() > IDLE_WRITE_BUFFER {
            // Going idle: do not keep a large buffer per quiet connection.
            w.buf = BytesMut::new();
        }
        if closing {
            let _ = wr.flush().await;
            let _ = wr.shutdown().await;
            return;
        }
        if more {
            w.session.notify.notify_one();
        }
    }
}

impl Writer {
    fn v5(&self) -> bool {
        self.params.version.is_v5()
    }

    /// Move queued messages into the buffer. Returns true when it stopped
    /// because the buffer is full and more could be sent.
    fn drain_session(&mut self) -> bool {
        let session = self.session.clone();
        let mut st = session.lock();
        let now = Instant::now();
        if st.resend {
            st.resend = false;
            let mut pending: Vec<(u64, u16)> =
                st.inflight.iter().map(|(id, f)| (f.seq, *id)).collect();
            pending.sort_unstable();
            for (_, id) in pending {
                let f = &st.inflight[&id];
                match f.phase {
                    Phase::Published => {
                        let out = f.out.clone();
                        self.publish(&out, id, true, now);
                    }
                    Phase::Released => encode(
                        &Packet::PubRel(Ack::new(id)),
                        self.params.version,
                        &mut self.buf,
                    ),
                }
            }
        }
        let mut sent = Vec::new();
        while self.buf.len() < BATCH_BYTES {
            let Some(front) = st.queue.front() else { break };
            if front.qos != QoS::AtMostOnce && st.inflight.len() >= self.params.window {
                break;
            }
            let out = st.queue.pop_front().expect("front exists");
            if out.msg.is_expired(now) {
                session.dequeued(self.store.as_ref(), &out);
                continue;
            }
            // iot:Receive, checked at delivery (also for messages queued
            // while the client was away): a denied one is dropped.
            if self
                .perms
                .as_ref()
                .is_some_and(|p| !p.may_receive(out.msg.topic_str()))
            {
                session.dequeued(self.store.as_ref(), &out);
                continue;
            }
            if out.qos == QoS::AtMostOnce {
                self.publish(&out, 0, false, now);
                continue;
            }
            let Some(id) = st.allocate_packet_id() else {
                st.queue.push_front(out);
                break;
            };
            if !self.publish(&out, id, out.restored, now) {
                session.dequeued(self.store.as_ref(), &out);
            } else {
                if let Some(seq) = out.stored {
                    // Its packet id, so that a restart resends it with the
                    // same one [MQTT-4.4.0-1].
                    sent.push(Op::InFlight {
                        client_id: session.client_id.clone(),
                        record: InFlightRecord {
                            seq,
                            packet_id: id,
                            released: false,
                        },
                    });
                }
                let seq = st.next_seq();
                st.inflight.insert(
                    id,
                    InFlight {
                        out,
                        phase: Phase::Published,
                        seq,
                    },
                );
            }
        }
        if let (Some(store), false) = (&self.store, sent.is_empty()) {
            let _ = store.submit(sent);
        }
        // Stopped for a full buffer with more to send: come back at once.
        let more = self.buf.len() >= BATCH_BYTES && !st.queue.is_empty();
        if (st.congested || st.stalled) && st.queue.len() <= low_water(self.params.max_queued) {
            st.congested = false;
            st.stalled = false;
            drop(st);
            session.room.notify_waiters();
        }
        more
    }

    /// Encode one PUBLISH. Returns false if it was discarded because it
    /// exceeds the client's Maximum Packet Size ([MQTT-3.1.2-25]).
    fn publish(&mut self, out: &OutMsg, packet_id: u16, dup: bool, now: Instant) -> bool {
        let version = self.params.version;
        let msg = &out.msg;
        let per_subscriber = self.v5()
            && (!out.sub_ids.is_empty()
                || msg.expires_at.is_some()
                || (self.params.publisher_ids && msg.publisher_id.is_some())
                || self.params.topic_alias_maximum > 0);
        if per_subscriber {
            return self.publish_own(out, packet_id, dup, now);
        }
        // Nobody else holds this message: encode it straight into the buffer.
        if Arc::strong_count(msg) == 1 && !msg.has_encoding(version, out.qos, out.retain) {
            let mut p = msg.publish_ref(version, out.qos, out.retain, &msg.properties);
            p.dup = dup;
            p.packet_id = packet_id;
            if !self.params.fits(publish_ref_len(&p, version)) {
                return false;
            }
            encode_publish_ref(&p, version, &mut self.buf);
            return true;
        }
        let enc = msg.encoded(version, out.qos, out.retain);
        if !self.params.fits(enc.bytes.len()) {
            return false;
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(&enc.bytes);
        if dup {
            self.buf[start] |= 0x08;
        }
        if let Some(at) = enc.packet_id_at {
            self.buf[start + at..start + at + 2].copy_from_slice(&packet_id.to_be_bytes());
        }
        true
    }

    /// Encode a PUBLISH with this subscriber's own properties: subscription
    /// identifiers, remaining expiry, topic alias.
    fn publish_own(&mut self, out: &OutMsg, packet_id: u16, dup: bool, now: Instant) -> bool {
        let version = self.params.version;
        let msg = &out.msg;
        let mut props = msg.properties.clone();
        props.subscription_identifiers.clone_from(&out.sub_ids);
        if let (true, Some(id)) = (self.params.publisher_ids, &msg.publisher_id) {
            props
                .user_properties
                .push((PUBLISHER_PROPERTY.to_owned(), id.to_string()));
        }
        if let Some(at) = msg.expires_at {
            let left = at.saturating_duration_since(now);
            props.message_expiry_interval = Some(left.as_secs_f64().ceil() as u32);
        }
        let mut p = msg.publish_ref(version, out.qos, out.retain, &props);
        p.dup = dup;
        p.packet_id = packet_id;
        let len = publish_ref_len(&p, version);
        if !self.params.fits(len) {
            return false;
        }
        let alias = match self.aliases.get(&msg.topic) {
            Some(&alias) => Some((alias, true)),
            None if self.aliases.len() < usize::from(self.params.topic_alias_maximum)
                && self.params.fits(len + 3) =>
            {
                let alias = self.aliases.len() as u16 + 1;
                self.aliases.insert(msg.topic.clone(), alias);
                Some((alias, false))
            }
            None => None,
        };
        if let Some((alias, known)) = alias {
            props.topic_alias = Some(alias);
            let mut p = msg.publish_ref(version, out.qos, out.retain, &props);
            p.dup = dup;
            p.packet_id = packet_id;
            if known {
                p.topic = b"";
            }
            encode_publish_ref(&p, version, &mut self.buf);
        } else {
            encode_publish_ref(&p, version, &mut self.buf);
        }
        true
    }
}

fn strip_diagnostics(p: &mut Packet) {
    let props = match p {
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            &mut a.properties
        }
        Packet::SubAck(s) | Packet::UnsubAck(s) => &mut s.properties,
        Packet::Disconnect(d) => &mut d.properties,
        Packet::ConnAck(c) => &mut c.properties,
        Packet::Auth(a) => &mut a.properties,
        _ => return,
    };
    if let Some(props) = props.get_mut() {
        props.reason_string = None;
        props.user_properties.clear();
    }
}
