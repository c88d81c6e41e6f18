//! A session: what the broker keeps for one client ID between and during
//! connections — subscriptions, queued messages, QoS 1/2 state — and the
//! link to the connection currently attached to it, if any.
//!
//! All of it sits behind one `std::sync::Mutex`, held only for short,
//! non-async sections. Publishers push into the queue and wake the
//! connection's writer through `notify`.

use std::collections::VecDeque;

use foldhash::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kumo_mqtt::{QoS, ReasonCode, SubscriptionOptions, TopicFilter};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use kumo_store::{Commit, Op, QueuedRecord, Store};

use crate::persist;

use tokio::sync::Notify;

use crate::message::Message;

/// A message waiting to be sent to one session.
#[derive(Debug, Clone)]
pub struct OutMsg {
    pub msg: Arc<Message>,
    /// Delivery QoS: min(published, granted).
    pub qos: QoS,
    /// RETAIN flag to send.
    pub retain: bool,
    /// Subscription identifiers of the matching subscriptions (MQTT 5).
    pub sub_ids: Vec<u32>,
    /// Its sequence number in the store, if it is stored (QoS 1/2 for a
    /// persistent session); dequeued there once acknowledged or dropped.
    pub stored: Option<u64>,
    /// Restored from the store at start: it may have reached the client
    /// before Kumo stopped, so it goes out with DUP set.
    pub restored: bool,
}

/// Where an outgoing QoS 1/2 message is in its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// PUBLISH sent; waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
    Published,
    /// PUBREL sent; waiting for PUBCOMP.
    Released,
}

#[derive(Debug)]
pub struct InFlight {
    pub out: OutMsg,
    pub phase: Phase,
    /// Send order, for redelivery in the original order.
    pub seq: u64,
}

/// How other tasks reach a live connection: ask it to close, and wait
/// until it has. (A few atomics and two `Notify`s: an mpsc and a watch
/// channel cost ~1 KiB per idle connection.)
#[derive(Debug, Default)]
pub struct Control {
    /// The reason to close with; 0 while nobody asked.
    kick: AtomicU8,
    kicked: Notify,
    closed: AtomicBool,
    closed_notify: Notify,
}

impl Control {
    /// Ask the connection to close with this reason (the first reason wins).
    pub fn kick(&self, reason: ReasonCode) {
        let _ = self
            .kick
            .compare_exchange(0, reason as u8, Ordering::AcqRel, Ordering::Acquire);
        self.kicked.notify_one();
    }

    /// The reason someone asked the connection to close with, if they have.
    pub fn kick_reason(&self) -> Option<ReasonCode> {
        match self.kick.load(Ordering::Acquire) {
            0 => None,
            code => Some(ReasonCode::from_u8(code).unwrap_or(ReasonCode::UnspecifiedError)),
        }
    }

    /// Resolves when someone asked the connection to close. One waiter: the reader.
    pub async fn kicked(&self) -> ReasonCode {
        loop {
            if let Some(reason) = self.kick_reason() {
                return reason;
            }
            self.kicked.notified().await;
        }
    }

    /// The connection's task has finished.
    pub fn set_closed(&self) {
        self.closed.store(true, Ordering::Release);
        self.closed_notify.notify_waiters();
    }

