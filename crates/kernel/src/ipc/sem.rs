//! System V semaphore sets.
//!
//! A semop that can't complete at once is queued on its set; whoever changes the set's values
//! then retries the queued operations in arrival order and completes those that now can, as
//! Linux's `update_queue` does, so waiters are served in order and none is starved by a
//! later one re-trying first. SEM_UNDO adjustments are kept per process and applied when it
//! exits.

use std::collections::HashMap;
use std::sync::Arc;

use abi::Errno;
use parking_lot::Mutex;
use waiter::Waiter;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{IpcObject, IpcPerm, IpcPermRaw, Lookup, Registry};
use crate::task::Credentials;

/// The largest semaphore value (SEMVMX) and adjustment (SEMAEM).
pub(crate) const SEMVMX: i32 = 32767;
const SEMAEM: i32 = SEMVMX;
/// sem_flg: undo this operation when the process exits; don't wait (IPC_NOWAIT as a short).
pub(crate) const SEM_UNDO: i16 = 0x1000;
const SEM_NOWAIT: i16 = 0o4000;

/// `struct sembuf`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Sembuf {
    pub(crate) sem_num: u16,
    pub(crate) sem_op: i16,
    pub(crate) sem_flg: i16,
}

/// `struct semid64_ds` on amd64.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct SemidDs {
    pub(crate) perm: IpcPermRaw,
    pub(crate) otime: i64,
    unused1: u64,
    pub(crate) ctime: i64,
    unused2: u64,
    pub(crate) nsems: u64,
    unused3: [u64; 2],
}

#[derive(Clone, Copy, Default)]
struct Semaphore {
    value: i32,
    /// The process that operated on it last (GETPID).
    pid: i32,
}

/// Where a queued semop learns its outcome.
pub(crate) struct SemopSlot {
    outcome: Mutex<Option<Result<(), Errno>>>,
    waiter: Arc<Waiter>,
}

impl SemopSlot {
    pub(crate) fn outcome(&self) -> Option<Result<(), Errno>> {
        *self.outcome.lock()
    }

    fn complete(&self, outcome: Result<(), Errno>) {
        *self.outcome.lock() = Some(outcome);
        self.waiter.wake();
    }
}

/// A semop waiting in a set's queue.
struct Pending {
    ops: Vec<Sembuf>,
    tgid: i32,
    /// The semaphore it waits on, and whether it waits for zero (GETZCNT) or to decrease
    /// (GETNCNT).
    blocked: Blocked,
    slot: Arc<SemopSlot>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Blocked {
    sem_num: u16,
    for_zero: bool,
}

/// One semaphore set.
pub(crate) struct SemSet {
    perm: IpcPerm,
    sems: Vec<Semaphore>,
    otime: i64,
    ctime: i64,
    pending: Vec<Pending>,
    /// SEM_UNDO adjustments by process.
    undo: HashMap<i32, Vec<i32>>,
}

impl IpcObject for SemSet {
    fn perm(&self) -> &IpcPerm {
        &self.perm
    }
    fn perm_mut(&mut self) -> &mut IpcPerm {
        &mut self.perm
    }
}

/// What trying a semop found.
enum Attempt {
    Done,
    Blocked(Blocked),
}

impl SemSet {
    pub(crate) fn nsems(&self) -> usize {
        self.sems.len()
    }

    /// Linux's `perform_atomic_semop`: every operation or none.
    fn attempt(&mut self, ops: &[Sembuf], tgid: i32, now: i64) -> Result<Attempt, Errno> {
        let mut values: Vec<i32> = self.sems.iter().map(|s| s.value).collect();
        let mut adjust = self
            .undo
            .get(&tgid)
            .cloned()
            .unwrap_or_else(|| vec![0; self.sems.len()]);
        for op in ops {
            let num = usize::from(op.sem_num);
            let current = values[num];
            let result = current + i32::from(op.sem_op);
            if (op.sem_op == 0 && current != 0) || result < 0 {
                if op.sem_flg & SEM_NOWAIT != 0 {
                    return Err(Errno::EAGAIN);
                }
                return Ok(Attempt::Blocked(Blocked {
                    sem_num: op.sem_num,
                    for_zero: op.sem_op == 0,
                }));
            }
            if result > SEMVMX {
                return Err(Errno::ERANGE);
            }
            if op.sem_flg & SEM_UNDO != 0 {
                let undo = adjust[num] - i32::from(op.sem_op);
                if !(-SEMAEM - 1..=SEMAEM).contains(&undo) {
                    return Err(Errno::ERANGE);
                }
                adjust[num] = undo;
            }
            values[num] = result;
        }
        for (sem, value) in self.sems.iter_mut().zip(values) {
            sem.value = value;
        }
        for op in ops {
            self.sems[usize::from(op.sem_num)].pid = tgid;
        }
        if ops.iter().any(|op| op.sem_flg & SEM_UNDO != 0) {
            self.undo.insert(tgid, adjust);
        }
        self.otime = now;
        Ok(Attempt::Done)
    }

