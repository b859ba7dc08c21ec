//! Processes: ids, clone/fork/vfork, execve, exit, wait, process groups and sessions.

use std::sync::Arc;

use abi::{Errno, SigInfo};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{arg_i32, arg_len, arg_u32, ret_id, SyscallResult, PATH_MAX};
use crate::loader::Executable;
use crate::task::{CloneArgs, ExitStatus, Task, ThreadGroup, WaitSelector};
use vfs::Vfs;

pub(super) fn getpid(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    Ok(ret_id(task.pid()))
}

pub(super) fn gettid(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    Ok(ret_id(task.tid))
}

pub(super) fn getppid(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    Ok(ret_id(task.tg().ppid()))
}

pub(super) fn set_tid_address(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.clear_child_tid = a[0];
    Ok(ret_id(task.tid))
}

pub(super) fn exit(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.thread_exit = Some(ExitStatus::Exited(arg_i32(a[0]) & 0xff));
    Ok(0)
}

pub(super) fn exit_group(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.kernel
        .start_group_exit(task.tg(), ExitStatus::Exited(arg_i32(a[0]) & 0xff));
    Ok(0)
}

/// The exit signal in clone's low byte (CSIGNAL).
const CSIGNAL: u64 = 0xff;

fn exit_signal(value: u64) -> Result<i32, Errno> {
    let signo = i32::try_from(value).map_err(|_| Errno::EINVAL)?;
    if (0..=crate::task::NSIG).contains(&signo) {
        Ok(signo)
    } else {
        Err(Errno::EINVAL)
    }
}

pub(super) fn clone(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    // amd64 clone: (flags, stack, parent_tid, child_tid, tls).
    let args = CloneArgs {
        flags: a[0] & !CSIGNAL,
        exit_signal: exit_signal(a[0] & CSIGNAL)?,
        stack: a[1],
        parent_tid: a[2],
        child_tid: a[3],
        tls: a[4],
    };
    task.clone_task(&args).map(ret_id)
}

/// `struct clone_args` of clone3 (the first 64 bytes: up to `tls`; later fields must be 0).
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Clone3Args {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
}

/// Size of the first version of `struct clone_args` (CLONE_ARGS_SIZE_VER0).
const CLONE_ARGS_SIZE_VER0: usize = 64;

pub(super) fn clone3(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let size = arg_len(a[1])?;
    if !(CLONE_ARGS_SIZE_VER0..=4096).contains(&size) {
        return Err(Errno::EINVAL);
    }
    let mut bytes = vec![0u8; size];
    task.mm.copy_in(a[0], &mut bytes)?;
    // Fields past the ones supported (set_tid, cgroup) must be zero, as Linux requires of
    // anything it doesn't know.
    if bytes[CLONE_ARGS_SIZE_VER0..].iter().any(|&b| b != 0) {
        return Err(Errno::EINVAL);
    }
    let (raw, _) = Clone3Args::read_from_prefix(&bytes).map_err(|_| Errno::EINVAL)?;
    if raw.flags & CSIGNAL != 0 || (raw.stack == 0) != (raw.stack_size == 0) {
        return Err(Errno::EINVAL);
    }
    let args = CloneArgs {
        flags: raw.flags,
        exit_signal: exit_signal(raw.exit_signal)?,
        // clone3 gives the stack's lowest address and size; the child starts at its top.
        stack: raw.stack.checked_add(raw.stack_size).ok_or(Errno::EINVAL)?,
        parent_tid: raw.parent_tid,
        child_tid: raw.child_tid,
        tls: raw.tls,
    };
    task.clone_task(&args).map(ret_id)
}

pub(super) fn fork(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    let args = CloneArgs {
        exit_signal: libc::SIGCHLD,
        ..CloneArgs::default()
    };
    task.clone_task(&args).map(ret_id)
}

pub(super) fn vfork(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    let args = CloneArgs {
        flags: (libc::CLONE_VM | libc::CLONE_VFORK) as u64,
        exit_signal: libc::SIGCHLD,
        ..CloneArgs::default()
    };
    task.clone_task(&args).map(ret_id)
}

/// Most argv/envp entries execve takes (MAX_ARG_STRINGS).
const MAX_ARG_STRINGS: usize = 0x7fff_ffff;
/// Longest single argument or environment string (MAX_ARG_STRLEN: 32 pages).
const MAX_ARG_STRLEN: usize = 32 * 4096;

