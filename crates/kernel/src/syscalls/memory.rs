//! Memory syscalls: mmap family and brk, served by mm.

use std::sync::Arc;

use abi::Errno;
use mm::{FilePages, LockLimit, MappableFile, MmapRequest};
use platform::Prot;
use vfs::OpenFile;

use super::{arg_i32, SyscallResult};
use crate::task::Task;

/// A mapped file: a private mapping copies its pages from the file on first touch, a shared one
/// maps the file's own pages.
struct MappedFile(Arc<OpenFile>);

impl MappableFile for MappedFile {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.0.pread(buf, offset)
    }

    fn shared_pages(&self) -> Option<Arc<FilePages>> {
        self.0.shared_pages()
    }

    /// Shared mappings may write only a file opened for writing, and not in append-only mode.
    fn writable(&self) -> bool {
        self.0.writable() && self.0.status_flags() & libc::O_APPEND == 0
    }

    fn device(&self) -> u64 {
        self.0.stat().map_or(0, |st| st.st_dev)
    }

    fn inode(&self) -> u64 {
        self.0.stat().map_or(0, |st| st.st_ino)
    }
}

/// `file` as mappings hold it; shmat maps System V segments through this too.
pub(super) fn mappable(file: Arc<OpenFile>) -> Arc<dyn MappableFile> {
    Arc::new(MappedFile(file))
}

/// mmap flags this kernel understands; others are EINVAL, as Linux rejects unknown ones only
/// under MAP_SHARED_VALIDATE but none of the remaining ones can be honoured silently.
const KNOWN_FLAGS: i32 = libc::MAP_SHARED
    | libc::MAP_PRIVATE
    | libc::MAP_FIXED
    | libc::MAP_ANONYMOUS
    | libc::MAP_GROWSDOWN
    | libc::MAP_DENYWRITE
    | libc::MAP_EXECUTABLE
    | libc::MAP_LOCKED
    | libc::MAP_NORESERVE
    | libc::MAP_POPULATE
    | libc::MAP_NONBLOCK
    | libc::MAP_STACK
    | libc::MAP_FIXED_NOREPLACE;

fn prot_arg(bits: u64) -> Result<Prot, Errno> {
    let known = (libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) as u64;
    if bits & !known != 0 {
        return Err(Errno::EINVAL);
    }
    Ok(Prot::from_bits(bits))
}

/// MAP_SHARED_VALIDATE: MAP_SHARED, with unknown flags refused (EOPNOTSUPP).
const MAP_SHARED_VALIDATE: i32 = libc::MAP_SHARED | libc::MAP_PRIVATE;

pub(super) fn mmap(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (addr, len, flags, offset) = (a[0], a[1], arg_i32(a[3]), a[5]);
    let prot = prot_arg(a[2])?;
    let sharing = flags & MAP_SHARED_VALIDATE;
    if sharing == MAP_SHARED_VALIDATE && flags & !KNOWN_FLAGS != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if flags & !KNOWN_FLAGS != 0 || sharing == 0 {
        return Err(Errno::EINVAL);
    }
    let shared = sharing != libc::MAP_PRIVATE;
    let file = if flags & libc::MAP_ANONYMOUS != 0 {
        None
    } else {
        if offset % abi::PAGE_SIZE != 0 {
            return Err(Errno::EINVAL);
        }
        let file = task.fds().get(a[4])?;
        if !file.readable() {
            return Err(Errno::EACCES);
        }
        Some((mappable(file), offset))
    };
    task.mm.mmap(MmapRequest {
        addr,
        len,
        prot,
        fixed: flags & libc::MAP_FIXED != 0,
        fixed_noreplace: flags & libc::MAP_FIXED_NOREPLACE != 0,
        shared,
        file,
        grows_down: flags & libc::MAP_GROWSDOWN != 0,
    })
}

pub(super) fn munmap(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.mm.munmap(a[0], a[1]).map(|()| 0)
}

pub(super) fn mprotect(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let prot = prot_arg(a[2] & !((libc::PROT_GROWSDOWN | libc::PROT_GROWSUP) as u64))?;
    task.mm.mprotect(a[0], a[1], prot).map(|()| 0)
}

pub(super) fn mremap(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.mm.mremap(a[0], a[1], a[2], a[3], a[4])
}

pub(super) fn madvise(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.mm.madvise(a[0], a[1], arg_i32(a[2])).map(|()| 0)
}

pub(super) fn msync(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.mm.msync(a[0], a[1], arg_i32(a[2])).map(|()| 0)
}

pub(super) fn mincore(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let resident = task.mm.mincore(a[0], a[1])?;
    task.mm.copy_out(a[2], &resident)?;
    Ok(0)
}

/// CAP_IPC_LOCK (linux/capability.h).
const CAP_IPC_LOCK: u32 = 14;

/// What the caller may lock: unlimited with CAP_IPC_LOCK, else RLIMIT_MEMLOCK.
fn lock_limit(task: &Task) -> LockLimit {
    if task.creds().capable(CAP_IPC_LOCK) {
        return None;
    }
    Some(task.rlimit(libc::RLIMIT_MEMLOCK).cur).filter(|&limit| limit != libc::RLIM_INFINITY)
}

pub(super) fn mlock(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.mm
        .mlock(a[0], a[1], true, lock_limit(task))
        .map(|()| 0)
}

/// mlock2: MLOCK_ONFAULT is accepted (pages are locked however they come in).
pub(super) fn mlock2(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    const MLOCK_ONFAULT: u64 = 1;
    if a[2] & !MLOCK_ONFAULT != 0 {
        return Err(Errno::EINVAL);
    }
    task.mm
        .mlock(a[0], a[1], true, lock_limit(task))
        .map(|()| 0)
}

pub(super) fn munlock(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.mm.mlock(a[0], a[1], false, None).map(|()| 0)
}

pub(super) fn mlockall(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let flags = arg_i32(a[0]);
    let known = libc::MCL_CURRENT | libc::MCL_FUTURE | libc::MCL_ONFAULT;
    if flags == 0 || flags & !known != 0 || flags == libc::MCL_ONFAULT {
        return Err(Errno::EINVAL);
    }
    let (current, future) = (
        flags & libc::MCL_CURRENT != 0,
        flags & libc::MCL_FUTURE != 0,
    );
    task.mm
        .mlockall(current, future, lock_limit(task))
        .map(|()| 0)
}

pub(super) fn munlockall(task: &mut Task, _a: &[u64; 6]) -> SyscallResult {
    task.mm.munlockall();
    Ok(0)
}

pub(super) fn brk(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    Ok(task.mm.brk(a[0]))
}
