//! System identity and information: uname, sethostname, sysinfo, getrandom, sched_yield.

use abi::Errno;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::creds::CAP_SYS_ADMIN;
use super::{arg_i32, arg_len, arg_u32, SyscallResult};
use crate::kernel::{UNAME_MACHINE, UNAME_RELEASE, UNAME_SYSNAME, UNAME_VERSION};
use crate::task::Task;

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
    let hostname = task.kernel.hostname.lock().clone();
    let domainname = task.kernel.domainname.lock().clone();
    let values: [&[u8]; 6] = [
        UNAME_SYSNAME.as_bytes(),
        &hostname,
        UNAME_RELEASE.as_bytes(),
        UNAME_VERSION.as_bytes(),
        UNAME_MACHINE.as_bytes(),
        &domainname,
    ];
    for (field, value) in uts.fields.iter_mut().zip(values) {
        let n = value.len().min(64);
        field[..n].copy_from_slice(&value[..n]);
    }
    task.mm.write_obj(a[0], &uts)?;
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
    let (totalram, freeram) = task.kernel.memory_totals()?;
    let procs = u16::try_from(task.kernel.pids.lock().groups().count()).unwrap_or(u16::MAX);
    let info = SysinfoAbi {
        uptime: task.kernel.boot_time.elapsed().as_secs().cast_signed(),
        totalram,
        freeram,
        procs,
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

pub(super) fn sched_yield(_: &mut Task, _: &[u64; 6]) -> SyscallResult {
    std::thread::yield_now();
    Ok(0)
}

/// sethostname/setdomainname: at most 64 bytes, CAP_SYS_ADMIN needed.
fn set_name(task: &Task, a: &[u64; 6], name: &parking_lot::Mutex<Vec<u8>>) -> SyscallResult {
    let len = usize::try_from(arg_i32(a[1])).map_err(|_| Errno::EINVAL)?;
    if len > 64 {
        return Err(Errno::EINVAL);
    }
    if !task.creds().capable(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let mut buf = vec![0u8; len];
    task.mm.copy_in(a[0], &mut buf)?;
    *name.lock() = buf;
    Ok(0)
}

pub(super) fn sethostname(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let kernel = std::sync::Arc::clone(&task.kernel);
    set_name(task, a, &kernel.hostname)
}

pub(super) fn setdomainname(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let kernel = std::sync::Arc::clone(&task.kernel);
    set_name(task, a, &kernel.domainname)
}
