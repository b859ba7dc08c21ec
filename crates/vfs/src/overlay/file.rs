//! Open files of a layer, seen through the overlay.

use std::sync::Arc;

use abi::{Errno, Stat};
use waiter::WaitQueue;

use crate::file::FileOps;
use crate::fs::DirEntry;

/// A file a layer opened with state of its own (a Gofer file): everything goes to it, but
/// fstat shows the overlay's device and inode number, as stat of the path does.
pub(super) struct LayerFile {
    inner: Box<dyn FileOps>,
    dev: u64,
    ino: u64,
}

impl LayerFile {
    pub(super) fn new(inner: Box<dyn FileOps>, dev: u64, ino: u64) -> LayerFile {
        LayerFile { inner, dev, ino }
    }
}

impl FileOps for LayerFile {
    fn stat(&self) -> Result<Stat, Errno> {
        let mut stat = self.inner.stat()?;
        stat.st_dev = self.dev;
        stat.st_ino = self.ino;
        Ok(stat)
    }

    fn pread(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.inner.pread(offset, buf)
    }

    fn pwrite(&self, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        self.inner.pwrite(offset, buf)
    }

    fn read(&self, pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.inner.read(pos, buf)
    }

    fn write(&self, pos: &mut u64, buf: &[u8], append: bool) -> Result<usize, Errno> {
        self.inner.write(pos, buf, append)
    }

    fn seek(&self, pos: &mut u64, offset: i64, whence: i32) -> Result<u64, Errno> {
        self.inner.seek(pos, offset, whence)
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        self.inner.readdir()
    }

    fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> Result<u64, Errno> {
        self.inner.ioctl(cmd, arg)
    }

    fn truncate(&self, len: u64) -> Result<(), Errno> {
        self.inner.truncate(len)
    }

    fn fsync(&self) -> Result<(), Errno> {
        self.inner.fsync()
    }

    fn allocate(&self, mode: i32, offset: u64, len: u64) -> Result<(), Errno> {
        self.inner.allocate(mode, offset, len)
    }

    fn readiness(&self, mask: u32) -> u32 {
        self.inner.readiness(mask)
    }

    fn wait_queue(&self) -> Option<Arc<WaitQueue>> {
        self.inner.wait_queue()
    }
}
