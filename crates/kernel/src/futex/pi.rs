//! PI futexes: the owner-tid protocol of FUTEX_LOCK_PI, FUTEX_UNLOCK_PI and the PI requeue.
//!
//! The futex word holds its owner's tid, FUTEX_WAITERS while threads sleep in the kernel (so
//! the owner's unlock comes here) and FUTEX_OWNER_DIED once an owner died holding it. An
//! unlock hands the lock straight to the first waiter, writing its tid into the word, as Linux
//! does; the exit of an owner with waiters hands it on with FUTEX_OWNER_DIED. Priority
//! inheritance itself has no meaning here (the Sentry does not schedule by priority), so the
//! waiters are served in arrival order.

use std::sync::Arc;

use abi::Errno;
use mm::MemoryManager;

use super::{
    FutexKey, FutexTable, FutexWait, Kind, Queue, Sleeper, FUTEX_OWNER_DIED, FUTEX_TID_MASK,
    FUTEX_WAITERS,
};

/// How a FUTEX_LOCK_PI ended without an error.
pub(crate) enum Locked<'t> {
    /// The lock was free: the caller owns it now.
    Now,
    /// The caller sleeps until the owner hands it the lock.
    Queued(FutexWait<'t>),
}

/// The word of a PI futex, seen once.
enum Seen {
    /// It was free and now names the new owner.
    Taken,
    /// It is owned by this tid (the word as read).
    Owned { owner: u32, word: u32 },
}

/// Whether `tid` names a live thread of the sandbox.
pub(crate) type Alive<'a> = &'a dyn Fn(i32) -> bool;

/// Sets the word at `addr` to `new` if it still holds `old`.
fn compare_exchange(mm: &MemoryManager, addr: u64, old: u32, new: u32) -> Result<bool, Errno> {
    Ok(mm
        .fetch_update_u32(addr, |v| (v == old).then_some(new))?
        .is_ok())
}

/// Takes the PI futex word at `addr` for `tid` if no one owns it (keeping FUTEX_OWNER_DIED,
/// adding FUTEX_WAITERS if `waiters`), else says who owns it.
fn take_if_free(mm: &MemoryManager, addr: u64, tid: i32, waiters: bool) -> Result<Seen, Errno> {
    loop {
        let word: u32 = mm.read_obj(addr)?;
        let owner = word & FUTEX_TID_MASK;
        if owner != 0 {
            return Ok(Seen::Owned { owner, word });
        }
        let waiters_bit = if waiters { FUTEX_WAITERS } else { 0 };
        let new = tid.cast_unsigned() | (word & FUTEX_OWNER_DIED) | waiters_bit;
        if compare_exchange(mm, addr, word, new)? {
            return Ok(Seen::Taken);
        }
    }
}

/// Marks the waiter at `index` of `queue` as the futex's owner and wakes it.
fn hand_over(queue: &mut Queue, index: usize) {
    let waiter = queue.waiters.remove(index);
    queue.pi_owner = waiter.tid;
    waiter.wake();
}

