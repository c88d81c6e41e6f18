//! The device shadow service: the async edge around `kumo-shadow`.
//!
//! Requests arrive from two doors: MQTT (a PUBLISH to
//! `$aws/things/{thing}/shadow[/name/{name}]/get|update|delete`, offered by
//! the broker through [`kumo_broker::service::Service`]) and the admin API
//! (`kumo shadow ...`, later the HTTP API). Both end in [`Inner::drain`].
//!
//! - **Order.** Each shadow has a queue; one task at a time drains it, so
//!   the requests to one shadow are answered in the order they arrived and
//!   two concurrent updates never lose one. Different shadows proceed in
//!   parallel, and their writes share the store's group commits.
//! - **Durability.** An update or delete is answered (accepted, delta,
//!   documents) only once its new state is on disk; if the write fails the
//!   shadow keeps its old state and the requester gets 500.
//! - **No queries.** All shadows live in memory, loaded at start; the store
//!   only receives the changes.
//! - **Limits.** At most [`MAX_IN_FLIGHT`] MQTT requests per connection
//!   wait for an answer; more are rejected with 429 at once, as AWS does.
//! - **Answers** are ordinary messages published by Kumo, routed to every
//!   subscriber allowed to receive them (the AWS SDK subscribes to
//!   `.../get/+`). Over the admin API the caller gets the document back and
//!   no `/rejected` message is published, like AWS's HTTP API.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use foldhash::HashMap;
use kumo_broker::service::{Request, Service};
use kumo_broker::Broker;
use kumo_shadow::{Operation, Response, Shadow, ShadowError};
use kumo_store::{Op, ShadowRecord, Store};
use tokio::sync::oneshot;
use tracing::{debug, warn};

/// MQTT requests one connection may have waiting for an answer (AWS: 10).
pub const MAX_IN_FLIGHT: u32 = 10;

/// A shadow: its thing, and its name (`None`: the classic shadow).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    thing: Box<str>,
    name: Option<Box<str>>,
}

impl Key {
    /// What a 404 names: the shadow's name, or the thing's for a classic one.
    fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.thing)
    }
}

/// Who asked, and so where the answer goes.
enum Origin {
    /// Published on this connection: answers are published.
    Mqtt { connection: u64 },
    /// The admin API: the caller gets the accepted document or the error.
    Api(oneshot::Sender<Result<Vec<u8>, ShadowError>>),
}

struct Job {
    operation: Operation,
    payload: Bytes,
    origin: Origin,
}

#[derive(Default)]
struct Slot {
    shadow: Shadow,
    queue: VecDeque<Job>,
    /// A task is draining `queue`.
    draining: bool,
}

struct Inner {
    shadows: Mutex<HashMap<Key, Arc<Mutex<Slot>>>>,
    /// MQTT requests waiting for an answer, per connection (absent: none).
    in_flight: Mutex<HashMap<u64, u32>>,
    store: Store,
    broker: Broker,
    clock: fn() -> u64,
}

/// The shadow service. Cheap to clone.
#[derive(Clone)]
pub struct ShadowService {
    inner: Arc<Inner>,
}

/// Why the stored shadows could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("stored shadow {thing}/{name}: {detail}")]
pub struct LoadError {
    thing: String,
    name: String,
    detail: String,
}

impl ShadowService {
    /// The service over the shadows the store loaded. Call inside a tokio
    /// runtime.
    pub fn new(
        broker: Broker,
        store: Store,
        stored: Vec<ShadowRecord>,
    ) -> Result<ShadowService, LoadError> {
        let mut shadows = HashMap::default();
        for r in stored {
            let document = match &r.document {
                None => None,
                Some(bytes) => {
                    Some(
                        kumo_shadow::Document::from_bytes(bytes).map_err(|e| LoadError {
                            thing: r.thing.clone(),
                            name: r.name.clone(),
                            detail: e.to_string(),
                        })?,
                    )
                }
            };
            let key = Key {
                thing: r.thing.into(),
                name: (!r.name.is_empty()).then(|| r.name.into()),
            };
            let slot = Slot {
                shadow: Shadow {
                    version: r.version,
                    document,
                },
                ..Slot::default()
            };
            shadows.insert(key, Arc::new(Mutex::new(slot)));
        }
        Ok(ShadowService {
            inner: Arc::new(Inner {
                shadows: Mutex::new(shadows),
                in_flight: Mutex::new(HashMap::default()),
                store,
                broker,
                clock: now_secs,
            }),
        })
    }

