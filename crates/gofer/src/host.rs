//! Host file operations on descriptors, never on paths from the root of the host.

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use nix::dir::{Dir, Type};
use nix::fcntl::{openat, readlinkat, OFlag};
use nix::sys::stat::{fstat, FileStat, Mode, SFlag};
use p9::QID_TYPE_SYMLINK;
use p9::{DirEntry, Qid, Rgetattr, Rstatfs, GETATTR_BASIC, QID_TYPE_DIR, QID_TYPE_FILE};
use rustix::fs::{AtFlags, Timespec};

use crate::errno::{from_io, from_nix, EINVAL, EIO, EPERM};
use crate::pseudo_fs;
use crate::qid_paths::QidPaths;

/// Whether `name` is one ordinary path component: not empty, not `.` or `..`, no `/` or NUL.
pub fn is_plain_name(name: &[u8]) -> bool {
    !name.is_empty() && name != b"." && name != b".." && !name.contains(&b'/') && !name.contains(&0)
}

/// Opens child `name` of directory `dir` as an `O_PATH` descriptor without following a
/// symlink: a symlink yields a descriptor of the link itself.
pub fn open_child(dir: BorrowedFd<'_>, name: &[u8]) -> Result<OwnedFd, u32> {
    if !is_plain_name(name) {
        return Err(EINVAL);
    }
    let flags = OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(dir, OsStr::from_bytes(name), flags, Mode::empty()).map_err(from_nix)
}

/// Opens the file behind `path_fd` (an `O_PATH` descriptor) for I/O with `flags`. Going through
/// the descriptor's `/proc/self/fd` link reaches exactly the inode the fid holds, even if its
/// name has since changed.
pub fn reopen(path_fd: BorrowedFd<'_>, flags: OFlag) -> Result<OwnedFd, u32> {
    let proc_path = format!("/proc/self/fd/{}", path_fd.as_raw_fd());
    nix::fcntl::open(proc_path.as_str(), flags | OFlag::O_CLOEXEC, Mode::empty()).map_err(from_nix)
}

pub fn stat(fd: BorrowedFd<'_>) -> Result<FileStat, u32> {
    fstat(fd).map_err(from_nix)
}

pub fn file_type(stat: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT
}

pub fn is_dir(stat: &FileStat) -> bool {
    file_type(stat) == SFlag::S_IFDIR
}

pub fn is_regular(stat: &FileStat) -> bool {
    file_type(stat) == SFlag::S_IFREG
}

/// The qid of the file with attributes `stat`, its path from `paths`.
pub fn qid(stat: &FileStat, paths: &mut QidPaths) -> Qid {
    let ty = match file_type(stat) {
        SFlag::S_IFDIR => QID_TYPE_DIR,
        SFlag::S_IFLNK => QID_TYPE_SYMLINK,
        _ => QID_TYPE_FILE,
    };
    Qid {
        ty,
        version: 0,
        path: paths.path(stat.st_dev, stat.st_ino),
    }
}

/// A signed stat field as 9P carries it: the same 64 bits, which the client reads back as
/// signed where that matters (times before 1970).
fn wire_bits(field: i64) -> u64 {
    u64::from_ne_bytes(field.to_ne_bytes())
}

/// The `GETATTR_BASIC` attributes (what `stat(2)` reports).
pub fn getattr(stat: &FileStat, paths: &mut QidPaths) -> Rgetattr {
    Rgetattr {
        valid: GETATTR_BASIC,
        qid: qid(stat, paths),
        mode: stat.st_mode,
        uid: stat.st_uid,
        gid: stat.st_gid,
        nlink: stat.st_nlink,
        rdev: stat.st_rdev,
        size: wire_bits(stat.st_size),
        blksize: wire_bits(stat.st_blksize),
        blocks: wire_bits(stat.st_blocks),
        atime_sec: wire_bits(stat.st_atime),
        atime_nsec: wire_bits(stat.st_atime_nsec),
        mtime_sec: wire_bits(stat.st_mtime),
        mtime_nsec: wire_bits(stat.st_mtime_nsec),
        ctime_sec: wire_bits(stat.st_ctime),
        ctime_nsec: wire_bits(stat.st_ctime_nsec),
        ..Rgetattr::default()
    }
}

pub fn statfs(fd: BorrowedFd<'_>) -> Result<Rstatfs, u32> {
    let statfs = nix::sys::statfs::fstatfs(fd).map_err(from_nix)?;
    let statvfs = nix::sys::statvfs::fstatvfs(fd).map_err(from_nix)?;
    Ok(Rstatfs {
        ty: pseudo_fs::fs_magic(&statfs),
        bsize: u32::try_from(statvfs.block_size()).unwrap_or(u32::MAX),
        blocks: statvfs.blocks(),
        bfree: statvfs.blocks_free(),
        bavail: statvfs.blocks_available(),
        files: statvfs.files(),
        ffree: statvfs.files_free(),
        fsid: statvfs.filesystem_id(),
        namelen: u32::try_from(statvfs.name_max()).unwrap_or(u32::MAX),
    })
}

