//! What a filesystem provides to the VFS: a root inode and the operations on inodes.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use abi::{Errno, Stat, Statfs, Timespec};

use crate::file::{FileOps, OpenFile};

/// A mounted-able filesystem.
pub trait FileSystem: Send + Sync {
    /// The filesystem's name, as /proc/mounts shows it.
    fn name(&self) -> &'static str;
    /// The root directory.
    fn root(&self) -> Arc<dyn Inode>;
    /// `statfs` of the filesystem.
    fn statfs(&self) -> Result<Statfs, Errno>;
    /// Whether writes are refused with EROFS.
    fn read_only(&self) -> bool {
        false
    }
}

/// The type of a file, from the `S_IFMT` bits of its mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

impl FileType {
    /// The type in the `S_IFMT` bits of `mode`, or `None` for an unknown type.
    pub fn from_mode(mode: u32) -> Option<FileType> {
        Some(match mode & libc::S_IFMT {
            libc::S_IFREG => FileType::Regular,
            libc::S_IFDIR => FileType::Directory,
            libc::S_IFLNK => FileType::Symlink,
            libc::S_IFCHR => FileType::CharDevice,
            libc::S_IFBLK => FileType::BlockDevice,
            libc::S_IFIFO => FileType::Fifo,
            libc::S_IFSOCK => FileType::Socket,
            _ => return None,
        })
    }

    /// The `S_IF*` bits.
    pub fn mode_bits(self) -> u32 {
        match self {
            FileType::Regular => libc::S_IFREG,
            FileType::Directory => libc::S_IFDIR,
            FileType::Symlink => libc::S_IFLNK,
            FileType::CharDevice => libc::S_IFCHR,
            FileType::BlockDevice => libc::S_IFBLK,
            FileType::Fifo => libc::S_IFIFO,
            FileType::Socket => libc::S_IFSOCK,
        }
    }

    /// The `DT_*` value of a directory entry.
    pub fn dirent_type(self) -> u8 {
        match self {
            FileType::Regular => libc::DT_REG,
            FileType::Directory => libc::DT_DIR,
            FileType::Symlink => libc::DT_LNK,
            FileType::CharDevice => libc::DT_CHR,
            FileType::BlockDevice => libc::DT_BLK,
            FileType::Fifo => libc::DT_FIFO,
            FileType::Socket => libc::DT_SOCK,
        }
    }

    /// The type of a `DT_*` value, or `None` for `DT_UNKNOWN` and unknown values.
    pub fn from_dirent_type(ty: u8) -> Option<FileType> {
        Some(match ty {
            libc::DT_REG => FileType::Regular,
            libc::DT_DIR => FileType::Directory,
            libc::DT_LNK => FileType::Symlink,
            libc::DT_CHR => FileType::CharDevice,
            libc::DT_BLK => FileType::BlockDevice,
            libc::DT_FIFO => FileType::Fifo,
            libc::DT_SOCK => FileType::Socket,
            _ => return None,
        })
    }
}

/// One entry of a directory listing ("." and ".." are added by the VFS, not the filesystem).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    pub ino: u64,
    pub file_type: FileType,
    pub name: Vec<u8>,
}

/// Attribute changes (chmod, chown, truncate, utimens); `None` leaves an attribute alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    /// Permission bits (`0o7777`).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<Timespec>,
    pub mtime: Option<Timespec>,
}

/// A file of some filesystem. Methods that do not apply to the inode's type keep their default,
/// which returns the error Linux gives for that type; the VFS checks types before calling, so a
/// filesystem only implements what its files support.
pub trait Inode: Send + Sync + Any {
    /// The inode number, stable for the life of the filesystem.
    fn ino(&self) -> u64;
    fn file_type(&self) -> FileType;
    /// The full `stat`, including `st_dev` and `st_ino`.
    fn stat(&self) -> Result<Stat, Errno>;
    /// For filesystems that need their own inode type back (link, rename).
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;

