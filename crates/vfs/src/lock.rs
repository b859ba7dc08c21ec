//! Advisory file locks: flock(2) locks, held by an open file description, and record locks
//! (fcntl F_SETLK and friends) over byte ranges, held by a process (POSIX locks) or by an open
//! file description (OFD locks). Both are advisory and keyed by the file (device, inode), so
//! every open of a file sees the same locks.
//!
//! Attempts never block here: a conflict is EAGAIN and the kernel waits on [`lock_queue`],
//! which hears of every release. Locks held by an open file description go when it is dropped
//! (its last close); a process's POSIX locks go when it closes any descriptor of the file
//! ([`release_process_locks`]), or once its owner token is gone.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Weak};

use abi::Errno;
use parking_lot::Mutex;
use waiter::{events, WaitQueue};

use crate::file::OpenFile;

/// A file as locks know it: (st_dev, st_ino).
pub(crate) type LockKey = (u64, u64);

/// Read (shared) or write (exclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockKind {
    Shared,
    Exclusive,
}

/// Who holds a record lock.
#[derive(Clone)]
pub struct RecordOwner {
    /// Distinguishes owners: a process's descriptor table, or an open file description.
    id: usize,
    /// What F_GETLK reports as `l_pid`: the process, or -1 for an OFD lock.
    pid: i32,
    /// For a process owner: alive while the process's descriptor table is.
    alive: Option<Weak<dyn Any + Send + Sync>>,
}

impl RecordOwner {
    /// A process, identified by its descriptor table (shared by its threads, as Linux's
    /// `fl_owner` is `current->files`); its locks lapse when `files` is dropped.
    pub fn process(files: &Arc<impl Any + Send + Sync>, pid: i32) -> RecordOwner {
        let weak: Weak<dyn Any + Send + Sync> = Arc::downgrade(files) as _;
        RecordOwner {
            id: Arc::as_ptr(files).addr(),
            pid,
            alive: Some(weak),
        }
    }

    /// An open file description (F_OFD_SETLK): its locks go when the description does.
    pub fn open_file(file: &Arc<OpenFile>) -> RecordOwner {
        RecordOwner {
            id: Arc::as_ptr(file).addr(),
            pid: -1,
            alive: None,
        }
    }

    pub(crate) fn id(&self) -> usize {
        self.id
    }

    fn is_alive(&self) -> bool {
        self.alive.as_ref().is_none_or(|w| w.strong_count() > 0)
    }
}

/// A record lock over `[start, end]` (inclusive; `i64::MAX` is "to the end, however far").
#[derive(Clone)]
struct RecordLock {
    owner: RecordOwner,
    kind: LockKind,
    start: i64,
    end: i64,
}

/// A conflicting lock, as F_GETLK describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub kind: LockKind,
    pub start: i64,
    pub end: i64,
    pub pid: i32,
}

#[derive(Default)]
struct FileLocks {
    /// flock locks: (open file description, kind).
    flocks: Vec<(usize, LockKind)>,
    records: Vec<RecordLock>,
}

impl FileLocks {
    fn is_empty(&self) -> bool {
        self.flocks.is_empty() && self.records.is_empty()
    }
}

/// Every file's locks. One table for the Sentry rather than one per VFS: an open file
/// description releases its locks when dropped, and finds them by key without a VFS at hand.
static LOCKS: LazyLock<Mutex<HashMap<LockKey, FileLocks>>> = LazyLock::new(Mutex::default);

/// Where lock waiters sleep: notified whenever any lock is released.
static QUEUE: LazyLock<Arc<WaitQueue>> = LazyLock::new(|| Arc::new(WaitQueue::new()));

/// The queue a blocked lock request waits on.
pub fn lock_queue() -> Arc<WaitQueue> {
    Arc::clone(&QUEUE)
}

/// Whether any file has locks: lets a close skip finding the file's key.
pub(crate) fn any_locks() -> bool {
    !LOCKS.lock().is_empty()
}

