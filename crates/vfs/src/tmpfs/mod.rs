//! tmpfs: a writable filesystem whose files live in the Sentry's memory.

mod inode;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use abi::{Errno, Statfs};

use crate::fs::{new_device_id, FileSystem, Inode};
pub use inode::TmpfsInode;

/// The largest regular file: file data is one contiguous buffer in the Sentry's heap.
pub const MAX_FILE_SIZE: u64 = 1 << 30;

/// `TMPFS_MAGIC` for statfs.
const TMPFS_MAGIC: i64 = 0x0102_1994;
/// The capacity statfs reports, in 4 KiB blocks (Linux's default tmpfs is half of RAM).
const NOMINAL_BLOCKS: u64 = (4 << 30) / 4096;
/// The inode count statfs reports.
const NOMINAL_INODES: u64 = 1 << 20;

/// The behaviour of a character device node (devfs puts these in a tmpfs).
pub trait DeviceOps: Send + Sync {
    /// Called on every open; an error fails the open (ENXIO for an absent device).
    fn open(&self) -> Result<(), Errno> {
        Ok(())
    }
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno>;
    fn write(&self, offset: u64, buf: &[u8]) -> Result<usize, Errno>;
    /// lseek; the default is Linux's `noop_llseek`: the offset stays and is returned.
    fn seek(&self, pos: &mut u64, _offset: i64, _whence: i32) -> Result<u64, Errno> {
        Ok(*pos)
    }
    fn ioctl(&self, _cmd: u32, _arg: &mut [u8]) -> Result<u64, Errno> {
        Err(Errno::ENOTTY)
    }
}

/// What every inode of one tmpfs shares.
struct Shared {
    dev: u64,
    next_ino: AtomicU64,
}

impl Shared {
    fn next_ino(&self) -> u64 {
        self.next_ino.fetch_add(1, Ordering::Relaxed)
    }
}

pub struct TmpFs {
    root: Arc<TmpfsInode>,
}

impl TmpFs {
    /// An empty tmpfs whose root has permission bits `root_mode` (0o1777 for /tmp, 0o755 for
    /// /dev).
    pub fn new(root_mode: u32) -> Arc<TmpFs> {
        let shared = Arc::new(Shared {
            dev: new_device_id(),
            next_ino: AtomicU64::new(1),
        });
        Arc::new(TmpFs {
            root: TmpfsInode::new_dir(&shared, root_mode),
        })
    }

    /// The root directory, for populating the filesystem.
    pub fn root_dir(&self) -> &Arc<TmpfsInode> {
        &self.root
    }
}

impl FileSystem for TmpFs {
    fn name(&self) -> &'static str {
        "tmpfs"
    }

    fn root(&self) -> Arc<dyn Inode> {
        self.root.clone()
    }

    /// tmpfs has no fixed size here (files live in the Sentry's heap): it reports a nominal
    /// capacity, the inodes made so far as used, and a filesystem id from its device.
    fn statfs(&self) -> Result<Statfs, Errno> {
        let used_inodes = self.root.shared().next_ino.load(Ordering::Relaxed);
        let dev = self.root.shared().dev;
        Ok(Statfs {
            f_type: TMPFS_MAGIC,
            f_bsize: 4096,
            f_blocks: NOMINAL_BLOCKS,
            f_bfree: NOMINAL_BLOCKS,
            f_bavail: NOMINAL_BLOCKS,
            f_files: NOMINAL_INODES,
            f_ffree: NOMINAL_INODES.saturating_sub(used_inodes),
            f_fsid: [
                i32::try_from(dev & 0x7fff_ffff).unwrap_or(0),
                i32::try_from(dev >> 32 & 0x7fff_ffff).unwrap_or(0),
            ],
            f_namelen: 255,
            f_frsize: 4096,
            ..Statfs::default()
        })
    }
}
