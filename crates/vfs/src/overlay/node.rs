//! Overlay inodes: a file seen through both layers, and the operations on it.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

use abi::{Errno, Stat};
use mm::FilePages;
use parking_lot::{Mutex, RwLock};

use super::file::LayerFile;
use super::Shared;
use crate::file::FileOps;
use crate::fs::{DirEntry, FileType, Inode, SetAttr};
use crate::pipe::Pipe;

/// The two layers of a file; at least one is present. A non-directory with an upper file is
/// entirely that file; a directory with both merges them.
#[derive(Clone)]
pub(super) struct Layers {
    pub upper: Option<Arc<dyn Inode>>,
    pub lower: Option<Arc<dyn Inode>>,
}

impl Layers {
    /// The layer reads and attribute queries go to.
    fn top(&self) -> &Arc<dyn Inode> {
        match (&self.upper, &self.lower) {
            (Some(upper), _) => upper,
            (None, Some(lower)) => lower,
            (None, None) => unreachable!("an overlay inode without layers"),
        }
    }
}

/// Where a file is in the overlay: its parent and its name there (for copy-up, which makes the
/// parent's upper directory first).
#[derive(Clone)]
pub(super) struct Place {
    pub parent: Arc<OverlayInode>,
    pub name: Vec<u8>,
}

pub struct OverlayInode {
    shared: Arc<Shared>,
    me: Weak<OverlayInode>,
    /// The overlay's inode number: the lower file's for files from the lower layer (kept across
    /// copy-up), the upper file's (marked) for files made in the overlay.
    ino: u64,
    file_type: FileType,
    layers: RwLock<Layers>,
    /// `None` for the root.
    place: Mutex<Option<Place>>,
    /// The children looked up and still alive, so that one name has one inode (and one
    /// copy-up state) however many dentries and open files reach it.
    children: Mutex<HashMap<Vec<u8>, Weak<OverlayInode>>>,
}

impl OverlayInode {
    fn new(
        shared: Arc<Shared>,
        ino: u64,
        file_type: FileType,
        layers: Layers,
        place: Option<Place>,
    ) -> Arc<OverlayInode> {
        Arc::new_cyclic(|me| OverlayInode {
            shared,
            me: me.clone(),
            ino,
            file_type,
            layers: RwLock::new(layers),
            place: Mutex::new(place),
            children: Mutex::new(HashMap::new()),
        })
    }

    pub(super) fn new_root(
        shared: Arc<Shared>,
        upper: Arc<dyn Inode>,
        lower: Arc<dyn Inode>,
    ) -> Arc<OverlayInode> {
        let ino = lower.ino();
        let layers = Layers {
            upper: Some(upper),
            lower: Some(lower),
        };
        Self::new(shared, ino, FileType::Directory, layers, None)
    }

    pub(super) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    fn this(&self) -> Arc<OverlayInode> {
        self.me.upgrade().expect("an inode in use is alive")
    }

    pub(super) fn layers(&self) -> Layers {
        self.layers.read().clone()
    }

    pub(super) fn set_upper(&self, upper: Arc<dyn Inode>) {
        self.layers.write().upper = Some(upper);
    }

    /// Drops the lower layer of a directory whose entries are all in the upper one now.
    pub(super) fn drop_lower(&self) {
        self.layers.write().lower = None;
    }

    pub(super) fn place(&self) -> Option<Place> {
        self.place.lock().clone()
    }

    /// Takes a removed file out of the tree: it may stay open, but never gets a name again.
    fn detach(&self) {
        *self.place.lock() = None;
    }

    fn top(&self) -> Arc<dyn Inode> {
        self.layers.read().top().clone()
    }

    fn upper(&self) -> Option<Arc<dyn Inode>> {
        self.layers.read().upper.clone()
    }

    fn from_inode(inode: &Arc<dyn Inode>) -> Result<Arc<OverlayInode>, Errno> {
        inode
            .clone()
            .into_any()
            .downcast::<OverlayInode>()
            .map_err(|_| Errno::EXDEV)
    }

