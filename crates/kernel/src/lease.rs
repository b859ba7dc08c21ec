//! File leases (fcntl F_SETLEASE/F_GETLEASE): a read lease is broken by an open for writing, a
//! write lease by any open. The holder's process gets SIGIO and has the lease-break time to
//! release (or downgrade) it; the opener waits that long at most (O_NONBLOCK: EWOULDBLOCK at
//! once), after which the lease is taken away.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Weak};
use std::time::{Duration, Instant};

use abi::{Errno, SigInfo};
use parking_lot::Mutex;
use vfs::OpenFile;
use waiter::WaitQueue;

use crate::kernel::Kernel;
use crate::task::{Task, ThreadGroup};

/// Linux's default /proc/sys/fs/lease-break-time.
const LEASE_BREAK_TIME: Duration = Duration::from_secs(45);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LeaseKind {
    Read,
    Write,
}

struct Lease {
    /// The open file description holding the lease; a closed one holds none.
    file: Weak<OpenFile>,
    kind: LeaseKind,
    /// Who gets SIGIO when the lease is broken: the process that set it.
    holder: Weak<ThreadGroup>,
    /// Once broken: what the lease must become (`None`: released) and when it is taken away.
    breaking: Option<(Option<LeaseKind>, Instant)>,
}

impl Lease {
    fn held_by(&self, file: &Arc<OpenFile>) -> bool {
        std::ptr::eq(self.file.as_ptr(), Arc::as_ptr(file))
    }

    fn alive(&self) -> bool {
        self.file.strong_count() > 0
    }
}

/// A file's identity: (st_dev, st_ino).
type FileKey = (u64, u64);

/// Leases by file; `LEASES` counts them so opens skip the table while there are none.
static TABLE: Mutex<Option<HashMap<FileKey, Vec<Lease>>>> = Mutex::new(None);
static LEASES: AtomicUsize = AtomicUsize::new(0);
static QUEUE: LazyLock<WaitQueue> = LazyLock::new(WaitQueue::new);

fn key_of(file: &OpenFile) -> Result<FileKey, Errno> {
    let stat = file.stat()?;
    Ok((stat.st_dev, stat.st_ino))
}

/// Drops the leases of closed files and applies the breaks whose time is up.
fn tidy(leases: &mut Vec<Lease>, now: Instant) {
    let before = leases.len();
    leases.retain(Lease::alive);
    for lease in leases.iter_mut() {
        if let Some((target, deadline)) = lease.breaking {
            if deadline <= now {
                match target {
                    Some(kind) => {
                        lease.kind = kind;
                        lease.breaking = None;
                    }
                    None => lease.file = Weak::new(),
                }
            }
        }
    }
    leases.retain(Lease::alive);
    LEASES.fetch_sub(before - leases.len(), Ordering::Relaxed);
}

/// How many descriptions of the file behind `file` are open, and how many for writing, in
/// every process (O_PATH descriptors don't count).
fn open_counts(kernel: &Kernel, file: &OpenFile) -> (usize, usize) {
    let Some(inode) = file.path().map(|p| Arc::as_ptr(p.inode()).cast::<()>()) else {
        return (0, 0);
    };
    let mut seen: Vec<*const OpenFile> = Vec::new();
    // One lock at a time: the pid table, then each process, then each thread.
    let groups: Vec<Arc<ThreadGroup>> = kernel.pids.lock().groups().cloned().collect();
    let mut tables = Vec::new();
    for group in groups {
        let threads = group.state.lock().threads.clone();
        for thread in threads {
            if let Some(resources) = thread.resources.lock().as_ref() {
                tables.push(Arc::clone(&resources.files));
            }
        }
    }
    let (mut opens, mut writers) = (0, 0);
    for table in tables {
        for (_, entry) in table.lock().iter() {
            let same_inode = entry
                .file
                .path()
                .is_some_and(|p| Arc::as_ptr(p.inode()).cast::<()>() == inode);
            let ptr = Arc::as_ptr(&entry.file);
            if !same_inode || entry.file.status_flags() & libc::O_PATH != 0 || seen.contains(&ptr) {
                continue;
            }
            seen.push(ptr);
            opens += 1;
            if entry.file.writable() {
                writers += 1;
            }
        }
    }
    (opens, writers)
}