pub fn readlink(fd: BorrowedFd<'_>) -> Result<Vec<u8>, u32> {
    // An empty path reads the link the O_PATH descriptor itself refers to.
    let target = readlinkat(fd, "").map_err(from_nix)?;
    Ok(target.into_vec())
}

/// Lists directory `path_fd`, without `.` and `..` (the Sentry makes those itself and `..` of
/// the root would name a host directory outside it). Entry `i` gets offset `i + 1`, the offset
/// at which a listing resumes after it. An entry's qid path is that of its inode on the
/// directory's device: like `getdents`, a mount point's entry names the directory beneath the
/// mount, which a walk would not reach.
pub fn list_dir(path_fd: BorrowedFd<'_>, paths: &mut QidPaths) -> Result<Vec<DirEntry>, u32> {
    let dir_fd = reopen(path_fd, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
    let dev = stat(dir_fd.as_fd())?.st_dev;
    let mut dir = Dir::from_fd(dir_fd).map_err(from_nix)?;
    let mut entries = Vec::new();
    for entry in dir.iter() {
        let entry = entry.map_err(from_nix)?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let (ty, dt) = match entry.file_type() {
            Some(Type::Directory) => (QID_TYPE_DIR, libc::DT_DIR),
            Some(Type::Symlink) => (QID_TYPE_SYMLINK, libc::DT_LNK),
            Some(Type::File) => (QID_TYPE_FILE, libc::DT_REG),
            Some(Type::Fifo) => (QID_TYPE_FILE, libc::DT_FIFO),
            Some(Type::CharacterDevice) => (QID_TYPE_FILE, libc::DT_CHR),
            Some(Type::BlockDevice) => (QID_TYPE_FILE, libc::DT_BLK),
            Some(Type::Socket) => (QID_TYPE_FILE, libc::DT_SOCK),
            None => (QID_TYPE_FILE, libc::DT_UNKNOWN),
        };
        entries.push(DirEntry {
            qid: Qid {
                ty,
                version: 0,
                path: paths.path(dev, entry.ino()),
            },
            offset: entries.len() as u64 + 1,
            ty: dt,
            name: name.to_vec(),
        });
    }
    Ok(entries)
}

/// An open regular file: positioned I/O only, as 9P gives an offset with every request.
pub fn open_file(path_fd: BorrowedFd<'_>, flags: OFlag) -> Result<File, u32> {
    reopen(path_fd, flags).map(File::from)
}

pub fn read_at(file: &File, offset: u64, count: usize) -> Result<Vec<u8>, u32> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0; count];
    let read = file.read_at(&mut buf, offset).map_err(|e| from_io(&e))?;
    buf.truncate(read);
    Ok(buf)
}

pub fn write_at(file: &File, offset: u64, data: &[u8]) -> Result<usize, u32> {
    use std::os::unix::fs::FileExt;
    file.write_at(data, offset).map_err(|e| from_io(&e))
}

/// Duplicates a descriptor (for cloned fids and walks that stay in place).
pub fn dup(fd: &impl AsFd) -> Result<OwnedFd, u32> {
    fd.as_fd().try_clone_to_owned().map_err(|e| from_io(&e))
}

/// The `/proc/self/fd` link of a descriptor: a path that reaches exactly the inode the
/// descriptor holds, for the calls that take no `O_PATH` descriptor (chmod, utimes, xattrs).
fn proc_path(fd: BorrowedFd<'_>) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

fn from_rustix(errno: rustix::io::Errno) -> u32 {
    u32::try_from(errno.raw_os_error()).unwrap_or(EIO)
}

/// chmod of the file behind `path_fd` (never a symlink: Linux has no symlink modes).
pub fn chmod(path_fd: BorrowedFd<'_>, mode: u32) -> Result<(), u32> {
    let mode = rustix::fs::Mode::from_raw_mode(mode & 0o7777);
    rustix::fs::chmodat(rustix::fs::CWD, proc_path(path_fd), mode, AtFlags::empty())
        .map_err(from_rustix)
}

/// chown of the file behind `fd` itself (a symlink is not followed); `None` keeps one. The
/// only form of `fchownat` the seccomp filter lets through.
pub fn chown(fd: BorrowedFd<'_>, uid: Option<u32>, gid: Option<u32>) -> Result<(), u32> {
    let uid = uid.map(rustix::fs::Uid::from_raw);
    let gid = gid.map(rustix::fs::Gid::from_raw);
    let flags = AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW;
    rustix::fs::chownat(fd, "", uid, gid, flags).map_err(from_rustix)
}

/// Who a new file belongs to and its permission bits, as the client decided them.
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
}

/// Gives the file behind `fd`, just made, exactly `owner`'s ids and permission bits, undoing
/// the Gofer's own umask and the set-id bits the kernel clears on a chown (a symlink has no
/// bits of its own). Returns its attributes afterwards.
pub fn set_owner(fd: BorrowedFd<'_>, owner: Owner) -> Result<FileStat, u32> {
    let mut made = stat(fd)?;
    if (made.st_uid, made.st_gid) != (owner.uid, owner.gid) {
        chown(fd, Some(owner.uid), Some(owner.gid))?;
        made = stat(fd)?;
    }
    let is_symlink = file_type(&made) == SFlag::S_IFLNK;
    if !is_symlink && made.st_mode & 0o7777 != owner.mode & 0o7777 {
        chmod(fd, owner.mode)?;
        made = stat(fd)?;
    }
    Ok(made)
}