    /// `thing`'s shadows that exist — classic first, then named by name —
    /// each as its GET document.
    pub fn documents_of(&self, thing: &str) -> Vec<(Option<String>, Vec<u8>)> {
        let now = (self.inner.clock)();
        let shadows = lock(&self.inner.shadows);
        let mut out: Vec<(Option<String>, Vec<u8>)> = shadows
            .iter()
            .filter(|(k, _)| &*k.thing == thing)
            .filter_map(|(k, slot)| {
                let s = lock(slot);
                let doc = s.shadow.document.as_ref()?;
                Some((
                    k.name.as_deref().map(str::to_owned),
                    kumo_shadow::get_document(doc, s.shadow.version, None, now),
                ))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// How many shadows exist (deleted ones not counted).
    pub fn count(&self) -> usize {
        let shadows = lock(&self.inner.shadows);
        shadows.values().filter(|s| lock(s).shadow.exists()).count()
    }

    /// The names of `thing`'s named shadows that exist, sorted.
    pub fn named_shadows(&self, thing: &str) -> Vec<String> {
        let shadows = lock(&self.inner.shadows);
        let mut names: Vec<String> = shadows
            .iter()
            .filter(|(k, slot)| &*k.thing == thing && lock(slot).shadow.exists())
            .filter_map(|(k, _)| k.name.as_deref().map(str::to_owned))
            .collect();
        names.sort();
        names
    }

    /// A request from the admin API: the accepted document, or the error
    /// document's contents. Answers are published as for MQTT requests,
    /// except `/rejected`.
    pub async fn execute(
        &self,
        thing: &str,
        name: Option<&str>,
        operation: Operation,
        payload: Bytes,
    ) -> Result<Vec<u8>, ShadowError> {
        let (tx, rx) = oneshot::channel();
        let key = Key {
            thing: thing.into(),
            name: name.map(Into::into),
        };
        self.inner.enqueue(
            key,
            Job {
                operation,
                payload,
                origin: Origin::Api(tx),
            },
        );
        rx.await
            .unwrap_or_else(|_| Err(ShadowError::internal(None)))
    }
}

impl Service for ShadowService {
    fn offer(&self, request: &Request<'_>) -> bool {
        let Some(topic) = kumo_shadow::parse_request_topic(request.topic) else {
            return false;
        };
        let key = Key {
            thing: topic.thing.into(),
            name: topic.shadow.map(Into::into),
        };
        let inner = &self.inner;
        {
            let mut in_flight = lock(&inner.in_flight);
            let n = in_flight.entry(request.connection).or_insert(0);
            if *n >= MAX_IN_FLIGHT {
                drop(in_flight);
                debug!(
                    client_id = request.client_id,
                    topic = request.topic,
                    "shadow request rejected: {MAX_IN_FLIGHT} already in flight on this connection"
                );
                let e = ShadowError::too_many_requests(kumo_shadow::client_token(request.payload));
                inner.publish(
                    &key,
                    topic.operation,
                    Response::Rejected,
                    e.to_document((inner.clock)()),
                );
                return true;
            }
            *n += 1;
        }
        inner.enqueue(
            key,
            Job {
                operation: topic.operation,
                payload: request.payload.clone(),
                origin: Origin::Mqtt {
                    connection: request.connection,
                },
            },
        );
        true
    }
}

impl Inner {
    fn enqueue(self: &Arc<Self>, key: Key, job: Job) {
        // Map, then slot: the order `drain` also takes them in when it
        // forgets a shadow that never existed.
        let (slot, start) = {
            let mut shadows = lock(&self.shadows);
            let slot = shadows.entry(key.clone()).or_default().clone();
            let mut s = lock(&slot);
            s.queue.push_back(job);
            let start = !std::mem::replace(&mut s.draining, true);
            drop(s);
            (slot, start)
        };
        if start {
            tokio::spawn(self.clone().drain(key, slot));
        }
    }

    /// Answer the queued requests of one shadow, in order, until none is
    /// left.
    async fn drain(self: Arc<Self>, key: Key, slot: Arc<Mutex<Slot>>) {
        loop {
            let (job, current) = {
                let mut s = lock(&slot);
                match s.queue.pop_front() {
                    Some(job) => {
                        let current = s.shadow.clone();
                        (job, current)
                    }
                    None => {
                        s.draining = false;
                        let never_existed = s.shadow.version == 0;
                        drop(s);
                        if never_existed {
                            // A get or a refused update of a shadow that
                            // does not exist leaves nothing behind.
                            let mut shadows = lock(&self.shadows);
                            let s = lock(&slot);
                            if !s.draining && s.shadow.version == 0 {
                                shadows.remove(&key);
                            }
                        }
                        return;
                    }
                }
            };
            let now = (self.clock)();
            let answer = self.answer(&key, &slot, &job, &current, now).await;
            self.reply(&key, job, answer, now);
        }
    }

    /// Compute one request's answer and make its change durable.
    async fn answer(
        &self,
        key: &Key,
        slot: &Mutex<Slot>,
        job: &Job,
        current: &Shadow,
        now: u64,
    ) -> Result<Answer, ShadowError> {
        let (next, answer) = match job.operation {
            Operation::Get => {
                let doc = kumo_shadow::get(current, &job.payload, key.label(), now)?;
                return Ok(Answer {
                    accepted: doc,
                    delta: None,
                    documents: None,
                });
            }
            Operation::Update => {
                let u = kumo_shadow::update(current, &job.payload, now)?;
                let answer = Answer {
                    accepted: u.accepted,
                    delta: u.delta,
                    documents: Some(u.documents),
                };
                (u.shadow, answer)
            }
            Operation::Delete => {
                let d = kumo_shadow::delete(current, &job.payload, key.label(), now)?;
                let answer = Answer {
                    accepted: d.accepted,
                    delta: None,
                    documents: None,
                };
                (d.shadow, answer)
            }
        };
        let record = ShadowRecord {
            thing: key.thing.to_string(),
            name: key.name.as_deref().unwrap_or("").to_owned(),
            version: next.version,
            document: next.document.as_ref().map(|d| Bytes::from(d.to_bytes())),
        };
        if let Err(e) = self.store.submit_one(Op::ShadowPut(record)).wait().await {
            warn!(thing = %key.thing, shadow = key.name.as_deref().unwrap_or(""),
                "shadow change not stored: {e}");
            return Err(ShadowError::internal(kumo_shadow::client_token(
                &job.payload,
            )));
        }
        lock(slot).shadow = next;
        Ok(answer)
    }

    fn reply(&self, key: &Key, job: Job, answer: Result<Answer, ShadowError>, now: u64) {
        let op = job.operation;
        if let Ok(a) = &answer {
            self.publish(key, op, Response::Accepted, a.accepted.clone());
            if let Some(delta) = &a.delta {
                self.publish(key, op, Response::Delta, delta.clone());
            }
            if let Some(documents) = &a.documents {
                self.publish(key, op, Response::Documents, documents.clone());
            }
        }
        match job.origin {
            Origin::Mqtt { connection } => {
                if let Err(e) = &answer {
                    self.publish(key, op, Response::Rejected, e.to_document(now));
                }
                let mut in_flight = lock(&self.in_flight);
                if let Some(n) = in_flight.get_mut(&connection) {
                    *n -= 1;
                    if *n == 0 {
                        in_flight.remove(&connection);
                    }
                }
            }
            Origin::Api(tx) => {
                let _ = tx.send(answer.map(|a| a.accepted));
            }
        }
    }

    fn publish(&self, key: &Key, op: Operation, response: Response, payload: Vec<u8>) {
        let topic = kumo_shadow::response_topic(&key.thing, key.name.as_deref(), op, response);
        self.broker.publish_event(&topic, payload);
    }
}

/// What an accepted request publishes.
struct Answer {
    accepted: Vec<u8>,
    delta: Option<Vec<u8>>,
    documents: Option<Vec<u8>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_secs() -> u64 {
    crate::admin::now_ms() / 1000
}
