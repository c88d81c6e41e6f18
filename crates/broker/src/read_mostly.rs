//! A reader-writer lock for data read on every PUBLISH and written only on
//! SUBSCRIBE and UNSUBSCRIBE (the subscription index).
//!
//! A plain `RwLock` keeps one reader count, so every read, on every thread,
//! writes the same cache line: with connections on several threads that
//! line moves between cores on each PUBLISH. Here each thread takes the
//! read side of its own lock (one of [`SLOTS`], each on its own cache
//! lines), so readers on different threads share nothing they write; a
//! writer takes every slot's lock, in order.

use std::cell::{Cell, UnsafeCell};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// Reader slots. Threads beyond this many share slots (still correct).
pub const SLOTS: usize = 8;

#[repr(align(128))]
#[derive(Default)]
struct Slot(RwLock<()>);

pub struct ReadMostly<T> {
    slots: [Slot; SLOTS],
    value: UnsafeCell<T>,
}

// SAFETY: the value is only reached through the guards below, which hold a
// slot's read lock (shared access, needs T: Sync) or every slot's write
// lock (exclusive access, needs T: Send).
unsafe impl<T: Send> Send for ReadMostly<T> {}
unsafe impl<T: Send + Sync> Sync for ReadMostly<T> {}

fn my_slot() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    SLOT.with(|s| {
        if s.get() == usize::MAX {
            s.set(NEXT.fetch_add(1, Ordering::Relaxed) % SLOTS);
        }
        s.get()
    })
}

impl<T> ReadMostly<T> {
    pub fn new(value: T) -> Self {
        ReadMostly {
            slots: Default::default(),
            value: UnsafeCell::new(value),
        }
    }

    /// Shared access. A panic while it was held does not poison it.
    pub fn read(&self) -> ReadGuard<'_, T> {
        let lock = &self.slots[my_slot()].0;
        ReadGuard {
            _slot: lock.read().unwrap_or_else(|e| e.into_inner()),
            // SAFETY: no writer holds this slot, and writers need every slot.
            value: unsafe { &*self.value.get() },
        }
    }

    /// Exclusive access: waits for the readers of every slot.
    pub fn write(&self) -> WriteGuard<'_, T> {
        let slots =
            std::array::from_fn(|i| self.slots[i].0.write().unwrap_or_else(|e| e.into_inner()));
        WriteGuard {
            _slots: slots,
            // SAFETY: every slot is held exclusively, so no reader or other
            // writer can reach the value until the guard is dropped.
            value: unsafe { &mut *self.value.get() },
        }
    }
}

pub struct ReadGuard<'a, T> {
    _slot: RwLockReadGuard<'a, ()>,
    value: &'a T,
}

impl<T> Deref for ReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

pub struct WriteGuard<'a, T> {
    _slots: [RwLockWriteGuard<'a, ()>; SLOTS],
    value: &'a mut T,
}

impl<T> Deref for WriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.value
    }
}

impl<T> DerefMut for WriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn writers_exclude_readers_on_every_thread() {
        let lock = Arc::new(ReadMostly::new((0u64, 0u64)));
        let threads: Vec<_> = (0..SLOTS + 3)
            .map(|t| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for i in 0..2000u64 {
                        if (i + t as u64).is_multiple_of(10) {
                            let mut w = lock.write();
                            w.0 += 1;
                            w.1 += 1;
                        } else {
                            let r = lock.read();
                            // A torn update would show the two halves apart.
                            assert_eq!(r.0, r.1);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let r = lock.read();
        assert_eq!(r.0, r.1);
        assert_eq!(r.0, (SLOTS as u64 + 3) * 200);
    }
}
