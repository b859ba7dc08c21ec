//! Copy-up: giving a lower file an upper copy (data, mode, owner, times), parents first.

use std::sync::Arc;

use abi::{Errno, Stat};

use super::node::OverlayInode;
use crate::fs::{FileType, Inode, SetAttr};

/// How much of a file's data one copy-up step moves.
const COPY_CHUNK: usize = 1 << 20;

impl OverlayInode {
    /// The upper file, made from the lower one if there is none yet (its parent directories
    /// first). The caller holds the tree lock for writing.
    pub(super) fn copy_up(&self) -> Result<Arc<dyn Inode>, Errno> {
        self.copy_up_with(true)
    }

    /// [`Self::copy_up`] of a regular file about to be truncated to nothing: its data is
    /// not copied (a large lower file emptied must not need room in the upper layer).
    pub(super) fn copy_up_emptied(&self) -> Result<Arc<dyn Inode>, Errno> {
        self.copy_up_with(false)
    }

    fn copy_up_with(&self, data: bool) -> Result<Arc<dyn Inode>, Errno> {
        let layers = self.layers();
        if let Some(upper) = layers.upper {
            return Ok(upper);
        }
        let lower = layers.lower.ok_or(Errno::EIO)?;
        // Only the root has no place, and it always has an upper directory; a file removed
        // from the tree (still open) has none either and gets no new name by a copy-up.
        let place = self.place().ok_or(Errno::ENOENT)?;
        let dir = place.parent.copy_up()?;
        let name = &place.name[..];
        let stat = lower.stat()?;
        let perm = stat.st_mode & 0o7777;
        match self.file_type() {
            FileType::Regular => {
                let upper = dir.create(name, perm)?;
                let copied = if data {
                    copy_data(&lower, &upper)
                } else {
                    Ok(())
                };
                if let Err(errno) = copied {
                    let _ = dir.unlink(name);
                    return Err(errno);
                }
            }
            FileType::Directory => dir.mkdir(name, perm)?,
            FileType::Symlink => dir.symlink(name, &lower.readlink()?)?,
            file_type @ (FileType::Fifo | FileType::CharDevice | FileType::BlockDevice) => {
                dir.mknod(name, file_type, perm, stat.st_rdev)?;
            }
            // A socket file stands for a socket bound by a host process: nothing to copy.
            FileType::Socket => return Err(Errno::EPERM),
        }
        let upper = dir.lookup(name)?;
        copy_attributes(&stat, &upper)?;
        self.shared()
            .book
            .lock()
            .origin_ino
            .insert(upper.ino(), self.ino());
        self.set_upper(upper.clone());
        Ok(upper)
    }

    /// Copies up this file and, for a directory, everything below it, which then no longer
    /// merges with the lower layer (before a directory is renamed). A tree past
    /// [`TreeBudget::for_rename`] is EXDEV, as Linux's overlayfs answers for any merged directory:
    /// `mv` then copies it itself. Caller holds the tree lock.
    pub(super) fn copy_up_tree(&self) -> Result<(), Errno> {
        self.measure_tree(&mut TreeBudget::for_rename())?;
        self.copy_up_measured_tree()
    }

    fn copy_up_measured_tree(&self) -> Result<(), Errno> {
        self.copy_up()?;
        if self.file_type() != FileType::Directory || self.layers().lower.is_none() {
            return Ok(());
        }
        for entry in self.entries()? {
            self.child(&entry.name)?.copy_up_measured_tree()?;
        }
        self.drop_lower();
        Ok(())
    }

    /// Takes what copying this tree up would copy from `budget`; EXDEV if it doesn't fit.
    fn measure_tree(&self, budget: &mut TreeBudget) -> Result<(), Errno> {
        let layers = self.layers();
        let Some(lower) = layers.lower else {
            return Ok(());
        };
        if layers.upper.is_none() {
            let size = match self.file_type() {
                FileType::Regular => lower.stat()?.st_size.unsigned_abs(),
                _ => 0,
            };
            budget.take(size)?;
        }
        if self.file_type() == FileType::Directory {
            for entry in self.entries()? {
                self.child(&entry.name)?.measure_tree(budget)?;
            }
        }
        Ok(())
    }
}

/// How much of the lower layer one rename of a directory may copy up.
struct TreeBudget {
    files: u32,
    bytes: u64,
}

impl TreeBudget {
    /// Generous for the directories programs rename (a package's, a build's), small enough
    /// that renaming a large lower tree (/usr) fails at once rather than filling memory.
    fn for_rename() -> TreeBudget {
        TreeBudget {
            files: 10_000,
            bytes: 256 << 20,
        }
    }

    fn take(&mut self, bytes: u64) -> Result<(), Errno> {
        self.files = self.files.checked_sub(1).ok_or(Errno::EXDEV)?;
        self.bytes = self.bytes.checked_sub(bytes).ok_or(Errno::EXDEV)?;
        Ok(())
    }
}

/// Gives `upper` the permission bits, owner and times of `stat`.
pub(super) fn copy_attributes(stat: &Stat, upper: &Arc<dyn Inode>) -> Result<(), Errno> {
    upper.set_attr(&SetAttr {
        mode: Some(stat.st_mode & 0o7777),
        uid: Some(stat.st_uid),
        gid: Some(stat.st_gid),
        size: None,
        atime: Some(stat.st_atime),
        mtime: Some(stat.st_mtime),
    })
}

/// Copies the data of the regular file `lower` into the empty `upper`.
fn copy_data(lower: &Arc<dyn Inode>, upper: &Arc<dyn Inode>) -> Result<(), Errno> {
    let file = lower.open(libc::O_RDONLY)?;
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut offset = 0u64;
    loop {
        let n = match &file {
            Some(file) => file.pread(offset, &mut buf)?,
            None => lower.read_at(offset, &mut buf)?,
        };
        if n == 0 {
            return Ok(());
        }
        let mut done = 0;
        while done < n {
            match upper.write_at(offset + done as u64, &buf[done..n])? {
                0 => return Err(Errno::ENOSPC),
                written => done += written,
            }
        }
        offset += n as u64;
    }
}
