//! Futexes: queues of sleeping threads keyed by the futex word's identity.
//!
//! A futex in private memory is its address space and guest address; one in shared memory
//! (MAP_SHARED, without FUTEX_PRIVATE_FLAG) is the memory-file offset of its word, so a wake in
//! one process reaches a waiter in another that maps the same memory. PI futexes (see [`pi`])
//! share the queues.

mod pi;
#[cfg(test)]
mod tests;
mod wake_op;

use std::collections::HashMap;
use std::sync::Arc;

use abi::Errno;
use mm::MemoryManager;
use parking_lot::{Mutex, MutexGuard};
use waiter::Waiter;

pub(crate) use pi::Locked;
pub(crate) use wake_op::WakeOp;

/// The futex word's bits under the PI and robust-list protocols (linux/futex.h).
pub(crate) const FUTEX_WAITERS: u32 = 0x8000_0000;
pub(crate) const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
pub(crate) const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

/// A futex's identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum FutexKey {
    /// A futex of one address space: that space and the word's guest address.
    Private { space: usize, addr: u64 },
    /// A futex in shared memory: the memory-file offset of its word, the same in every mapper.
    Shared { offset: u64 },
}

impl FutexKey {
    /// The futex at `addr` of `mm`. `private` (FUTEX_PRIVATE_FLAG) promises the word is used
    /// by this address space alone, so it is keyed by address even in shared memory, as Linux
    /// does; otherwise EFAULT if nothing is mapped at `addr`.
    pub(crate) fn of(mm: &Arc<MemoryManager>, addr: u64, private: bool) -> Result<Self, Errno> {
        if !private {
            if let Some(offset) = mm.shared_futex_key(addr)? {
                return Ok(FutexKey::Shared { offset });
            }
        }
        Ok(FutexKey::Private {
            space: Arc::as_ptr(mm) as usize,
            addr,
        })
    }
}

/// What a queued thread waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// FUTEX_WAIT*: a wake.
    Plain,
    /// FUTEX_LOCK_PI*: ownership of the PI futex, handed over by its owner.
    Pi,
    /// FUTEX_WAIT_REQUEUE_PI: a requeue to the PI futex `target` (at `target_addr` in the
    /// waiter's own address space), then its ownership.
    RequeuePi { target: FutexKey, target_addr: u64 },
}

/// Whether a queued waiter was woken (or, for PI, given the lock) and which queue it is on;
/// shared between the queue entry and the sleeper, and changed only under the table lock.
struct Slot {
    woken: bool,
    /// The queue it is on (a requeue moves it).
    key: FutexKey,
}

/// One sleeping futex waiter.
struct FutexWaiter {
    bitset: u32,
    kind: Kind,
    waiter: Arc<Waiter>,
    slot: Arc<Mutex<Slot>>,
    /// The waiting thread, and its address space and address of the word it waits on: a PI
    /// handover writes the thread's id there.
    tid: i32,
    mm: Arc<MemoryManager>,
    addr: u64,
}

impl FutexWaiter {
    fn wake(&self) {
        self.slot.lock().woken = true;
        self.waiter.wake();
    }
}

/// The waiters of one futex, in arrival order.
#[derive(Default)]
struct Queue {
    waiters: Vec<FutexWaiter>,
    /// For a PI futex with waiters: the thread they wait on, as last seen in the word or handed
    /// the lock (0: none known). Its exit hands the lock on.
    pi_owner: i32,
}

impl Queue {
    /// Whether it holds waiters of a PI protocol, which plain wakes and requeues refuse.
    fn has_pi_waiters(&self) -> bool {
        self.waiters.iter().any(|w| w.kind != Kind::Plain)
    }
}

type Queues = HashMap<FutexKey, Queue>;

/// All futex waiters of the sandbox.
#[derive(Default)]
pub(crate) struct FutexTable {
    queues: Mutex<Queues>,
}

/// Who is about to sleep on a futex.
pub(crate) struct Sleeper<'a> {
    pub(crate) tid: i32,
    pub(crate) mm: &'a Arc<MemoryManager>,
    pub(crate) waiter: &'a Arc<Waiter>,
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

    /// Stops waiting: `None` if the wait was woken after all (the wake, or the lock, is this
    /// thread's), else the futex whose queue it left. Atomic with respect to wakers.
    pub(crate) fn leave(self) -> Option<FutexKey> {
        let mut queues = self.table.queues.lock();
        let slot = self.slot.lock();
        if slot.woken {
            return None;
        }
        let key = slot.key;
        drop(slot);
        self.dequeue(&mut queues);
        Some(key)
    }

    fn dequeue(&self, queues: &mut Queues) {
        let key = self.slot.lock().key;
        if let Some(queue) = queues.get_mut(&key) {
            queue.waiters.retain(|w| !Arc::ptr_eq(&w.slot, &self.slot));
            if queue.waiters.is_empty() {
                queues.remove(&key);
            }
        }
    }
}

impl Drop for FutexWait<'_> {
    fn drop(&mut self) {
        let mut queues = self.table.queues.lock();
        self.dequeue(&mut queues);
    }
}

