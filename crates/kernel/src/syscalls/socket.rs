//! Socket syscalls. AF_UNIX sockets live in the net crate; this side copies addresses, data and
//! control messages between guest memory and net, installs passed files in the descriptor
//! table, and sleeps for net as the calling task. Other families are refused (EAFNOSUPPORT)
//! until the network stack comes.

use std::sync::Arc;
use std::time::Duration;

use abi::Errno;
use net::unix::{
    Namespace, Received, RecvFlags, SendMessage, SocketType, Ucred, UnixAddress, UnixSocket,
};
use vfs::OpenFile;
use waiter::Waiter;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::file::read_iovecs;
use super::{arg_i32, arg_len, SyscallResult};
use crate::deadline::Deadline;
use crate::task::Task;

/// Bytes one send copies in from the guest: a larger stream send returns short.
const MAX_SEND: usize = 2 << 20;
/// `sizeof(struct sockaddr_storage)`: the longest address a syscall takes.
const SOCKADDR_MAX: usize = 128;
/// `sizeof(struct cmsghdr)`.
const CMSG_HEADER: usize = 16;
/// Most files one SCM_RIGHTS message passes (SCM_MAX_FD).
const SCM_MAX_FD: usize = 253;
/// Longest control buffer a send takes (net.core.optmem_max).
const CONTROL_MAX: usize = 20_480;

/// `struct msghdr`.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Msghdr {
    name: u64,
    namelen: u32,
    _pad: u32,
    iov: u64,
    iovlen: u64,
    control: u64,
    controllen: u64,
    flags: i32,
    _pad2: u32,
}

/// The calling task sleeping for a socket operation: its waiter, its signals, O_NONBLOCK or
/// MSG_DONTWAIT, and the socket's timeout.
struct TaskBlocker<'t> {
    task: &'t Task,
    nonblocking: bool,
    /// `None` without a timeout (the wait is restarted after a handler).
    deadline: Option<Deadline>,
}

impl<'t> TaskBlocker<'t> {
    fn new(task: &'t Task, file: &OpenFile, flags: i32, timeout: Option<Duration>) -> Self {
        TaskBlocker {
            task,
            nonblocking: file.status_flags() & libc::O_NONBLOCK != 0
                || flags & libc::MSG_DONTWAIT != 0,
            deadline: timeout.map(Deadline::after),
        }
    }
}

impl net::Blocker for TaskBlocker<'_> {
    fn may_block(&self) -> bool {
        !self.nonblocking
    }

    fn waiter(&self) -> Arc<Waiter> {
        Arc::clone(&self.task.handle.waiter)
    }

    fn sleep(&mut self) -> Result<(), Errno> {
        if self.task.has_deliverable_signal() {
            // Linux's sock_intr_errno: a wait with a timeout is not restarted.
            return Err(if self.deadline.is_some() {
                Errno::EINTR
            } else {
                abi::restart::ERESTARTSYS
            });
        }
        if self
            .task
            .handle
            .waiter
            .sleep(self.deadline.and_then(Deadline::instant))
        {
            Ok(())
        } else {
            Err(Errno::EAGAIN)
        }
    }
}

/// The socket file at `fd`: EBADF if none, ENOTSOCK if not a socket.
fn socket_file(task: &Task, fd: u64) -> Result<Arc<OpenFile>, Errno> {
    let file = task.fds().get(fd)?;
    unix(&file)?;
    Ok(file)
}

fn unix(file: &OpenFile) -> Result<&UnixSocket, Errno> {
    UnixSocket::of(file).ok_or(Errno::ENOTSOCK)
}

/// The task as a socket's owner or peer (SO_PEERCRED: effective ids).
fn peer_creds(task: &Task) -> Ucred {
    let creds = task.creds();
    Ucred {
        pid: task.pid(),
        uid: creds.euid,
        gid: creds.egid,
    }
}

/// The task as a message's sender (SCM_CREDENTIALS: real ids).
fn sender_creds(task: &Task) -> Ucred {
    let creds = task.creds();
    Ucred {
        pid: task.pid(),
        uid: creds.ruid,
        gid: creds.rgid,
    }
}

/// Runs `f` with the task's AF_UNIX namespace.
fn with_namespace<T>(task: &Task, f: impl FnOnce(&Namespace) -> T) -> T {
    let lookup = task.lookup_ctx();
    let umask = task.fs.lock().umask;
    f(&Namespace {
        abstract_names: &task.kernel.unix_names,
        vfs: &task.kernel.vfs,
        lookup: &lookup,
        umask,
    })
}

