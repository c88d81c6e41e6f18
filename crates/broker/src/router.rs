//! Routing and the broker-wide tables: publish a message to every matching
//! session, keep retained messages, create, resume, end and expire sessions,
//! and fire delayed wills.

use foldhash::fast::FixedState;
use std::collections::HashMap;

/// Targets of one publish by session id: built only past 16 targets, keyed by
/// our own ids (no untrusted keys), so a fixed hasher saves seeding one per
/// publish.
type BySession = HashMap<u64, usize, FixedState>;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kumo_mqtt::topic::{self, HashMatch};
use kumo_mqtt::{QoS, RetainHandling, TopicFilter};

use crate::index::{Entry, Hit};
use crate::message::Message;
use crate::persist;
use crate::session::{Durable, Enqueued, OutMsg, Session, Subscription};
use crate::{Compat, Inner, PendingWill};
use kumo_store::{Commit, Op, RetainedRecord, WillRecord};

/// A session's share of one publish: the aggregate of its matching
/// subscriptions ([MQTT-3.3.4-2]: maximum QoS; all subscription identifiers).
struct Target {
    session: Arc<Session>,
    qos: QoS,
    retain_as_published: bool,
    sub_ids: Vec<u32>,
}

impl Inner {
    pub(crate) fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    fn hash_match(&self) -> HashMatch {
        match self.config.compat {
            Compat::Spec => HashMatch::IncludesParent,
            Compat::AwsStrict => HashMatch::ExcludesParent,
        }
    }

    /// Route a message to its subscribers and update the retained store.
    /// Returns how many sessions it was queued for; sessions whose queue is
    /// above its high-water mark are added to `congested`; what must be on
    /// disk before the publisher is acknowledged is added to `commits`.
    pub(crate) fn publish_from(
        &self,
        msg: Arc<Message>,
        congested: &mut Vec<Arc<Session>>,
        commits: &mut Vec<Commit>,
    ) -> usize {
        if msg.retain {
            if let Some(c) = self.retain(&msg) {
                persist::wait_for(commits, c);
            }
        }
        let mut plain: Vec<Target> = Vec::new();
        let mut by_session = BySession::default();
        let mut shared: Vec<Target> = Vec::new();
        {
            let index = self.index.read();
            index.for_each_match(
                msg.topic_str(),
                |s: &Arc<Session>| s.is_connected(),
                |hit| match hit {
                    Hit::Plain(e) => {
                        if e.options.no_local && e.key == msg.publisher {
                            return;
                        }
                        add_plain(&mut plain, &mut by_session, e);
                    }
                    Hit::Shared(e) => shared.push(target(e)),
                },
            );
        }
        let n = plain.len() + shared.len();
        self.messages_in.add(1);
        self.messages_out.add(n as u64);
        let mut durable = self.store.as_ref().map(|store| Durable {
            store,
            next_seq: &self.next_store_seq,
            commits,
        });
        for t in plain.into_iter().chain(shared) {
            let qos = t.qos.min(msg.qos);
            let retain = t.retain_as_published && msg.retain;
            let out = OutMsg {
                msg: msg.clone(),
                qos,
                retain,
                sub_ids: t.sub_ids,
                stored: None,
                restored: false,
            };
            let max = self.config.max_queued_messages;
            if t.session.enqueue(out, max, durable.as_mut()) == Enqueued::Congested {
                congested.push(t.session);
            }
        }
        n
    }

    /// Route a message that has no publisher to hold back (wills, retained
    /// replays): congestion is not waited for.
    pub(crate) fn publish(&self, msg: Arc<Message>) -> usize {
        self.publish_from(msg, &mut Vec::new(), &mut Vec::new())
    }

