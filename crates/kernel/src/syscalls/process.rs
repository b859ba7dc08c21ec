//! Process and thread identity, exit, limits, and system information.

use abi::Errno;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{arg_i32, arg_len, arg_u32, ret_id, SyscallResult};
use crate::kernel::{UNAME_MACHINE, UNAME_RELEASE, UNAME_SYSNAME, UNAME_VERSION};
use crate::task::{ExitStatus, Rlimit, Task, RLIM_NLIMITS};

pub(super) fn getpid(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    Ok(ret_id(task.pid))
}

pub(super) fn gettid(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    Ok(ret_id(task.tid))
}

pub(super) fn getppid(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    Ok(ret_id(task.ppid))
}

pub(super) fn getuid(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    Ok(u64::from(task.creds.ruid))
}

pub(super) fn geteuid(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    Ok(u64::from(task.creds.euid))
}

pub(super) fn getgid(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    Ok(u64::from(task.creds.rgid))
}

pub(super) fn getegid(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    Ok(u64::from(task.creds.egid))
}

/// getresuid/getresgid: three ids written to three guest pointers.
fn write_res_ids(task: &Task, ids: [u32; 3], addrs: &[u64]) -> SyscallResult {
    for (id, &addr) in ids.iter().zip(addrs) {
        task.mm.write_obj(addr, id)?;
    }
    Ok(0)
}

pub(super) fn getresuid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let c = task.creds;
    write_res_ids(task, [c.ruid, c.euid, c.suid], &a[..3])
}

pub(super) fn getresgid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let c = task.creds;
    write_res_ids(task, [c.rgid, c.egid, c.sgid], &a[..3])
}

pub(super) fn getgroups(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    // No supplementary groups.
    if arg_i32(a[0]) < 0 {
        return Err(Errno::EINVAL);
    }
    let _ = task;
    Ok(0)
}

pub(super) fn getpgrp(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    Ok(ret_id(task.pgid))
}

/// The pid argument names the caller (0 or its own pid); other processes don't exist yet.
fn own_pid(task: &Task, pid: u64) -> Result<(), Errno> {
    match arg_i32(pid) {
        0 => Ok(()),
        p if p == task.pid => Ok(()),
        p if p < 0 => Err(Errno::EINVAL),
        _ => Err(Errno::ESRCH),
    }
}

pub(super) fn getpgid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    own_pid(task, a[0])?;
    Ok(ret_id(task.pgid))
}

pub(super) fn getsid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    own_pid(task, a[0])?;
    Ok(ret_id(task.sid))
}

pub(super) fn setpgid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    own_pid(task, a[0])?;
    let pgid = arg_i32(a[1]);
    if pgid < 0 {
        return Err(Errno::EINVAL);
    }
    // A session leader can't change its group; pid 1 leads the sandbox's session.
    if task.sid == task.pid && pgid != task.pgid && pgid != 0 {
        return Err(Errno::EPERM);
    }
    Ok(0)
}

pub(super) fn exit(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    // With one thread per process so far, the thread's exit ends the process.
    task.exit = Some(ExitStatus::Exited(arg_i32(a[0]) & 0xff));
    Ok(0)
}

pub(super) fn exit_group(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.exit = Some(ExitStatus::Exited(arg_i32(a[0]) & 0xff));
    Ok(0)
}

pub(super) fn wait4(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let options = arg_i32(a[2]);
    let known = libc::WNOHANG
        | libc::WUNTRACED
        | libc::WCONTINUED
        | libc::__WALL
        | libc::__WCLONE
        | libc::__WNOTHREAD;
    if options & !known != 0 {
        return Err(Errno::EINVAL);
    }
    let _ = task;
    Err(Errno::ECHILD)
}

/// `struct new_utsname`: six NUL-padded 65-byte fields.
#[repr(C)]
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout)]
struct Utsname {
    fields: [[u8; 65]; 6],
}