/// The raw bytes of a sockaddr argument.
fn read_sockaddr(task: &Task, addr: u64, len: u64) -> Result<Vec<u8>, Errno> {
    let len = usize::try_from(arg_i32(len)).map_err(|_| Errno::EINVAL)?;
    if len > SOCKADDR_MAX {
        return Err(Errno::EINVAL);
    }
    let mut bytes = vec![0u8; len];
    task.mm.copy_in(addr, &mut bytes)?;
    Ok(bytes)
}

/// Writes `sockaddr` to `addr`, truncated to the guest's `*len_addr`, and its full length to
/// `*len_addr`.
fn write_sockaddr(task: &Task, addr: u64, len_addr: u64, sockaddr: &[u8]) -> Result<(), Errno> {
    let room: i32 = task.mm.read_obj(len_addr)?;
    let room = usize::try_from(room).map_err(|_| Errno::EINVAL)?;
    task.mm
        .copy_out(addr, &sockaddr[..room.min(sockaddr.len())])?;
    let full = i32::try_from(sockaddr.len()).unwrap_or(i32::MAX);
    task.mm.write_obj(len_addr, &full)
}

/// A socket(2)/socketpair(2) type argument: the type and the O_NONBLOCK/cloexec it asks for.
fn socket_args(domain: i32, ty: i32, protocol: i32) -> Result<(SocketType, i32, bool), Errno> {
    let flags = ty & !0xf;
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    if domain != libc::AF_UNIX {
        return Err(Errno::EAFNOSUPPORT);
    }
    if protocol != 0 && protocol != libc::PF_UNIX {
        return Err(Errno::EPROTONOSUPPORT);
    }
    let kind = SocketType::from_linux(ty & 0xf).ok_or(Errno(libc::ESOCKTNOSUPPORT))?;
    let nonblock = if flags & libc::SOCK_NONBLOCK != 0 {
        libc::O_NONBLOCK
    } else {
        0
    };
    Ok((kind, nonblock, flags & libc::SOCK_CLOEXEC != 0))
}

fn install(task: &Task, file: Arc<OpenFile>, cloexec: bool) -> Result<usize, Errno> {
    let limit = task.nofile_limit();
    task.fds().install(file, cloexec, 0, limit)
}

pub(super) fn socket(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (kind, nonblock, cloexec) = socket_args(arg_i32(a[0]), arg_i32(a[1]), arg_i32(a[2]))?;
    let file = UnixSocket::new_file(kind, peer_creds(task), nonblock);
    Ok(install(task, file, cloexec)? as u64)
}

pub(super) fn socketpair(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (kind, nonblock, cloexec) = socket_args(arg_i32(a[0]), arg_i32(a[1]), arg_i32(a[2]))?;
    let (first, second) = UnixSocket::pair(kind, peer_creds(task), nonblock);
    let first = install(task, first, cloexec)?;
    let second = match install(task, second, cloexec) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = task.fds().remove(first as u64);
            return Err(e);
        }
    };
    let pair = [first, second].map(|fd| i32::try_from(fd).unwrap_or(-1));
    if let Err(e) = task.mm.write_obj(a[3], &pair) {
        let mut fds = task.fds();
        let _ = fds.remove(first as u64);
        let _ = fds.remove(second as u64);
        return Err(e);
    }
    Ok(0)
}

pub(super) fn bind(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = socket_file(task, a[0])?;
    let address = UnixAddress::parse(&read_sockaddr(task, a[1], a[2])?)?;
    with_namespace(task, |ns| unix(&file)?.bind(ns, &address))?;
    Ok(0)
}

pub(super) fn listen(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = socket_file(task, a[0])?;
    unix(&file)?.listen(arg_i32(a[1]), peer_creds(task))?;
    Ok(0)
}

pub(super) fn connect(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = socket_file(task, a[0])?;
    let socket = unix(&file)?;
    let bytes = read_sockaddr(task, a[1], a[2])?;
    let unspec =
        bytes.len() >= 2 && i32::from(u16::from_ne_bytes([bytes[0], bytes[1]])) == libc::AF_UNSPEC;
    let address = if unspec {
        None
    } else {
        match UnixAddress::parse(&bytes)? {
            UnixAddress::Unnamed => return Err(Errno::EINVAL),
            address => Some(address),
        }
    };
    let creds = peer_creds(task);
    let mut blocker = TaskBlocker::new(task, &file, 0, socket.send_timeout());
    with_namespace(task, |ns| {
        socket.connect(ns, address.as_ref(), creds, &mut blocker)
    })?;
    Ok(0)
}

