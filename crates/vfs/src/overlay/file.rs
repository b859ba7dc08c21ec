//! Open files of the lower layer, seen through the overlay.

use std::sync::Arc;

use abi::{Errno, Stat};
use waiter::WaitQueue;

use super::node::OverlayInode;
use crate::file::FileOps;
use crate::fs::{DirEntry, Inode};

/// A lower file a layer opened with state of its own (a Gofer file). fstat shows the overlay's
/// attributes, as stat of the path does; once the file is copied up (written through another
/// descriptor), reads go to the upper copy, as Linux's overlayfs has done since 4.19.
pub(super) struct LayerFile {
    inner: Box<dyn FileOps>,
    node: Arc<OverlayInode>,
}

impl LayerFile {
    pub(super) fn new(inner: Box<dyn FileOps>, node: Arc<OverlayInode>) -> LayerFile {
        LayerFile { inner, node }
    }
}

impl FileOps for LayerFile {
    fn stat(&self) -> Result<Stat, Errno> {
        self.node.stat()
    }

    fn pread(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        match self.node.layers().upper {
            Some(upper) => upper.read_at(offset, buf),
            None => self.inner.pread(offset, buf),
        }
    }

    fn pwrite(&self, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        self.inner.pwrite(offset, buf)
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
