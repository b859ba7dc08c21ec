//! Credentials: the uid and gid families.

use super::{arg_i32, SyscallResult};
use crate::task::Task;

use abi::Errno;

pub(super) fn getuid(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    Ok(u64::from(task.creds().ruid))
}

pub(super) fn geteuid(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    Ok(u64::from(task.creds().euid))
}

pub(super) fn getgid(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    Ok(u64::from(task.creds().rgid))
}

pub(super) fn getegid(task: &mut Task, _: &[u64; 6]) -> SyscallResult {
    Ok(u64::from(task.creds().egid))
}

/// getresuid/getresgid: three ids written to three guest pointers.
fn write_res_ids(task: &Task, ids: [u32; 3], addrs: &[u64]) -> SyscallResult {
    for (id, &addr) in ids.iter().zip(addrs) {
        task.mm.write_obj(addr, id)?;
    }
    Ok(0)
}

pub(super) fn getresuid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let c = task.creds();
    write_res_ids(task, [c.ruid, c.euid, c.suid], &a[..3])
}

pub(super) fn getresgid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let c = task.creds();
    write_res_ids(task, [c.rgid, c.egid, c.sgid], &a[..3])
}

pub(super) fn getgroups(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let size = usize::try_from(arg_i32(a[0])).map_err(|_| Errno::EINVAL)?;
    let groups = task.creds().groups;
    if size == 0 {
        return Ok(groups.len() as u64);
    }
    if size < groups.len() {
        return Err(Errno::EINVAL);
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|g| g.to_ne_bytes()).collect();
    task.mm.copy_out(a[1], &bytes)?;
    Ok(groups.len() as u64)
}
