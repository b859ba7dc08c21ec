//! Futexes: waiters keyed by address space and guest address.

use std::collections::HashMap;
use std::sync::Arc;

use mm::MemoryManager;
use parking_lot::Mutex;
use waiter::Waiter;

/// A futex's identity: its address space and its guest address. Futexes in memory shared
/// between processes (MAP_SHARED after fork) are keyed per process here, so a wake from one
/// process doesn't reach a waiter in another — a documented gap.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct FutexKey {
    space: usize,
    addr: u64,
}

impl FutexKey {
    fn new(mm: &Arc<MemoryManager>, addr: u64) -> FutexKey {
        FutexKey {
            space: Arc::as_ptr(mm) as usize,
            addr,
        }
    }
}

/// Where a queued waiter is and whether it was woken; shared between the queue entry and the
/// sleeper, and changed only under the table lock.
struct Slot {
    /// Set by the waker so the sleeper knows it was woken (not interrupted or timed out).
    woken: bool,
    /// The queue it is on (requeue moves it).
    key: FutexKey,
}

/// One sleeping futex waiter.
struct FutexWaiter {
    bitset: u32,
    waiter: Arc<Waiter>,
    slot: Arc<Mutex<Slot>>,
}

impl FutexWaiter {
    fn wake(&self) {
        self.slot.lock().woken = true;
        self.waiter.wake();
    }
}

/// All futex waiters of the sandbox.
#[derive(Default)]
pub(crate) struct FutexTable {
    queues: Mutex<HashMap<FutexKey, Vec<FutexWaiter>>>,
}

/// A queued futex wait; dropping it dequeues the waiter if still queued.
pub(crate) struct FutexWait<'t> {
    table: &'t FutexTable,
    slot: Arc<Mutex<Slot>>,
}

impl FutexWait<'_> {
    pub(crate) fn woken(&self) -> bool {
        let _queues = self.table.queues.lock();
        self.slot.lock().woken
    }
}

impl Drop for FutexWait<'_> {
    fn drop(&mut self) {
        let mut queues = self.table.queues.lock();
        let key = self.slot.lock().key;
        if let Some(queue) = queues.get_mut(&key) {
            queue.retain(|w| !Arc::ptr_eq(&w.slot, &self.slot));
            if queue.is_empty() {
                queues.remove(&key);
            }
        }
    }
}

impl FutexTable {
    /// Queues `waiter` on the futex at `addr` if `check` (run under the table lock, reading
    /// the futex word) says the value still matches; `None` if it didn't.
    pub(crate) fn enqueue<E>(
        &self,
        mm: &Arc<MemoryManager>,
        addr: u64,
        bitset: u32,
        waiter: &Arc<Waiter>,
        check: impl FnOnce() -> Result<bool, E>,
    ) -> Result<Option<FutexWait<'_>>, E> {
        let key = FutexKey::new(mm, addr);
        let mut queues = self.queues.lock();
        if !check()? {
            return Ok(None);
        }
        let slot = Arc::new(Mutex::new(Slot { woken: false, key }));
        queues.entry(key).or_default().push(FutexWaiter {
            bitset,
            waiter: Arc::clone(waiter),
            slot: Arc::clone(&slot),
        });
        Ok(Some(FutexWait { table: self, slot }))
    }

    /// Wakes up to `count` waiters on `addr` whose bitset intersects `bitset`.
    pub(crate) fn wake(
        &self,
        mm: &Arc<MemoryManager>,
        addr: u64,
        count: usize,
        bitset: u32,
    ) -> usize {
        let key = FutexKey::new(mm, addr);
        let mut queues = self.queues.lock();
        let Some(queue) = queues.get_mut(&key) else {
            return 0;
        };
        let mut woken = 0;
        queue.retain(|w| {
            if woken < count && w.bitset & bitset != 0 {
                w.wake();
                woken += 1;
                false
            } else {
                true
            }
        });
        if queue.is_empty() {
            queues.remove(&key);
        }
        woken
    }

    /// FUTEX_CMP_REQUEUE/REQUEUE: wakes `wake` waiters of `from`, moves up to `requeue` more
    /// to `to`. Returns how many were woken plus requeued.
    pub(crate) fn requeue(
        &self,
        mm: &Arc<MemoryManager>,
        from: u64,
        to: u64,
        wake: usize,
        requeue: usize,
    ) -> usize {
        let from_key = FutexKey::new(mm, from);
        let to_key = FutexKey::new(mm, to);
        let mut queues = self.queues.lock();
        let Some(mut queue) = queues.remove(&from_key) else {
            return 0;
        };
        let mut done = 0;
        let mut moved = Vec::new();
        let mut kept = Vec::new();
        for w in queue.drain(..) {
            if done < wake {
                w.wake();
                done += 1;
            } else if moved.len() < requeue {
                w.slot.lock().key = to_key;
                moved.push(w);
            } else {
                kept.push(w);
            }
        }
        done += moved.len();
        if !kept.is_empty() {
            queues.insert(from_key, kept);
        }
        if !moved.is_empty() {
            queues.entry(to_key).or_default().extend(moved);
        }
        done
    }
}
