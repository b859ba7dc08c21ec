//! Credentials: the uid and gid families with Linux's permission rules, supplementary groups,
//! and capabilities (capget/capset; set*id changes move them as Linux's commoncap does).

use abi::Errno;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{arg_i32, arg_u32, SyscallResult};
use crate::task::{Capabilities, Credentials, Task};

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

/// The highest capability number (CAP_CHECKPOINT_RESTORE, Linux 5.9+).
pub(crate) const CAP_LAST_CAP: u32 = 40;
/// Every capability.
const CAP_FULL_SET: u64 = (1 << (CAP_LAST_CAP + 1)) - 1;

const CAP_SETGID: u32 = 6;
const CAP_SETUID: u32 = 7;
pub(crate) const CAP_SETPCAP: u32 = 8;
pub(crate) const CAP_SYS_ADMIN: u32 = 21;
pub(crate) const CAP_SYS_NICE: u32 = 23;
pub(crate) const CAP_SYS_RESOURCE: u32 = 24;
pub(crate) const CAP_KILL: u32 = 5;

/// The capabilities a filesystem uid of 0 carries (Linux's CAP_FS_MASK): chown, dac_override,
/// dac_read_search, fowner, fsetid, linux_immutable, mknod, mac_override.
const CAP_FS_MASK: u64 =
    (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 9) | (1 << 27) | (1 << 32);

/// Most supplementary groups (NGROUPS_MAX).
const NGROUPS_MAX: usize = 65_536;

/// "Leave this id alone" in the setre*/setres* families.
const UNCHANGED: u32 = u32::MAX;

/// The three id slots of setres*id; `None` leaves a slot alone.
type IdChange = [Option<u32>; 3];

impl Credentials {
    /// The sandbox's first process: root with every capability.
    pub(crate) fn root() -> Credentials {
        Credentials {
            ruid: 0,
            euid: 0,
            suid: 0,
            fsuid: 0,
            rgid: 0,
            egid: 0,
            sgid: 0,
            fsgid: 0,
            groups: Vec::new(),
            caps: Capabilities {
                effective: CAP_FULL_SET,
                permitted: CAP_FULL_SET,
                inheritable: 0,
                bounding: CAP_FULL_SET,
            },
            keep_caps: false,
        }
    }

    /// The filesystem's view: fs ids, groups and effective capabilities.
    pub(crate) fn fs_creds(&self) -> vfs::Credentials {
        vfs::Credentials {
            fsuid: self.fsuid,
            fsgid: self.fsgid,
            groups: self.groups.clone(),
            caps: self.caps.effective,
        }
    }

    /// access/faccessat without AT_EACCESS: the real ids stand for the fs ids, and only a
    /// real root keeps its (permitted) capabilities, as Linux's access_override_creds.
    pub(crate) fn access_creds(&self) -> vfs::Credentials {
        vfs::Credentials {
            fsuid: self.ruid,
            fsgid: self.rgid,
            groups: self.groups.clone(),
            caps: if self.ruid == 0 {
                self.caps.permitted
            } else {
                0
            },
        }
    }

    /// Whether `cap` is in the effective set.
    pub(crate) fn capable(&self, cap: u32) -> bool {
        self.caps.effective & (1 << cap) != 0
    }

    /// execve: a set-user-ID or set-group-ID file gives its owner or group as the effective
    /// id; saved ids follow the effective ones, and capabilities are recomputed as Linux does
    /// for root (the bounding set, effective only for euid 0) and for everyone else (none: no
    /// file capabilities exist here).
    pub(crate) fn apply_exec(&mut self, set_ids: SetIds) {
        if let Some(uid) = set_ids.uid {
            self.euid = uid;
        }
        if let Some(gid) = set_ids.gid {
            self.egid = gid;
        }
        self.suid = self.euid;
        self.fsuid = self.euid;
        self.sgid = self.egid;
        self.fsgid = self.egid;
        self.keep_caps = false;
        let caps = &mut self.caps;
        if self.ruid == 0 || self.euid == 0 {
            // Linux's handle_privileged_root: root's file is taken to have every capability.
            caps.permitted = caps.bounding | caps.inheritable;
            caps.effective = if self.euid == 0 { caps.permitted } else { 0 };
        } else {
            caps.permitted = 0;
            caps.effective = 0;
        }
    }

