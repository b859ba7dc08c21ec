//! Mounts and the (mount, dentry) pairs that name a place in the VFS.

use std::sync::Arc;

use crate::dentry::Dentry;
use crate::fs::{FileSystem, FileType, Inode};

/// A filesystem mounted at a directory of another mount (or as the VFS root).
pub struct Mount {
    id: u64,
    fs: Arc<dyn FileSystem>,
    root: Arc<Dentry>,
    mountpoint: Option<VfsPath>,
}

impl Mount {
    pub(crate) fn new(id: u64, fs: Arc<dyn FileSystem>, mountpoint: Option<VfsPath>) -> Mount {
        let root = Dentry::new_root(fs.root());
        Mount {
            id,
            fs,
            root,
            mountpoint,
        }
    }

    pub fn id(&self) -> u64 {
        self.id
    }

    pub fn fs(&self) -> &Arc<dyn FileSystem> {
        &self.fs
    }

    pub fn root(&self) -> &Arc<Dentry> {
        &self.root
    }

    /// Where this mount is mounted; `None` for the VFS root mount.
    pub fn mountpoint(&self) -> Option<&VfsPath> {
        self.mountpoint.as_ref()
    }
}

/// A place in the VFS: a dentry seen through a mount.
#[derive(Clone)]
pub struct VfsPath {
    mount: Arc<Mount>,
    dentry: Arc<Dentry>,
}

impl VfsPath {
    pub(crate) fn new(mount: Arc<Mount>, dentry: Arc<Dentry>) -> VfsPath {
        VfsPath { mount, dentry }
    }

    pub fn mount(&self) -> &Arc<Mount> {
        &self.mount
    }

    pub fn dentry(&self) -> &Arc<Dentry> {
        &self.dentry
    }

    pub fn inode(&self) -> &Arc<dyn Inode> {
        self.dentry.inode()
    }

    pub fn file_type(&self) -> FileType {
        self.dentry.inode().file_type()
    }

    pub fn is_dir(&self) -> bool {
        self.file_type() == FileType::Directory
    }

    /// Whether both name the same place (same mount, same dentry).
    pub fn same_as(&self, other: &VfsPath) -> bool {
        Arc::ptr_eq(&self.mount, &other.mount) && Arc::ptr_eq(&self.dentry, &other.dentry)
    }

    pub(crate) fn is_mount_root(&self) -> bool {
        Arc::ptr_eq(&self.dentry, &self.mount.root)
    }

    /// The parent directory, crossing from a mount root to its mountpoint's parent; `None` at
    /// the root of the VFS root mount.
    pub fn parent(&self) -> Option<VfsPath> {
        let mut cur = self.clone();
        while cur.is_mount_root() {
            cur = cur.mount.mountpoint.clone()?;
        }
        let parent = cur.dentry.parent()?;
        Some(VfsPath {
            mount: cur.mount,
            dentry: parent,
        })
    }

    /// The key of the mount table: mounts are looked up by the place they cover.
    pub(crate) fn key(&self) -> (u64, usize) {
        (self.mount.id, Arc::as_ptr(&self.dentry) as usize)
    }
}
