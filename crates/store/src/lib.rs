//! What Kumo keeps across restarts, and how it gets to disk.
//!
//! The broker (and, later, the registry and the shadow service) never run
//! queries on their hot paths. They keep their state in memory and describe
//! every change that must survive a restart as an [`Op`]. A [`Store`] hands
//! those ops to one writer thread, which applies whatever has accumulated as
//! a single transaction on a [`Backend`] — *group commit*: many connections'
//! changes share one transaction and one fsync. Whoever must not acknowledge
//! before the change is on disk (a QoS 1 PUBLISH queued for a persistent
//! session, a retained message) waits on the [`Commit`] its submission
//! returned; everyone else goes on.
//!
//! At start, [`Backend::load`] returns a [`Snapshot`] from which the broker
//! rebuilds its in-memory state.
//!
//! Backends: [`sqlite::SqliteBackend`] (the embedded default: one file in
//! WAL mode under the data directory) and [`memory::MemoryBackend`] (the
//! reference model, for tests). `tests/behaviour.rs` is the suite every
//! backend must pass; a new backend adds one line there.
//!
//! This crate knows nothing about MQTT semantics beyond the shape of what it
//! stores: messages are opaque encoded packets, subscriptions are filter text
//! and an options byte. Registry records (things, certificates, policies)
//! are opaque bytes under a kind and a key; shadow documents are opaque
//! bytes under a thing and a shadow name, next to their version.

pub mod memory;
mod model;
pub mod sqlite;
mod writer;

pub use model::{
    InFlightRecord, LoadedSession, Op, QueuedRecord, Record, RetainedRecord, SessionRecord,
    ShadowRecord, Snapshot, StoredMessage, SubscriptionRecord, WillRecord,
};
pub use writer::{Commit, Durability, Store};

/// Why storage failed. Every variant says what the operator can do about it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The file exists but is not a Kumo store (another program's database,
    /// or not a database at all). Kumo never overwrites it.
    #[error("{path}: not a Kumo data file ({detail}); refusing to use or overwrite it — move it away or choose another data directory")]
    Foreign { path: String, detail: String },
    /// The file was written by a newer Kumo than this one.
    #[error("{path}: written by a newer Kumo (schema version {found}, this build knows up to {known}); upgrade Kumo or use another data directory")]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
    /// The file is a Kumo store but its content does not decode.
    #[error("{path}: corrupt data ({detail})")]
    Corrupt { path: String, detail: String },
    /// The disk (or the file system quota) is full: nothing was written.
    #[error("storage full: {0}")]
    Full(String),
    /// Any other I/O or database failure.
    #[error("storage failed: {0}")]
    Io(String),
    /// The writer thread is gone (the broker is shutting down).
    #[error("storage is closed")]
    Closed,
}

/// A storage engine. Called from one thread only (the store's writer), so
/// implementations need no locking of their own.
pub trait Backend: Send + 'static {
    /// Everything persisted, with what had expired by `now_ms` (Unix
    /// milliseconds) already left out.
    fn load(&mut self, now_ms: u64) -> Result<Snapshot, StoreError>;

    /// Apply `ops` in order, atomically: after a crash either all of them
    /// are visible or none. Return only once they are durable — except
    /// `Dequeue`, which a backend may make durable a little later (losing
    /// one only means a message is delivered again).
    fn apply(&mut self, ops: &[Op]) -> Result<(), StoreError>;

    /// Called about every 100 ms while no ops arrive: write what was
    /// deferred.
    fn tick(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// The store is closing: make everything durable.
    fn close(&mut self) -> Result<(), StoreError> {
        Ok(())
    }
}

impl<B: Backend + ?Sized> Backend for Box<B> {
    fn load(&mut self, now_ms: u64) -> Result<Snapshot, StoreError> {
        (**self).load(now_ms)
    }

    fn apply(&mut self, ops: &[Op]) -> Result<(), StoreError> {
        (**self).apply(ops)
    }

    fn tick(&mut self) -> Result<(), StoreError> {
        (**self).tick()
    }

    fn close(&mut self) -> Result<(), StoreError> {
        (**self).close()
    }
}