fn do_accept(task: &mut Task, a: &[u64; 6], flags: i32) -> SyscallResult {
    if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let file = socket_file(task, a[0])?;
    let socket = unix(&file)?;
    let mut blocker = TaskBlocker::new(task, &file, 0, socket.receive_timeout());
    let (accepted, peer) = socket.accept(flags & libc::SOCK_NONBLOCK, &mut blocker)?;
    let fd = install(task, accepted, flags & libc::SOCK_CLOEXEC != 0)?;
    if a[1] != 0 {
        if let Err(e) = write_sockaddr(task, a[1], a[2], &peer.to_sockaddr()) {
            let _ = task.fds().remove(fd as u64);
            return Err(e);
        }
    }
    Ok(fd as u64)
}

pub(super) fn accept(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    do_accept(task, a, 0)
}

pub(super) fn accept4(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    do_accept(task, a, arg_i32(a[3]))
}

pub(super) fn getsockname(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = socket_file(task, a[0])?;
    let address = unix(&file)?.local_address();
    write_sockaddr(task, a[1], a[2], &address.to_sockaddr())?;
    Ok(0)
}

pub(super) fn getpeername(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = socket_file(task, a[0])?;
    let address = unix(&file)?.peer_address()?;
    write_sockaddr(task, a[1], a[2], &address.to_sockaddr())?;
    Ok(0)
}

pub(super) fn shutdown(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = socket_file(task, a[0])?;
    unix(&file)?.shutdown(arg_i32(a[1]))?;
    Ok(0)
}

/// Sends `data` (and `rights`) with send flags `flags`; EPIPE raises SIGPIPE unless
/// MSG_NOSIGNAL.
fn send_on(
    task: &Task,
    file: &OpenFile,
    message: SendMessage<'_>,
    flags: i32,
) -> Result<usize, Errno> {
    let socket = unix(file)?;
    if flags & libc::MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let mut blocker = TaskBlocker::new(task, file, flags, socket.send_timeout());
    let result = with_namespace(task, |ns| socket.send(Some(ns), message, &mut blocker));
    if result == Err(Errno::EPIPE) && flags & libc::MSG_NOSIGNAL == 0 {
        task.kernel
            .signal_thread(&task.handle, abi::SigInfo::kernel(libc::SIGPIPE));
    }
    result
}

/// The destination of a sendto/sendmsg: none without an address (or with length 0).
fn destination(task: &Task, addr: u64, len: u64) -> Result<Option<UnixAddress>, Errno> {
    if addr == 0 || arg_i32(len) == 0 {
        return Ok(None);
    }
    UnixAddress::parse(&read_sockaddr(task, addr, len)?).map(Some)
}

pub(super) fn sendto(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = socket_file(task, a[0])?;
    let mut data = vec![0u8; arg_len(a[2])?.min(MAX_SEND)];
    task.mm.copy_in(a[1], &mut data)?;
    let message = SendMessage {
        data: &data,
        rights: Vec::new(),
        creds: sender_creds(task),
        to: destination(task, a[4], a[5])?,
    };
    Ok(send_on(task, &file, message, arg_i32(a[3]))? as u64)
}

/// Recvs with recv flags `flags`: MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT.
fn recv_on(task: &Task, file: &OpenFile, want: usize, flags: i32) -> Result<Received, Errno> {
    let socket = unix(file)?;
    if flags & libc::MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let mut blocker = TaskBlocker::new(task, file, flags, socket.receive_timeout());
    let recv_flags = RecvFlags {
        peek: flags & libc::MSG_PEEK != 0,
        waitall: flags & libc::MSG_WAITALL != 0,
    };
    socket.recv(want, recv_flags, &mut blocker)
}

/// What a receive returns: the real size of a truncated datagram with MSG_TRUNC.
fn received_len(got: &Received, flags: i32) -> u64 {
    if flags & libc::MSG_TRUNC != 0 {
        got.len as u64
    } else {
        got.data.len() as u64
    }
}

pub(super) fn recvfrom(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = socket_file(task, a[0])?;
    let flags = arg_i32(a[3]);
    let got = recv_on(task, &file, arg_len(a[2])?, flags)?;
    task.mm.copy_out(a[1], &got.data)?;
    if a[4] != 0 {
        write_sockaddr(task, a[4], a[5], &got.from.to_source())?;
    }
    Ok(received_len(&got, flags))
}

