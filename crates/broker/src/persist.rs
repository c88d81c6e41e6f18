//! What the broker tells the store, and how it comes back at start.
//!
//! The broker keeps everything in memory; the store only ever hears about
//! changes ([`kumo_store::Op`]) and is read once, at start ([`restore`]).
//! What is persisted: sessions with a non-zero expiry (their header,
//! subscriptions and QoS 1/2 queue) and retained messages. A message is
//! stored as the MQTT 5 PUBLISH it would travel as, encoded and decoded by
//! kumo-mqtt; instants become Unix milliseconds.
//!
//! Who waits: a publisher's PUBACK/PUBREC waits for the transaction holding
//! its message's `Enqueue`/`RetainSet` ops (see `Conn::publish`). Session
//! headers and subscriptions are not waited for: the store applies ops in
//! submission order, so any acknowledged message is only durable after the
//! subscription that routed it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use kumo_mqtt::{
    decode, encode_publish_ref, Packet, ProtocolVersion, QoS, SubscriptionOptions, TopicFilter,
};
use kumo_store::{Commit, Op, SessionRecord, Snapshot, StoredMessage, SubscriptionRecord};

use crate::message::Message;
use crate::session::{InFlight, OutMsg, Phase, Session, Subscription};
use crate::Inner;

/// Wall-clock now, Unix milliseconds.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The wall-clock time of a monotonic instant.
fn instant_to_ms(at: Instant, now: Instant, now_ms: u64) -> u64 {
    if at >= now {
        now_ms.saturating_add((at - now).as_millis() as u64)
    } else {
        now_ms.saturating_sub((now - at).as_millis() as u64)
    }
}

fn ms_to_instant(ms: u64, now: Instant, now_ms: u64) -> Instant {
    if ms >= now_ms {
        now + Duration::from_millis(ms - now_ms)
    } else {
        now.checked_sub(Duration::from_millis(now_ms - ms))
            .unwrap_or(now)
    }
}

impl Message {
    /// The stored form: an MQTT 5 PUBLISH (packet id 1 for QoS 1/2) with the
    /// forwarded properties, and the expiry as wall-clock time.
    pub(crate) fn to_stored(&self) -> StoredMessage {
        let packet = self
            .stored
            .get_or_init(|| {
                let mut p =
                    self.publish_ref(ProtocolVersion::V5, self.qos, self.retain, &self.properties);
                p.packet_id = u16::from(self.qos != QoS::AtMostOnce);
                let mut buf = BytesMut::new();
                encode_publish_ref(&p, ProtocolVersion::V5, &mut buf);
                buf.freeze()
            })
            .clone();
        let expires_at = self
            .expires_at
            .map(|at| instant_to_ms(at, Instant::now(), now_ms()));
        StoredMessage { packet, expires_at }
    }

