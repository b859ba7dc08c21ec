//! Dentries: the names the VFS has looked up, linked to their parents.
//!
//! A dentry holds its parent strongly and its children weakly, so the tree of cached names lives
//! as long as something (an open file, a cwd, a mount, or the VFS's bounded set of recently
//! used dentries, see `recent`) refers into it; dropping a Gofer dentry drops its inode, which
//! clunks the fid.

mod recent;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use abi::Errno;
use parking_lot::Mutex;

use crate::fs::Inode;
pub(crate) use recent::RecentDentries;
pub use recent::DENTRY_CACHE_CAPACITY;

pub struct Dentry {
    inode: Arc<dyn Inode>,
    links: Mutex<Links>,
    children: Mutex<HashMap<Vec<u8>, Weak<Dentry>>>,
    deleted: AtomicBool,
}

struct Links {
    parent: Option<Arc<Dentry>>,
    name: Vec<u8>,
}

impl Dentry {
    /// The root dentry of a filesystem's tree.
    pub(crate) fn new_root(inode: Arc<dyn Inode>) -> Arc<Dentry> {
        Arc::new(Dentry {
            inode,
            links: Mutex::new(Links {
                parent: None,
                name: b"/".to_vec(),
            }),
            children: Mutex::new(HashMap::new()),
            deleted: AtomicBool::new(false),
        })
    }

    /// A dentry outside its parent's cache, named as `beside` (what a /proc/[pid]/fd link of a
    /// path-less file leads to).
    pub(crate) fn detached(inode: Arc<dyn Inode>, beside: &Dentry) -> Arc<Dentry> {
        let links = beside.links.lock();
        Arc::new(Dentry {
            inode,
            links: Mutex::new(Links {
                parent: links.parent.clone(),
                name: links.name.clone(),
            }),
            children: Mutex::new(HashMap::new()),
            deleted: AtomicBool::new(false),
        })
    }

    /// The dentry of an O_TMPFILE file: in `dir`, named "#ino" as Linux's `d_tmpfile`, outside
    /// the directory's cache and already deleted.
    pub(crate) fn unnamed(inode: Arc<dyn Inode>, dir: &Arc<Dentry>) -> Arc<Dentry> {
        let name = format!("#{}", inode.ino()).into_bytes();
        Arc::new(Dentry {
            inode,
            links: Mutex::new(Links {
                parent: Some(dir.clone()),
                name,
            }),
            children: Mutex::new(HashMap::new()),
            deleted: AtomicBool::new(true),
        })
    }

    pub fn inode(&self) -> &Arc<dyn Inode> {
        &self.inode
    }

    /// The parent within the same filesystem; `None` at the filesystem's root.
    pub fn parent(&self) -> Option<Arc<Dentry>> {
        self.links.lock().parent.clone()
    }

    /// The name in the parent directory.
    pub fn name(&self) -> Vec<u8> {
        self.links.lock().name.clone()
    }

    /// Whether the name was unlinked (or replaced by a rename).
    pub fn is_deleted(&self) -> bool {
        self.deleted.load(Ordering::Relaxed)
    }

    /// The child `name` (never "." or ".."), from the cache or looked up in the inode.
    pub(crate) fn child(self: &Arc<Self>, name: &[u8]) -> Result<Arc<Dentry>, Errno> {
        // The lock is held across the inode lookup so one name never gets two dentries.
        let mut children = self.children.lock();
        if let Some(child) = children.get(name).and_then(Weak::upgrade) {
            // A cached name is trusted as is: every filesystem today is either the Sentry's
            // own (tmpfs, devfs) or a read-only Gofer tree that cannot change under us. Once a
            // Gofer tree can change on the host, this is where a child gets revalidated (its
            // inode asked whether the name still leads to the same file, gVisor's
            // `revalidate`), dropping it and looking `name` up again if not.
            return Ok(child);
        }
        let inode = self.inode.lookup(name)?;
        let child = Arc::new(Dentry {
            inode,
            links: Mutex::new(Links {
                parent: Some(self.clone()),
                name: name.to_vec(),
            }),
            children: Mutex::new(HashMap::new()),
            deleted: AtomicBool::new(false),
        });
        children.retain(|_, weak| weak.strong_count() > 0);
        children.insert(name.to_vec(), Arc::downgrade(&child));
        Ok(child)
    }

    /// Drops `name` from the cache after it was removed from the directory, returning its
    /// dentry if it was cached.
    pub(crate) fn forget_child(&self, name: &[u8]) -> Option<Arc<Dentry>> {
        let child = self
            .children
            .lock()
            .remove(name)
            .and_then(|weak| weak.upgrade())?;
        child.deleted.store(true, Ordering::Relaxed);
        Some(child)
    }

    /// Moves the cached child `old_name` to `new_name` of `new_parent` after a rename; whatever
    /// `new_name` named before is forgotten and returned (if it was cached).
    pub(crate) fn move_child(
        self: &Arc<Self>,
        old_name: &[u8],
        new_parent: &Arc<Dentry>,
        new_name: &[u8],
    ) -> Option<Arc<Dentry>> {
        let replaced = new_parent.forget_child(new_name);
        let Some(moved) = self
            .children
            .lock()
            .remove(old_name)
            .and_then(|weak| weak.upgrade())
        else {
            return replaced;
        };
        {
            let mut links = moved.links.lock();
            links.parent = Some(new_parent.clone());
            links.name = new_name.to_vec();
        }
        new_parent
            .children
            .lock()
            .insert(new_name.to_vec(), Arc::downgrade(&moved));
        replaced
    }

    /// Swaps the cached children `old_name` and `new_name` of `new_parent` after a
    /// RENAME_EXCHANGE.
    pub(crate) fn exchange_children(
        self: &Arc<Self>,
        old_name: &[u8],
        new_parent: &Arc<Dentry>,
        new_name: &[u8],
    ) {
        let first = self.children.lock().remove(old_name);
        let second = new_parent.children.lock().remove(new_name);
        let first = first.and_then(|weak| weak.upgrade());
        let second = second.and_then(|weak| weak.upgrade());
        if let Some(moved) = &first {
            let mut links = moved.links.lock();
            links.parent = Some(new_parent.clone());
            links.name = new_name.to_vec();
            drop(links);
            new_parent
                .children
                .lock()
                .insert(new_name.to_vec(), Arc::downgrade(moved));
        }
        if let Some(moved) = &second {
            let mut links = moved.links.lock();
            links.parent = Some(self.clone());
            links.name = old_name.to_vec();
            drop(links);
            self.children
                .lock()
                .insert(old_name.to_vec(), Arc::downgrade(moved));
        }
    }

    /// Whether `self` is `other` or lies below it in the same filesystem.
    pub(crate) fn is_descendant_of(self: &Arc<Self>, other: &Arc<Dentry>) -> bool {
        let mut cur = Some(self.clone());
        while let Some(dentry) = cur {
            if Arc::ptr_eq(&dentry, other) {
                return true;
            }
            cur = dentry.parent();
        }
        false
    }
}