/// The files and credentials of a sendmsg's control messages.
fn parse_control(
    task: &Task,
    control: &[u8],
) -> Result<(Vec<Arc<OpenFile>>, Option<Ucred>), Errno> {
    let mut rights = Vec::new();
    let mut creds = None;
    let mut at = 0;
    while at + CMSG_HEADER <= control.len() {
        let header = &control[at..at + CMSG_HEADER];
        let len = u64::from_ne_bytes(header[..8].try_into().map_err(|_| Errno::EINVAL)?);
        let level = i32::from_ne_bytes(header[8..12].try_into().map_err(|_| Errno::EINVAL)?);
        let kind = i32::from_ne_bytes(header[12..16].try_into().map_err(|_| Errno::EINVAL)?);
        let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
        if len < CMSG_HEADER || len > control.len() - at {
            return Err(Errno::EINVAL);
        }
        let data = &control[at + CMSG_HEADER..at + len];
        // Linux skips control messages of other levels.
        if level == libc::SOL_SOCKET {
            match kind {
                libc::SCM_RIGHTS => {
                    let count = data.len() / 4;
                    if rights.len() + count > SCM_MAX_FD {
                        return Err(Errno::EINVAL);
                    }
                    let fds = task.fds();
                    for fd in data.chunks_exact(4) {
                        let fd = i32::from_ne_bytes([fd[0], fd[1], fd[2], fd[3]]);
                        let fd = u64::try_from(fd).map_err(|_| Errno::EBADF)?;
                        rights.push(fds.get(fd)?);
                    }
                }
                libc::SCM_CREDENTIALS => {
                    if data.len() != 12 {
                        return Err(Errno::EINVAL);
                    }
                    creds = Some(checked_creds(task, Ucred::from_bytes(data)?)?);
                }
                _ => return Err(Errno::EINVAL),
            }
        }
        at += len.next_multiple_of(8);
    }
    Ok((rights, creds))
}

/// SCM_CREDENTIALS a task may claim: its own pid and ids, anything for root.
fn checked_creds(task: &Task, claimed: Ucred) -> Result<Ucred, Errno> {
    let creds = task.creds();
    let privileged = creds.euid == 0;
    let pid_ok = claimed.pid == task.pid();
    let uid_ok = [creds.ruid, creds.euid, creds.suid].contains(&claimed.uid);
    let gid_ok = [creds.rgid, creds.egid, creds.sgid].contains(&claimed.gid);
    if privileged || (pid_ok && uid_ok && gid_ok) {
        Ok(claimed)
    } else {
        Err(Errno::EPERM)
    }
}

pub(super) fn sendmsg(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = socket_file(task, a[0])?;
    let msg: Msghdr = task.mm.read_obj(a[1])?;
    let mut data = Vec::new();
    for iov in read_iovecs(task, msg.iov, msg.iovlen)? {
        let take = arg_len(iov.len)?.min(MAX_SEND - data.len());
        let start = data.len();
        data.resize(start + take, 0);
        task.mm.copy_in(iov.base, &mut data[start..])?;
    }
    let controllen = arg_len(msg.controllen)?;
    if controllen > CONTROL_MAX {
        return Err(Errno::ENOBUFS);
    }
    let mut control = vec![0u8; if msg.control == 0 { 0 } else { controllen }];
    task.mm.copy_in(msg.control, &mut control)?;
    let (rights, creds) = parse_control(task, &control)?;
    let message = SendMessage {
        data: &data,
        rights,
        creds: creds.unwrap_or_else(|| sender_creds(task)),
        to: destination(task, msg.name, u64::from(msg.namelen))?,
    };
    Ok(send_on(task, &file, message, arg_i32(a[2]))? as u64)
}

/// Control messages of a receive, laid out as Linux's put_cmsg does in `space` bytes: a
/// message that doesn't fit is cut (MSG_CTRUNC).
struct ControlWriter {
    buf: Vec<u8>,
    space: usize,
    truncated: bool,
}

impl ControlWriter {
    fn room(&self) -> usize {
        self.space - self.buf.len()
    }

