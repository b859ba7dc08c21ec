//! Permission checks as Linux makes them: the caller's filesystem ids, groups and effective
//! capabilities against a file's mode, owner and group (`generic_permission`), and the rules
//! built on it (search, create, delete with the sticky bit, chmod, utimes, set-id clearing,
//! the owner of new files).

use abi::{Errno, Stat};

use crate::fs::{FileType, Inode};

pub const CAP_CHOWN: u32 = 0;
pub const CAP_DAC_OVERRIDE: u32 = 1;
pub const CAP_DAC_READ_SEARCH: u32 = 2;
pub const CAP_FOWNER: u32 = 3;
pub const CAP_FSETID: u32 = 4;

/// Access wanted, as Linux's MAY_* bits (the same values as X_OK, W_OK, R_OK).
pub const MAY_EXEC: u32 = 1;
pub const MAY_WRITE: u32 = 2;
pub const MAY_READ: u32 = 4;

/// Who is asking: what Linux's permission checks read from `struct cred`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    pub fsuid: u32,
    pub fsgid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
    /// The effective capability set, one bit per CAP_* number.
    pub caps: u64,
}

impl Credentials {
    /// uid 0 with every capability: the Sentry itself, and the sandbox's first process.
    pub fn root() -> Credentials {
        Credentials {
            fsuid: 0,
            fsgid: 0,
            groups: Vec::new(),
            caps: u64::MAX,
        }
    }

    pub fn capable(&self, cap: u32) -> bool {
        self.caps & (1 << cap) != 0
    }

    /// Linux's in_group_p: the filesystem gid or a supplementary group.
    pub fn in_group(&self, gid: u32) -> bool {
        self.fsgid == gid || self.groups.contains(&gid)
    }

    /// Linux's inode_owner_or_capable.
    pub fn owns_or_capable(&self, owner: u32) -> bool {
        self.fsuid == owner || self.capable(CAP_FOWNER)
    }
}

/// The attributes a permission check reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Perm {
    /// The whole `st_mode` (type and permission bits).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Perm {
    pub fn of_stat(stat: &Stat) -> Perm {
        Perm {
            mode: stat.st_mode,
            uid: stat.st_uid,
            gid: stat.st_gid,
        }
    }

    pub fn of(inode: &dyn Inode) -> Result<Perm, Errno> {
        Ok(Perm::of_stat(&inode.stat()?))
    }

    fn is_dir(self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFDIR
    }

    fn is_regular(self) -> bool {
        self.mode & libc::S_IFMT == libc::S_IFREG
    }
}

/// Linux's generic_permission: the owner, group or other class of the mode bits decides; then
/// CAP_DAC_OVERRIDE grants anything but executing a file without any x bit, and
/// CAP_DAC_READ_SEARCH grants reading files and reading and searching directories.
pub fn generic_permission(creds: &Credentials, perm: Perm, mask: u32) -> Result<(), Errno> {
    let class = if creds.fsuid == perm.uid {
        perm.mode >> 6
    } else if creds.in_group(perm.gid) {
        perm.mode >> 3
    } else {
        perm.mode
    };
    if mask & !class & 0o7 == 0 {
        return Ok(());
    }
    if perm.is_dir() {
        if mask & MAY_WRITE == 0 && creds.capable(CAP_DAC_READ_SEARCH) {
            return Ok(());
        }
        if creds.capable(CAP_DAC_OVERRIDE) {
            return Ok(());
        }
        return Err(Errno::EACCES);
    }
    if (mask & MAY_EXEC == 0 || perm.mode & 0o111 != 0) && creds.capable(CAP_DAC_OVERRIDE) {
        return Ok(());
    }
    if mask == MAY_READ && creds.capable(CAP_DAC_READ_SEARCH) {
        return Ok(());
    }
    Err(Errno::EACCES)
}

/// `generic_permission` on an inode's current attributes (not read when CAP_DAC_OVERRIDE
/// grants the access whatever they are).
pub fn check(creds: &Credentials, inode: &dyn Inode, mask: u32) -> Result<(), Errno> {
    if creds.capable(CAP_DAC_OVERRIDE)
        && (mask & MAY_EXEC == 0 || inode.file_type() == FileType::Directory)
    {
        return Ok(());
    }
    generic_permission(creds, Perm::of(inode)?, mask)
}

