//! Kumo's MQTT broker: sessions, the subscription index, routing, QoS flows,
//! retained messages, wills and flow control, for MQTT 3.1.1 and 5.0.
//!
//! The broker is handed an already-accepted byte stream (plain TCP, TLS,
//! later WebSocket) together with what the listener learned about the peer
//! ([`ConnectionInfo`]). It never opens sockets, never reads certificates and
//! never queries storage: with a [`kumo_store::Store`] it queues changes for
//! the store's writer and waits only for the commits an acknowledgement
//! depends on (see `persist.rs`).
//!
//! Locks: the session table, each session's state and the subscription
//! index are `std::sync` locks (the index a per-thread-slot reader lock,
//! `read_mostly.rs`, as it is read on every PUBLISH) held for short
//! sections and never across an await. Order when nesting: session table → subscription index → session
//! state; nothing takes the index or the table while holding a session's
//! state, and the retained store is never held while taking another lock.

mod accept;
pub mod auth;
mod config;
mod connection;
mod counter;
mod events;
mod handshake;
pub mod index;
mod message;
mod persist;
mod read_mostly;
mod router;
pub mod service;
mod session;
mod writer;

pub use config::{BrokerConfig, Compat};
pub use message::Message;
pub use writer::PUBLISHER_PROPERTY;

use foldhash::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use kumo_mqtt::topic::HashMatch;
use kumo_mqtt::ReasonCode;
use kumo_store::{Snapshot, Store};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::Notify;

use index::SubIndex;
use read_mostly::ReadMostly;
use session::Session;

/// What the listener knows about an accepted connection.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The peer's address.
    pub remote: SocketAddr,
    /// Name of the listener that accepted it (`tcp`, `tls`, `alpn`, ...), for logs.
    pub listener: &'static str,
    /// The verified client certificate chain's leaf (DER), when the
    /// transport authenticated one.
    pub client_cert: Option<Vec<u8>>,
    /// The SNI host name the client asked for, if any.
    pub server_name: Option<String>,
    /// Who authenticated: the client certificate's id (lowercase hex
    /// SHA-256 of its DER), when there is one. [`Broker::disconnect_principal`]
    /// closes its connections. For an admin connection, the access key ID.
    pub principal: Option<Arc<str>>,
    /// Authenticated with Kumo's admin credentials (MQTT over WebSocket
    /// signed with them, the console's test client) rather than a device
    /// certificate; the authorizer is told so.
    pub admin: bool,
    /// Deliveries to this MQTT 5 connection carry the publishing client's
    /// ID as the user property `x-kumo-publisher` (the console's test
    /// client shows it).
    pub publisher_ids: bool,
}

/// A running broker. Cheap to clone: every clone is the same broker.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

/// A will waiting for its delay to pass.
struct PendingWill {
    generation: u64,
    /// Whose will it is (to clear it from the store once sent or cancelled).
    client_id: Arc<str>,
    message: Arc<Message>,
}

pub(crate) struct Inner {
    config: BrokerConfig,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    index: ReadMostly<SubIndex<Arc<Session>>>,
    retained: RwLock<HashMap<String, Retained>>,
    pending_wills: Mutex<HashMap<u64, PendingWill>>,
    /// Where persistent sessions and retained messages are kept, if anywhere.
    store: Option<Store>,
    /// Sequence numbers of stored queued messages (never reused).
    next_store_seq: AtomicU64,
    next_id: AtomicU64,
    shutting_down: AtomicBool,
    live_connections: AtomicUsize,
    /// Messages routed (from clients, the API and Kumo's own services) and
    /// deliveries queued to sessions, since start: the console's rates.
    messages_in: counter::Counter,
    messages_out: counter::Counter,
    /// Connections that asked for the publisher's client ID on deliveries
    /// (`ConnectionInfo::publisher_ids`): while there are none, messages do
    /// not carry it.
    publisher_ids_wanted: AtomicUsize,
    all_closed: Notify,
    /// Decides CONNECT and hands out each connection's permissions.
    authorizer: OnceLock<Arc<dyn auth::Authorizer>>,
    /// Answers requests on reserved topics (device shadows).
    service: OnceLock<Arc<dyn service::Service>>,
}

/// A retained message and when it was set.
pub(crate) struct Retained {
    msg: Arc<Message>,
    /// Unix milliseconds.
    modified_ms: u64,
}

fn retained_view(topic: &str, r: &Retained) -> RetainedMessage {
    RetainedMessage {
        topic: topic.to_owned(),
        payload: r.msg.payload.clone(),
        qos: r.msg.qos as u8,
        last_modified_ms: r.modified_ms,
        user_properties: r.msg.properties.user_properties.clone(),
    }
}

impl Retained {
    fn now(msg: Arc<Message>) -> Retained {
        let modified_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Retained { msg, modified_ms }
    }
}