    /// Linux's cap_emulate_setxuid and cap_emulate_setfsuid: capabilities follow uid 0.
    fn adjust_caps_after_uid_change(&mut self, old: &Credentials) {
        let was_root = old.ruid == 0 || old.euid == 0 || old.suid == 0;
        let all_nonroot = self.ruid != 0 && self.euid != 0 && self.suid != 0;
        if was_root && all_nonroot && !self.keep_caps {
            self.caps.permitted = 0;
            self.caps.effective = 0;
        }
        if old.euid == 0 && self.euid != 0 {
            self.caps.effective = 0;
        }
        if old.euid != 0 && self.euid == 0 {
            self.caps.effective = self.caps.permitted;
        }
        if old.fsuid == 0 && self.fsuid != 0 {
            self.caps.effective &= !CAP_FS_MASK;
        }
        if old.fsuid != 0 && self.fsuid == 0 {
            self.caps.effective |= self.caps.permitted & CAP_FS_MASK;
        }
    }

    /// setresuid's rule: without CAP_SETUID each new id must be one of the current three.
    fn set_uids(&mut self, change: IdChange) -> Result<(), Errno> {
        let current = [self.ruid, self.euid, self.suid];
        let privileged = self.capable(CAP_SETUID);
        if !privileged && change.iter().flatten().any(|id| !current.contains(id)) {
            return Err(Errno::EPERM);
        }
        self.apply_uids(change);
        Ok(())
    }

    /// Sets the uids `change` names (permission already checked); the filesystem uid follows
    /// the effective one.
    fn apply_uids(&mut self, change: IdChange) {
        let old = self.clone();
        let [r, e, s] = change;
        self.ruid = r.unwrap_or(self.ruid);
        self.euid = e.unwrap_or(self.euid);
        self.suid = s.unwrap_or(self.suid);
        self.fsuid = self.euid;
        self.adjust_caps_after_uid_change(&old);
    }

    fn set_gids(&mut self, change: IdChange) -> Result<(), Errno> {
        let current = [self.rgid, self.egid, self.sgid];
        if !self.capable(CAP_SETGID) && change.iter().flatten().any(|id| !current.contains(id)) {
            return Err(Errno::EPERM);
        }
        self.apply_gids(change);
        Ok(())
    }

    fn apply_gids(&mut self, change: IdChange) {
        let [r, e, s] = change;
        self.rgid = r.unwrap_or(self.rgid);
        self.egid = e.unwrap_or(self.egid);
        self.sgid = s.unwrap_or(self.sgid);
        self.fsgid = self.egid;
    }
}

/// The ids an executable's set-user-ID and set-group-ID bits give (Linux's bprm_fill_uid).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SetIds {
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
}

impl SetIds {
    /// The ids `stat`'s mode gives; none under no_new_privs. Set-group-ID counts only with
    /// group execute (without it, it marks mandatory locking).
    pub(crate) fn of_file(stat: &abi::Stat, no_new_privs: bool) -> SetIds {
        if no_new_privs {
            return SetIds::default();
        }
        let mode = stat.st_mode;
        let setgid = libc::S_ISGID | libc::S_IXGRP;
        SetIds {
            uid: (mode & libc::S_ISUID != 0).then_some(stat.st_uid),
            gid: (mode & setgid == setgid).then_some(stat.st_gid),
        }
    }
}

/// An id argument: the low 32 bits, `None` for -1.
fn id_arg(value: u64) -> Option<u32> {
    Some(arg_u32(value)).filter(|&id| id != UNCHANGED)
}