/// Search permission on a directory a path is walked through (without reading its attributes
/// when a capability grants it anyway).
pub fn may_lookup(creds: &Credentials, dir: &dyn Inode) -> Result<(), Errno> {
    if creds.capable(CAP_DAC_READ_SEARCH) || creds.capable(CAP_DAC_OVERRIDE) {
        return Ok(());
    }
    check(creds, dir, MAY_EXEC)
}

/// Adding a name to `dir`: write and search permission.
pub fn may_create(creds: &Credentials, dir: &dyn Inode) -> Result<(), Errno> {
    check(creds, dir, MAY_WRITE | MAY_EXEC)
}

/// Removing (or renaming away) `victim` from `dir`: write and search permission on the
/// directory, and in a sticky directory only the owner of the file or of the directory (or
/// CAP_FOWNER) may (EPERM).
pub fn may_delete(creds: &Credentials, dir: &dyn Inode, victim: &dyn Inode) -> Result<(), Errno> {
    if creds.capable(CAP_DAC_OVERRIDE) && creds.capable(CAP_FOWNER) {
        return Ok(());
    }
    let dir_perm = Perm::of(dir)?;
    generic_permission(creds, dir_perm, MAY_WRITE | MAY_EXEC)?;
    if dir_perm.mode & libc::S_ISVTX != 0 {
        let owner = Perm::of(victim)?.uid;
        if creds.fsuid != owner && creds.fsuid != dir_perm.uid && !creds.capable(CAP_FOWNER) {
            return Err(Errno::EPERM);
        }
    }
    Ok(())
}

/// What open(2) with `flags` needs of an existing file.
pub fn open_mask(flags: i32) -> u32 {
    let mut mask = match flags & libc::O_ACCMODE {
        libc::O_WRONLY => MAY_WRITE,
        libc::O_RDWR => MAY_READ | MAY_WRITE,
        _ => MAY_READ,
    };
    if flags & libc::O_TRUNC != 0 {
        mask |= MAY_WRITE;
    }
    mask
}

/// chmod: only the owner (or CAP_FOWNER) may (EPERM); S_ISGID is dropped when the caller is
/// not in the file's group and lacks CAP_FSETID. Returns the permission bits to set.
pub fn chmod_mode(creds: &Credentials, perm: Perm, mode: u32) -> Result<u32, Errno> {
    if !creds.owns_or_capable(perm.uid) {
        return Err(Errno::EPERM);
    }
    let mut mode = mode & 0o7777;
    if !creds.in_group(perm.gid) && !creds.capable(CAP_FSETID) {
        mode &= !libc::S_ISGID;
    }
    Ok(mode)
}

/// utimensat: explicit times need the owner (or CAP_FOWNER, EPERM otherwise); setting both to
/// now (`explicit` false) is also allowed to whoever may write the file.
pub fn may_set_times(creds: &Credentials, inode: &dyn Inode, explicit: bool) -> Result<(), Errno> {
    if creds.capable(CAP_FOWNER) {
        return Ok(());
    }
    let perm = Perm::of(inode)?;
    if creds.owns_or_capable(perm.uid) {
        return Ok(());
    }
    if explicit {
        return Err(Errno::EPERM);
    }
    generic_permission(creds, perm, MAY_WRITE)
}

/// The mode a write or truncation by `creds` leaves a regular file: set-user-ID, and
/// set-group-ID with group execute, go unless the caller has CAP_FSETID. `None`: unchanged.
pub fn mode_after_write(creds: &Credentials, perm: Perm) -> Option<u32> {
    if !perm.is_regular() || creds.capable(CAP_FSETID) {
        return None;
    }
    let bits = perm.mode & 0o7777;
    let mut kept = bits & !libc::S_ISUID;
    if bits & libc::S_IXGRP != 0 {
        kept &= !libc::S_ISGID;
    }
    (kept != bits).then_some(kept)
}