    /// Completes queued operations that can now run, oldest first, until none can.
    fn update_queue(&mut self, now: i64) {
        let mut i = 0;
        while i < self.pending.len() {
            let ops = std::mem::take(&mut self.pending[i].ops);
            let tgid = self.pending[i].tgid;
            match self.attempt(&ops, tgid, now) {
                Ok(Attempt::Blocked(blocked)) => {
                    self.pending[i].ops = ops;
                    self.pending[i].blocked = blocked;
                    i += 1;
                }
                Ok(Attempt::Done) => {
                    self.pending.remove(i).slot.complete(Ok(()));
                    // The values changed: an earlier waiter may now proceed.
                    i = 0;
                }
                Err(errno) => {
                    self.pending.remove(i).slot.complete(Err(errno));
                }
            }
        }
    }

    fn sem(&self, num: i32) -> Result<&Semaphore, Errno> {
        usize::try_from(num)
            .ok()
            .and_then(|n| self.sems.get(n))
            .ok_or(Errno::EINVAL)
    }

    pub(crate) fn value(&self, num: i32) -> Result<i32, Errno> {
        Ok(self.sem(num)?.value)
    }

    pub(crate) fn pid(&self, num: i32) -> Result<i32, Errno> {
        Ok(self.sem(num)?.pid)
    }

    /// GETNCNT (`for_zero` false) and GETZCNT: how many queued operations wait on `num`.
    pub(crate) fn waiting(&self, num: i32, for_zero: bool) -> Result<usize, Errno> {
        self.sem(num)?;
        Ok(self
            .pending
            .iter()
            .filter(|p| i32::from(p.blocked.sem_num) == num && p.blocked.for_zero == for_zero)
            .count())
    }

    pub(crate) fn values(&self) -> Vec<u16> {
        self.sems
            .iter()
            .map(|s| u16::try_from(s.value).unwrap_or(0))
            .collect()
    }

    /// SETVAL: also forgets every process's adjustment of `num`.
    pub(crate) fn set_value(
        &mut self,
        num: i32,
        value: i32,
        tgid: i32,
        now: i64,
    ) -> Result<(), Errno> {
        let n = usize::try_from(num)
            .ok()
            .filter(|&n| n < self.sems.len())
            .ok_or(Errno::EINVAL)?;
        if !(0..=SEMVMX).contains(&value) {
            return Err(Errno::ERANGE);
        }
        for adjust in self.undo.values_mut() {
            adjust[n] = 0;
        }
        self.sems[n] = Semaphore { value, pid: tgid };
        self.ctime = now;
        self.update_queue(now);
        Ok(())
    }

    /// SETALL: every value at once; adjustments are forgotten.
    pub(crate) fn set_all(&mut self, values: &[u16], tgid: i32, now: i64) -> Result<(), Errno> {
        if values.iter().any(|&v| i32::from(v) > SEMVMX) {
            return Err(Errno::ERANGE);
        }
        for (sem, &value) in self.sems.iter_mut().zip(values) {
            *sem = Semaphore {
                value: i32::from(value),
                pid: tgid,
            };
        }
        self.undo.clear();
        self.ctime = now;
        self.update_queue(now);
        Ok(())
    }

    pub(crate) fn stat(&self) -> SemidDs {
        SemidDs {
            perm: self.perm.raw(),
            otime: self.otime,
            ctime: self.ctime,
            nsems: self.sems.len() as u64,
            ..SemidDs::default()
        }
    }

    /// IPC_SET.
    pub(crate) fn set(&mut self, ds: &SemidDs, now: i64) {
        self.perm.set(&ds.perm);
        self.ctime = now;
    }

