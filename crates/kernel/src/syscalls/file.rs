//! Syscalls on file descriptors: read/write family, seek, dup, fcntl, ioctl, fstat, getdents.

use std::sync::Arc;
use std::time::Duration;

use abi::Errno;
use vfs::permission::{self, Perm, CAP_FSETID};
use vfs::{OpenFile, SetAttr, Vfs};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{arg_i32, arg_i64, arg_len, arg_u32, ret_flags, SyscallResult};
use crate::deadline::Deadline;
use crate::task::Task;

/// Bytes moved between guest memory and a file per step: bounds the Sentry's buffer whatever
/// count the guest passes.
pub(super) const IO_CHUNK: usize = 1 << 20;

/// Linux's limit on iovec counts (UIO_MAXIOV).
const IOV_MAX: usize = 1024;

/// `struct iovec`.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Iovec {
    pub(crate) base: u64,
    pub(crate) len: u64,
}

/// Runs `op` on `file`, sleeping while it would block (EAGAIN) unless the file is
/// non-blocking. A signal ends the wait with ERESTARTSYS (EINTR under a socket timeout, as
/// Linux's `sock_intr_errno`); a socket's timeout passing ends it with EAGAIN.
pub(super) fn blocking<T>(
    task: &Task,
    file: &OpenFile,
    events: u32,
    mut op: impl FnMut() -> Result<T, Errno>,
) -> Result<T, Errno> {
    let timeout = socket_timeout(file, events);
    let deadline = Deadline::within(timeout);
    loop {
        match op() {
            Err(Errno::EAGAIN) if file.status_flags() & libc::O_NONBLOCK == 0 => {}
            result => return result,
        }
        let Some(queue) = file.wait_queue() else {
            return Err(Errno::EAGAIN);
        };
        let waiter = Arc::clone(&task.handle.waiter);
        let _registration = queue.register(waiter.clone(), events);
        waiter.clear();
        // Re-check now that a change can't be missed.
        match op() {
            Err(Errno::EAGAIN) => {}
            result => return result,
        }
        if task.has_deliverable_signal() {
            return Err(if timeout.is_some() {
                Errno::EINTR
            } else {
                abi::restart::ERESTARTSYS
            });
        }
        if deadline.has_passed() {
            return Err(Errno::EAGAIN);
        }
        waiter.sleep(deadline.instant());
    }
}

/// How long a read or write on `file` may wait: a socket's SO_RCVTIMEO or SO_SNDTIMEO, which
/// Linux applies to read(2) and write(2) as to recv and send; other files wait forever.
fn socket_timeout(file: &OpenFile, events: u32) -> Option<Duration> {
    let socket = net::unix::UnixSocket::of(file)?;
    if events & waiter::events::READABLE != 0 {
        socket.receive_timeout()
    } else {
        socket.send_timeout()
    }
}

/// Reads from `file` into guest memory at `addr`, up to `count` bytes; `offset` for pread.
fn read_into_guest(
    task: &Task,
    file: &OpenFile,
    addr: u64,
    count: usize,
    offset: Option<u64>,
) -> Result<usize, Errno> {
    let mut buf = vec![0u8; count.min(IO_CHUNK)];
    let mut done = 0;
    loop {
        let want = (count - done).min(IO_CHUNK);
        let step = match offset {
            Some(off) => file.pread(&mut buf[..want], off + done as u64),
            // Only the first step may block: once data has arrived, read returns it.
            None if done == 0 => blocking(task, file, waiter::events::READABLE, || {
                file.read(&mut buf[..want])
            }),
            None => file.read(&mut buf[..want]),
        };
        let n = match step {
            Ok(n) => n,
            Err(_) if done > 0 => return Ok(done),
            Err(e) => return Err(e),
        };
        task.mm.copy_out(addr + done as u64, &buf[..n])?;
        done += n;
        // Only a regular file is read on past a full chunk: a pipe or terminal would block.
        if n < want || done == count || !is_regular(file) {
            return Ok(done);
        }
    }
}

/// A write or truncation by a caller without CAP_FSETID takes a regular file's set-id bits
/// away, as Linux's file_remove_privs.
pub(super) fn remove_privs(task: &Task, file: &OpenFile) -> Result<(), Errno> {
    if task.tg().state.lock().creds.capable(CAP_FSETID) || !is_regular(file) {
        return Ok(());
    }
    let Some(path) = file.path() else {
        return Ok(());
    };
    let perm = Perm::of(path.inode().as_ref())?;
    match permission::mode_after_write(&task.fs_creds(), perm) {
        Some(mode) => Vfs::set_attr(
            path,
            &SetAttr {
                mode: Some(mode),
                ..SetAttr::default()
            },
        ),
        None => Ok(()),
    }
}