pub(super) fn uname(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let mut uts = Utsname {
        fields: [[0; 65]; 6],
    };
    let values: [&[u8]; 6] = [
        UNAME_SYSNAME.as_bytes(),
        &task.kernel.hostname,
        UNAME_RELEASE.as_bytes(),
        UNAME_VERSION.as_bytes(),
        UNAME_MACHINE.as_bytes(),
        b"(none)",
    ];
    for (field, value) in uts.fields.iter_mut().zip(values) {
        let n = value.len().min(64);
        field[..n].copy_from_slice(&value[..n]);
    }
    task.mm.write_obj(a[0], &uts)?;
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

pub(super) fn set_tid_address(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    task.clear_child_tid = a[0];
    Ok(ret_id(task.tid))
}

/// `struct robust_list_head` is three words.
const ROBUST_LIST_HEAD_SIZE: u64 = 24;

pub(super) fn set_robust_list(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    if a[1] != ROBUST_LIST_HEAD_SIZE {
        return Err(Errno::EINVAL);
    }
    task.robust_list = a[0];
    Ok(0)
}

pub(super) fn futex(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let op = arg_i32(a[1]) & !(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME);
    match op {
        libc::FUTEX_WAIT | libc::FUTEX_WAIT_BITSET => {
            let current: u32 = task.mm.read_obj(a[0])?;
            if current != arg_u32(a[2]) {
                return Err(Errno::EAGAIN);
            }
            // No other task can wake this one yet: it sleeps until its timeout, like Linux.
            if a[3] == 0 {
                loop {
                    std::thread::park();
                }
            }
            let timeout = super::time::duration_of(task.mm.read_obj(a[3])?)?;
            std::thread::sleep(timeout);
            Err(Errno::ETIMEDOUT)
        }
        libc::FUTEX_WAKE | libc::FUTEX_WAKE_BITSET => {
            task.mm.read_obj::<u32>(a[0])?;
            Ok(0)
        }
        _ => Err(Errno::ENOSYS),
    }
}

pub(super) fn sched_yield(_: &mut Task, _: &[u64; 6]) -> SyscallResult {
    std::thread::yield_now();
    Ok(0)
}

/// CPUs the sandbox shows: as many as the host gives the Sentry.
fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

pub(super) fn sched_getaffinity(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    own_pid_or_tid(task, a[0])?;
    let size = arg_len(a[1])?;
    let cpus = cpu_count();
    // The mask is a whole number of longs large enough for the CPUs, as Linux requires.
    let needed = cpus.div_ceil(64) * 8;
    if size < needed || size % 8 != 0 {
        return Err(Errno::EINVAL);
    }
    let mut mask = vec![0u8; needed];
    for cpu in 0..cpus {
        mask[cpu / 8] |= 1 << (cpu % 8);
    }
    task.mm.copy_out(a[2], &mask)?;
    Ok(needed as u64)
}

fn own_pid_or_tid(task: &Task, id: u64) -> Result<(), Errno> {
    match arg_i32(id) {
        0 => Ok(()),
        id if id == task.tid || id == task.pid => Ok(()),
        _ => Err(Errno::ESRCH),
    }
}

/// `struct rlimit64`.
#[repr(C)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct RlimitAbi {
    cur: u64,
    max: u64,
}

fn resource(value: u64) -> Result<usize, Errno> {
    usize::try_from(arg_u32(value))
        .ok()
        .filter(|&r| r < RLIM_NLIMITS)
        .ok_or(Errno::EINVAL)
}

pub(super) fn getrlimit(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let limit = task.rlimits[resource(a[0])?];
    task.mm.write_obj(
        a[1],
        &RlimitAbi {
            cur: limit.cur,
            max: limit.max,
        },
    )?;
    Ok(0)
}

pub(super) fn prlimit64(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    own_pid(task, a[0])?;
    let res = resource(a[1])?;
    let old = task.rlimits[res];
    if a[2] != 0 {
        let new: RlimitAbi = task.mm.read_obj(a[2])?;
        if new.cur > new.max {
            return Err(Errno::EINVAL);
        }
        // Raising a hard limit takes CAP_SYS_RESOURCE, which the sandbox's root has.
        task.rlimits[res] = Rlimit {
            cur: new.cur,
            max: new.max,
        };
    }
    if a[3] != 0 {
        task.mm.write_obj(
            a[3],
            &RlimitAbi {
                cur: old.cur,
                max: old.max,
            },
        )?;
    }
    Ok(0)
}

pub(super) fn getrusage(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let who = arg_i32(a[0]);
    if !matches!(
        who,
        libc::RUSAGE_SELF | libc::RUSAGE_CHILDREN | libc::RUSAGE_THREAD
    ) {
        return Err(Errno::EINVAL);
    }
    // struct rusage: 2 timevals and 14 longs. Resource accounting comes later: all zero.
    task.mm.write_obj(a[1], &[0u64; 18])?;
    Ok(0)
}

/// `struct sysinfo` (112 bytes on amd64).
#[repr(C)]
#[derive(Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct SysinfoAbi {
    uptime: i64,
    loads: [u64; 3],
    totalram: u64,
    freeram: u64,
    sharedram: u64,
    bufferram: u64,
    totalswap: u64,
    freeswap: u64,
    procs: u16,
    pad: [u8; 6],
    totalhigh: u64,
    freehigh: u64,
    mem_unit: u32,
    pad2: u32,
}

pub(super) fn sysinfo(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let host = nix::sys::sysinfo::sysinfo().map_err(|e| Errno(e as i32))?;
    let info = SysinfoAbi {
        uptime: task.kernel.boot_time.elapsed().as_secs().cast_signed(),
        totalram: host.ram_total(),
        freeram: host.ram_unused(),
        procs: 1,
        mem_unit: 1,
        ..SysinfoAbi::default()
    };
    task.mm.write_obj(a[0], &info)?;
    Ok(0)
}

pub(super) fn getrandom(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let flags = arg_u32(a[2]);
    let known = libc::GRND_NONBLOCK | libc::GRND_RANDOM | libc::GRND_INSECURE;
    if flags & !known != 0 {
        return Err(Errno::EINVAL);
    }
    // Linux returns at most 32 MiB per call; a smaller cap bounds the Sentry's buffer.
    let len = arg_len(a[1])?.min(1 << 20);
    let mut buf = vec![0u8; len];
    getrandom::fill(&mut buf).map_err(|_| Errno::EIO)?;
    task.mm.copy_out(a[0], &buf)?;
    Ok(len as u64)
}