    fn retain(&self, msg: &Arc<Message>) -> Option<Commit> {
        let mut retained = self.retained.write().unwrap_or_else(|e| e.into_inner());
        let topic = msg.topic_str();
        // Under the lock, so the store sees changes to a topic in the order
        // the map does.
        if msg.payload.is_empty() {
            let had = retained.remove(topic).is_some();
            had.then(|| {
                self.persist([Op::RetainClear {
                    topic: topic.to_owned(),
                }])
            })
            .flatten()
        } else {
            retained.insert(topic.to_owned(), crate::Retained::now(msg.clone()));
            self.persist([Op::RetainSet(RetainedRecord {
                topic: topic.to_owned(),
                message: msg.to_stored(),
            })])
        }
    }

    /// Retained messages matching a new subscription, per its retain handling.
    pub(crate) fn retained_for(&self, sub: &Subscription, existed: bool) -> Vec<Arc<Message>> {
        let wanted = match sub.options.retain_handling {
            RetainHandling::OnSubscribe => true,
            RetainHandling::OnNewSubscribe => !existed,
            RetainHandling::Never => false,
        };
        // Shared subscriptions never receive retained messages [MQTT-4.8.2].
        if !wanted || sub.filter.share_group().is_some() || !self.config.retain_available {
            return Vec::new();
        }
        let now = Instant::now();
        let retained = self.retained.read().unwrap_or_else(|e| e.into_inner());
        let filter = sub.filter.filter();
        if !sub.filter.has_wildcards() {
            return retained
                .get(filter)
                .map(|r| &r.msg)
                .filter(|m| !m.is_expired(now))
                .cloned()
                .into_iter()
                .collect();
        }
        if self.config.compat == Compat::AwsStrict {
            // AWS IoT Core sends retained messages only to exact-match subscriptions.
            return Vec::new();
        }
        let hash = self.hash_match();
        let mut found: Vec<Arc<Message>> = retained
            .iter()
            .filter(|(t, r)| !r.msg.is_expired(now) && topic::matches(filter, t, hash))
            .map(|(_, r)| r.msg.clone())
            .collect();
        found.sort_by(|a, b| a.topic.cmp(&b.topic));
        found
    }

    /// Add a subscription to the index; true if the session had none for this filter.
    pub(crate) fn index_insert(&self, session: &Arc<Session>, sub: &Subscription) -> bool {
        let mut index = self.index.write();
        index.insert(
            &sub.filter,
            Entry {
                key: session.id,
                value: session.clone(),
                options: sub.options,
                id: sub.id,
            },
        )
    }

    pub(crate) fn index_remove(&self, session: &Session, filter: &TopicFilter) -> bool {
        let mut index = self.index.write();
        index.remove(filter, session.id)
    }

    /// Forget a session: its subscriptions leave the index, it leaves the table
    /// (if it is still the one registered under its client ID).
    pub(crate) fn end_session(&self, session: &Arc<Session>) {
        {
            let mut sessions = self.sessions.lock().unwrap_or_else(|e| e.into_inner());
            if sessions
                .get(&*session.client_id)
                .is_some_and(|s| Arc::ptr_eq(s, session))
            {
                sessions.remove(&*session.client_id);
            }
        }
        self.drop_subscriptions(session);
    }

    pub(crate) fn drop_subscriptions(&self, session: &Session) {
        let subs: Vec<Subscription> = {
            let mut st = session.lock();
            if std::mem::take(&mut st.persisted) {
                self.persist([Op::SessionDelete {
                    client_id: session.client_id.clone(),
                }]);
            }
            st.queue.clear();
            st.inflight.clear();
            st.subscriptions.drain().map(|(_, s)| s).collect()
        };
        let mut index = self.index.write();
        for s in subs {
            index.remove(&s.filter, session.id);
        }
    }