pub(super) fn is_regular(file: &OpenFile) -> bool {
    file.path()
        .is_some_and(|p| p.file_type() == vfs::FileType::Regular)
}

/// Whether a short write is continued: pipes, FIFOs, sockets and ptys in blocking mode.
fn writes_fully(file: &OpenFile) -> bool {
    file.status_flags() & libc::O_NONBLOCK == 0
        && (crate::tty::pty::PtyFile::of(file).is_some()
            || file.stat().is_ok_and(|st| {
                let kind = st.st_mode & libc::S_IFMT;
                // A stream socket's write, like a pipe's, blocks until it is all sent.
                kind == libc::S_IFIFO || kind == libc::S_IFSOCK
            }))
}

/// How much of a `count`-byte write to `file` (at `offset`, else at its file offset)
/// RLIMIT_FSIZE lets through, as Linux's `generic_write_check_limits` decides for regular
/// files: a write crossing the limit is cut short; one starting at or past it fails with EFBIG
/// and raises SIGXFSZ.
pub(super) fn within_file_size_limit(
    task: &Task,
    file: &OpenFile,
    offset: Option<u64>,
    count: usize,
) -> Result<usize, Errno> {
    let limit = task.rlimit(libc::RLIMIT_FSIZE).cur;
    if limit == u64::MAX || count == 0 {
        return Ok(count);
    }
    let Ok(st) = file.stat() else {
        return Ok(count);
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Ok(count);
    }
    let pos = if file.status_flags() & libc::O_APPEND != 0 {
        u64::try_from(st.st_size).unwrap_or(0)
    } else if let Some(offset) = offset {
        offset
    } else {
        file.seek(0, libc::SEEK_CUR)?
    };
    if pos >= limit {
        return Err(file_too_big(task));
    }
    Ok(count.min(usize::try_from(limit - pos).unwrap_or(usize::MAX)))
}

/// RLIMIT_FSIZE refused to let a regular file grow: raises SIGXFSZ and returns EFBIG, as Linux.
pub(super) fn file_too_big(task: &Task) -> Errno {
    task.kernel
        .signal_thread(&task.handle, abi::SigInfo::kernel(libc::SIGXFSZ));
    Errno::EFBIG
}

/// Whether RLIMIT_FSIZE forbids truncating a regular file to `len` bytes (Linux's
/// `inode_newsize_ok`: longer than the limit).
pub(super) fn truncate_too_big(task: &Task, st: &abi::Stat, len: u64) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFREG && len > task.rlimit(libc::RLIMIT_FSIZE).cur
}

/// Writes `count` bytes of guest memory at `addr` to `file`; `offset` for pwrite. A blocking
/// file is written until everything went or a signal interrupts; EPIPE also raises SIGPIPE.
fn write_from_guest(
    task: &Task,
    file: &OpenFile,
    addr: u64,
    count: usize,
    offset: Option<u64>,
) -> Result<usize, Errno> {
    let count = within_file_size_limit(task, file, offset, count)?;
    if count > 0 && file.writable() {
        remove_privs(task, file)?;
    }
    let mut buf = vec![0u8; count.min(IO_CHUNK)];
    let mut done = 0;
    let mut pending = 0..0;
    loop {
        if pending.is_empty() {
            let want = (count - done).min(IO_CHUNK);
            task.mm.copy_in(addr + done as u64, &mut buf[..want])?;
            pending = 0..want;
        }
        let chunk = &buf[pending.clone()];
        let step = match offset {
            Some(off) => file.pwrite(chunk, off + done as u64),
            None => blocking(task, file, waiter::events::WRITABLE, || file.write(chunk)),
        };
        let n = match step {
            Ok(n) => n,
            Err(e) => {
                if e == Errno::EPIPE {
                    task.kernel
                        .signal_thread(&task.handle, abi::SigInfo::kernel(libc::SIGPIPE));
                }
                return if done > 0 { Ok(done) } else { Err(e) };
            }
        };
        done += n;
        pending.start += n;
        // A blocking write to a pipe goes on until all is written (Linux's pipe_write); a
        // regular file past a full chunk (the chunk is our buffer, not a limit of the file, and
        // Linux writes regular files whole); any other file's short write is the answer (an
        // eventfd takes 8 bytes, a full disk less).
        let goes_on = writes_fully(file) || (pending.is_empty() && is_regular(file));
        if done == count || n == 0 || !goes_on {
            return Ok(done);
        }
    }
}