fn released() {
    QUEUE.notify(events::READABLE | events::WRITABLE);
}

fn conflicts(a: LockKind, b: LockKind) -> bool {
    a == LockKind::Exclusive || b == LockKind::Exclusive
}

/// flock: `kind` `Some` locks (converting a lock this description holds), `None` unlocks.
/// EAGAIN if another description holds a conflicting lock.
pub(crate) fn flock(key: LockKey, file_id: usize, kind: Option<LockKind>) -> Result<(), Errno> {
    let mut table = LOCKS.lock();
    let locks = table.entry(key).or_default();
    let held = locks.flocks.iter().position(|&(id, _)| id == file_id);
    if let (Some(i), Some(kind)) = (held, kind) {
        if locks.flocks[i].1 == kind {
            return Ok(());
        }
    }
    // Linux drops the old lock before trying for the new one, so a failed conversion leaves
    // the file unlocked.
    if let Some(i) = held {
        locks.flocks.swap_remove(i);
        released();
    }
    let result = match kind {
        None => Ok(()),
        Some(kind) => {
            if locks.flocks.iter().any(|&(_, k)| conflicts(k, kind)) {
                Err(Errno::EAGAIN)
            } else {
                locks.flocks.push((file_id, kind));
                Ok(())
            }
        }
    };
    if locks.is_empty() {
        table.remove(&key);
    }
    result
}

/// The first lock of another owner that conflicts with `kind` over `[start, end]`.
fn find_conflict(
    locks: &FileLocks,
    owner: &RecordOwner,
    kind: LockKind,
    start: i64,
    end: i64,
) -> Option<Conflict> {
    locks
        .records
        .iter()
        .find(|l| {
            l.owner.id != owner.id && l.start <= end && start <= l.end && conflicts(l.kind, kind)
        })
        .map(|l| Conflict {
            kind: l.kind,
            start: l.start,
            end: l.end,
            pid: l.owner.pid,
        })
}

/// Drops the locks of owners that are gone (a process that exited without closing).
fn prune(locks: &mut FileLocks) {
    let before = locks.records.len();
    locks.records.retain(|l| l.owner.is_alive());
    if locks.records.len() != before {
        released();
    }
}

/// F_GETLK: the lock that would stop `owner` taking `kind` over `[start, end]`, if any.
pub(crate) fn test_record(
    key: LockKey,
    owner: &RecordOwner,
    kind: LockKind,
    start: i64,
    end: i64,
) -> Option<Conflict> {
    let mut table = LOCKS.lock();
    let locks = table.get_mut(&key)?;
    prune(locks);
    find_conflict(locks, owner, kind, start, end)
}

/// F_SETLK: `owner` takes `kind` over `[start, end]` (`None` unlocks it), replacing, splitting
/// and merging its own locks there as Linux does. EAGAIN on a conflict with another owner.
pub(crate) fn set_record(
    key: LockKey,
    owner: &RecordOwner,
    kind: Option<LockKind>,
    start: i64,
    end: i64,
) -> Result<(), Errno> {
    let mut table = LOCKS.lock();
    let locks = table.entry(key).or_default();
    prune(locks);
    if let Some(kind) = kind {
        if find_conflict(locks, owner, kind, start, end).is_some() {
            if locks.is_empty() {
                table.remove(&key);
            }
            return Err(Errno::EAGAIN);
        }
    }
    // Cut [start, end] out of the owner's locks, keeping the parts outside it.
    let mut kept = Vec::with_capacity(locks.records.len() + 1);
    let mut changed = false;
    for lock in locks.records.drain(..) {
        if lock.owner.id != owner.id || lock.end < start || end < lock.start {
            kept.push(lock);
            continue;
        }
        changed = true;
        if lock.start < start {
            kept.push(RecordLock {
                end: start - 1,
                ..lock.clone()
            });
        }
        if end < lock.end {
            kept.push(RecordLock {
                start: end + 1,
                ..lock
            });
        }
    }
    if let Some(kind) = kind {
        // Adjacent or overlapping locks of the owner with the same kind become one.
        let (mut start, mut end) = (start, end);
        kept.retain(|l| {
            let touches = l.start <= end.saturating_add(1) && start <= l.end.saturating_add(1);
            if l.owner.id == owner.id && l.kind == kind && touches {
                start = start.min(l.start);
                end = end.max(l.end);
                false
            } else {
                true
            }
        });
        kept.push(RecordLock {
            owner: owner.clone(),
            kind,
            start,
            end,
        });
    }
    locks.records = kept;
    if locks.is_empty() {
        table.remove(&key);
    }
    if changed {
        released();
    }
    Ok(())
}