/// Reads a NULL-terminated array of string pointers (argv or envp); NULL itself is empty.
fn read_string_array(task: &Task, mut addr: u64) -> Result<Vec<Vec<u8>>, Errno> {
    let mut strings = Vec::new();
    if addr == 0 {
        return Ok(strings);
    }
    loop {
        let ptr: u64 = task.mm.read_obj(addr)?;
        if ptr == 0 {
            return Ok(strings);
        }
        if strings.len() >= MAX_ARG_STRINGS {
            return Err(Errno::E2BIG);
        }
        let s = task.mm.read_cstring(ptr, MAX_ARG_STRLEN).map_err(|e| {
            if e == Errno::ENAMETOOLONG {
                Errno::E2BIG
            } else {
                e
            }
        })?;
        strings.push(s);
        addr = addr.checked_add(8).ok_or(Errno::EFAULT)?;
    }
}

/// execve/execveat: the file named by (`dirfd`, `path`), or with `AT_EMPTY_PATH` and an empty
/// path the file `dirfd` holds (fexecve), which is executed as it is open, never looked up
/// by name again: it may since have been renamed or unlinked, or never had a name (memfd).
fn exec_at(
    task: &mut Task,
    dirfd: u64,
    path: u64,
    argv: u64,
    envp: u64,
    flags: i32,
) -> SyscallResult {
    if flags & !(libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = task.mm.read_cstring(path, PATH_MAX)?;
    let relative_to_fd = !path.starts_with(b"/") && !super::is_at_fdcwd(dirfd);
    let file = if path.is_empty() {
        if flags & libc::AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        let held = if super::is_at_fdcwd(dirfd) {
            task.lookup_ctx().start
        } else {
            // A descriptor with no place in the filesystem (a pipe, a socket) is no regular
            // file.
            task.fds().get(dirfd)?.path().ok_or(Errno::EACCES)?.clone()
        };
        Vfs::open_exec_path(&task.fs_creds(), held)?
    } else {
        let ctx = if relative_to_fd {
            task.lookup_ctx_at(dirfd)?
        } else {
            task.lookup_ctx()
        };
        let follow = flags & libc::AT_SYMLINK_NOFOLLOW == 0;
        task.kernel.vfs.open_exec(&ctx, &path, follow)?
    };
    // Linux's bprm->filename: a name under /dev/fd for what was reached through a descriptor,
    // which an interpreter can open only if the descriptor survives the exec.
    let program = if relative_to_fd {
        let fd = arg_i32(dirfd);
        let mut filename = format!("/dev/fd/{fd}").into_bytes();
        if !path.is_empty() {
            filename.push(b'/');
            filename.extend_from_slice(&path);
        }
        Executable {
            file,
            filename,
            reopenable: !task.fds().entry_mut(dirfd)?.cloexec,
        }
    } else {
        Executable {
            file,
            filename: path,
            reopenable: true,
        }
    };
    let argv = read_string_array(task, argv)?;
    let envp = read_string_array(task, envp)?;
    task.execve(program, argv, &envp).map(|()| 0)
}

pub(super) fn execve(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    exec_at(task, super::AT_FDCWD, a[0], a[1], a[2], 0)
}

pub(super) fn execveat(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    exec_at(task, a[0], a[1], a[2], a[3], arg_i32(a[4]))
}

const WAIT_OPTIONS: i32 = libc::WNOHANG
    | libc::WUNTRACED
    | libc::WCONTINUED
    | libc::__WALL
    | libc::__WCLONE
    | libc::__WNOTHREAD;

pub(super) fn wait4(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let options = arg_i32(a[2]);
    if options & !WAIT_OPTIONS != 0 {
        return Err(Errno::EINVAL);
    }
    let pid = arg_i32(a[0]);
    let selector = match pid {
        -1 => WaitSelector::Any,
        0 => WaitSelector::Pgid(task.tg().state.lock().pgid),
        p if p < -1 => WaitSelector::Pgid(-p),
        p => WaitSelector::Pid(p),
    };
    // wait4 always waits for exits; WUNTRACED is WSTOPPED.
    let Some(result) = task.wait_child(selector, options | libc::WEXITED)? else {
        return Ok(0);
    };
    if a[1] != 0 {
        task.mm.write_obj(a[1], &result.status)?;
    }
    if a[3] != 0 {
        let (user, system) = result.times.with_children();
        task.mm
            .write_obj(a[3], &super::limits::rusage(user, system))?;
    }
    Ok(ret_id(result.pid))
}

pub(super) fn waitid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let options = arg_i32(a[3]);
    let known = libc::WNOHANG
        | libc::WEXITED
        | libc::WSTOPPED
        | libc::WCONTINUED
        | libc::WNOWAIT
        | libc::__WALL
        | libc::__WCLONE
        | libc::__WNOTHREAD;
    if options & !known != 0 || options & (libc::WEXITED | libc::WSTOPPED | libc::WCONTINUED) == 0 {
        return Err(Errno::EINVAL);
    }
    let id = arg_i32(a[1]);
    let selector = match arg_u32(a[0]) {
        libc::P_ALL => WaitSelector::Any,
        libc::P_PID if id > 0 => WaitSelector::Pid(id),
        libc::P_PGID if id >= 0 => WaitSelector::Pgid(if id == 0 {
            task.tg().state.lock().pgid
        } else {
            id
        }),
        _ => return Err(Errno::EINVAL),
    };
    let result = task.wait_child(selector, options)?;
    if a[2] != 0 {
        let info = match result {
            Some(r) => SigInfo::child(libc::SIGCHLD, r.code, r.pid, r.uid, r.si_status),
            // WNOHANG with nothing to report: si_pid 0 (Linux zeroes the structure).
            None => SigInfo::from_process(0, 0, 0, 0),
        };
        task.mm.write_obj(a[2], &info)?;
    }
    // waitid's fifth argument (not in glibc's wrapper): the child's rusage, zero when WNOHANG
    // found nothing.
    if a[4] != 0 {
        let (user, system) = result.map_or_else(Default::default, |r| r.times.with_children());
        task.mm
            .write_obj(a[4], &super::limits::rusage(user, system))?;
    }
    Ok(0)
}

