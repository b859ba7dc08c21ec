//! Opening an open file again through /proc/[pid]/fd (Linux's magic links), when it has no
//! path of its own to open: a pipe, or a host file such as the sandbox's stdio.

use std::any::Any;
use std::sync::Arc;

use abi::{Errno, Stat};

use super::{FileOps, OpenFile};
use crate::dentry::Dentry;
use crate::fs::{FileType, Inode, SetAttr};
use crate::mount::VfsPath;

/// Where following the fd link `link` to the path-less `file` leads: a node beside the link
/// whose stat is the file's and whose open reopens it.
pub(crate) fn file_node(link: &VfsPath, file: Arc<OpenFile>) -> VfsPath {
    let dentry = Dentry::detached(Arc::new(OpenFileInode(file)), link.dentry());
    VfsPath::new(link.mount().clone(), dentry)
}

/// An open file seen as an inode.
struct OpenFileInode(Arc<OpenFile>);

impl Inode for OpenFileInode {
    fn ino(&self) -> u64 {
        self.0.stat().map_or(0, |st| st.st_ino)
    }

    fn file_type(&self) -> FileType {
        self.0
            .stat()
            .ok()
            .and_then(|st| FileType::from_mode(st.st_mode))
            .unwrap_or(FileType::Regular)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        self.0.stat()
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    /// O_TRUNC through the link (`echo > /dev/stdout` into a file truncates it, as on Linux);
    /// nothing else changes through it.
    fn set_attr(&self, attr: &SetAttr) -> Result<(), Errno> {
        match attr {
            SetAttr {
                size: Some(len),
                mode: None,
                uid: None,
                gid: None,
                atime: None,
                mtime: None,
            } => self.0.ops().truncate(*len),
            _ => Err(Errno::EPERM),
        }
    }

    fn open(&self, flags: i32) -> Result<Option<Box<dyn FileOps>>, Errno> {
        self.0.reopen(flags).map(Some)
    }
}