    fn put(&mut self, kind: i32, data: &[u8]) {
        if self.room() < CMSG_HEADER {
            self.truncated = true;
            return;
        }
        let mut len = CMSG_HEADER + data.len();
        if len > self.room() {
            self.truncated = true;
            len = self.room();
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(&(len as u64).to_ne_bytes());
        self.buf.extend_from_slice(&libc::SOL_SOCKET.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(&data[..len - CMSG_HEADER]);
        let padded = (start + len.next_multiple_of(8)).min(self.space);
        self.buf.resize(padded, 0);
    }
}

pub(super) fn recvmsg(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = socket_file(task, a[0])?;
    let flags = arg_i32(a[2]);
    let msg: Msghdr = task.mm.read_obj(a[1])?;
    let iovs = read_iovecs(task, msg.iov, msg.iovlen)?;
    let want = iovs
        .iter()
        .try_fold(0usize, |sum, iov| Ok::<_, Errno>(sum + arg_len(iov.len)?))?;
    let got = recv_on(task, &file, want, flags)?;
    let mut rest = got.data.as_slice();
    for iov in &iovs {
        if rest.is_empty() {
            break;
        }
        let n = rest.len().min(arg_len(iov.len)?);
        task.mm.copy_out(iov.base, &rest[..n])?;
        rest = &rest[n..];
    }
    let space = if msg.control == 0 {
        0
    } else {
        arg_len(msg.controllen)?
    };
    let mut control = ControlWriter {
        buf: Vec::new(),
        space,
        truncated: false,
    };
    if let Some(creds) = got.creds {
        control.put(libc::SCM_CREDENTIALS, &creds.to_bytes());
    }
    if !got.rights.is_empty() {
        install_rights(task, &got.rights, flags, &mut control);
    }
    task.mm.copy_out(msg.control, &control.buf)?;
    let mut out_flags = flags & libc::MSG_CMSG_CLOEXEC;
    if got.truncated {
        out_flags |= libc::MSG_TRUNC;
    }
    if control.truncated {
        out_flags |= libc::MSG_CTRUNC;
    }
    let mut reply = msg;
    reply.controllen = control.buf.len() as u64;
    reply.flags = out_flags;
    if msg.name != 0 {
        let source = got.from.to_source();
        let room = usize::try_from(msg.namelen).unwrap_or(0).min(source.len());
        task.mm.copy_out(msg.name, &source[..room])?;
        reply.namelen = u32::try_from(source.len()).unwrap_or(0);
    }
    task.mm.write_obj(a[1], &reply)?;
    Ok(received_len(&got, flags))
}

/// Installs as many passed files as the control buffer has room for (the rest are closed,
/// MSG_CTRUNC) and records their descriptors in an SCM_RIGHTS message.
fn install_rights(task: &Task, rights: &[Arc<OpenFile>], flags: i32, control: &mut ControlWriter) {
    let fit = control.room().saturating_sub(CMSG_HEADER) / 4;
    let cloexec = flags & libc::MSG_CMSG_CLOEXEC != 0;
    let mut fds = Vec::new();
    for file in rights.iter().take(fit) {
        match install(task, Arc::clone(file), cloexec) {
            Ok(fd) => fds.extend_from_slice(&i32::try_from(fd).unwrap_or(-1).to_ne_bytes()),
            Err(_) => break,
        }
    }
    if fds.len() / 4 < rights.len() {
        control.truncated = true;
    }
    if !fds.is_empty() {
        control.put(libc::SCM_RIGHTS, &fds);
    }
}

pub(super) fn getsockopt(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = socket_file(task, a[0])?;
    let room: i32 = task.mm.read_obj(a[4])?;
    let room = usize::try_from(room).map_err(|_| Errno::EINVAL)?;
    let value = unix(&file)?.getsockopt(arg_i32(a[1]), arg_i32(a[2]))?;
    let n = room.min(value.len());
    task.mm.copy_out(a[3], &value[..n])?;
    task.mm.write_obj(a[4], &i32::try_from(n).unwrap_or(0))?;
    Ok(0)
}

/// The longest option value setsockopt reads: every AF_UNIX option is smaller.
const OPTION_MAX: usize = 64;

pub(super) fn setsockopt(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let file = socket_file(task, a[0])?;
    let len = usize::try_from(arg_i32(a[4])).map_err(|_| Errno::EINVAL)?;
    let mut value = vec![0u8; len.min(OPTION_MAX)];
    task.mm.copy_in(a[3], &mut value)?;
    unix(&file)?.setsockopt(arg_i32(a[1]), arg_i32(a[2]), &value)?;
    Ok(0)
}