/// A retained message, as the iot-data API shows it.
#[derive(Debug, Clone)]
pub struct RetainedMessage {
    pub topic: String,
    pub payload: bytes::Bytes,
    pub qos: u8,
    /// Unix milliseconds (since Kumo started, for messages retained before).
    pub last_modified_ms: u64,
    pub user_properties: Vec<(String, String)>,
}

/// Counters for logs and the console.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub connections: usize,
    pub sessions: usize,
    pub subscriptions: usize,
    pub retained: usize,
    /// Messages routed since start (every PUBLISH accepted from a client,
    /// the API or Kumo's own services).
    pub messages_in: u64,
    /// Deliveries queued to sessions since start.
    pub messages_out: u64,
}

impl Broker {
    /// A broker that keeps everything in memory only.
    pub fn new(config: BrokerConfig) -> Self {
        Self::build(config, None)
    }

    /// A broker that keeps persistent sessions (subscriptions and QoS 1/2
    /// queues) and retained messages in `store`, starting from what the
    /// store loaded. Call inside a tokio runtime (session expiry timers).
    pub fn with_store(config: BrokerConfig, store: Store, snapshot: Snapshot) -> Self {
        let broker = Self::build(config, Some(store));
        persist::restore(&broker.inner, snapshot);
        broker
    }

    fn build(config: BrokerConfig, store: Option<Store>) -> Self {
        let hash = match config.compat {
            Compat::Spec => HashMatch::IncludesParent,
            Compat::AwsStrict => HashMatch::ExcludesParent,
        };
        Broker {
            inner: Arc::new(Inner {
                config,
                sessions: Mutex::new(HashMap::default()),
                index: ReadMostly::new(SubIndex::new(hash)),
                retained: RwLock::new(HashMap::default()),
                pending_wills: Mutex::new(HashMap::default()),
                store,
                next_store_seq: AtomicU64::new(1),
                next_id: AtomicU64::new(1),
                shutting_down: AtomicBool::new(false),
                live_connections: AtomicUsize::new(0),
                messages_in: Default::default(),
                messages_out: Default::default(),
                publisher_ids_wanted: AtomicUsize::new(0),
                all_closed: Notify::new(),
                authorizer: OnceLock::new(),
                service: OnceLock::new(),
            }),
        }
    }

    pub fn config(&self) -> &BrokerConfig {
        &self.inner.config
    }