    /// The set is gone: every queued operation fails with EIDRM.
    fn fail_all(&mut self) {
        for pending in self.pending.drain(..) {
            pending.slot.complete(Err(Errno::EIDRM));
        }
    }
}

/// The sandbox's semaphore sets.
#[derive(Default)]
pub(crate) struct Semaphores {
    pub(crate) sets: Mutex<Registry<SemSet>>,
}

/// What a semop did: done, or queued (wait on the slot, then `cancel` if it never completed).
pub(crate) enum Semop {
    Done,
    Queued(Arc<SemopSlot>),
}

impl Semaphores {
    /// semget. `limits` are SEMMSL, SEMMNS, SEMOPM, SEMMNI.
    pub(crate) fn get(
        &self,
        key: i32,
        nsems: i32,
        flags: i32,
        creds: &Credentials,
        limits: [u32; 4],
        now: i64,
    ) -> Result<i32, Errno> {
        let [msl, mns, _, mni] = limits.map(|l| l as usize);
        let nsems = usize::try_from(nsems)
            .ok()
            .filter(|&n| n <= msl)
            .ok_or(Errno::EINVAL)?;
        let mut sets = self.sets.lock();
        let lookup = sets.get_or_create(key, flags, creds, |set| {
            if nsems > set.nsems() {
                Err(Errno::EINVAL)
            } else {
                Ok(())
            }
        })?;
        let perm = match lookup {
            Lookup::Existing(id) => return Ok(id),
            Lookup::Create(perm) => perm,
        };
        if nsems == 0 {
            return Err(Errno::EINVAL);
        }
        let in_use: usize = sets.iter().map(|(_, s)| s.nsems()).sum();
        if in_use + nsems > mns {
            return Err(Errno::ENOSPC);
        }
        sets.insert(
            SemSet {
                perm,
                sems: vec![Semaphore::default(); nsems],
                otime: 0,
                ctime: now,
                pending: Vec::new(),
                undo: HashMap::new(),
            },
            mni,
        )
    }

    /// semop/semtimedop's first attempt: done, failed, or queued for `waiter`.
    pub(crate) fn semop(
        &self,
        id: i32,
        ops: Vec<Sembuf>,
        creds: &Credentials,
        tgid: i32,
        waiter: &Arc<Waiter>,
        now: i64,
    ) -> Result<Semop, Errno> {
        let mut sets = self.sets.lock();
        let set = sets.get(id)?;
        if ops.iter().any(|op| usize::from(op.sem_num) >= set.nsems()) {
            return Err(Errno::EFBIG);
        }
        let alters = ops.iter().any(|op| op.sem_op != 0);
        set.perm.check(
            creds,
            if alters {
                super::MAY_WRITE
            } else {
                super::MAY_READ
            },
        )?;
        match set.attempt(&ops, tgid, now)? {
            Attempt::Done => {
                if alters {
                    set.update_queue(now);
                }
                Ok(Semop::Done)
            }
            Attempt::Blocked(blocked) => {
                let slot = Arc::new(SemopSlot {
                    outcome: Mutex::new(None),
                    waiter: Arc::clone(waiter),
                });
                set.pending.push(Pending {
                    ops,
                    tgid,
                    blocked,
                    slot: Arc::clone(&slot),
                });
                Ok(Semop::Queued(slot))
            }
        }
    }

    /// A queued semop gives up (signal, timeout): dequeued, unless it completed meanwhile, in
    /// which case its outcome stands.
    pub(crate) fn cancel(&self, id: i32, slot: &Arc<SemopSlot>) -> Option<Result<(), Errno>> {
        let mut sets = self.sets.lock();
        if let Some(outcome) = slot.outcome() {
            return Some(outcome);
        }
        if let Ok(set) = sets.get(id) {
            set.pending.retain(|p| !Arc::ptr_eq(&p.slot, slot));
        }
        None
    }

    /// IPC_RMID.
    pub(crate) fn remove(&self, id: i32, creds: &Credentials) -> Result<(), Errno> {
        let mut sets = self.sets.lock();
        sets.get(id)?.perm.check_owner(creds)?;
        if let Some(mut set) = sets.remove(id) {
            set.fail_all();
        }
        Ok(())
    }

    /// Applies and forgets the SEM_UNDO adjustments of the process `tgid`.
    pub(crate) fn process_exited(&self, tgid: i32) {
        let now = super::now_secs();
        let mut sets = self.sets.lock();
        for (_, set) in sets.iter_mut() {
            let Some(adjust) = set.undo.remove(&tgid) else {
                continue;
            };
            for (sem, adj) in set.sems.iter_mut().zip(adjust) {
                if adj != 0 {
                    sem.value = (sem.value + adj).clamp(0, SEMVMX);
                    sem.pid = tgid;
                }
            }
            set.update_queue(now);
        }
    }