impl FutexTable {
    /// FUTEX_LOCK_PI, LOCK_PI2 and (with `trylock`) TRYLOCK_PI on the futex `key` at `addr` of
    /// the sleeper's address space: EDEADLK if the sleeper owns it, ESRCH if its owner is no
    /// live thread, EAGAIN for a trylock of an owned lock.
    pub(crate) fn lock_pi(
        &self,
        sleeper: &Sleeper<'_>,
        key: FutexKey,
        addr: u64,
        trylock: bool,
        alive: Alive<'_>,
    ) -> Result<Locked<'_>, Errno> {
        let mut queues = self.queues.lock();
        let queue = queues.get(&key);
        if queue.is_some_and(|q| q.waiters.iter().any(|w| w.kind == Kind::Plain)) {
            return Err(Errno::EINVAL);
        }
        let queued = queue.is_some();
        loop {
            let (owner, word) = match take_if_free(sleeper.mm, addr, sleeper.tid, queued)? {
                Seen::Taken => {
                    if let Some(queue) = queues.get_mut(&key) {
                        queue.pi_owner = sleeper.tid;
                    }
                    return Ok(Locked::Now);
                }
                Seen::Owned { owner, word } => (owner, word),
            };
            if owner == sleeper.tid.cast_unsigned() {
                return Err(Errno::EDEADLK);
            }
            // The owner's unlock must come to the kernel from now on; Linux sets the bit
            // before it looks the owner up, and leaves it after a failed trylock too.
            if word & FUTEX_WAITERS == 0
                && !compare_exchange(sleeper.mm, addr, word, word | FUTEX_WAITERS)?
            {
                continue;
            }
            let owner = owner.cast_signed();
            if !alive(owner) {
                return Err(Errno::ESRCH);
            }
            if trylock {
                return Err(Errno::EAGAIN);
            }
            let wait = self.push(&mut queues, sleeper, key, addr, u32::MAX, Kind::Pi);
            if let Some(queue) = queues.get_mut(&key) {
                queue.pi_owner = owner;
            }
            return Ok(Locked::Queued(wait));
        }
    }

    /// FUTEX_UNLOCK_PI by thread `tid` of the futex `key` at `addr` of `mm`: hands the lock to
    /// its first waiter, or frees it. EPERM unless `tid` owns it.
    pub(crate) fn unlock_pi(
        &self,
        mm: &MemoryManager,
        key: FutexKey,
        addr: u64,
        tid: i32,
    ) -> Result<(), Errno> {
        let mut queues = self.queues.lock();
        let next = queues.get(&key).and_then(|queue| {
            let index = queue.waiters.iter().position(|w| w.kind == Kind::Pi)?;
            Some((index, queue.waiters[index].tid))
        });
        // Linux marks the new owner's word FUTEX_WAITERS whether or not more wait: its unlock
        // comes here and finds out.
        let new = next.map_or(0, |(_, next_tid)| next_tid.cast_unsigned() | FUTEX_WAITERS);
        let owned = |word: u32| word & FUTEX_TID_MASK == tid.cast_unsigned();
        if mm
            .fetch_update_u32(addr, |word| owned(word).then_some(new))?
            .is_err()
        {
            return Err(Errno::EPERM);
        }
        if let Some((index, _)) = next {
            if let Some(queue) = queues.get_mut(&key) {
                hand_over(queue, index);
                if queue.waiters.is_empty() {
                    queues.remove(&key);
                }
            }
        }
        Ok(())
    }

    /// FUTEX_WAIT_REQUEUE_PI: queues the sleeper on the futex `key` at `addr` if `check` (run
    /// under the table lock) passes, to be requeued to the PI futex `target` (at `target_addr`
    /// of the sleeper's address space) and handed its lock; `None` if the check failed.
    pub(crate) fn enqueue_requeue_pi(
        &self,
        sleeper: &Sleeper<'_>,
        (key, addr): (FutexKey, u64),
        (target, target_addr): (FutexKey, u64),
        check: impl FnOnce() -> Result<bool, Errno>,
    ) -> Result<Option<FutexWait<'_>>, Errno> {
        let mut queues = self.queues.lock();
        if !check()? {
            return Ok(None);
        }
        let kind = Kind::RequeuePi {
            target,
            target_addr,
        };
        Ok(Some(self.push(
            &mut queues,
            sleeper,
            key,
            addr,
            u32::MAX,
            kind,
        )))
    }

    /// FUTEX_CMP_REQUEUE_PI: if the word at `from.1` of `mm` holds `expected`, takes the PI
    /// futex `to` (at `to.1`) for the first waiter of `from` if it is free, and requeues up to
    /// `requeue` waiters (one more if the lock was not free) onto it. Returns how many were
    /// woken plus requeued.
    pub(crate) fn cmp_requeue_pi(
        &self,
        mm: &MemoryManager,
        (from, addr1): (FutexKey, u64),
        (to, addr2): (FutexKey, u64),
        requeue: usize,
        expected: u32,
        alive: Alive<'_>,
    ) -> Result<usize, Errno> {
        if from == to {
            return Err(Errno::EINVAL);
        }
        let mut queues = self.queues.lock();
        if mm.read_obj::<u32>(addr1)? != expected {
            return Err(Errno::EAGAIN);
        }
        let waits_for_to =
            |kind: Kind| matches!(kind, Kind::RequeuePi { target, .. } if target == to);
        let Some(top_tid) = queues.get(&from).and_then(|queue| {
            let top = queue.waiters.first()?;
            Some(waits_for_to(top.kind).then_some(top.tid))
        }) else {
            return Ok(0);
        };
        let top_tid = top_tid.ok_or(Errno::EINVAL)?;
        if queues
            .get(&to)
            .is_some_and(|q| q.waiters.iter().any(|w| w.kind == Kind::Plain))
        {
            return Err(Errno::EINVAL);
        }
        // Take the lock for the first waiter if it is free (the word then says FUTEX_WAITERS,
        // as Linux leaves it), else make sure its owner's unlock comes to the kernel.
        let owner = loop {
            match take_if_free(mm, addr2, top_tid, true)? {
                Seen::Taken => break None,
                Seen::Owned { owner, .. } if owner == top_tid.cast_unsigned() => {
                    return Err(Errno::EDEADLK);
                }
                Seen::Owned { owner, .. } if !alive(owner.cast_signed()) => {
                    return Err(Errno::ESRCH);
                }
                Seen::Owned { owner, word } => {
                    if compare_exchange(mm, addr2, word, word | FUTEX_WAITERS)? {
                        break Some(owner.cast_signed());
                    }
                }
            }
        };
        let Some(mut source) = queues.remove(&from) else {
            return Ok(0);
        };
        let mut done = 0;
        let mut limit = requeue;
        let mut new_owner = owner;
        if owner.is_none() {
            let top = source.waiters.remove(0);
            new_owner = Some(top.tid);
            top.wake();
            done += 1;
        } else {
            limit = limit.saturating_add(1);
        }
        let mut moved = Vec::new();
        let mut refused = false;
        while moved.len() < limit && !source.waiters.is_empty() {
            let Kind::RequeuePi { target_addr, .. } = source.waiters[0].kind else {
                refused = true;
                break;
            };
            if !waits_for_to(source.waiters[0].kind) {
                refused = true;
                break;
            }
            let mut waiter = source.waiters.remove(0);
            waiter.kind = Kind::Pi;
            waiter.addr = target_addr;
            waiter.slot.lock().key = to;
            moved.push(waiter);
        }
        done += moved.len();
        if !source.waiters.is_empty() {
            queues.insert(from, source);
        }
        if !moved.is_empty() {
            let target = queues.entry(to).or_default();
            target.waiters.extend(moved);
            target.pi_owner = new_owner.unwrap_or(0);
        }
        if refused {
            return Err(Errno::EINVAL);
        }
        Ok(done)
    }

    /// Thread `tid` is gone (out of the pid table): every PI futex it owned with waiters goes
    /// to its first waiter, marked FUTEX_OWNER_DIED, as Linux's exit_pi_state_list does.
    pub(crate) fn owner_exited(&self, tid: i32) {
        let mut queues = self.queues.lock();
        for queue in queues.values_mut().filter(|q| q.pi_owner == tid) {
            let Some(index) = queue.waiters.iter().position(|w| w.kind == Kind::Pi) else {
                continue;
            };
            let next = &queue.waiters[index];
            let new = next.tid.cast_unsigned() | FUTEX_WAITERS | FUTEX_OWNER_DIED;
            // Someone may have taken a lock the dead owner's robust list freed: it stays theirs.
            let free_or_dead = |word: u32| {
                let owner = word & FUTEX_TID_MASK;
                (owner == 0 || owner == tid.cast_unsigned()).then_some(new)
            };
            let (mm, addr) = (Arc::clone(&next.mm), next.addr);
            match mm.fetch_update_u32(addr, free_or_dead) {
                Ok(Ok(_)) => hand_over(queue, index),
                Ok(Err(word)) => queue.pi_owner = (word & FUTEX_TID_MASK).cast_signed(),
                Err(e) => {
                    tracing::debug!("handing on a dead owner's PI futex: {e}");
                    queue.pi_owner = 0;
                }
            }
        }
        queues.retain(|_, q| !q.waiters.is_empty());
    }
}
