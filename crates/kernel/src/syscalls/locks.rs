//! File locks (flock, fcntl's POSIX and OFD record locks), pipe sizes and F_NOTIFY through
//! fcntl, and the lock release a close implies.

use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::Errno;
use vfs::lock::{lock_queue, LockKind, RecordOwner};
use vfs::pipe::{round_pipe_size, PipeEnd, PIPE_MAX_SIZE};
use vfs::OpenFile;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{arg_i32, SyscallResult};
use crate::lease::LeaseKind;
use crate::task::Task;

/// How long a blocked lock request sleeps before looking again: a process that exits without
/// its descriptors being closed one by one (its table dropped whole) wakes nobody, and its
/// locks lapse only when someone looks.
const LOCK_RECHECK: Duration = Duration::from_millis(50);

/// `l_type` and `l_whence` values as `struct flock`'s shorts hold them.
const F_RDLCK: i16 = 0;
const F_WRLCK: i16 = 1;
const F_UNLCK: i16 = 2;
const SEEK_SET: i16 = 0;

/// `struct flock`.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Flock {
    l_type: i16,
    l_whence: i16,
    _pad: u32,
    l_start: i64,
    l_len: i64,
    l_pid: i32,
    _pad2: u32,
}

/// The owner of the POSIX locks `task` takes: its process's descriptor table.
fn process_owner(task: &Task) -> RecordOwner {
    RecordOwner::process(&task.files, task.pid())
}

/// Retries `attempt` until it stops failing with EAGAIN, sleeping on the lock queue between
/// tries; a signal ends the wait with ERESTARTSYS.
fn wait_for_lock(task: &Task, mut attempt: impl FnMut() -> Result<(), Errno>) -> Result<(), Errno> {
    let queue = lock_queue();
    loop {
        let waiter = Arc::clone(&task.handle.waiter);
        let _registration = queue.register(waiter.clone(), waiter::events::READABLE);
        waiter.clear();
        match attempt() {
            Err(Errno::EAGAIN) => {}
            result => return result,
        }
        if task.has_deliverable_signal() {
            return Err(abi::restart::ERESTARTSYS);
        }
        waiter.sleep(Some(Instant::now() + LOCK_RECHECK));
    }
}

pub(super) fn flock(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    let op = arg_i32(a[1]);
    let kind = match op & !libc::LOCK_NB {
        libc::LOCK_SH => Some(LockKind::Shared),
        libc::LOCK_EX => Some(LockKind::Exclusive),
        libc::LOCK_UN => None,
        _ => return Err(Errno::EINVAL),
    };
    if op & libc::LOCK_NB != 0 || kind.is_none() {
        return file.flock(kind).map(|()| 0);
    }
    wait_for_lock(task, || file.flock(kind)).map(|()| 0)
}

/// The lock range `[start, end]` a `struct flock` describes, from `l_whence`, `l_start` and
/// `l_len` (negative: the bytes before the start), as Linux's `flock_to_posix_lock`.
fn lock_range(file: &OpenFile, lock: &Flock) -> Result<(i64, i64), Errno> {
    let base = match i32::from(lock.l_whence) {
        libc::SEEK_SET => 0,
        libc::SEEK_CUR => file.seek(0, libc::SEEK_CUR).unwrap_or(0).cast_signed(),
        libc::SEEK_END => file.stat()?.st_size,
        _ => return Err(Errno::EINVAL),
    };
    let start = base.checked_add(lock.l_start).ok_or(Errno::EOVERFLOW)?;
    if start < 0 {
        return Err(Errno::EINVAL);
    }
    match lock.l_len {
        0 => Ok((start, i64::MAX)),
        len if len > 0 => {
            let end = start.checked_add(len - 1).ok_or(Errno::EOVERFLOW)?;
            Ok((start, end))
        }
        len => {
            let new_start = start + len;
            if new_start < 0 {
                return Err(Errno::EINVAL);
            }
            Ok((new_start, start - 1))
        }
    }
}

fn lock_kind(l_type: i16) -> Result<Option<LockKind>, Errno> {
    match l_type {
        F_RDLCK => Ok(Some(LockKind::Shared)),
        F_WRLCK => Ok(Some(LockKind::Exclusive)),
        F_UNLCK => Ok(None),
        _ => Err(Errno::EINVAL),
    }
}

/// fcntl commands on locks and pipe sizes; `None` for commands this family doesn't know.
pub(super) fn fcntl(task: &Task, fd: u64, cmd: i32, arg: u64) -> Option<SyscallResult> {
    let ofd = matches!(
        cmd,
        libc::F_OFD_GETLK | libc::F_OFD_SETLK | libc::F_OFD_SETLKW
    );
    Some(match cmd {
        libc::F_GETLK | libc::F_OFD_GETLK => get_lock(task, fd, arg, ofd),
        libc::F_SETLK | libc::F_SETLKW | libc::F_OFD_SETLK | libc::F_OFD_SETLKW => {
            let wait = matches!(cmd, libc::F_SETLKW | libc::F_OFD_SETLKW);
            set_lock(task, fd, arg, ofd, wait)
        }
        libc::F_GETPIPE_SZ => with_pipe(task, fd, |end| Ok(end.pipe().capacity() as u64)),
        libc::F_SETPIPE_SZ => set_pipe_size(task, fd, arg),
        libc::F_NOTIFY => notify(task, fd),
        libc::F_SETLEASE => set_lease(task, fd, arg),
        libc::F_GETLEASE => get_lease(task, fd),
        _ => return None,
    })
}