/// Releases every record lock `owner_id` holds on the file (a process closed a descriptor of
/// it), and wakes waiters if there were any.
pub(crate) fn release_records(key: LockKey, owner_id: usize) {
    let mut table = LOCKS.lock();
    let Some(locks) = table.get_mut(&key) else {
        return;
    };
    let before = locks.records.len();
    locks.records.retain(|l| l.owner.id != owner_id);
    let changed = locks.records.len() != before;
    if locks.is_empty() {
        table.remove(&key);
    }
    drop(table);
    if changed {
        released();
    }
}

/// Releases the flock and OFD locks of the open file description `file_id` (its last close).
pub(crate) fn release_open_file(key: LockKey, file_id: usize) {
    let mut table = LOCKS.lock();
    let Some(locks) = table.get_mut(&key) else {
        return;
    };
    locks.flocks.retain(|&(id, _)| id != file_id);
    locks.records.retain(|l| l.owner.id != file_id);
    if locks.is_empty() {
        table.remove(&key);
    }
    drop(table);
    released();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(id: usize) -> RecordOwner {
        RecordOwner {
            id,
            pid: i32::try_from(id).unwrap_or(0),
            alive: None,
        }
    }

    #[test]
    fn record_locks_split_merge_and_conflict() {
        let key = (u64::MAX, 1);
        let (a, b) = (owner(1), owner(2));
        assert_eq!(
            set_record(key, &a, Some(LockKind::Exclusive), 0, 99),
            Ok(())
        );
        assert_eq!(set_record(key, &a, None, 10, 19), Ok(()));
        assert_eq!(test_record(key, &b, LockKind::Shared, 10, 19), None);
        let conflict = test_record(key, &b, LockKind::Shared, 15, 25);
        assert_eq!(conflict.map(|c| (c.start, c.end, c.pid)), Some((20, 99, 1)));
        assert_eq!(
            set_record(key, &b, Some(LockKind::Shared), 0, 0),
            Err(Errno::EAGAIN)
        );
        assert_eq!(
            set_record(key, &a, Some(LockKind::Exclusive), 10, 19),
            Ok(())
        );
        let whole = test_record(key, &b, LockKind::Shared, 50, 50);
        assert_eq!(whole.map(|c| (c.start, c.end)), Some((0, 99)));
        release_records(key, 1);
        assert_eq!(test_record(key, &b, LockKind::Exclusive, 0, i64::MAX), None);
    }

    #[test]
    fn flock_shared_and_exclusive() {
        let key = (u64::MAX, 2);
        assert_eq!(flock(key, 1, Some(LockKind::Shared)), Ok(()));
        assert_eq!(flock(key, 2, Some(LockKind::Shared)), Ok(()));
        assert_eq!(flock(key, 3, Some(LockKind::Exclusive)), Err(Errno::EAGAIN));
        assert_eq!(flock(key, 1, None), Ok(()));
        release_open_file(key, 2);
        assert_eq!(flock(key, 3, Some(LockKind::Exclusive)), Ok(()));
        assert_eq!(flock(key, 3, None), Ok(()));
    }
}