/// A partial transfer returns what was done; an error only when nothing was.
fn partial(done: usize, result: Result<usize, Errno>) -> Result<usize, Errno> {
    match result {
        Ok(n) => Ok(done + n),
        Err(_) if done > 0 => Ok(done),
        Err(e) => Err(e),
    }
}

pub(super) fn offset_arg(value: u64) -> Result<u64, Errno> {
    if arg_i64(value) < 0 {
        return Err(Errno::EINVAL);
    }
    Ok(value)
}

pub(super) fn read(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    task.terminal_access(&file, libc::SIGTTIN)?;
    let count = arg_len(a[2])?;
    if let Some(replica) = crate::tty::pty::PtyFile::replica_of(&file) {
        return Ok(task.read_pty_replica(&file, replica, a[1], count)? as u64);
    }
    Ok(read_into_guest(task, &file, a[1], count, None)? as u64)
}

pub(super) fn write(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    task.terminal_write_access(&file)?;
    Ok(write_from_guest(task, &file, a[1], arg_len(a[2])?, None)? as u64)
}

pub(super) fn pread64(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    let offset = offset_arg(a[3])?;
    Ok(read_into_guest(task, &file, a[1], arg_len(a[2])?, Some(offset))? as u64)
}

pub(super) fn pwrite64(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    let offset = offset_arg(a[3])?;
    Ok(write_from_guest(task, &file, a[1], arg_len(a[2])?, Some(offset))? as u64)
}

pub(super) fn read_iovecs(task: &Task, addr: u64, count: u64) -> Result<Vec<Iovec>, Errno> {
    let count = arg_len(count)?;
    if count > IOV_MAX {
        return Err(Errno::EINVAL);
    }
    let mut bytes = vec![0u8; count * std::mem::size_of::<Iovec>()];
    task.mm.copy_in(addr, &mut bytes)?;
    let iovs = <[Iovec]>::ref_from_bytes(&bytes)
        .map_err(|_| Errno::EINVAL)?
        .to_vec();
    let mut total: u64 = 0;
    for iov in &iovs {
        total = total.checked_add(iov.len).ok_or(Errno::EINVAL)?;
    }
    if total > isize::MAX as u64 {
        return Err(Errno::EINVAL);
    }
    Ok(iovs)
}

/// Which way a vectored transfer goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    Read,
    Write,
}

/// readv/writev and their positioned forms: the iovecs at `iov_addr` in order, at `offset`
/// (`None`: the file offset), stopping at the first short transfer.
pub(super) fn transfer_vectored(
    task: &Task,
    file: &OpenFile,
    direction: Direction,
    iov_addr: u64,
    iov_count: u64,
    offset: Option<u64>,
) -> SyscallResult {
    let mut done = 0;
    for iov in read_iovecs(task, iov_addr, iov_count)? {
        let len = arg_len(iov.len)?;
        let at = offset.map(|o| o + done as u64);
        let step = match direction {
            Direction::Read => read_into_guest(task, file, iov.base, len, at),
            Direction::Write => write_from_guest(task, file, iov.base, len, at),
        };
        let n = partial(done, step)? - done;
        done += n;
        if n < len {
            break;
        }
    }
    Ok(done as u64)
}

pub(super) fn readv(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    task.terminal_access(&file, libc::SIGTTIN)?;
    if let Some(replica) = crate::tty::pty::PtyFile::replica_of(&file) {
        // One terminal read (one line, VMIN bytes...) spread over the iovecs, as Linux's.
        let iovs = read_iovecs(task, a[1], a[2])?;
        return Ok(task.readv_pty_replica(&file, replica, &iovs)? as u64);
    }
    transfer_vectored(task, &file, Direction::Read, a[1], a[2], None)
}

pub(super) fn writev(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    task.terminal_write_access(&file)?;
    transfer_vectored(task, &file, Direction::Write, a[1], a[2], None)
}

pub(super) fn lseek(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    file.seek(arg_i64(a[1]), arg_i32(a[2]))
}