    /// SEM_INFO's usage figures: sets in use and semaphores in them.
    pub(crate) fn usage(&self) -> (usize, usize) {
        let sets = self.sets.lock();
        (sets.len(), sets.iter().map(|(_, s)| s.nsems()).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1000;
    const LIMITS: [u32; 4] = [250, 32000, 32, 128];

    fn op(sem_num: u16, sem_op: i16, sem_flg: i16) -> Sembuf {
        Sembuf {
            sem_num,
            sem_op,
            sem_flg,
        }
    }

    fn new_set(sems: &Semaphores, n: i32) -> i32 {
        sems.get(0, n, 0o600, &Credentials::root(), LIMITS, NOW)
            .expect("semget")
    }

    fn semop(sems: &Semaphores, id: i32, ops: Vec<Sembuf>, tgid: i32) -> Result<Semop, Errno> {
        sems.semop(id, ops, &Credentials::root(), tgid, &Waiter::new(), NOW)
    }

    fn value(sems: &Semaphores, id: i32, num: i32) -> i32 {
        sems.sets
            .lock()
            .get(id)
            .expect("set")
            .value(num)
            .expect("value")
    }

    #[test]
    fn waiters_are_served_in_order() {
        let sems = Semaphores::default();
        let id = new_set(&sems, 1);
        let Ok(Semop::Queued(first)) = semop(&sems, id, vec![op(0, -2, 0)], 2) else {
            panic!("first should wait");
        };
        let Ok(Semop::Queued(second)) = semop(&sems, id, vec![op(0, -1, 0)], 3) else {
            panic!("second should wait");
        };
        assert_eq!(
            sems.sets.lock().get(id).expect("set").waiting(0, false),
            Ok(2)
        );
        // One unit doesn't satisfy the first waiter but does the second: Linux completes
        // whatever queued operation can run.
        assert!(matches!(
            semop(&sems, id, vec![op(0, 1, 0)], 1),
            Ok(Semop::Done)
        ));
        assert_eq!(first.outcome(), None);
        assert_eq!(second.outcome(), Some(Ok(())));
        assert!(matches!(
            semop(&sems, id, vec![op(0, 2, 0)], 1),
            Ok(Semop::Done)
        ));
        assert_eq!(first.outcome(), Some(Ok(())));
        assert_eq!(value(&sems, id, 0), 0);
    }

    #[test]
    fn nowait_range_and_removal() {
        let sems = Semaphores::default();
        let id = new_set(&sems, 2);
        assert!(matches!(
            semop(&sems, id, vec![op(0, -1, SEM_NOWAIT)], 1),
            Err(Errno::EAGAIN)
        ));
        assert!(matches!(
            semop(&sems, id, vec![op(2, 1, 0)], 1),
            Err(Errno::EFBIG)
        ));
        assert!(matches!(
            semop(&sems, id, vec![op(0, i16::MAX, 0), op(0, 1, 0)], 1),
            Err(Errno::ERANGE)
        ));
        // All or nothing: the first operation's change didn't stick.
        assert_eq!(value(&sems, id, 0), 0);
        let Ok(Semop::Queued(slot)) = semop(&sems, id, vec![op(1, -1, 0)], 1) else {
            panic!("should wait");
        };
        sems.remove(id, &Credentials::root()).expect("rmid");
        assert_eq!(slot.outcome(), Some(Err(Errno::EIDRM)));
        assert!(matches!(
            semop(&sems, id, vec![op(0, 1, 0)], 1),
            Err(Errno::EINVAL)
        ));
    }

    #[test]
    fn undo_is_applied_at_exit_and_clamped() {
        let sems = Semaphores::default();
        let id = new_set(&sems, 1);
        assert!(matches!(
            semop(&sems, id, vec![op(0, 5, SEM_UNDO)], 7),
            Ok(Semop::Done)
        ));
        assert!(matches!(
            semop(&sems, id, vec![op(0, -3, 0)], 8),
            Ok(Semop::Done)
        ));
        let Ok(Semop::Queued(zero)) = semop(&sems, id, vec![op(0, 0, 0)], 9) else {
            panic!("wait-for-zero should wait");
        };
        sems.process_exited(7);
        assert_eq!(value(&sems, id, 0), 0);
        assert_eq!(zero.outcome(), Some(Ok(())));
        // The wait-for-zero that the undo let through operated on it last.
        assert_eq!(sems.sets.lock().get(id).expect("set").pid(0), Ok(9));
    }

    #[test]
    fn get_checks_sizes() {
        let sems = Semaphores::default();
        let root = Credentials::root();
        assert_eq!(
            sems.get(0, 0, 0o600, &root, LIMITS, NOW),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            sems.get(0, 251, 0o600, &root, LIMITS, NOW),
            Err(Errno::EINVAL)
        );
        let id = sems
            .get(42, 2, super::super::IPC_CREAT | 0o600, &root, LIMITS, NOW)
            .expect("create");
        assert_eq!(sems.get(42, 3, 0, &root, LIMITS, NOW), Err(Errno::EINVAL));
        assert_eq!(sems.get(42, 1, 0, &root, LIMITS, NOW), Ok(id));
    }
}