    /// After a connection detached: end the session now (expiry 0), or
    /// schedule its expiry.
    pub(crate) fn schedule_expiry(
        self: &Arc<Self>,
        session: Arc<Session>,
        generation: u64,
        expiry: u32,
    ) {
        // A stopping broker without a store loses its sessions anyway: end
        // them now. With a store they outlive the restart.
        let stopping = self.shutting_down.load(Ordering::SeqCst) && self.store.is_none();
        if expiry == 0 || stopping && expiry != u32::MAX {
            self.end_session(&session);
            return;
        }
        if self.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        if expiry == u32::MAX {
            return;
        }
        let inner = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(u64::from(expiry))).await;
            let still_away = {
                let st = session.lock();
                st.generation == generation && st.link.is_none()
            };
            if still_away {
                tracing::debug!(client_id = %session.client_id, "session expired");
                inner.fire_pending_will(session.id, generation);
                inner.end_session(&session);
            }
        });
    }

    /// Publish a will now, or after its delay unless the session resumes first.
    pub(crate) fn schedule_will(
        self: &Arc<Self>,
        session: &Arc<Session>,
        generation: u64,
        will: Arc<Message>,
        delay: u32,
        expiry: u32,
    ) {
        let delay = delay.min(expiry);
        let stopping = self.shutting_down.load(Ordering::SeqCst);
        let persisted = session.lock().persisted;
        if delay == 0 || stopping && !persisted {
            self.publish(will);
            return;
        }
        if persisted {
            let at = persist::now_ms() + u64::from(delay) * 1000;
            let message = will.to_stored();
            self.persist([Op::WillSet {
                client_id: session.client_id.clone(),
                will: WillRecord { at, message },
            }]);
        }
        self.arm_will(
            session,
            generation,
            will,
            Duration::from_secs(u64::from(delay)),
        );
    }

    /// Keep a will pending and publish it after `delay`, unless its session
    /// is resumed (or the will otherwise taken) first.
    pub(crate) fn arm_will(
        self: &Arc<Self>,
        session: &Session,
        generation: u64,
        will: Arc<Message>,
        delay: Duration,
    ) {
        self.pending_wills
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                session.id,
                PendingWill {
                    generation,
                    client_id: session.client_id.clone(),
                    message: will,
                },
            );
        let inner = self.clone();
        let session_id = session.id;
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            inner.fire_pending_will(session_id, generation);
        });
    }

    /// Publish the pending will of this session generation, if still pending.
    pub(crate) fn fire_pending_will(&self, session_id: u64, generation: u64) {
        let will = {
            let mut pending = self.pending_wills.lock().unwrap_or_else(|e| e.into_inner());
            match pending.get(&session_id) {
                Some(w) if w.generation == generation => pending.remove(&session_id),
                _ => None,
            }
        };
        if let Some(w) = will {
            self.persist([Op::WillClear {
                client_id: w.client_id,
            }]);
            self.publish(w.message);
        }
    }

    /// Remove and return a session's pending will, whatever its generation.
    pub(crate) fn take_pending_will(&self, session: &Session) -> Option<Arc<Message>> {
        let mut pending = self.pending_wills.lock().unwrap_or_else(|e| e.into_inner());
        let w = pending.remove(&session.id)?;
        drop(pending);
        self.persist([Op::WillClear {
            client_id: w.client_id,
        }]);
        Some(w.message)
    }
}

fn target(e: &Entry<Arc<Session>>) -> Target {
    Target {
        session: e.value.clone(),
        qos: e.options.qos,
        retain_as_published: e.options.retain_as_published,
        sub_ids: e.id.into_iter().collect(),
    }
}

fn add_plain(plain: &mut Vec<Target>, by_session: &mut BySession, e: &Entry<Arc<Session>>) {
    // Few targets: a linear scan beats hashing. Many: index them.
    let existing = if plain.len() < 16 {
        plain.iter().position(|t| t.session.id == e.key)
    } else {
        if by_session.is_empty() {
            by_session.extend(plain.iter().enumerate().map(|(i, t)| (t.session.id, i)));
        }
        by_session.get(&e.key).copied()
    };
    match existing {
        Some(i) => {
            let t = &mut plain[i];
            t.qos = t.qos.max(e.options.qos);
            t.retain_as_published |= e.options.retain_as_published;
            t.sub_ids.extend(e.id);
        }
        None => {
            if !by_session.is_empty() {
                by_session.insert(e.key, plain.len());
            }
            plain.push(target(e));
        }
    }
}