    /// The lower layer's entry `name` of this directory, unless hidden by a whiteout.
    fn lower_child(&self, layers: &Layers, name: &[u8]) -> Result<Option<Arc<dyn Inode>>, Errno> {
        let Some(lower) = &layers.lower else {
            return Ok(None);
        };
        if layers
            .upper
            .as_ref()
            .is_some_and(|upper| self.shared.is_whiteout(upper, name))
        {
            return Ok(None);
        }
        optional(lower.lookup(name))
    }

    /// Whether the lower layer shows an entry `name` here (which removing or replacing the
    /// overlay's entry must then hide).
    fn lower_has(&self, name: &[u8]) -> Result<bool, Errno> {
        Ok(self.lower_child(&self.layers(), name)?.is_some())
    }

    /// The child `name`: the cached one, or a new one from the layers. The caller holds the
    /// tree lock.
    pub(super) fn child(&self, name: &[u8]) -> Result<Arc<OverlayInode>, Errno> {
        let mut children = self.children.lock();
        if let Some(child) = children.get(name).and_then(Weak::upgrade) {
            return Ok(child);
        }
        if self.file_type != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let layers = self.layers();
        let upper = match &layers.upper {
            Some(upper) => optional(upper.lookup(name))?,
            None => None,
        };
        let lower = match &upper {
            // An upper non-directory hides whatever is below; an upper directory merges with
            // a lower directory only.
            Some(upper) if upper.file_type() != FileType::Directory => None,
            _ => self
                .lower_child(&layers, name)?
                .filter(|lower| upper.is_none() || lower.file_type() == FileType::Directory),
        };
        let (ino, file_type) = match (&upper, &lower) {
            (Some(upper), _) => (self.shared.upper_ino(upper), upper.file_type()),
            (None, Some(lower)) => (lower.ino(), lower.file_type()),
            (None, None) => return Err(Errno::ENOENT),
        };
        let place = Place {
            parent: self.this(),
            name: name.to_vec(),
        };
        let child = Self::new(
            self.shared.clone(),
            ino,
            file_type,
            Layers { upper, lower },
            Some(place),
        );
        children.retain(|_, weak| weak.strong_count() > 0);
        children.insert(name.to_vec(), Arc::downgrade(&child));
        Ok(child)
    }

    /// The merged entries: the upper layer's, then the lower layer's not hidden by a whiteout
    /// or an upper entry of the same name. The caller holds the tree lock.
    pub(super) fn entries(&self) -> Result<Vec<DirEntry>, Errno> {
        let layers = self.layers();
        let mut entries = Vec::new();
        let mut hidden = HashSet::new();
        if let Some(upper) = &layers.upper {
            for mut entry in upper.readdir()? {
                hidden.insert(entry.name.clone());
                // Copied-up files keep their number: ask the child itself.
                entry.ino = match upper.lookup(&entry.name) {
                    Ok(inode) => self.shared.upper_ino(&inode),
                    Err(_) => entry.ino,
                };
                entries.push(entry);
            }
            if let Some(names) = self.shared.book.lock().whiteouts.get(&upper.ino()) {
                hidden.extend(names.iter().cloned());
            }
        }
        if let Some(lower) = &layers.lower {
            entries.extend(
                lower
                    .readdir()?
                    .into_iter()
                    .filter(|entry| !hidden.contains(&entry.name)),
            );
        }
        Ok(entries)
    }

    /// Makes an entry in this directory's upper layer with `make`, after copying the directory
    /// up. Whatever the lower layer had at that name stays whited out.
    fn make_child(
        &self,
        make: impl FnOnce(&Arc<dyn Inode>) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        let _tree = self.shared.tree.write();
        let upper = self.copy_up()?;
        make(&upper)
    }

    /// Removes `name` (a directory if `dir`), hiding the lower entry of that name.
    fn remove(&self, name: &[u8], dir: bool) -> Result<(), Errno> {
        let _tree = self.shared.tree.write();
        let child = self.child(name)?;
        if dir && !child.entries()?.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        let lower_has = self.lower_has(name)?;
        let upper = self.copy_up()?;
        if let Some(child_upper) = child.upper() {
            if dir {
                upper.rmdir(name)?;
                self.shared.forget_upper(&child_upper);
            } else {
                upper.unlink(name)?;
                if child_upper.stat()?.st_nlink == 0 {
                    self.shared.forget_upper(&child_upper);
                }
            }
        }
        if lower_has {
            self.shared.add_whiteout(&upper, name);
        }
        self.children.lock().remove(name);
        child.detach();
        Ok(())
    }
}