/// The thread group with id `pid`, if it exists and isn't reaped.
fn group_of(task: &Task, pid: i32) -> Option<Arc<ThreadGroup>> {
    task.kernel.pids.lock().group(pid)
}

/// The process a pid argument names: 0 is the caller's.
fn target_group(task: &Task, pid: u64) -> Result<Arc<ThreadGroup>, Errno> {
    match arg_i32(pid) {
        0 => Ok(Arc::clone(task.tg())),
        p if p < 0 => Err(Errno::EINVAL),
        p => group_of(task, p).ok_or(Errno::ESRCH),
    }
}

pub(super) fn getpgrp(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    Ok(ret_id(task.tg().state.lock().pgid))
}

pub(super) fn getpgid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let tg = target_group(task, a[0])?;
    let pgid = tg.state.lock().pgid;
    Ok(ret_id(pgid))
}

pub(super) fn getsid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let tg = target_group(task, a[0])?;
    let sid = tg.state.lock().sid;
    Ok(ret_id(sid))
}

pub(super) fn setsid(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    let pid = task.pid();
    // A process group leader can't start a session: its group would straddle two sessions.
    let pgid_in_use = task
        .kernel
        .pids
        .lock()
        .groups()
        .any(|g| g.state.lock().pgid == pid);
    if pgid_in_use {
        return Err(Errno::EPERM);
    }
    let mut state = task.tg().state.lock();
    state.sid = pid;
    state.pgid = pid;
    Ok(ret_id(pid))
}

pub(super) fn setpgid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let target = target_group(task, a[0])?;
    let pgid = match arg_i32(a[1]) {
        0 => target.tgid,
        p if p < 0 => return Err(Errno::EINVAL),
        p => p,
    };
    let caller_sid = task.tg().state.lock().sid;
    let is_self = Arc::ptr_eq(&target, task.tg());
    if !is_self {
        let state = target.state.lock();
        let is_child = state
            .parent
            .as_ref()
            .is_some_and(|p| Arc::ptr_eq(p, task.tg()));
        if !is_child {
            return Err(Errno::ESRCH);
        }
        if state.has_execed {
            return Err(Errno::EACCES);
        }
        if state.sid != caller_sid {
            return Err(Errno::EPERM);
        }
    }
    {
        let state = target.state.lock();
        // A session leader stays in its own group.
        if state.sid == target.tgid {
            return Err(Errno::EPERM);
        }
    }
    // Joining another group requires it to exist in the caller's session.
    if pgid != target.tgid {
        let exists = task.kernel.pids.lock().groups().any(|g| {
            let s = g.state.lock();
            s.pgid == pgid && s.sid == caller_sid && s.zombie.is_none()
        });
        if !exists {
            return Err(Errno::EPERM);
        }
    }
    target.state.lock().pgid = pgid;
    Ok(0)
}

// arch_prctl codes (asm/prctl.h).
const ARCH_SET_GS: i32 = 0x1001;
const ARCH_SET_FS: i32 = 0x1002;
const ARCH_GET_FS: i32 = 0x1003;
const ARCH_GET_GS: i32 = 0x1004;

pub(super) fn arch_prctl(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let range = task.kernel.platform.user_address_range();
    let code = arg_i32(a[0]);
    match code {
        ARCH_SET_FS | ARCH_SET_GS => {
            if a[1] >= range.end {
                return Err(Errno::EPERM);
            }
            let regs = task.ctx.regs_mut();
            if code == ARCH_SET_FS {
                regs.fs_base = a[1];
            } else {
                regs.gs_base = a[1];
            }
            Ok(0)
        }
        ARCH_GET_FS | ARCH_GET_GS => {
            let regs = task.ctx.regs();
            let value = if code == ARCH_GET_FS {
                regs.fs_base
            } else {
                regs.gs_base
            };
            task.mm.write_obj(a[1], &value)?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}