/// Applies `change` to the caller's process credentials (shared by its threads: glibc's
/// set*id broadcast to every thread lands on the same record).
fn change_creds(
    task: &Task,
    change: impl FnOnce(&mut Credentials) -> Result<(), Errno>,
) -> SyscallResult {
    let mut state = task.tg().state.lock();
    let mut creds = state.creds.clone();
    change(&mut creds)?;
    state.creds = creds;
    Ok(0)
}

pub(super) fn setuid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let uid = id_arg(a[0]).ok_or(Errno::EINVAL)?;
    change_creds(task, |c| {
        if c.capable(CAP_SETUID) {
            c.set_uids([Some(uid); 3])
        } else if uid == c.ruid || uid == c.suid {
            c.set_uids([None, Some(uid), None])
        } else {
            Err(Errno::EPERM)
        }
    })
}

pub(super) fn setgid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let gid = id_arg(a[0]).ok_or(Errno::EINVAL)?;
    change_creds(task, |c| {
        if c.capable(CAP_SETGID) {
            c.set_gids([Some(gid); 3])
        } else if gid == c.rgid || gid == c.sgid {
            c.set_gids([None, Some(gid), None])
        } else {
            Err(Errno::EPERM)
        }
    })
}

/// setreuid/setregid's rule: the real id may become the effective one; the effective id any
/// of the three; the saved id follows the new effective id when the real id is set or the
/// effective one moves away from the real one.
fn setre(
    real: Option<u32>,
    effective: Option<u32>,
    current: [u32; 3],
    privileged: bool,
) -> Result<IdChange, Errno> {
    let [ruid, euid, suid] = current;
    if !privileged {
        if real.is_some_and(|r| r != ruid && r != euid) {
            return Err(Errno::EPERM);
        }
        if effective.is_some_and(|e| e != ruid && e != euid && e != suid) {
            return Err(Errno::EPERM);
        }
    }
    let saved = if real.is_some() || effective.is_some_and(|e| e != ruid) {
        Some(effective.unwrap_or(euid))
    } else {
        None
    };
    Ok([real, effective, saved])
}

pub(super) fn setreuid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    change_creds(task, |c| {
        let current = [c.ruid, c.euid, c.suid];
        let change = setre(id_arg(a[0]), id_arg(a[1]), current, c.capable(CAP_SETUID))?;
        c.apply_uids(change);
        Ok(())
    })
}

pub(super) fn setregid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    change_creds(task, |c| {
        let current = [c.rgid, c.egid, c.sgid];
        let change = setre(id_arg(a[0]), id_arg(a[1]), current, c.capable(CAP_SETGID))?;
        c.apply_gids(change);
        Ok(())
    })
}

pub(super) fn setresuid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    change_creds(task, |c| {
        c.set_uids([id_arg(a[0]), id_arg(a[1]), id_arg(a[2])])
    })
}

pub(super) fn setresgid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    change_creds(task, |c| {
        c.set_gids([id_arg(a[0]), id_arg(a[1]), id_arg(a[2])])
    })
}

/// setfsuid/setfsgid return the old id whether or not they changed it (no errors).
pub(super) fn setfsuid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let uid = arg_u32(a[0]);
    let mut state = task.tg().state.lock();
    let c = &mut state.creds;
    let old_fsuid = c.fsuid;
    let allowed = [c.ruid, c.euid, c.suid, c.fsuid].contains(&uid) || c.capable(CAP_SETUID);
    if allowed && uid != UNCHANGED {
        let old = c.clone();
        c.fsuid = uid;
        c.adjust_caps_after_uid_change(&old);
    }
    Ok(u64::from(old_fsuid))
}