fn install_pipe(task: &mut Task, fds_addr: u64, flags: i32) -> SyscallResult {
    if flags & !(libc::O_CLOEXEC | libc::O_NONBLOCK | libc::O_DIRECT) != 0 {
        return Err(Errno::EINVAL);
    }
    let (reader, writer) = vfs::pipe::new_pipe(flags);
    let cloexec = flags & libc::O_CLOEXEC != 0;
    let limit = task.nofile_limit();
    let mut fds = task.fds();
    let r = fds.install(reader, cloexec, 0, limit)?;
    let w = match fds.install(writer, cloexec, 0, limit) {
        Ok(w) => w,
        Err(e) => {
            let _ = fds.remove(r as u64);
            return Err(e);
        }
    };
    drop(fds);
    let pair = [
        i32::try_from(r).unwrap_or(-1),
        i32::try_from(w).unwrap_or(-1),
    ];
    if let Err(e) = task.mm.write_obj(fds_addr, &pair) {
        let mut fds = task.fds();
        let _ = fds.remove(r as u64);
        let _ = fds.remove(w as u64);
        return Err(e);
    }
    Ok(0)
}

pub(super) fn pipe(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    install_pipe(task, a[0], 0)
}

pub(super) fn pipe2(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    install_pipe(task, a[0], arg_i32(a[1]))
}

pub(super) fn close(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let closed = task.fds().remove(a[0])?;
    super::locks::release_on_close(task, &closed.file);
    Ok(0)
}

pub(super) fn close_range(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (first, last, flags) = (arg_u32(a[0]), arg_u32(a[1]), arg_u32(a[2]));
    let known = libc::CLOSE_RANGE_CLOEXEC | libc::CLOSE_RANGE_UNSHARE;
    if flags & !known != 0 || first > last {
        return Err(Errno::EINVAL);
    }
    let (first, last) = (first as usize, last as usize);
    if flags & libc::CLOSE_RANGE_CLOEXEC != 0 {
        for fd in first..=last.min(task.nofile_limit()) {
            if let Ok(entry) = task.fds().entry_mut(fd as u64) {
                entry.cloexec = true;
            }
        }
    } else {
        let closed: Vec<Arc<OpenFile>> = task
            .fds()
            .iter()
            .filter(|&(fd, _)| (first..=last).contains(&fd))
            .map(|(_, entry)| Arc::clone(&entry.file))
            .collect();
        task.fds().remove_range(first, last);
        for file in closed {
            super::locks::release_on_close(task, &file);
        }
    }
    Ok(0)
}

fn dup_to(task: &mut Task, file: Arc<OpenFile>, newfd: u64, cloexec: bool) -> SyscallResult {
    let fd = usize::try_from(newfd).map_err(|_| Errno::EBADF)?;
    if arg_i32(newfd) >= 0 && fd < task.nofile_limit() {
        let replaced = task.fds().install_at(fd, file, cloexec);
        if let Some(closed) = replaced {
            super::locks::release_on_close(task, &closed.file);
        }
        Ok(newfd)
    } else {
        Err(Errno::EBADF)
    }
}

pub(super) fn dup(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    let limit = task.nofile_limit();
    Ok(task.fds().install(file, false, 0, limit)? as u64)
}

pub(super) fn dup2(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    if a[0] == a[1] {
        return Ok(a[1]);
    }
    dup_to(task, file, a[1], false)
}

pub(super) fn dup3(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let flags = arg_i32(a[2]);
    if flags & !libc::O_CLOEXEC != 0 || a[0] == a[1] {
        return Err(Errno::EINVAL);
    }
    let file = task.fds().get(a[0])?;
    dup_to(task, file, a[1], flags & libc::O_CLOEXEC != 0)
}

/// Status flags F_SETFL may change; the access mode and creation flags stay.
const SETFL_MASK: i32 =
    libc::O_APPEND | libc::O_NONBLOCK | libc::O_ASYNC | libc::O_DIRECT | libc::O_NOATIME;