    pub async fn wait_closed(&self) {
        loop {
            let notified = self.closed_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.closed.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// Marks the connection closed when its task ends, however it ends.
pub struct ClosedOnDrop(pub Arc<Control>);

impl Drop for ClosedOnDrop {
    fn drop(&mut self) {
        self.0.set_closed();
    }
}

/// The attached connection, as seen from the session.
#[derive(Debug, Clone)]
pub struct Link {
    pub conn_id: u64,
    pub control: Arc<Control>,
    /// The certificate the connection authenticated with, if any.
    pub principal: Option<Arc<str>>,
}

impl Link {
    pub fn kick(&self, reason: ReasonCode) {
        self.control.kick(reason);
    }

    /// Wait until the connection's task has ended.
    pub async fn wait_closed(self) {
        self.control.wait_closed().await;
    }
}

#[derive(Debug, Clone)]
pub struct Subscription {
    pub filter: TopicFilter,
    pub options: SubscriptionOptions,
    pub id: Option<u32>,
}

#[derive(Debug, Default)]
pub struct State {
    pub link: Option<Link>,
    /// Keyed by the filter as the client wrote it (shared prefix included).
    pub subscriptions: HashMap<String, Subscription>,
    pub queue: VecDeque<OutMsg>,
    pub inflight: HashMap<u16, InFlight>,
    /// Set on attach: the writer resends everything in flight first.
    pub resend: bool,
    next_packet_id: u16,
    next_seq: u64,
    /// QoS 2 packet ids received and PUBREC'd, awaiting PUBREL.
    pub incoming_qos2: HashSet<u16>,
    /// Session Expiry Interval in seconds (u32::MAX = never).
    pub expiry: u32,
    /// Increments on every attach and detach; timers compare it to know
    /// whether the session moved on while they slept.
    pub generation: u64,
    /// A publisher is waiting for this session's queue to drain
    /// ([`Session::wait_for_room`]); the writer wakes it at low water.
    pub congested: bool,
    /// The client stopped reading for longer than a publisher would wait:
    /// drop at the queue limit instead of holding publishers up.
    pub stalled: bool,
    /// The store has this session (it had a non-zero expiry when attached,
    /// or was restored); ended sessions are deleted from it.
    pub persisted: bool,
}

impl State {
    /// A packet identifier not in use by an outgoing flow.
    pub fn allocate_packet_id(&mut self) -> Option<u16> {
        if self.inflight.len() >= u16::MAX as usize {
            return None;
        }
        loop {
            self.next_packet_id = self.next_packet_id.wrapping_add(1);
            if self.next_packet_id != 0 && !self.inflight.contains_key(&self.next_packet_id) {
                return Some(self.next_packet_id);
            }
        }
    }

    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }
}

#[derive(Debug)]
pub struct Session {
    /// Unique for the broker's lifetime; a new session for the same client
    /// ID (clean start) gets a new id.
    pub id: u64,
    pub client_id: Arc<str>,
    state: Mutex<State>,
    /// Wakes the attached connection's writer.
    pub notify: Notify,
    /// Wakes publishers waiting for room in the queue.
    pub room: Notify,
}

impl Session {
    pub fn new(id: u64, client_id: impl Into<Arc<str>>, expiry: u32) -> Arc<Session> {
        Arc::new(Session {
            id,
            client_id: client_id.into(),
            state: Mutex::new(State {
                expiry,
                ..State::default()
            }),
            notify: Notify::new(),
            room: Notify::new(),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves consistent-enough state for
        // the broker to go on; never propagate poison.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn is_connected(&self) -> bool {
        self.lock().link.is_some()
    }

    /// Queue a message for delivery.
    ///
    /// QoS 0 messages are dropped while no connection is attached, or when
    /// the queue is full. QoS 1/2 messages were acknowledged to their
    /// publisher, so a connected session takes them past the limit and says
    /// it is congested: the publisher's reader then waits for room
    /// ([`Session::wait_for_room`]) instead of the broker dropping what it
    /// acknowledged. Only a session that stalled (its client stopped reading
    /// for longer than the publisher would wait) or that is offline drops at
    /// the limit.
    pub fn enqueue(
        &self,
        mut out: OutMsg,
        max_queued: usize,
        durable: Option<&mut Durable<'_>>,
    ) -> Enqueued {
        let congested = {
            let mut st = self.lock();
            let connected = st.link.is_some();
            if !connected && out.qos == QoS::AtMostOnce {
                return Enqueued::Dropped;
            }
            let full = st.queue.len() >= max_queued;
            if full && (out.qos == QoS::AtMostOnce || !connected || st.stalled) {
                tracing::debug!(client_id = %self.client_id, "queue full: message dropped");
                return Enqueued::Dropped;
            }
            let mut commit = None;
            if let Some(d) = durable.as_deref() {
                if st.persisted && st.expiry > 0 && out.qos != QoS::AtMostOnce {
                    // Under the lock: the store hears of the message before
                    // the writer can send it and see it acknowledged.
                    let seq = d.next_seq.fetch_add(1, Ordering::Relaxed);
                    out.stored = Some(seq);
                    commit = Some(d.store.submit_one(Op::Enqueue {
                        client_id: self.client_id.clone(),
                        record: QueuedRecord {
                            seq,
                            qos: out.qos as u8,
                            retain: out.retain,
                            sub_ids: out.sub_ids.clone(),
                            message: out.msg.to_stored(),
                        },
                    }));
                }
            }
            st.queue.push_back(out);
            (
                connected && st.queue.len() >= high_water(max_queued),
                commit,
            )
        };
        let (congested, commit) = congested;
        if let (Some(c), Some(d)) = (commit, durable) {
            persist::wait_for(d.commits, c);
        }
        self.notify.notify_one();
        if congested {
            Enqueued::Congested
        } else {
            Enqueued::Queued
        }
    }

    /// Tell the store a stored message left the queue (acknowledged,
    /// expired or dropped).
    pub fn dequeued(&self, store: Option<&Store>, out: &OutMsg) {
        if let (Some(store), Some(seq)) = (store, out.stored) {
            let _ = store.submit_one(Op::Dequeue {
                client_id: self.client_id.clone(),
                seq,
            });
        }
    }

    /// Wait until the writer has brought the queue down to the low-water mark
    /// (or the connection went away). False if `patience` ran out first: the
    /// session is then marked stalled and drops at its limit until it drains.
    pub async fn wait_for_room(&self, max_queued: usize, patience: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.room.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                {
                    let mut st = self.lock();
                    if st.queue.len() <= low_water(max_queued) || st.link.is_none() || st.stalled {
                        return;
                    }
                    // Set under the same lock as the check: the writer, which
                    // clears it, wakes us when the queue is down to low water.
                    st.congested = true;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(patience, wait).await.is_ok() {
            return true;
        }
        let mut st = self.lock();
        st.stalled = true;
        tracing::debug!(client_id = %self.client_id, queued = st.queue.len(), inflight = st.inflight.len(),
            connected = st.link.is_some(), congested = st.congested, "subscriber stalled");
        false
    }
}

/// How a publish reaches the store: where to queue ops, the sequence
/// counter, and the commits the publisher must wait for before its ack.
pub struct Durable<'a> {
    pub store: &'a Store,
    pub next_seq: &'a AtomicU64,
    pub commits: &'a mut Vec<Commit>,
}

/// What became of an enqueued message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    Queued,
    /// Queued, and the queue is above its high-water mark.
    Congested,
    Dropped,
}

/// Most messages a connected subscriber's queue holds before publishers wait
/// for it. A connected client that keeps up drains far less than this between
/// two writes; a deeper queue only adds latency and memory (cold pages) while
/// the subscriber is the bottleneck. The queue limit itself
/// (`max_queued_messages`) still applies to offline sessions.
const BACKPRESSURE_AT: usize = 1024;

/// Queue length at which publishers start waiting for a connected subscriber.
pub fn high_water(max_queued: usize) -> usize {
    (max_queued / 2).clamp(1, BACKPRESSURE_AT)
}

/// Queue length at which waiting publishers go on.
pub fn low_water(max_queued: usize) -> usize {
    high_water(max_queued) / 2
}
