//! Host kernel pseudo-filesystems, which the Gofer keeps opaque.
//!
//! Serving the host's "/" would otherwise hand the sandbox the host's procfs (other processes'
//! environments and memory maps), sysfs and cgroupfs (kernel knobs) and device nodes. The
//! Sentry mounts its own `/proc`, `/sys` and `/dev` over those directories, so it must still
//! reach them and stat them, but nothing in or below them is served: walking from an opaque
//! file, opening it (hence listing it) and changing entries in it fail with `EACCES`.
//!
//! `EACCES` rather than `ENOENT` because the directory visibly exists (its parent lists it and
//! it can be stat'ed); "no such file" inside it would be a lie a program might act on (say, by
//! trying to create the file), while "permission denied" is what it would get from an
//! unreadable directory.
//!
//! A file is opaque when it lives on one of the kernel's own filesystems, told apart by the
//! magic number `fstatfs` reports, wherever it is mounted. devtmpfs reports tmpfs's magic, so a
//! tmpfs directory is also opaque when it holds a character device named `null`: that is a
//! `/dev`, which the Sentry replaces, and no ordinary tmpfs directory looks like one. (Only
//! directories matter for that test: a device file is never opened anyway.)

use std::os::fd::BorrowedFd;

use nix::fcntl::AtFlags;
use nix::sys::stat::{fstatat, FileStat, SFlag};
use nix::sys::statfs::Statfs;

use crate::errno::from_nix;
use crate::host;

/// Magic numbers of the kernel's pseudo-filesystems, from `include/uapi/linux/magic.h`.
const PSEUDO_FS_MAGICS: [u32; 19] = [
    0x9fa0,      // PROC_SUPER_MAGIC
    0x6265_6572, // SYSFS_MAGIC
    0x1cd1,      // DEVPTS_SUPER_MAGIC
    0x0027_e0eb, // CGROUP_SUPER_MAGIC
    0x6367_7270, // CGROUP2_SUPER_MAGIC
    0x6462_6720, // DEBUGFS_MAGIC
    0x7472_6163, // TRACEFS_MAGIC
    0x7363_6673, // SECURITYFS_MAGIC
    0xcafe_4a11, // BPF_FS_MAGIC
    0x1980_0202, // MQUEUE_MAGIC
    0x6165_676c, // PSTOREFS_MAGIC
    0x6265_6570, // CONFIGFS_MAGIC
    0x6573_5543, // FUSE_CTL_SUPER_MAGIC
    0x4249_4e4d, // BINFMTFS_MAGIC
    0xde5e_81e4, // EFIVARFS_MAGIC
    0x0187,      // AUTOFS_SUPER_MAGIC
    0x9584_58f6, // HUGETLBFS_MAGIC
    0x6e73_6673, // NSFS_MAGIC
    0xf97c_ff8c, // SELINUX_MAGIC
];

/// TMPFS_MAGIC, which devtmpfs reports too.
const TMPFS_MAGIC: u32 = 0x0102_1994;

/// Whether the file behind `fd` (with attributes `stat`) is on a host pseudo-filesystem.
pub fn is_opaque(fd: BorrowedFd<'_>, stat: &FileStat) -> Result<bool, u32> {
    let magic = fs_magic(&nix::sys::statfs::fstatfs(fd).map_err(from_nix)?);
    if PSEUDO_FS_MAGICS.contains(&magic) {
        return Ok(true);
    }
    Ok(magic == TMPFS_MAGIC && host::is_dir(stat) && holds_null_device(fd))
}

/// The filesystem's magic number. Magic numbers are 32-bit; `f_type`'s width and signedness
/// vary by platform, but its low 32 bits are the magic.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub fn fs_magic(statfs: &Statfs) -> u32 {
    statfs.filesystem_type().0 as u32
}

fn holds_null_device(dir: BorrowedFd<'_>) -> bool {
    fstatat(dir, "null", AtFlags::AT_SYMLINK_NOFOLLOW)
        .is_ok_and(|null| host::file_type(&null) == SFlag::S_IFCHR)
}