/// Linux's inode_init_owner: a new file belongs to the caller's fsuid and fsgid, or to the
/// directory's group in a set-group-ID directory, whose new subdirectories are set-group-ID
/// too; a new set-group-ID file there loses the bit unless the caller may have it.
/// Returns (uid, gid, permission bits).
pub fn new_owner(creds: &Credentials, dir: Perm, is_dir: bool, mode: u32) -> (u32, u32, u32) {
    let mut mode = mode & 0o7777;
    if dir.mode & libc::S_ISGID == 0 {
        return (creds.fsuid, creds.fsgid, mode);
    }
    if is_dir {
        mode |= libc::S_ISGID;
    } else if mode & (libc::S_ISGID | libc::S_IXGRP) == libc::S_ISGID | libc::S_IXGRP
        && !creds.in_group(dir.gid)
        && !creds.capable(CAP_FSETID)
    {
        mode &= !libc::S_ISGID;
    }
    (creds.fsuid, dir.gid, mode)
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: u32 = 1000;
    const GROUP: u32 = 100;

    fn user(caps: &[u32]) -> Credentials {
        Credentials {
            fsuid: USER,
            fsgid: USER,
            groups: vec![GROUP],
            caps: caps.iter().fold(0, |set, cap| set | 1 << cap),
        }
    }

    fn file(mode: u32, uid: u32, gid: u32) -> Perm {
        Perm {
            mode: libc::S_IFREG | mode,
            uid,
            gid,
        }
    }

    fn dir(mode: u32, uid: u32, gid: u32) -> Perm {
        Perm {
            mode: libc::S_IFDIR | mode,
            uid,
            gid,
        }
    }

    #[test]
    fn mode_classes_decide_without_capabilities() {
        let none = user(&[]);
        // (perm, mask, allowed)
        let table = [
            (file(0o600, USER, 0), MAY_READ | MAY_WRITE, true),
            (file(0o600, 0, 0), MAY_READ, false),
            (file(0o640, 0, GROUP), MAY_READ, true),
            (file(0o640, 0, GROUP), MAY_WRITE, false),
            (file(0o604, 0, 0), MAY_READ, true),
            // The owner class alone counts for the owner, even when others may more.
            (file(0o077, USER, GROUP), MAY_READ, false),
            // And the group class for a member, even when others may more.
            (file(0o607, 0, GROUP), MAY_READ, false),
            (file(0o755, 0, 0), MAY_EXEC, true),
            (file(0o644, USER, 0), MAY_EXEC, false),
            (dir(0o711, 0, 0), MAY_EXEC, true),
            (dir(0o711, 0, 0), MAY_READ, false),
            (dir(0o755, 0, 0), MAY_WRITE | MAY_EXEC, false),
            (dir(0o1777, 0, 0), MAY_WRITE | MAY_EXEC, true),
        ];
        for (perm, mask, allowed) in table {
            let result = generic_permission(&none, perm, mask);
            assert_eq!(result.is_ok(), allowed, "{perm:?} mask {mask}");
            if !allowed {
                assert_eq!(result, Err(Errno::EACCES));
            }
        }
    }

    #[test]
    fn capabilities_override_as_linux() {
        let over = user(&[CAP_DAC_OVERRIDE]);
        let search = user(&[CAP_DAC_READ_SEARCH]);
        let table = [
            (&over, file(0o000, 0, 0), MAY_READ | MAY_WRITE, true),
            // DAC_OVERRIDE executes only what someone may execute.
            (&over, file(0o600, 0, 0), MAY_EXEC, false),
            (&over, file(0o001, 0, 0), MAY_EXEC, true),
            (&over, dir(0o000, 0, 0), MAY_WRITE | MAY_EXEC, true),
            (&search, file(0o000, 0, 0), MAY_READ, true),
            (&search, file(0o000, 0, 0), MAY_WRITE, false),
            (&search, file(0o000, 0, 0), MAY_READ | MAY_WRITE, false),
            (&search, file(0o111, 0, 0), MAY_EXEC, true),
            (&search, file(0o000, 0, 0), MAY_EXEC, false),
            (&search, dir(0o000, 0, 0), MAY_READ | MAY_EXEC, true),
            (&search, dir(0o000, 0, 0), MAY_WRITE | MAY_EXEC, false),
        ];
        for (creds, perm, mask, allowed) in table {
            assert_eq!(
                generic_permission(creds, perm, mask).is_ok(),
                allowed,
                "caps {:x} {perm:?} mask {mask}",
                creds.caps
            );
        }
    }

    #[test]
    fn root_executes_only_with_some_x_bit() {
        let root = Credentials::root();
        assert_eq!(
            generic_permission(&root, file(0o644, 0, 0), MAY_EXEC),
            Err(Errno::EACCES)
        );
        assert!(generic_permission(&root, file(0o010, 5, 5), MAY_EXEC).is_ok());
        assert!(generic_permission(&root, file(0o000, 5, 5), MAY_READ | MAY_WRITE).is_ok());
    }

    #[test]
    fn chmod_needs_ownership_and_keeps_sgid_only_for_members() {
        let none = user(&[]);
        assert_eq!(
            chmod_mode(&none, file(0o644, 0, 0), 0o777),
            Err(Errno::EPERM)
        );
        assert_eq!(chmod_mode(&none, file(0o644, USER, 0), 0o2755), Ok(0o755));
        assert_eq!(
            chmod_mode(&none, file(0o644, USER, GROUP), 0o2755),
            Ok(0o2755)
        );
        let fowner = user(&[CAP_FOWNER]);
        assert_eq!(chmod_mode(&fowner, file(0o644, 0, 0), 0o4700), Ok(0o4700));
    }

    #[test]
    fn writes_clear_set_id_bits_without_fsetid() {
        let none = user(&[]);
        assert_eq!(mode_after_write(&none, file(0o6755, USER, 0)), Some(0o755));
        // Set-group-ID without group execute is mandatory locking, not a privilege.
        assert_eq!(mode_after_write(&none, file(0o2744, USER, 0)), None);
        assert_eq!(mode_after_write(&none, file(0o644, USER, 0)), None);
        assert_eq!(mode_after_write(&none, dir(0o4755, USER, 0)), None);
        let fsetid = user(&[CAP_FSETID]);
        assert_eq!(mode_after_write(&fsetid, file(0o6755, USER, 0)), None);
    }

    #[test]
    fn setgid_directories_pass_their_group_on() {
        let none = user(&[]);
        assert_eq!(
            new_owner(&none, dir(0o755, 0, 0), false, 0o644),
            (USER, USER, 0o644)
        );
        assert_eq!(
            new_owner(&none, dir(0o2777, 0, 50), true, 0o755),
            (USER, 50, 0o2755)
        );
        assert_eq!(
            new_owner(&none, dir(0o2777, 0, 50), false, 0o2755),
            (USER, 50, 0o755)
        );
        assert_eq!(
            new_owner(&none, dir(0o2777, 0, GROUP), false, 0o2755),
            (USER, GROUP, 0o2755)
        );
    }

    proptest::proptest! {
        /// More capabilities never take access away (more groups may: a group class can deny
        /// what the other class grants), and without capabilities exactly the class's bits
        /// decide.
        #[test]
        fn privileges_only_add_access(
            mode in 0u32..0o10000,
            is_dir: bool,
            uid in 0u32..3,
            gid in 0u32..3,
            fsuid in 0u32..3,
            fsgid in 0u32..3,
            caps in 0u64..32,
            extra_caps in 0u64..32,
            mask in 1u32..8,
        ) {
            let kind = if is_dir { libc::S_IFDIR } else { libc::S_IFREG };
            let perm = Perm { mode: kind | mode, uid, gid };
            let creds = Credentials { fsuid, fsgid, groups: Vec::new(), caps };
            let more = Credentials { caps: caps | extra_caps, ..creds.clone() };
            if generic_permission(&creds, perm, mask).is_ok() {
                proptest::prop_assert!(generic_permission(&more, perm, mask).is_ok());
            }
            let plain = Credentials { caps: 0, ..creds };
            let class = if fsuid == uid {
                mode >> 6
            } else if fsgid == gid {
                mode >> 3
            } else {
                mode
            };
            proptest::prop_assert_eq!(
                generic_permission(&plain, perm, mask).is_ok(),
                mask & !class & 0o7 == 0
            );
        }
    }

    #[test]
    fn open_masks() {
        assert_eq!(open_mask(libc::O_RDONLY), MAY_READ);
        assert_eq!(open_mask(libc::O_WRONLY), MAY_WRITE);
        assert_eq!(open_mask(libc::O_RDWR), MAY_READ | MAY_WRITE);
        assert_eq!(
            open_mask(libc::O_RDONLY | libc::O_TRUNC),
            MAY_READ | MAY_WRITE
        );
    }
}
