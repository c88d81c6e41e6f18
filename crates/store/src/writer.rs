//! The group-commit writer: one thread that owns the [`Backend`] and applies
//! whatever ops have accumulated since its last transaction, as one
//! transaction.
//!
//! While a transaction (and its fsync) is running, new submissions pile up
//! in the next batch, so the more connections submit, the more each fsync
//! carries: the cost is amortised, never skipped.

use foldhash::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::Notify;

use crate::{Backend, Op, Snapshot, StoreError};

/// When an acknowledged change is on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Before it is acknowledged: [`Commit::wait`] returns once the
    /// transaction holding it is durable.
    Sync,
    /// Within `flush_interval` after it is acknowledged: [`Commit::wait`]
    /// returns at once, the writer commits at most that long after the first
    /// op of a batch arrived. A crash loses at most that window.
    Async { flush_interval: Duration },
}

/// The outcome of one transaction, shared by everyone whose ops it carried.
#[derive(Debug, Default)]
struct Batch {
    result: OnceLock<Result<(), StoreError>>,
    done: Notify,
}

impl Batch {
    fn finish(&self, result: Result<(), StoreError>) {
        let _ = self.result.set(result);
        self.done.notify_waiters();
    }
}

/// Resolves when the ops of one submission are durable (or failed).
#[derive(Debug, Clone)]
#[must_use = "a Commit says when the change is durable; wait on it before acknowledging"]
pub struct Commit(Option<Arc<Batch>>);

impl Commit {
    /// A commit with nothing to wait for.
    pub fn ready() -> Commit {
        Commit(None)
    }

    /// Wait until the transaction holding the submitted ops is durable.
    pub async fn wait(&self) -> Result<(), StoreError> {
        let Some(batch) = &self.0 else { return Ok(()) };
        loop {
            let done = batch.done.notified();
            tokio::pin!(done);
            done.as_mut().enable();
            if let Some(result) = batch.result.get() {
                return result.clone();
            }
            done.await;
        }
    }

    /// Whether two submissions landed in the same transaction (one wait covers both).
    pub fn same_batch(&self, other: &Commit) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    /// The result, if the transaction has finished.
    pub fn try_result(&self) -> Option<Result<(), StoreError>> {
        match &self.0 {
            None => Some(Ok(())),
            Some(batch) => batch.result.get().cloned(),
        }
    }
}

#[derive(Debug)]
struct Pending {
    ops: Vec<Op>,
    batch: Arc<Batch>,
    closed: bool,
}