pub(super) fn setfsgid(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let gid = arg_u32(a[0]);
    let mut state = task.tg().state.lock();
    let c = &mut state.creds;
    let old_fsgid = c.fsgid;
    let allowed = [c.rgid, c.egid, c.sgid, c.fsgid].contains(&gid) || c.capable(CAP_SETGID);
    if allowed && gid != UNCHANGED {
        c.fsgid = gid;
    }
    Ok(u64::from(old_fsgid))
}

pub(super) fn setgroups(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let count = usize::try_from(arg_i32(a[0])).map_err(|_| Errno::EINVAL)?;
    if count > NGROUPS_MAX {
        return Err(Errno::EINVAL);
    }
    if !task.creds().capable(CAP_SETGID) {
        return Err(Errno::EPERM);
    }
    let mut bytes = vec![0u8; count * 4];
    task.mm.copy_in(a[1], &mut bytes)?;
    let mut groups: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    // Linux keeps the list sorted (groups_sort), and getgroups shows it so.
    groups.sort_unstable();
    change_creds(task, |c| {
        c.groups = groups;
        Ok(())
    })
}

/// capget/capset header versions.
const CAP_VERSION_1: u32 = 0x1998_0330;
const CAP_VERSION_2: u32 = 0x2007_1026;
const CAP_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct CapHeader {
    version: u32,
    pid: i32,
}

/// `struct __user_cap_data_struct`: one 32-bit half of each set.
#[repr(C)]
#[derive(Clone, Copy, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Reads the header: how many `CapData` words its version uses, and the pid. An unknown
/// version is answered with the preferred one written back and EINVAL.
fn cap_header(task: &Task, addr: u64) -> Result<(usize, i32), Errno> {
    let header: CapHeader = task.mm.read_obj(addr)?;
    let words = match header.version {
        CAP_VERSION_1 => 1,
        CAP_VERSION_2 | CAP_VERSION_3 => 2,
        _ => {
            task.mm.write_obj(addr, &CAP_VERSION_3)?;
            return Err(Errno::EINVAL);
        }
    };
    Ok((words, header.pid))
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "splitting a set into 32-bit halves"
)]
fn cap_words(caps: &Capabilities, words: usize) -> Vec<CapData> {
    (0..words)
        .map(|i| {
            let half = |set: u64| (set >> (32 * i)) as u32;
            CapData {
                effective: half(caps.effective),
                permitted: half(caps.permitted),
                inheritable: half(caps.inheritable),
            }
        })
        .collect()
}

pub(super) fn capget(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let header = cap_header(task, a[0]);
    if a[1] == 0 {
        // A probe for the preferred version (libcap): a bad version is not an error then.
        return match header {
            Ok(_) | Err(Errno::EINVAL) => Ok(0),
            Err(e) => Err(e),
        };
    }
    let (words, pid) = header?;
    let caps = match pid {
        p if p < 0 => return Err(Errno::EINVAL),
        0 => task.creds().caps,
        p => {
            let target = task.kernel.pids.lock().task(p).ok_or(Errno::ESRCH)?;
            let caps = target.tg.state.lock().creds.caps;
            caps
        }
    };
    for (i, data) in cap_words(&caps, words).iter().enumerate() {
        task.mm
            .write_obj(a[1] + (i * std::mem::size_of::<CapData>()) as u64, data)?;
    }
    Ok(0)
}