/// utimensat of the file behind `path_fd` itself (a symlink is not followed).
pub fn set_times(path_fd: BorrowedFd<'_>, atime: Timespec, mtime: Timespec) -> Result<(), u32> {
    let times = rustix::fs::Timestamps {
        last_access: atime,
        last_modification: mtime,
    };
    let flags = AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW;
    rustix::fs::utimensat(path_fd, "", &times, flags).map_err(from_rustix)
}

/// A time for [`set_times`]: the given one, the current time, or left as it is.
pub fn time_of(change: bool, given: bool, sec: u64, nsec: u64) -> Timespec {
    let special = |nsec: i64| Timespec {
        tv_sec: 0,
        tv_nsec: nsec,
    };
    match (change, given) {
        (false, _) => special(rustix::fs::UTIME_OMIT),
        (true, false) => special(rustix::fs::UTIME_NOW),
        (true, true) => Timespec {
            tv_sec: i64::from_ne_bytes(sec.to_ne_bytes()),
            tv_nsec: i64::try_from(nsec).unwrap_or(i64::MAX),
        },
    }
}

/// Truncates the regular file behind `path_fd` to `size` bytes.
pub fn truncate(path_fd: BorrowedFd<'_>, size: u64) -> Result<(), u32> {
    let file = reopen(path_fd, OFlag::O_WRONLY)?;
    rustix::fs::ftruncate(&file, size).map_err(from_rustix)
}

/// Makes `name` in directory `dir` another link to the file behind `path_fd`, which is not a
/// symlink (following the `/proc/self/fd` link reaches its inode, whatever its name now is).
pub fn link(path_fd: BorrowedFd<'_>, dir: BorrowedFd<'_>, name: &[u8]) -> Result<(), u32> {
    let flags = AtFlags::SYMLINK_FOLLOW;
    rustix::fs::linkat(rustix::fs::CWD, proc_path(path_fd), dir, name, flags).map_err(from_rustix)
}

/// Creates a FIFO, socket or empty regular file `name` in `dir`; device nodes are refused
/// (EPERM): a sandbox has no business with host devices.
pub fn mknod(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> Result<(), u32> {
    let file_type = rustix::fs::FileType::from_raw_mode(mode);
    match file_type {
        rustix::fs::FileType::Fifo
        | rustix::fs::FileType::Socket
        | rustix::fs::FileType::RegularFile => {}
        _ => return Err(EPERM),
    }
    let perms = rustix::fs::Mode::from_raw_mode(mode & 0o7777);
    rustix::fs::mknodat(dir, name, file_type, perms, 0).map_err(from_rustix)
}

/// The extended attribute namespace the sandbox may use: `user.*`. Others (security labels,
/// trusted and system attributes of the host) are not the sandbox's.
pub fn is_user_xattr(name: &[u8]) -> bool {
    name.starts_with(b"user.") && name.len() > b"user.".len() && !name.contains(&0)
}

/// The largest extended attribute value Linux stores (XATTR_SIZE_MAX), and its largest list.
pub const XATTR_SIZE_MAX: usize = 1 << 16;

/// The value of extended attribute `name` of the file behind `path_fd`.
pub fn get_xattr(path_fd: BorrowedFd<'_>, name: &[u8]) -> Result<Vec<u8>, u32> {
    let mut value = vec![0; XATTR_SIZE_MAX];
    let len =
        rustix::fs::getxattr(proc_path(path_fd), name, &mut value[..]).map_err(from_rustix)?;
    value.truncate(len);
    Ok(value)
}

/// The `user.*` extended attribute names of the file behind `path_fd`, each NUL-terminated.
pub fn list_user_xattrs(path_fd: BorrowedFd<'_>) -> Result<Vec<u8>, u32> {
    let mut list = vec![0; XATTR_SIZE_MAX];
    let len = rustix::fs::listxattr(proc_path(path_fd), &mut list[..]).map_err(from_rustix)?;
    Ok(list[..len]
        .split_inclusive(|&b| b == 0)
        .filter(|name| is_user_xattr(name.strip_suffix(&[0]).unwrap_or(name)))
        .flatten()
        .copied()
        .collect())
}

/// Sets extended attribute `name` (with `XATTR_CREATE`/`XATTR_REPLACE` `flags`).
pub fn set_xattr(
    path_fd: BorrowedFd<'_>,
    name: &[u8],
    value: &[u8],
    flags: u32,
) -> Result<(), u32> {
    let flags = rustix::fs::XattrFlags::from_bits(flags).ok_or(EINVAL)?;
    rustix::fs::setxattr(proc_path(path_fd), name, value, flags).map_err(from_rustix)
}

pub fn remove_xattr(path_fd: BorrowedFd<'_>, name: &[u8]) -> Result<(), u32> {
    rustix::fs::removexattr(proc_path(path_fd), name).map_err(from_rustix)
}