/// `Ok(None)` for ENOENT.
fn optional_node(
    found: Result<Arc<OverlayInode>, Errno>,
) -> Result<Option<Arc<OverlayInode>>, Errno> {
    match found {
        Ok(node) => Ok(Some(node)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `Ok(None)` for ENOENT.
fn optional(found: Result<Arc<dyn Inode>, Errno>) -> Result<Option<Arc<dyn Inode>>, Errno> {
    match found {
        Ok(inode) => Ok(Some(inode)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Inode for OverlayInode {
    fn ino(&self) -> u64 {
        self.ino
    }

    fn file_type(&self) -> FileType {
        self.file_type
    }

    /// The top layer's attributes, with the overlay's device and this file's stable number. A
    /// merged directory's link count is 1, as Linux's overlayfs reports it: neither layer's
    /// count is its subdirectories', and 1 tells find and fts not to rely on it.
    fn stat(&self) -> Result<Stat, Errno> {
        let layers = self.layers();
        let mut stat = layers.top().stat()?;
        stat.st_dev = self.shared.dev;
        stat.st_ino = self.ino;
        if layers.upper.is_some() && layers.lower.is_some() && self.file_type == FileType::Directory
        {
            stat.st_nlink = 1;
        }
        Ok(stat)
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        let _tree = self.shared.tree.read();
        Ok(self.child(name)?)
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        let _tree = self.shared.tree.read();
        self.entries()
    }

    fn create(&self, name: &[u8], mode: u32) -> Result<Arc<dyn Inode>, Errno> {
        let _tree = self.shared.tree.write();
        self.copy_up()?.create(name, mode)?;
        Ok(self.child(name)?)
    }

    fn mkdir(&self, name: &[u8], mode: u32) -> Result<(), Errno> {
        self.make_child(|upper| upper.mkdir(name, mode))
    }

    fn mknod(&self, name: &[u8], file_type: FileType, mode: u32, rdev: u64) -> Result<(), Errno> {
        self.make_child(|upper| upper.mknod(name, file_type, mode, rdev))
    }

    fn symlink(&self, name: &[u8], target: &[u8]) -> Result<(), Errno> {
        self.make_child(|upper| upper.symlink(name, target))
    }

    /// A hard link to a lower file copies it up first: both names are then one upper file.
    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> Result<(), Errno> {
        let target = Self::from_inode(target)?;
        let _tree = self.shared.tree.write();
        let target_upper = target.copy_up()?;
        self.copy_up()?.link(name, &target_upper)
    }

    fn unlink(&self, name: &[u8]) -> Result<(), Errno> {
        self.remove(name, false)
    }

    fn rmdir(&self, name: &[u8]) -> Result<(), Errno> {
        self.remove(name, true)
    }

    /// Renames in the upper layer, copying the source up first (a directory from the lower
    /// layer with its whole tree, as gVisor does, since a merged directory cannot move
    /// between lower names); whites out the lower entries of both names.
    fn rename(
        &self,
        old_name: &[u8],
        new_dir: &Arc<dyn Inode>,
        new_name: &[u8],
    ) -> Result<(), Errno> {
        let new_dir = Self::from_inode(new_dir)?;
        let _tree = self.shared.tree.write();
        let source = self.child(old_name)?;
        if source.file_type == FileType::Directory {
            source.copy_up_tree()?;
        } else {
            source.copy_up()?;
        }
        let old_lower = self.lower_has(old_name)?;
        let new_lower = new_dir.lower_has(new_name)?;
        let old_upper = self.copy_up()?;
        let new_upper = new_dir.copy_up()?;
        let replaced = optional_node(new_dir.child(new_name))?;
        if let Some(replaced) = &replaced {
            // Only the upper layer's emptiness is the upper rename's to check.
            if replaced.file_type == FileType::Directory && !replaced.entries()?.is_empty() {
                return Err(Errno::ENOTEMPTY);
            }
        }
        old_upper.rename(old_name, &new_upper, new_name)?;
        if let Some(replaced) = replaced {
            if let Some(upper) = replaced.upper() {
                if upper.file_type() == FileType::Directory {
                    self.shared.forget_upper(&upper);
                }
            }
            replaced.detach();
        }
        if old_lower {
            self.shared.add_whiteout(&old_upper, old_name);
        }
        if new_lower {
            self.shared.add_whiteout(&new_upper, new_name);
        }
        self.children.lock().remove(old_name);
        new_dir
            .children
            .lock()
            .insert(new_name.to_vec(), Arc::downgrade(&source));
        *source.place.lock() = Some(Place {
            parent: new_dir.clone(),
            name: new_name.to_vec(),
        });
        Ok(())
    }

    fn bind_socket(
        &self,
        name: &[u8],
        mode: u32,
        socket: Arc<dyn Any + Send + Sync>,
    ) -> Result<(), Errno> {
        self.make_child(|upper| upper.bind_socket(name, mode, socket))
    }

    fn bound_socket(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        self.top().bound_socket()
    }

    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        self.top().readlink()
    }

    /// Opening a regular file for writing (or truncating it) copies it up first. A file the
    /// layer opens with state of its own (a Gofer file) is wrapped in a [`LayerFile`]; one
    /// without goes through this inode's `read_at`/`write_at`.
    fn open(&self, flags: i32) -> Result<Option<Box<dyn FileOps>>, Errno> {
        let writes = flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_TRUNC != 0;
        if writes && self.file_type == FileType::Regular {
            let _tree = self.shared.tree.write();
            if flags & libc::O_TRUNC != 0 {
                self.copy_up_emptied()?;
            } else {
                self.copy_up()?;
            }
        }
        if self.file_type == FileType::Directory {
            // Read through `readdir` here, which merges the layers.
            return Ok(None);
        }
        let opened = self.top().open(flags)?;
        Ok(opened.map(|inner| Box::new(LayerFile::new(inner, self.this())) as Box<dyn FileOps>))
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.top().read_at(offset, buf)
    }

    fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        let upper = match self.upper() {
            Some(upper) => upper,
            None => {
                let _tree = self.shared.tree.write();
                self.copy_up()?
            }
        };
        upper.write_at(offset, buf)
    }

    fn seek(&self, pos: &mut u64, offset: i64, whence: i32) -> Result<u64, Errno> {
        self.top().seek(pos, offset, whence)
    }

    fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> Result<u64, Errno> {
        self.top().ioctl(cmd, arg)
    }

    /// chmod, chown, utimes and truncate copy the file up first.
    fn set_attr(&self, attr: &SetAttr) -> Result<(), Errno> {
        let upper = {
            let _tree = self.shared.tree.write();
            if attr.size == Some(0) {
                self.copy_up_emptied()?
            } else {
                self.copy_up()?
            }
        };
        upper.set_attr(attr)
    }

    fn fsync(&self) -> Result<(), Errno> {
        self.top().fsync()
    }

    fn allocate(&self, mode: i32, offset: u64, len: u64) -> Result<(), Errno> {
        let upper = {
            let _tree = self.shared.tree.write();
            self.copy_up()?
        };
        upper.allocate(mode, offset, len)
    }

    fn fifo(&self) -> Option<Arc<Pipe>> {
        self.top().fifo()
    }

    /// Mappings share the top layer's pages: the upper file's once copied up (an open for
    /// writing, which a writable shared mapping needs, has copied it up), else the lower
    /// file's read-only cache.
    fn shared_pages(&self) -> Option<Arc<FilePages>> {
        self.top().shared_pages()
    }

    fn getxattr(&self, name: &[u8]) -> Result<Vec<u8>, Errno> {
        self.top().getxattr(name)
    }

    fn listxattr(&self) -> Result<Vec<Vec<u8>>, Errno> {
        self.top().listxattr()
    }

    /// Setting or removing an attribute copies the file up first, as any change does.
    fn setxattr(&self, name: &[u8], value: &[u8], flags: i32) -> Result<(), Errno> {
        let upper = {
            let _tree = self.shared.tree.write();
            self.copy_up()?
        };
        upper.setxattr(name, value, flags)
    }

    fn removexattr(&self, name: &[u8]) -> Result<(), Errno> {
        let upper = {
            let _tree = self.shared.tree.write();
            self.copy_up()?
        };
        upper.removexattr(name)
    }
}