    /// The child `name` of this directory (never "." or "..").
    fn lookup(&self, _name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        Err(Errno::ENOTDIR)
    }
    /// The entries of this directory, without "." and "..".
    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        Err(Errno::ENOTDIR)
    }
    /// Creates a regular file `name` with permission bits `mode`.
    fn create(&self, _name: &[u8], _mode: u32) -> Result<Arc<dyn Inode>, Errno> {
        Err(Errno::EPERM)
    }
    fn mkdir(&self, _name: &[u8], _mode: u32) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }
    /// mknod: a FIFO, regular file or device node `name` of type `file_type` (never a
    /// directory or symlink) with permission bits `mode` and device number `rdev`.
    fn mknod(
        &self,
        _name: &[u8],
        _file_type: FileType,
        _mode: u32,
        _rdev: u64,
    ) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }
    fn symlink(&self, _name: &[u8], _target: &[u8]) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }
    /// Adds `name` as another hard link to `target` (never a directory).
    fn link(&self, _name: &[u8], _target: &Arc<dyn Inode>) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }
    /// Removes the non-directory `name`.
    fn unlink(&self, _name: &[u8]) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }
    /// Removes the empty directory `name` (ENOTEMPTY otherwise).
    fn rmdir(&self, _name: &[u8]) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }
    /// Moves `old_name` of this directory to `new_name` of `new_dir` (same filesystem), replacing
    /// a compatible existing entry. The VFS has already checked types, subtrees and mounts.
    fn rename(
        &self,
        _old_name: &[u8],
        _new_dir: &Arc<dyn Inode>,
        _new_name: &[u8],
    ) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }

    /// Creates a socket file `name` with permission bits `mode`, standing for the AF_UNIX
    /// socket `socket` bound to its path (bind(2)); the net crate reads it back with
    /// [`Inode::bound_socket`].
    fn bind_socket(
        &self,
        _name: &[u8],
        _mode: u32,
        _socket: Arc<dyn Any + Send + Sync>,
    ) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }
    /// The socket this socket file was bound to (connect(2) to a path); `None` for other files.
    fn bound_socket(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        None
    }

    /// The target of this symlink.
    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        Err(Errno::EINVAL)
    }

    /// For a /proc/[pid]/fd link (Linux's "magic link"): the open file it stands for.
    /// Following it reaches that file's own path or, for a file without one (a pipe, the
    /// sandbox's stdio), a node whose stat is the file's and whose open reopens it.
    fn magic_link(&self) -> Option<Result<Arc<OpenFile>, Errno>> {
        None
    }

    /// Opens the inode. `Some` is a file with state of its own (a Gofer fid); `None` means reads
    /// and writes go to the inode's own `read_at`/`write_at`.
    fn open(&self, _flags: i32) -> Result<Option<Box<dyn FileOps>>, Errno> {
        Ok(None)
    }
    fn read_at(&self, _offset: u64, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }
    fn write_at(&self, _offset: u64, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }
    /// lseek: the default is a regular file's; devices override it.
    fn seek(&self, pos: &mut u64, offset: i64, whence: i32) -> Result<u64, Errno> {
        let size = u64::try_from(self.stat()?.st_size).unwrap_or(0);
        generic_seek(pos, offset, whence, size)
    }
    fn ioctl(&self, _cmd: u32, _arg: &mut [u8]) -> Result<u64, Errno> {
        Err(Errno::ENOTTY)
    }
    fn set_attr(&self, _attr: &SetAttr) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }
    fn fsync(&self) -> Result<(), Errno> {
        Ok(())
    }
    /// fallocate of a regular file: `mode` holds FALLOC_FL_* bits the VFS has validated.
    fn allocate(&self, _mode: i32, _offset: u64, _len: u64) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }
    /// The pipe of a FIFO, which every open of it shares.
    fn fifo(&self) -> Option<Arc<crate::pipe::Pipe>> {
        None
    }
    /// A regular file's pages in the sandbox's memory file, for shared mappings (mmap with
    /// MAP_SHARED); `None` for a file that cannot be mapped shared (ENODEV).
    fn shared_pages(&self) -> Option<Arc<mm::FilePages>> {
        None
    }
}

/// lseek over a file of `size` bytes: SEEK_SET, SEEK_CUR, SEEK_END; EINVAL for a negative result
/// or another `whence`.
pub fn generic_seek(pos: &mut u64, offset: i64, whence: i32, size: u64) -> Result<u64, Errno> {
    let base = match whence {
        libc::SEEK_SET => 0,
        libc::SEEK_CUR => *pos,
        libc::SEEK_END => size,
        _ => return Err(Errno::EINVAL),
    };
    let new = i64::try_from(base)
        .ok()
        .and_then(|base| base.checked_add(offset))
        .ok_or(Errno::EOVERFLOW)?;
    let new = u64::try_from(new).map_err(|_| Errno::EINVAL)?;
    *pos = new;
    Ok(new)
}

/// A fresh anonymous device number (major 0, like Linux's tmpfs and procfs) for `st_dev`.
pub fn new_device_id() -> u64 {
    static NEXT_MINOR: AtomicU64 = AtomicU64::new(16);
    NEXT_MINOR.fetch_add(1, Ordering::Relaxed)
}