/// F_SETLEASE: `kind` takes or changes this description's lease, `None` releases it.
pub(crate) fn set(task: &Task, file: &Arc<OpenFile>, kind: Option<LeaseKind>) -> Result<(), Errno> {
    let key = key_of(file)?;
    let (opens, writers) = match kind {
        Some(_) => open_counts(&task.kernel, file),
        None => (0, 0),
    };
    let mut guard = TABLE.lock();
    let leases = guard
        .get_or_insert_with(HashMap::new)
        .entry(key)
        .or_default();
    tidy(leases, Instant::now());
    let mine = leases.iter().position(|l| l.held_by(file));
    let result = match (kind, mine) {
        (None, None) => Err(Errno::EAGAIN),
        (None, Some(at)) => {
            leases.remove(at);
            LEASES.fetch_sub(1, Ordering::Relaxed);
            Ok(())
        }
        (Some(kind), mine) => {
            let others = leases.iter().any(|l| !l.held_by(file));
            let conflict = match kind {
                LeaseKind::Read => {
                    file.writable()
                        || writers > 0
                        || leases
                            .iter()
                            .any(|l| !l.held_by(file) && l.kind == LeaseKind::Write)
                }
                LeaseKind::Write => others || opens > 1,
            };
            match mine {
                _ if conflict => Err(Errno::EAGAIN),
                Some(at) => {
                    let lease = &mut leases[at];
                    // A broken lease may only go where the break asked.
                    if let Some((target, _)) = lease.breaking {
                        if target != Some(kind) {
                            return Err(Errno::EAGAIN);
                        }
                        lease.breaking = None;
                    }
                    lease.kind = kind;
                    Ok(())
                }
                None => {
                    leases.push(Lease {
                        file: Arc::downgrade(file),
                        kind,
                        holder: Arc::downgrade(task.tg()),
                        breaking: None,
                    });
                    LEASES.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                }
            }
        }
    };
    if leases.is_empty() {
        guard.as_mut().map(|table| table.remove(&key));
    }
    drop(guard);
    QUEUE.notify(waiter::events::READABLE);
    result
}

/// F_GETLEASE: this description's lease; during a break, what the break asks it to become.
pub(crate) fn get(file: &Arc<OpenFile>) -> Result<Option<LeaseKind>, Errno> {
    if LEASES.load(Ordering::Relaxed) == 0 {
        return Ok(None);
    }
    let key = key_of(file)?;
    let mut guard = TABLE.lock();
    let Some(leases) = guard.as_mut().and_then(|table| table.get_mut(&key)) else {
        return Ok(None);
    };
    tidy(leases, Instant::now());
    Ok(leases
        .iter()
        .find(|l| l.held_by(file))
        .map(|l| l.breaking.map_or(Some(l.kind), |(target, _)| target))
        .unwrap_or(None))
}

/// An open of a regular file (`file`, just opened with `flags`) breaks the leases it
/// conflicts with, and waits until they are gone; O_NONBLOCK: EWOULDBLOCK instead of waiting.
pub(crate) fn break_for_open(task: &Task, file: &Arc<OpenFile>, flags: i32) -> Result<(), Errno> {
    if LEASES.load(Ordering::Relaxed) == 0 || flags & libc::O_PATH != 0 {
        return Ok(());
    }
    let writes = file.writable() || flags & libc::O_TRUNC != 0;
    let nonblocking = flags & libc::O_NONBLOCK != 0;
    break_leases(task, key_of(file)?, Some(file), writes, nonblocking)
}

/// truncate(2) by path breaks every lease of the file, as an open for writing does.
pub(crate) fn break_for_truncate(task: &Task, stat: &abi::Stat) -> Result<(), Errno> {
    if LEASES.load(Ordering::Relaxed) == 0 {
        return Ok(());
    }
    break_leases(task, (stat.st_dev, stat.st_ino), None, true, false)
}

/// Breaks the leases of the file `key` that an access (`writes` or not) by `breaker` (if an
/// open file) conflicts with, and waits until they are gone; `nonblocking`: EWOULDBLOCK
/// instead of waiting.
fn break_leases(
    task: &Task,
    key: FileKey,
    breaker: Option<&Arc<OpenFile>>,
    writes: bool,
    nonblocking: bool,
) -> Result<(), Errno> {
    let target = if writes { None } else { Some(LeaseKind::Read) };
    let conflicts = |lease: &Lease| {
        !breaker.is_some_and(|file| lease.held_by(file))
            && (writes || lease.kind == LeaseKind::Write)
    };
    loop {
        let waiter = Arc::clone(&task.handle.waiter);
        let _registration = QUEUE.register(waiter.clone(), waiter::events::READABLE);
        waiter.clear();
        let now = Instant::now();
        let mut to_signal = Vec::new();
        let next_deadline = {
            let mut guard = TABLE.lock();
            let Some(leases) = guard.as_mut().and_then(|table| table.get_mut(&key)) else {
                return Ok(());
            };
            tidy(leases, now);
            let mut next = None;
            for lease in leases.iter_mut().filter(|l| conflicts(l)) {
                let deadline = match lease.breaking {
                    Some((old_target, deadline)) => {
                        // A write open asks for more than a read open did.
                        if old_target.is_some() && target.is_none() {
                            lease.breaking = Some((None, deadline));
                        }
                        deadline
                    }
                    None => {
                        let deadline = now + LEASE_BREAK_TIME;
                        lease.breaking = Some((target, deadline));
                        to_signal.extend(lease.holder.upgrade());
                        deadline
                    }
                };
                next = Some(next.map_or(deadline, |n: Instant| n.min(deadline)));
            }
            next
        };
        for holder in to_signal {
            task.kernel
                .signal_group(&holder, SigInfo::kernel(libc::SIGIO));
        }
        let Some(deadline) = next_deadline else {
            return Ok(());
        };
        if nonblocking {
            return Err(Errno::EAGAIN);
        }
        if task.has_deliverable_signal() {
            return Err(abi::restart::ERESTARTSYS);
        }
        waiter.sleep(Some(deadline));
    }
}
