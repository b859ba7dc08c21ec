//! tmpfs: a writable filesystem whose files live in the Sentry's memory.

mod inode;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use abi::{Errno, Statfs};
use mm::{MemoryFile, PageQuota};

use crate::fs::{new_device_id, FileSystem, Inode};
pub use inode::TmpfsInode;

/// `TMPFS_MAGIC` for statfs.
const TMPFS_MAGIC: i64 = 0x0102_1994;
/// The block size statfs reports, and the unit file data is charged in (a page).
const BLOCK_SIZE: u64 = 4096;
/// The size of a tmpfs made without one (/dev): Linux sizes tmpfs at half of RAM by default;
/// the sandbox's /tmp is given its size by the caller.
pub const DEFAULT_SIZE: u64 = 4 << 30;
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
    /// The filesystem's size in bytes: the data of its files never takes more.
    size: u64,
    /// Bytes charged for file data: the pages its files hold.
    used: AtomicU64,
    /// Where the files' pages live: the sandbox's memory file, so they can be mapped.
    memory: Arc<MemoryFile>,
}

impl Shared {
    fn next_ino(&self) -> u64 {
        self.next_ino.fetch_add(1, Ordering::Relaxed)
    }

    /// Takes `bytes` of the filesystem's space; ENOSPC, taking nothing, if they don't fit.
    fn charge(&self, bytes: u64) -> Result<(), Errno> {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.size)
            })
            .map(|_| ())
            .map_err(|_| Errno::ENOSPC)
    }

    /// The bytes not charged yet.
    fn free_bytes(&self) -> u64 {
        self.size.saturating_sub(self.used.load(Ordering::Relaxed))
    }

    /// Gives back `bytes` taken by [`Shared::charge`].
    fn uncharge(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// A file's pages are charged to its filesystem, one block each, as Linux counts them.
impl PageQuota for Shared {
    fn charge(&self, pages: u64) -> Result<(), Errno> {
        self.charge(pages.saturating_mul(BLOCK_SIZE))
    }

    fn uncharge(&self, pages: u64) {
        self.uncharge(pages * BLOCK_SIZE);
    }
}

pub struct TmpFs {
    root: Arc<TmpfsInode>,
}

impl TmpFs {
    /// An empty tmpfs whose root has permission bits `root_mode` (0o1777 for /tmp, 0o755 for
    /// /dev), of [`DEFAULT_SIZE`], keeping file data in `memory`.
    pub fn new(root_mode: u32, memory: Arc<MemoryFile>) -> Arc<TmpFs> {
        Self::with_size(root_mode, DEFAULT_SIZE, memory)
    }

    /// An empty tmpfs whose files can hold `size` bytes in all (rounded down to whole blocks);
    /// writing past it is ENOSPC. File data lives in `memory` (pages cost nothing until
    /// written: files are sparse).
    pub fn with_size(root_mode: u32, size: u64, memory: Arc<MemoryFile>) -> Arc<TmpFs> {
        let shared = Arc::new(Shared {
            dev: new_device_id(),
            next_ino: AtomicU64::new(1),
            size: size / BLOCK_SIZE * BLOCK_SIZE,
            used: AtomicU64::new(0),
            memory,
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

    /// The size and the space file data takes, in blocks; a nominal inode count with the
    /// inodes made so far as used; a filesystem id from its device.
    fn statfs(&self) -> Result<Statfs, Errno> {
        let shared = self.root.shared();
        let used_inodes = shared.next_ino.load(Ordering::Relaxed);
        let blocks = shared.size / BLOCK_SIZE;
        let free_blocks = shared.free_bytes() / BLOCK_SIZE;
        let dev = shared.dev;
        Ok(Statfs {
            f_type: TMPFS_MAGIC,
            f_bsize: BLOCK_SIZE.cast_signed(),
            f_blocks: blocks,
            f_bfree: free_blocks,
            f_bavail: free_blocks,
            f_files: NOMINAL_INODES,
            f_ffree: NOMINAL_INODES.saturating_sub(used_inodes),
            f_fsid: [
                i32::try_from(dev & 0x7fff_ffff).unwrap_or(0),
                i32::try_from(dev >> 32 & 0x7fff_ffff).unwrap_or(0),
            ],
            f_namelen: 255,
            f_frsize: BLOCK_SIZE.cast_signed(),
            ..Statfs::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::SetAttr;

    const BLOCKS: u64 = 4;
    /// BLOCK_SIZE, for buffer lengths.
    const PAGE: usize = 4096;

    fn memory() -> Arc<MemoryFile> {
        MemoryFile::new(1 << 30).expect("memory file")
    }

    fn free_blocks(fs: &TmpFs) -> u64 {
        fs.statfs().expect("statfs").f_bfree
    }

    #[test]
    fn data_is_charged_in_blocks_up_to_the_size() {
        let fs = TmpFs::with_size(0o755, BLOCKS * BLOCK_SIZE, memory());
        let file = fs.root_dir().create(b"a", 0o644).expect("create");
        assert_eq!(file.write_at(0, b"x").expect("write"), 1);
        assert_eq!(free_blocks(&fs), BLOCKS - 1);
        // A write that does not fit writes what does, then the next one is ENOSPC.
        let big = vec![7u8; 8 * PAGE];
        let written = file.write_at(1, &big).expect("short write");
        assert_eq!(written as u64, BLOCKS * BLOCK_SIZE - 1);
        assert_eq!(free_blocks(&fs), 0);
        assert_eq!(file.write_at(BLOCKS * BLOCK_SIZE, b"y"), Err(Errno::ENOSPC));
        let other = fs.root_dir().create(b"b", 0o644).expect("create");
        assert_eq!(other.write_at(0, b"z"), Err(Errno::ENOSPC));
        // Truncating past the size costs nothing (files are sparse), shrinking gives the
        // blocks back.
        let grow = SetAttr {
            size: Some(1 << 40),
            ..SetAttr::default()
        };
        assert_eq!(file.set_attr(&grow), Ok(()));
        assert_eq!(free_blocks(&fs), 0);
        let shrink = SetAttr {
            size: Some(BLOCK_SIZE),
            ..SetAttr::default()
        };
        file.set_attr(&shrink).expect("truncate");
        assert_eq!(free_blocks(&fs), BLOCKS - 1);
        assert_eq!(file.allocate(0, 0, 2 * BLOCK_SIZE), Ok(()));
        assert_eq!(free_blocks(&fs), BLOCKS - 2);
    }

    #[test]
    fn a_file_gives_its_space_back_when_the_last_reference_goes() {
        let fs = TmpFs::with_size(0o755, BLOCKS * BLOCK_SIZE, memory());
        let file = fs.root_dir().create(b"a", 0o644).expect("create");
        file.write_at(0, &[1; 3 * PAGE]).expect("write");
        fs.root_dir().unlink(b"a").expect("unlink");
        assert_eq!(free_blocks(&fs), BLOCKS - 3, "still open");
        drop(file);
        assert_eq!(free_blocks(&fs), BLOCKS);
    }
}