    /// Rebuild a message from its stored form.
    pub(crate) fn from_stored(
        m: &StoredMessage,
        now: Instant,
        now_ms: u64,
    ) -> Result<Arc<Message>, String> {
        let mut buf = BytesMut::from(&m.packet[..]);
        match decode(&mut buf, ProtocolVersion::V5, usize::MAX) {
            Ok(Some(Packet::Publish(p))) if buf.is_empty() => Ok(Message::new(
                p.topic,
                p.payload,
                p.qos,
                p.retain,
                p.properties,
                m.expires_at.map(|ms| ms_to_instant(ms, now, now_ms)),
                0,
            )),
            Ok(_) => Err("not a single PUBLISH packet".into()),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Inner {
    /// Queue `ops` if there is a store.
    pub(crate) fn persist(&self, ops: impl IntoIterator<Item = Op>) -> Option<Commit> {
        self.store.as_ref().map(|s| s.submit(ops))
    }

    pub(crate) fn persist_session(
        &self,
        client_id: &Arc<str>,
        expiry: u32,
        disconnected_at: Option<u64>,
    ) {
        self.persist([Op::SessionPut(SessionRecord {
            client_id: client_id.clone(),
            expiry,
            disconnected_at,
        })]);
    }
}

/// Add a commit to wait for, unless an earlier one covers the same transaction.
pub(crate) fn wait_for(commits: &mut Vec<Commit>, c: Commit) {
    if !commits.iter().any(|k| k.same_batch(&c)) {
        commits.push(c);
    }
}

pub(crate) fn subscription_record(sub: &Subscription, raw: &str) -> SubscriptionRecord {
    SubscriptionRecord {
        filter: raw.to_owned(),
        options: sub.options.to_byte(),
        id: sub.id,
    }
}

/// Rebuild sessions and retained messages from what the store loaded.
/// Sessions resume where they were; their expiry clocks restart from when
/// their clients left (or from now, for clients connected when Kumo stopped).
pub(crate) fn restore(inner: &Arc<Inner>, snapshot: Snapshot) {
    let now = Instant::now();
    let now_ms = now_ms();
    let mut max_seq = 0;
    let (mut sessions_n, mut queued_n) = (0usize, 0usize);
    // Wills whose delay ran out while Kumo was down: published once
    // everything is restored (their subscribers included).
    let mut due_wills = Vec::new();
    for (record, loaded) in snapshot.sessions {
        let session = Session::new(inner.new_id(), record.client_id.clone(), record.expiry);
        {
            let mut st = session.lock();
            st.persisted = true;
            for s in &loaded.subscriptions {
                let (Ok(filter), Some(options)) = (
                    TopicFilter::new(&s.filter),
                    SubscriptionOptions::from_byte(s.options),
                ) else {
                    tracing::warn!(client_id = %record.client_id, filter = %s.filter, "stored subscription unreadable; skipped");
                    continue;
                };
                st.subscriptions.insert(
                    s.filter.clone(),
                    Subscription {
                        filter,
                        options,
                        id: s.id,
                    },
                );
            }
            for q in &loaded.queue {
                max_seq = max_seq.max(q.seq);
                match Message::from_stored(&q.message, now, now_ms) {
                    Ok(msg) => st.queue.push_back(OutMsg {
                        msg,
                        qos: QoS::from_u8(q.qos).unwrap_or(QoS::AtLeastOnce),
                        retain: q.retain,
                        sub_ids: q.sub_ids.clone(),
                        stored: Some(q.seq),
                        restored: true,
                    }),
                    Err(e) => {
                        tracing::warn!(client_id = %record.client_id, seq = q.seq, error = %e,
                        "stored message unreadable; skipped")
                    }
                }
            }
            // Messages that had gone out keep their packet ids and are
            // resent first, in their original order [MQTT-4.4.0-1]; a
            // QoS 2 one whose PUBREC had arrived resumes with PUBREL.
            for f in &loaded.inflight {
                let Some(i) = st.queue.iter().position(|o| o.stored == Some(f.seq)) else {
                    continue;
                };
                if st.inflight.contains_key(&f.packet_id) || f.packet_id == 0 {
                    continue; // stays queued; gets a fresh packet id
                }
                let out = st.queue.remove(i).expect("position is in range");
                let phase = if f.released && out.qos == QoS::ExactlyOnce {
                    Phase::Released
                } else {
                    Phase::Published
                };
                let seq = st.next_seq();
                st.inflight
                    .insert(f.packet_id, InFlight { out, phase, seq });
            }
            queued_n += st.queue.len() + st.inflight.len();
        }
        let subs: Vec<Subscription> = session.lock().subscriptions.values().cloned().collect();
        for sub in &subs {
            inner.index_insert(&session, sub);
        }
        inner
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(record.client_id.to_string(), session.clone());
        if let Some(w) = &loaded.will {
            match Message::from_stored(&w.message, now, now_ms) {
                Ok(msg) if w.at <= now_ms => due_wills.push((record.client_id.clone(), msg)),
                Ok(msg) => inner.arm_will(&session, 0, msg, Duration::from_millis(w.at - now_ms)),
                Err(e) => {
                    tracing::warn!(client_id = %record.client_id, error = %e, "stored will unreadable; skipped")
                }
            }
        }
        let disconnected_at = record.disconnected_at.unwrap_or(now_ms);
        if record.disconnected_at.is_none() {
            inner.persist_session(&record.client_id, record.expiry, Some(disconnected_at));
        }
        if let Some(at) = record.expires_at(now_ms) {
            let left = Duration::from_millis(at.saturating_sub(now_ms))
                .as_secs()
                .min(u64::from(u32::MAX - 1));
            inner.schedule_expiry(session, 0, (left as u32).max(1));
        }
        sessions_n += 1;
    }
    inner
        .next_store_seq
        .fetch_max(max_seq + 1, Ordering::Relaxed);
    {
        let mut retained = inner.retained.write().unwrap_or_else(|e| e.into_inner());
        for r in &snapshot.retained {
            match Message::from_stored(&r.message, now, now_ms) {
                Ok(msg) => {
                    // The store keeps no modification time: it reads as the restart.
                    retained.insert(r.topic.clone(), crate::Retained::now(msg));
                }
                Err(e) => {
                    tracing::warn!(topic = %r.topic, error = %e, "stored retained message unreadable; skipped")
                }
            }
        }
    }
    tracing::info!(
        sessions = sessions_n,
        queued = queued_n,
        retained = snapshot.retained.len(),
        "state restored"
    );
    for (client_id, msg) in due_wills {
        inner.persist([Op::WillClear { client_id }]);
        inner.publish(msg);
    }
    for w in snapshot.orphan_wills {
        if let Ok(msg) = Message::from_stored(&w.message, now, now_ms) {
            inner.publish(msg);
        }
    }
}