pub(super) fn capset(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    let (words, pid) = cap_header(task, a[0])?;
    if pid != 0 && pid != task.tid && pid != task.pid() {
        return Err(Errno::EPERM);
    }
    let mut new = Capabilities::default();
    for i in 0..words {
        let data: CapData = task
            .mm
            .read_obj(a[1] + (i * std::mem::size_of::<CapData>()) as u64)?;
        new.effective |= u64::from(data.effective) << (32 * i);
        new.permitted |= u64::from(data.permitted) << (32 * i);
        new.inheritable |= u64::from(data.inheritable) << (32 * i);
    }
    change_creds(task, |c| {
        let old = c.caps;
        // A version-1 caller only speaks for the low half; the high half stays as it was.
        if words == 1 {
            new.effective |= old.effective & !u64::from(u32::MAX);
            new.permitted |= old.permitted & !u64::from(u32::MAX);
            new.inheritable |= old.inheritable & !u64::from(u32::MAX);
        }
        let inheritable_limit = if c.capable(CAP_SETPCAP) {
            old.inheritable | old.bounding
        } else {
            old.inheritable | old.permitted
        };
        let within = |set: u64, limit: u64| set & !limit == 0;
        if !within(new.inheritable, inheritable_limit)
            || !within(new.inheritable, old.inheritable | old.bounding)
            || !within(new.permitted, old.permitted)
            || !within(new.effective, new.permitted)
        {
            return Err(Errno::EPERM);
        }
        c.caps = Capabilities {
            bounding: old.bounding,
            ..new
        };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaving_root_drops_capabilities_and_returning_is_refused() {
        let mut c = Credentials::root();
        c.set_uids([Some(1000); 3]).expect("root may set any uid");
        assert_eq!((c.ruid, c.euid, c.suid, c.fsuid), (1000, 1000, 1000, 1000));
        assert_eq!(c.caps.effective, 0);
        assert_eq!(c.caps.permitted, 0);
        assert_eq!(c.set_uids([None, Some(0), None]), Err(Errno::EPERM));
    }

    #[test]
    fn saved_root_keeps_permitted_and_restores_effective() {
        let mut c = Credentials::root();
        c.set_uids([Some(1000), Some(1000), None]).expect("set");
        assert_eq!(c.caps.effective, 0);
        assert_eq!(c.caps.permitted, CAP_FULL_SET);
        // Unprivileged now, but 0 is the saved uid.
        c.set_uids([None, Some(0), None])
            .expect("back to saved root");
        assert_eq!(c.caps.effective, CAP_FULL_SET);
    }

    #[test]
    fn setreuid_moves_saved_id_with_effective() {
        let change = setre(Some(1), Some(2), [0, 0, 0], true).expect("privileged");
        assert_eq!(change, [Some(1), Some(2), Some(2)]);
        assert_eq!(setre(None, Some(5), [1, 2, 3], false), Err(Errno::EPERM));
        assert_eq!(
            setre(Some(2), None, [1, 2, 3], false),
            Ok([Some(2), None, Some(2)])
        );
        assert_eq!(
            setre(None, Some(1), [1, 2, 3], false),
            Ok([None, Some(1), None])
        );
    }

    #[test]
    fn setuid_root_exec_gives_root_and_its_capabilities() {
        let mut c = Credentials::root();
        c.set_uids([Some(1000); 3]).expect("drop root");
        let stat = abi::Stat {
            st_mode: libc::S_IFREG | 0o6755,
            st_uid: 0,
            st_gid: 42,
            ..abi::Stat::default()
        };
        assert_eq!(SetIds::of_file(&stat, true), SetIds::default());
        c.apply_exec(SetIds::of_file(&stat, false));
        assert_eq!((c.ruid, c.euid, c.suid, c.fsuid), (1000, 0, 0, 0));
        assert_eq!((c.egid, c.sgid), (42, 42));
        assert_eq!(c.caps.effective, CAP_FULL_SET);
        // Set-group-ID without group execute gives nothing.
        let locking = abi::Stat {
            st_mode: libc::S_IFREG | 0o2744,
            ..stat
        };
        assert_eq!(SetIds::of_file(&locking, false).gid, None);
    }

    #[test]
    fn exec_recomputes_capabilities() {
        let mut c = Credentials::root();
        c.set_uids([Some(0), Some(1000), Some(0)]).expect("set");
        c.apply_exec(SetIds::default());
        assert_eq!(c.suid, 1000);
        assert_eq!(c.caps.effective, 0);
        assert_eq!(
            c.caps.permitted, CAP_FULL_SET,
            "a real uid of 0 keeps the bounding set"
        );
    }
}