pub(super) fn fcntl(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let cmd = arg_i32(a[1]);
    match cmd {
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => {
            let file = task.fds().get(a[0])?;
            let min = usize::try_from(arg_i32(a[2])).map_err(|_| Errno::EINVAL)?;
            let limit = task.nofile_limit();
            if min >= limit {
                return Err(Errno::EINVAL);
            }
            Ok(task
                .fds()
                .install(file, cmd == libc::F_DUPFD_CLOEXEC, min, limit)? as u64)
        }
        libc::F_GETFD => Ok(u64::from(task.fds().entry_mut(a[0])?.cloexec)),
        libc::F_SETFD => {
            task.fds().entry_mut(a[0])?.cloexec = arg_i32(a[2]) & libc::FD_CLOEXEC != 0;
            Ok(0)
        }
        libc::F_GETFL => Ok(ret_flags(task.fds().get(a[0])?.status_flags())),
        libc::F_SETFL => {
            let file = task.fds().get(a[0])?;
            let flags = (file.status_flags() & !SETFL_MASK) | (arg_i32(a[2]) & SETFL_MASK);
            file.set_status_flags(flags);
            Ok(0)
        }
        _ => {
            if let Some(result) = super::locks::fcntl(task, a[0], cmd, a[2]) {
                return result;
            }
            task.fds().get(a[0])?;
            Err(Errno::EINVAL)
        }
    }
}

/// Which way an ioctl's argument goes, and how many bytes it has.
enum IoctlArg {
    In(usize),
    Out(usize),
}

use crate::terminal::TERMIOS_SIZE;

fn ioctl_arg(cmd: u32) -> Option<IoctlArg> {
    let cmd = u64::from(cmd);
    Some(match cmd {
        libc::TCGETS => IoctlArg::Out(TERMIOS_SIZE),
        libc::TCSETS | libc::TCSETSW | libc::TCSETSF => IoctlArg::In(TERMIOS_SIZE),
        libc::TIOCGWINSZ => IoctlArg::Out(8),
        libc::TIOCSWINSZ => IoctlArg::In(8),
        libc::FIONREAD => IoctlArg::Out(4),
        _ => return None,
    })
}

pub(super) fn ioctl(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    let cmd = arg_u32(a[1]);
    if let Some(result) = task.terminal_ioctl(&file, u64::from(cmd), a[2]) {
        return result;
    }
    match u64::from(cmd) {
        libc::FIONBIO => {
            let on: i32 = task.mm.read_obj(a[2])?;
            let flags = file.status_flags();
            file.set_status_flags(if on != 0 {
                flags | libc::O_NONBLOCK
            } else {
                flags & !libc::O_NONBLOCK
            });
            return Ok(0);
        }
        libc::FIOCLEX | libc::FIONCLEX => {
            task.fds().entry_mut(a[0])?.cloexec = u64::from(cmd) == libc::FIOCLEX;
            return Ok(0);
        }
        _ => {}
    }
    match ioctl_arg(cmd).ok_or(Errno::ENOTTY)? {
        IoctlArg::In(size) => {
            let mut buf = vec![0u8; size];
            task.mm.copy_in(a[2], &mut buf)?;
            file.ioctl(cmd, &mut buf)
        }
        IoctlArg::Out(size) => {
            let mut buf = vec![0u8; size];
            let ret = file.ioctl(cmd, &mut buf)?;
            task.mm.copy_out(a[2], &buf)?;
            Ok(ret)
        }
    }
}

pub(super) fn fstat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let stat = task.fds().get(a[0])?.stat()?;
    task.mm.write_obj(a[1], &stat)?;
    Ok(0)
}

pub(super) fn fstatfs(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let statfs = task.fds().get(a[0])?.statfs()?;
    task.mm.write_obj(a[1], &statfs)?;
    Ok(0)
}

/// getdents and getdents64: `encode` is the file's method for the record layout.
fn copy_dirents(
    task: &Task,
    a: &[u64; 6],
    encode: fn(&OpenFile, usize) -> Result<Vec<u8>, Errno>,
) -> SyscallResult {
    let file = task.fds().get(a[0])?;
    let count = arg_len(u64::from(arg_u32(a[2])))?;
    let records = encode(&file, count.min(IO_CHUNK))?;
    task.mm.copy_out(a[1], &records)?;
    Ok(records.len() as u64)
}

pub(super) fn getdents64(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    copy_dirents(task, a, OpenFile::getdents64)
}

pub(super) fn getdents(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    copy_dirents(task, a, OpenFile::getdents)
}

pub(super) fn fsync(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.fds().get(a[0])?.fsync().map(|()| 0)
}

pub(super) fn ftruncate(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let len = offset_arg(a[1])?;
    let file = task.fds().get(a[0])?;
    if file.writable() && file.stat().is_ok_and(|st| truncate_too_big(task, &st, len)) {
        return Err(file_too_big(task));
    }
    if file.writable() {
        remove_privs(task, &file)?;
    }
    file.truncate(len).map(|()| 0)
}
