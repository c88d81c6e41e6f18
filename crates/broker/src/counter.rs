//! A counter many threads add to without sharing a cache line: one slot
//! per thread (modulo [`SHARDS`]), summed when read. For the message
//! counts every PUBLISH adds to (the console's rates), where one shared
//! atomic would bounce between cores on the hot path.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

const SHARDS: usize = 16;

#[repr(align(64))]
#[derive(Default)]
struct Slot(AtomicU64);

#[derive(Default)]
pub(crate) struct Counter {
    slots: [Slot; SHARDS],
}

fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

impl Counter {
    pub(crate) fn add(&self, n: u64) {
        self.slots[shard()].0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.slots.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }
}

/// One connection that wants publishers' client IDs, for as long as it lives.
pub(crate) struct WantsPublisherIds<'a>(&'a AtomicUsize);

impl<'a> WantsPublisherIds<'a> {
    pub(crate) fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        WantsPublisherIds(count)
    }
}

impl Drop for WantsPublisherIds<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn adds_from_many_threads_sum_up() {
        let c = std::sync::Arc::new(super::Counter::default());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| c.add(2)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(c.get(), 16_000);
    }
}
