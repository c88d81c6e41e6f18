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

use kumo_mqtt::{ProtocolVersion, QoS, ReasonCode, SubscriptionOptions, TopicFilter};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

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
        let _ = self.kick.compare_exchange(0, reason as u8, Ordering::AcqRel, Ordering::Acquire);
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
    pub protocol: Option<ProtocolVersion>,
    /// Messages dropped because the queue was full.
    pub dropped: u64,
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
    pub client_id: String,
    state: Mutex<State>,
    /// Wakes the attached connection's writer.
    pub notify: Notify,
}

impl Session {
    pub fn new(id: u64, client_id: String, expiry: u32) -> Arc<Session> {
        Arc::new(Session {
            id,
            client_id,
            state: Mutex::new(State { expiry, ..State::default() }),
            notify: Notify::new(),
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

    /// Queue a message for delivery. QoS 0 messages are dropped while no
    /// connection is attached; anything beyond `max_queued` is dropped.
    pub fn enqueue(&self, out: OutMsg, max_queued: usize) {
        {
            let mut st = self.lock();
            if st.link.is_none() && out.qos == QoS::AtMostOnce {
                return;
            }
            if st.queue.len() >= max_queued {
                st.dropped += 1;
                return;
            }
            st.queue.push_back(out);
        }
        self.notify.notify_one();
    }
}
