//! An open file whose reads and writes go straight to its inode (tmpfs, devices).

use std::sync::Arc;

use abi::{Errno, Stat};

use super::FileOps;
use crate::fs::{DirEntry, FileType, Inode, SetAttr};

pub(crate) struct InodeFile {
    inode: Arc<dyn Inode>,
}

impl InodeFile {
    pub(crate) fn new(inode: Arc<dyn Inode>) -> InodeFile {
        InodeFile { inode }
    }
}

impl FileOps for InodeFile {
    fn stat(&self) -> Result<Stat, Errno> {
        self.inode.stat()
    }

    fn pread(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.inode.read_at(offset, buf)
    }

    fn pwrite(&self, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        self.inode.write_at(offset, buf)
    }

    fn seek(&self, pos: &mut u64, offset: i64, whence: i32) -> Result<u64, Errno> {
        self.inode.seek(pos, offset, whence)
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        self.inode.readdir()
    }

    fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> Result<u64, Errno> {
        self.inode.ioctl(cmd, arg)
    }

    fn truncate(&self, len: u64) -> Result<(), Errno> {
        if self.inode.file_type() != FileType::Regular {
            return Err(Errno::EINVAL);
        }
        self.inode.set_attr(&SetAttr {
            size: Some(len),
            ..SetAttr::default()
        })
    }

    fn fsync(&self) -> Result<(), Errno> {
        self.inode.fsync()
    }

    fn allocate(&self, mode: i32, offset: u64, len: u64) -> Result<(), Errno> {
        match self.inode.file_type() {
            FileType::Regular => self.inode.allocate(mode, offset, len),
            FileType::Directory => Err(Errno::EISDIR),
            FileType::Fifo => Err(Errno::ESPIPE),
            _ => Err(Errno::ENODEV),
        }
    }
}
