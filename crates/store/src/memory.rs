//! The reference backend: plain maps, the semantics every backend must
//! reproduce (`tests/behaviour.rs`). Its data outlives the backend value, so
//! a test can "restart" by opening a new backend on the same [`MemoryData`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::model::LoadedSession;
use crate::{
    Backend, InFlightRecord, Op, QueuedRecord, Record, RetainedRecord, SessionRecord, ShadowRecord,
    Snapshot, StoreError, StoredMessage, SubscriptionRecord, WillRecord,
};

#[derive(Debug, Default)]
struct Tables {
    sessions: BTreeMap<Arc<str>, SessionRecord>,
    subscriptions: BTreeMap<(Arc<str>, String), SubscriptionRecord>,
    queued: BTreeMap<(Arc<str>, u64), QueuedRecord>,
    inflight: BTreeMap<(Arc<str>, u64), InFlightRecord>,
    wills: BTreeMap<Arc<str>, WillRecord>,
    retained: BTreeMap<String, StoredMessage>,
    records: BTreeMap<(String, String), Bytes>,
    shadows: BTreeMap<(String, String), ShadowRecord>,
}

/// The "disk" of memory backends: share it to reopen.
#[derive(Debug, Clone, Default)]
pub struct MemoryData(Arc<Mutex<Tables>>);

#[derive(Debug, Default)]
pub struct MemoryBackend {
    data: MemoryData,
}

impl MemoryBackend {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn open(data: &MemoryData) -> Self {
        MemoryBackend { data: data.clone() }
    }
}

impl Backend for MemoryBackend {
    fn load(&mut self, now_ms: u64) -> Result<Snapshot, StoreError> {
        let mut t = self.data.0.lock().unwrap_or_else(|e| e.into_inner());
        let t = &mut *t;
        let mut snapshot = Snapshot::default();
        let expired: Vec<Arc<str>> = t
            .sessions
            .values()
            .filter(|s| s.expires_at(now_ms).is_some_and(|at| at <= now_ms))
            .map(|s| s.client_id.clone())
            .collect();
        for client_id in &expired {
            t.sessions.remove(client_id);
            if let Some(will) = t.wills.remove(client_id) {
                snapshot.orphan_wills.push(will);
            }
        }
        // Rows of sessions that no longer exist, and expired messages.
        let sessions = &t.sessions;
        t.subscriptions.retain(|(c, _), _| sessions.contains_key(c));
        t.queued
            .retain(|(c, _), q| sessions.contains_key(c) && !q.message.is_expired(now_ms));
        t.wills.retain(|c, _| sessions.contains_key(c));
        let queued = &t.queued;
        t.inflight.retain(|k, _| queued.contains_key(k));
        t.retained.retain(|_, m| !m.is_expired(now_ms));

        for (client_id, record) in &t.sessions {
            let mut loaded = LoadedSession::default();
            let lo = (client_id.clone(), String::new());
            for ((c, _), sub) in t.subscriptions.range(lo..) {
                if c != client_id {
                    break;
                }
                loaded.subscriptions.push(sub.clone());
            }
            for ((c, _), q) in t.queued.range((client_id.clone(), 0)..) {
                if c != client_id {
                    break;
                }
                loaded.queue.push(q.clone());
            }
            for ((c, _), f) in t.inflight.range((client_id.clone(), 0)..) {
                if c != client_id {
                    break;
                }
                loaded.inflight.push(*f);
            }
            loaded.will = t.wills.get(client_id).cloned();
            snapshot.sessions.push((record.clone(), loaded));
        }
        snapshot.retained = t
            .retained
            .iter()
            .map(|(topic, message)| RetainedRecord {
                topic: topic.clone(),
                message: message.clone(),
            })
            .collect();
        snapshot.records = t
            .records
            .iter()
            .map(|((kind, key), value)| Record {
                kind: kind.clone(),
                key: key.clone(),
                value: value.clone(),
            })
            .collect();
        snapshot.shadows = t.shadows.values().cloned().collect();
        Ok(snapshot)
    }

    fn apply(&mut self, ops: &[Op]) -> Result<(), StoreError> {
        let mut t = self.data.0.lock().unwrap_or_else(|e| e.into_inner());
        for op in ops {
            match op {
                Op::SessionPut(record) => {
                    t.sessions.insert(record.client_id.clone(), record.clone());
                }
                Op::SessionDelete { client_id } => {
                    t.sessions.remove(client_id);
                    t.subscriptions.retain(|(c, _), _| c != client_id);
                    t.queued.retain(|(c, _), _| c != client_id);
                    t.inflight.retain(|(c, _), _| c != client_id);
                    t.wills.remove(client_id);
                }
                Op::Subscribe { client_id, sub } => {
                    t.subscriptions
                        .insert((client_id.clone(), sub.filter.clone()), sub.clone());
                }
                Op::Unsubscribe { client_id, filter } => {
                    t.subscriptions.remove(&(client_id.clone(), filter.clone()));
                }
                Op::Enqueue { client_id, record } => {
                    t.queued
                        .insert((client_id.clone(), record.seq), record.clone());
                }
                Op::Dequeue { client_id, seq } => {
                    t.queued.remove(&(client_id.clone(), *seq));
                    t.inflight.remove(&(client_id.clone(), *seq));
                }
                Op::InFlight { client_id, record } => {
                    t.inflight.insert((client_id.clone(), record.seq), *record);
                }
                Op::WillSet { client_id, will } => {
                    t.wills.insert(client_id.clone(), will.clone());
                }
                Op::WillClear { client_id } => {
                    t.wills.remove(client_id);
                }
                Op::RetainSet(r) => {
                    t.retained.insert(r.topic.clone(), r.message.clone());
                }
                Op::RetainClear { topic } => {
                    t.retained.remove(topic);
                }
                Op::RecordPut(r) => {
                    t.records
                        .insert((r.kind.clone(), r.key.clone()), r.value.clone());
                }
                Op::RecordDelete { kind, key } => {
                    t.records.remove(&(kind.clone(), key.clone()));
                }
                Op::ShadowPut(r) => {
                    t.shadows
                        .insert((r.thing.clone(), r.name.clone()), r.clone());
                }
            }
        }
        Ok(())
    }
}