#[derive(Debug)]
struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The handle the broker holds: submit changes, wait for durability.
/// Cheap to clone; the writer stops when [`Store::close`] is called.
#[derive(Debug, Clone)]
pub struct Store {
    shared: Arc<Shared>,
    durability: Durability,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Store {
    /// Load what `backend` holds (leaving out what expired by `now_ms`) and
    /// start its writer thread.
    pub fn open(
        mut backend: impl Backend,
        durability: Durability,
        now_ms: u64,
    ) -> Result<(Store, Snapshot), StoreError> {
        let snapshot = backend.load(now_ms)?;
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending {
                ops: Vec::new(),
                batch: Arc::default(),
                closed: false,
            }),
            wake: Condvar::new(),
        });
        let thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("kumo-store".into())
                .spawn(move || run(backend, &shared, durability))
                .map_err(|e| StoreError::Io(format!("cannot start the store thread: {e}")))?
        };
        let store = Store {
            shared,
            durability,
            thread: Arc::new(Mutex::new(Some(thread))),
        };
        Ok((store, snapshot))
    }

    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Queue `ops` for the next transaction. The returned [`Commit`] resolves
    /// when they are durable (at once under [`Durability::Async`]).
    pub fn submit(&self, ops: impl IntoIterator<Item = Op>) -> Commit {
        let mut pending = self.shared.lock();
        if pending.closed {
            return Commit(Some(Arc::new(Batch {
                result: OnceLock::from(Err(StoreError::Closed)),
                done: Notify::new(),
            })));
        }
        let was_empty = pending.ops.is_empty();
        pending.ops.extend(ops);
        let batch = pending.batch.clone();
        drop(pending);
        if was_empty {
            self.shared.wake.notify_one();
        }
        match self.durability {
            Durability::Sync => Commit(Some(batch)),
            Durability::Async { .. } => Commit::ready(),
        }
    }

    /// Submit one op.
    pub fn submit_one(&self, op: Op) -> Commit {
        self.submit(std::iter::once(op))
    }

    /// Commit what is pending and stop the writer. Later submissions fail
    /// with [`StoreError::Closed`].
    pub fn close(&self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_all();
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// How often an idle writer lets the backend do its housekeeping.
const TICK: Duration = Duration::from_millis(100);

fn run(mut backend: impl Backend, shared: &Shared, durability: Durability) {
    loop {
        let (mut ops, batch) = {
            let mut pending = shared.lock();
            while pending.ops.is_empty() && !pending.closed {
                let (guard, waited) = shared
                    .wake
                    .wait_timeout(pending, TICK)
                    .unwrap_or_else(|e| e.into_inner());
                pending = guard;
                if waited.timed_out() && pending.ops.is_empty() {
                    drop(pending);
                    if let Err(e) = backend.tick() {
                        tracing::warn!(error = %e, "storage housekeeping failed");
                    }
                    pending = shared.lock();
                }
            }
            if pending.ops.is_empty() {
                drop(pending);
                if let Err(e) = backend.close() {
                    tracing::error!(error = %e, "storage failed to close cleanly");
                }
                return; // closed, nothing left
            }
            if let Durability::Async { flush_interval } = durability {
                // Let the batch fill for up to the flush interval. (Sync
                // commits at once: under load, a commit delay as in
                // PostgreSQL cut CPU per message by a quarter through more
                // coalescing, but cost throughput, which is bound by how
                // fast acknowledgements come back.)
                if !pending.closed {
                    pending = shared
                        .wake
                        .wait_timeout_while(pending, flush_interval, |p| !p.closed)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
            let ops = std::mem::take(&mut pending.ops);
            let batch = std::mem::take(&mut pending.batch);
            (ops, batch)
        };
        coalesce(&mut ops);
        let result = if ops.is_empty() {
            Ok(())
        } else {
            backend.apply(&ops)
        };
        if let Err(e) = &result {
            tracing::error!(error = %e, ops = ops.len(), "storage write failed");
        }
        batch.finish(result);
    }
}

/// Drop what cancels out within one batch: a message queued and dequeued
/// in the same batch (delivered and acknowledged before it reached the disk)
/// is never written, nor is the packet id of one acknowledged in the batch.
/// Order of what remains is kept. Relies on the caller's promise that a `seq` is never reused for a client ID.
pub(crate) fn coalesce(ops: &mut Vec<Op>) {
    // Position of each Dequeue, by (client ID, seq).
    let dequeued: HashMap<(&str, u64), usize> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, op)| match op {
            Op::Dequeue { client_id, seq } => Some(((client_id.as_ref(), *seq), i)),
            _ => None,
        })
        .collect();
    if dequeued.is_empty() {
        return;
    }
    let mut drop = vec![false; ops.len()];
    let mut any = false;
    for (i, op) in ops.iter().enumerate() {
        match op {
            // Sequence numbers never repeat for a client ID (not even across
            // a new session), so a pair always means the same message.
            Op::Enqueue { client_id, record } => {
                if let Some(&j) = dequeued.get(&(client_id.as_ref(), record.seq)) {
                    drop[i] = true;
                    drop[j] = true;
                    any = true;
                }
            }
            Op::InFlight { client_id, record }
                if dequeued.contains_key(&(client_id.as_ref(), record.seq)) =>
            {
                drop[i] = true;
                any = true;
            }
            _ => {}
        }
    }
    if any {
        let mut i = 0;
        ops.retain(|_| {
            i += 1;
            !drop[i - 1]
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{QueuedRecord, StoredMessage};
    use bytes::Bytes;

    fn enq(c: &str, seq: u64) -> Op {
        Op::Enqueue {
            client_id: c.into(),
            record: QueuedRecord {
                seq,
                qos: 1,
                retain: false,
                sub_ids: vec![],
                message: StoredMessage {
                    packet: Bytes::from_static(b"x"),
                    expires_at: None,
                },
            },
        }
    }

    fn deq(c: &str, seq: u64) -> Op {
        Op::Dequeue {
            client_id: c.into(),
            seq,
        }
    }

    #[test]
    fn a_message_acknowledged_before_its_commit_is_never_written() {
        let mut ops = vec![
            enq("a", 1),
            enq("a", 2),
            enq("b", 1),
            deq("a", 1),
            deq("b", 7),
        ];
        coalesce(&mut ops);
        assert_eq!(ops, vec![enq("a", 2), enq("b", 1), deq("b", 7)]);
    }

    #[test]
    fn the_packet_id_of_a_message_acknowledged_in_the_batch_is_never_written() {
        let sent = |c: &str, seq| Op::InFlight {
            client_id: c.into(),
            record: crate::InFlightRecord {
                seq,
                packet_id: 1,
                released: false,
            },
        };
        let mut ops = vec![sent("a", 1), sent("a", 2), deq("a", 1)];
        coalesce(&mut ops);
        assert_eq!(ops, vec![sent("a", 2), deq("a", 1)]);
    }
}