impl FutexTable {
    /// Queues `sleeper` on the futex `key` (at `addr` in its address space) if `check` (run
    /// under the table lock, reading the futex word) says the value still matches; `None` if
    /// it didn't.
    pub(crate) fn enqueue<E>(
        &self,
        sleeper: &Sleeper<'_>,
        key: FutexKey,
        addr: u64,
        bitset: u32,
        check: impl FnOnce() -> Result<bool, E>,
    ) -> Result<Option<FutexWait<'_>>, E> {
        let mut queues = self.queues.lock();
        if !check()? {
            return Ok(None);
        }
        Ok(Some(self.push(
            &mut queues,
            sleeper,
            key,
            addr,
            bitset,
            Kind::Plain,
        )))
    }

    /// futex_waitv: queues `sleeper` on every futex of `futexes` (key, address, expected
    /// value) if each word still holds its value (read by `read` under the table lock);
    /// `None` if one didn't.
    pub(crate) fn enqueue_all(
        &self,
        sleeper: &Sleeper<'_>,
        futexes: &[(FutexKey, u64, u32)],
        read: impl Fn(u64) -> Result<u32, Errno>,
    ) -> Result<Option<Vec<FutexWait<'_>>>, Errno> {
        let mut queues = self.queues.lock();
        for &(_, addr, expected) in futexes {
            if read(addr)? != expected {
                return Ok(None);
            }
        }
        let waits = futexes
            .iter()
            .map(|&(key, addr, _)| {
                self.push(&mut queues, sleeper, key, addr, u32::MAX, Kind::Plain)
            })
            .collect();
        Ok(Some(waits))
    }

    /// Adds a waiter to the queue of `key`, under the table lock.
    fn push(
        &self,
        queues: &mut MutexGuard<'_, Queues>,
        sleeper: &Sleeper<'_>,
        key: FutexKey,
        addr: u64,
        bitset: u32,
        kind: Kind,
    ) -> FutexWait<'_> {
        let slot = Arc::new(Mutex::new(Slot { woken: false, key }));
        queues.entry(key).or_default().waiters.push(FutexWaiter {
            bitset,
            kind,
            waiter: Arc::clone(sleeper.waiter),
            slot: Arc::clone(&slot),
            tid: sleeper.tid,
            mm: Arc::clone(sleeper.mm),
            addr,
        });
        FutexWait { table: self, slot }
    }

    /// Wakes up to `count` waiters of `key` whose bitset intersects `bitset`; EINVAL on a
    /// futex with PI waiters, as Linux.
    pub(crate) fn wake(&self, key: FutexKey, count: usize, bitset: u32) -> Result<usize, Errno> {
        wake_locked(&mut self.queues.lock(), key, count, bitset)
    }

    /// FUTEX_WAKE_OP: applies `op` to the word at `addr2` of `mm` (the futex `key2`), wakes
    /// up to `count1` waiters of `key1` and, if the old value passes `op`'s comparison, up to
    /// `count2` of `key2`. Returns how many were woken.
    pub(crate) fn wake_op(
        &self,
        mm: &MemoryManager,
        (key1, count1): (FutexKey, usize),
        (key2, addr2, count2): (FutexKey, u64, usize),
        op: WakeOp,
    ) -> Result<usize, Errno> {
        let mut queues = self.queues.lock();
        let Ok(old) = mm.fetch_update_u32(addr2, |old| Some(op.apply(old)))? else {
            unreachable!("the update never declines");
        };
        let compared = op.compare(old)?;
        let mut woken = wake_locked(&mut queues, key1, count1, u32::MAX)?;
        if compared {
            woken += wake_locked(&mut queues, key2, count2, u32::MAX)?;
        }
        Ok(woken)
    }

    /// FUTEX_CMP_REQUEUE/REQUEUE: if `check` (run under the table lock) passes, wakes `wake`
    /// waiters of `from` and moves up to `requeue` more to `to`. Returns how many were woken
    /// plus requeued; EAGAIN if the check failed.
    pub(crate) fn requeue(
        &self,
        from: FutexKey,
        to: FutexKey,
        wake: usize,
        requeue: usize,
        check: impl FnOnce() -> Result<bool, Errno>,
    ) -> Result<usize, Errno> {
        let mut queues = self.queues.lock();
        if !check()? {
            return Err(Errno::EAGAIN);
        }
        let Some(queue) = queues.get(&from) else {
            return Ok(0);
        };
        if queue.has_pi_waiters() || queues.get(&to).is_some_and(Queue::has_pi_waiters) {
            return Err(Errno::EINVAL);
        }
        let Some(mut queue) = queues.remove(&from) else {
            return Ok(0);
        };
        let mut done = 0;
        let mut moved = Vec::new();
        let mut kept = Vec::new();
        for w in queue.waiters.drain(..) {
            if done < wake {
                w.wake();
                done += 1;
            } else if moved.len() < requeue {
                w.slot.lock().key = to;
                moved.push(w);
            } else {
                kept.push(w);
            }
        }
        done += moved.len();
        if !kept.is_empty() {
            queue.waiters = kept;
            queues.insert(from, queue);
        }
        if !moved.is_empty() {
            queues.entry(to).or_default().waiters.extend(moved);
        }
        Ok(done)
    }
}

/// Wakes up to `count` plain waiters of `key` whose bitset intersects `bitset`.
fn wake_locked(
    queues: &mut Queues,
    key: FutexKey,
    count: usize,
    bitset: u32,
) -> Result<usize, Errno> {
    let Some(queue) = queues.get_mut(&key) else {
        return Ok(0);
    };
    if queue.has_pi_waiters() {
        return Err(Errno::EINVAL);
    }
    let mut woken = 0;
    queue.waiters.retain(|w| {
        if woken < count && w.bitset & bitset != 0 {
            w.wake();
            woken += 1;
            false
        } else {
            true
        }
    });
    if queue.waiters.is_empty() {
        queues.remove(&key);
    }
    Ok(woken)
}