    /// Serve one accepted connection until it ends. Spawn this per connection.
    pub async fn serve<S>(&self, stream: S, info: ConnectionInfo)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        if self.inner.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        self.inner.live_connections.fetch_add(1, Ordering::SeqCst);
        connection::run(self.inner.clone(), stream, info).await;
        if self.inner.live_connections.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.all_closed.notify_waiters();
        }
    }

    /// Graceful shutdown: send every MQTT 5 client DISCONNECT 0x8B (Server
    /// shutting down), close every connection, publish the wills the spec
    /// requires (a closing server ends every session, so delayed wills go
    /// out now), and wait up to five seconds for the connection tasks to end.
    /// Stop accepting before calling this.
    pub async fn shutdown(&self) {
        let inner = &self.inner;
        inner.shutting_down.store(true, Ordering::SeqCst);
        let links: Vec<_> = {
            let sessions = inner.sessions.lock().unwrap_or_else(|e| e.into_inner());
            sessions
                .values()
                .filter_map(|s| s.lock().link.clone())
                .collect()
        };
        for link in &links {
            link.kick(ReasonCode::ServerShuttingDown);
        }
        let wait_all = async {
            for link in links {
                link.wait_closed().await;
            }
            loop {
                let notified = inner.all_closed.notified();
                if inner.live_connections.load(Ordering::SeqCst) == 0 {
                    break;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(5), wait_all)
            .await
            .is_err()
        {
            tracing::warn!("connections still open after 5 s; closing anyway");
        }
        // Without a store the sessions end here, so their delayed wills are
        // due now. With one, sessions and their will timers outlive the
        // restart: a client that reconnects in time still cancels its will.
        let wills: Vec<_> = if inner.store.is_some() {
            Vec::new()
        } else {
            let mut pending = inner
                .pending_wills
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            pending.drain().map(|(_, w)| w.message).collect()
        };
        for will in wills {
            inner.publish(will);
        }
    }

    /// Publish a message from Kumo itself (registry events such as
    /// `$aws/events/certificates/registered/...`): QoS 1, not retained,
    /// routed like any other. Returns how many sessions it reached.
    pub fn publish_event(&self, topic: &str, payload: Vec<u8>) -> usize {
        let msg = message::Message::new(
            bytes::Bytes::copy_from_slice(topic.as_bytes()),
            bytes::Bytes::from(payload),
            kumo_mqtt::QoS::AtLeastOnce,
            false,
            kumo_mqtt::Properties::default(),
            None,
            0,
        );
        self.inner.publish(msg)
    }

    /// Publish a message on behalf of an API client (iot-data `Publish`):
    /// routed and retained like a client's PUBLISH, with the MQTT 5
    /// properties given (payload format, content type, response topic,
    /// correlation data, user properties) and an optional expiry. Returns
    /// how many sessions it reached, once everything that had to be stored
    /// (a retained message, QoS 1 deliveries to persistent sessions) is on
    /// disk.
    pub async fn publish_api(
        &self,
        topic: &str,
        payload: bytes::Bytes,
        qos: kumo_mqtt::QoS,
        retain: bool,
        properties: kumo_mqtt::Properties,
        expiry: Option<Duration>,
    ) -> Result<usize, kumo_store::StoreError> {
        let msg = message::Message::new(
            bytes::Bytes::copy_from_slice(topic.as_bytes()),
            payload,
            qos,
            retain,
            properties,
            expiry.map(|d| std::time::Instant::now() + d),
            0,
        );
        let mut commits = Vec::new();
        let n = self.inner.publish_from(msg, &mut Vec::new(), &mut commits);
        for c in commits {
            c.wait().await?;
        }
        Ok(n)
    }

    /// Whether a client with this id is connected now.
    pub fn is_connected(&self, client_id: &str) -> bool {
        let sessions = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        sessions.get(client_id).is_some_and(|s| s.is_connected())
    }

    /// The retained message of `topic`, if there is one (not expired).
    pub fn retained_message(&self, topic: &str) -> Option<RetainedMessage> {
        let retained = self
            .inner
            .retained
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let r = retained.get(topic)?;
        (!r.msg.is_expired(std::time::Instant::now())).then(|| retained_view(topic, r))
    }

    /// Every retained message (not expired), ordered by topic, from the
    /// first topic after `after`, at most `limit`; and whether more follow.
    pub fn retained_messages(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> (Vec<RetainedMessage>, bool) {
        let now = std::time::Instant::now();
        let retained = self
            .inner
            .retained
            .read()
            .unwrap_or_else(|e| e.into_inner());
        let mut topics: Vec<&String> = retained
            .iter()
            .filter(|(t, r)| !r.msg.is_expired(now) && after.is_none_or(|a| t.as_str() > a))
            .map(|(t, _)| t)
            .collect();
        topics.sort();
        let more = topics.len() > limit;
        let page = topics
            .into_iter()
            .take(limit)
            .map(|t| retained_view(t, &retained[t]))
            .collect();
        (page, more)
    }

    /// Who decides what clients may do (see [`auth`]). Set it once, before
    /// serving; without one everything is allowed.
    pub fn set_authorizer(&self, authorizer: Arc<dyn auth::Authorizer>) {
        if self.inner.authorizer.set(authorizer).is_err() {
            tracing::warn!("an authorizer was already set; keeping the first");
        }
    }

    /// Who answers requests on reserved topics (see [`service`]). Set it
    /// once, before serving.
    pub fn set_service(&self, service: Arc<dyn service::Service>) {
        if self.inner.service.set(service).is_err() {
            tracing::warn!("a service was already set; keeping the first");
        }
    }

    /// Close every connection that authenticated as `principal` (a
    /// certificate that was deactivated, revoked or deleted). MQTT 5
    /// clients get DISCONNECT 0x87 (Not authorized). Returns how many.
    pub fn disconnect_principal(&self, principal: &str) -> usize {
        let links: Vec<_> = {
            let sessions = self
                .inner
                .sessions
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            sessions
                .values()
                .filter_map(|s| s.lock().link.clone())
                .filter(|l| l.principal.as_deref() == Some(principal))
                .collect()
        };
        for link in &links {
            link.kick(ReasonCode::NotAuthorized);
        }
        links.len()
    }

    /// The client IDs of the connections that authenticated as
    /// `principal` (a certificate id), sorted.
    pub fn clients_of(&self, principal: &str) -> Vec<String> {
        let sessions = self
            .inner
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut ids: Vec<String> = sessions
            .iter()
            .filter(|(_, s)| {
                s.lock()
                    .link
                    .as_ref()
                    .is_some_and(|l| l.principal.as_deref() == Some(principal))
            })
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    pub fn stats(&self) -> Stats {
        let inner = &self.inner;
        Stats {
            connections: inner.live_connections.load(Ordering::Relaxed),
            sessions: inner.sessions.lock().map(|s| s.len()).unwrap_or(0),
            subscriptions: inner.index.read().len(),
            retained: inner.retained.read().map(|r| r.len()).unwrap_or(0),
            messages_in: inner.messages_in.get(),
            messages_out: inner.messages_out.get(),
        }
    }
}