fn owner_for(task: &Task, file: &Arc<OpenFile>, ofd: bool) -> RecordOwner {
    if ofd {
        RecordOwner::open_file(file)
    } else {
        process_owner(task)
    }
}

fn get_lock(task: &Task, fd: u64, arg: u64, ofd: bool) -> SyscallResult {
    let file = task.fds().get(fd)?;
    let mut lock: Flock = task.mm.read_obj(arg)?;
    if ofd && lock.l_pid != 0 {
        return Err(Errno::EINVAL);
    }
    let kind = lock_kind(lock.l_type)?.ok_or(Errno::EINVAL)?;
    let (start, end) = lock_range(&file, &lock)?;
    let owner = owner_for(task, &file, ofd);
    match file.test_record_lock(&owner, kind, start, end)? {
        None => lock.l_type = F_UNLCK,
        Some(conflict) => {
            lock.l_type = match conflict.kind {
                LockKind::Shared => F_RDLCK,
                LockKind::Exclusive => F_WRLCK,
            };
            lock.l_whence = SEEK_SET;
            lock.l_start = conflict.start;
            lock.l_len = if conflict.end == i64::MAX {
                0
            } else {
                conflict.end - conflict.start + 1
            };
            lock.l_pid = conflict.pid;
        }
    }
    task.mm.write_obj(arg, &lock)?;
    Ok(0)
}

fn set_lock(task: &Task, fd: u64, arg: u64, ofd: bool, wait: bool) -> SyscallResult {
    let file = task.fds().get(fd)?;
    let lock: Flock = task.mm.read_obj(arg)?;
    if ofd && lock.l_pid != 0 {
        return Err(Errno::EINVAL);
    }
    let kind = lock_kind(lock.l_type)?;
    let (start, end) = lock_range(&file, &lock)?;
    let owner = owner_for(task, &file, ofd);
    let attempt = || file.set_record_lock(&owner, kind, start, end);
    if wait && kind.is_some() {
        wait_for_lock(task, attempt)?;
    } else {
        attempt()?;
    }
    Ok(0)
}

/// F_NOTIFY (dnotify): accepted on directories, which is all callers can check; no
/// notification signal is ever sent.
fn notify(task: &Task, fd: u64) -> SyscallResult {
    let file = task.fds().get(fd)?;
    if !file.path().is_some_and(vfs::VfsPath::is_dir) {
        return Err(Errno::ENOTDIR);
    }
    Ok(0)
}

/// Runs `op` on the pipe end behind `fd`; EBADF if it is not a pipe.
fn with_pipe<T>(
    task: &Task,
    fd: u64,
    op: impl FnOnce(&PipeEnd) -> Result<T, Errno>,
) -> Result<T, Errno> {
    let file = task.fds().get(fd)?;
    let end = file
        .ops()
        .as_any()
        .downcast_ref::<PipeEnd>()
        .ok_or(Errno::EBADF)?;
    op(end)
}

fn set_pipe_size(task: &Task, fd: u64, arg: u64) -> SyscallResult {
    let size = u64::from(super::arg_u32(arg));
    let privileged = task.creds().capable(super::creds::CAP_SYS_RESOURCE);
    with_pipe(task, fd, |end| {
        if round_pipe_size(size) > PIPE_MAX_SIZE as u64 && !privileged {
            return Err(Errno::EPERM);
        }
        Ok(end.pipe().set_capacity(size)? as u64)
    })
}

/// A process closed a descriptor of `file`: its POSIX locks on the file go (Linux's
/// `locks_remove_posix`), whichever descriptor they were taken through.
pub(super) fn release_on_close(task: &Task, file: &OpenFile) {
    file.release_record_locks(&process_owner(task));
}

/// CAP_LEASE: a lease on a file the caller doesn't own.
const CAP_LEASE: u32 = 28;

/// F_SETLEASE: F_RDLCK, F_WRLCK or F_UNLCK on a regular file the caller owns.
fn set_lease(task: &Task, fd: u64, arg: u64) -> SyscallResult {
    let file = task.fds().get(fd)?;
    let kind = match i16::try_from(arg_i32(arg)).map_err(|_| Errno::EINVAL)? {
        F_RDLCK => Some(LeaseKind::Read),
        F_WRLCK => Some(LeaseKind::Write),
        F_UNLCK => None,
        _ => return Err(Errno::EINVAL),
    };
    let stat = file.stat()?;
    if stat.st_mode & libc::S_IFMT != libc::S_IFREG || file.status_flags() & libc::O_PATH != 0 {
        return Err(Errno::EINVAL);
    }
    let creds = task.creds();
    if creds.fsuid != stat.st_uid && !creds.capable(CAP_LEASE) {
        return Err(Errno::EACCES);
    }
    crate::lease::set(task, &file, kind).map(|()| 0)
}

fn get_lease(task: &Task, fd: u64) -> SyscallResult {
    let file = task.fds().get(fd)?;
    let kind = match crate::lease::get(&file)? {
        Some(LeaseKind::Read) => F_RDLCK,
        Some(LeaseKind::Write) => F_WRLCK,
        None => F_UNLCK,
    };
    Ok(u64::from(kind.cast_unsigned()))
}
