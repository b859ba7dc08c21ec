//! overlay: a writable filesystem over a read-only one, as gVisor gives containers their root.
//!
//! Files are read from the **lower** layer (the Gofer's read-only host tree) until they are
//! changed; the first change copies the file (and the directories above it) up into the
//! **upper** layer, a tmpfs, where every write then goes. Nothing ever reaches the lower layer,
//! so the host tree stays untouched and the Gofer's attribute cache stays valid, and writes
//! vanish with the sandbox. The upper tmpfs's size bounds what the sandbox can write.
//!
//! What Linux overlayfs keeps in xattrs of upper files is kept here, beside the layers (see
//! [`Bookkeeping`]): the names removed from the lower layer (whiteouts), and the inode number
//! each copied-up file had below. A directory removed and made again (or renamed over a lower
//! name) hides the lower one's entries because its name stays whited out: lookups in it never
//! consult the lower layer, which is all an opaque directory is.

mod copy_up;
mod file;
mod node;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use abi::{Errno, Statfs};
use mm::MemoryFile;
use parking_lot::{Mutex, RwLock};

use crate::fs::{new_device_id, FileSystem, Inode};
use crate::tmpfs::TmpFs;
pub use node::OverlayInode;

/// `OVERLAYFS_SUPER_MAGIC` for statfs.
const OVERLAYFS_MAGIC: i64 = 0x794c_7630;

/// Set in the inode numbers of files that exist only in the upper layer, so they never collide
/// with the lower layer's numbers (which files keep when copied up).
const UPPER_ONLY_INO: u64 = 1 << 63;

/// What the overlay knows beside its layers, keyed by upper inode numbers (tmpfs never reuses
/// them).
#[derive(Default)]
struct Bookkeeping {
    /// Per upper directory: the names whose lower entries are hidden (removed, or renamed away,
    /// or replaced by an entry of the upper layer that must not merge with them).
    whiteouts: HashMap<u64, HashSet<Vec<u8>>>,
    /// Per copied-up upper file: the inode number it had, and keeps, in the overlay.
    origin_ino: HashMap<u64, u64>,
}

/// What every inode of one overlay shares.
struct Shared {
    dev: u64,
    upper: Arc<TmpFs>,
    /// Serializes changes to the tree (copy-up, create, remove, rename) against each other;
    /// lookups and readdirs take it shared, so they never see half a copy-up.
    tree: RwLock<()>,
    book: Mutex<Bookkeeping>,
}

impl Shared {
    fn is_whiteout(&self, upper_dir: &Arc<dyn Inode>, name: &[u8]) -> bool {
        self.book
            .lock()
            .whiteouts
            .get(&upper_dir.ino())
            .is_some_and(|names| names.contains(name))
    }

    fn add_whiteout(&self, upper_dir: &Arc<dyn Inode>, name: &[u8]) {
        self.book
            .lock()
            .whiteouts
            .entry(upper_dir.ino())
            .or_default()
            .insert(name.to_vec());
    }

    /// Forgets what was kept about an upper file that is gone.
    fn forget_upper(&self, upper: &Arc<dyn Inode>) {
        let mut book = self.book.lock();
        book.whiteouts.remove(&upper.ino());
        book.origin_ino.remove(&upper.ino());
    }

    /// The overlay's inode number of the upper file `upper`.
    fn upper_ino(&self, upper: &Arc<dyn Inode>) -> u64 {
        let ino = upper.ino();
        self.book
            .lock()
            .origin_ino
            .get(&ino)
            .copied()
            .unwrap_or(ino | UPPER_ONLY_INO)
    }
}

pub struct OverlayFs {
    root: Arc<OverlayInode>,
    lower: Arc<dyn FileSystem>,
}

impl OverlayFs {
    /// An overlay of an empty tmpfs of `upper_size` bytes over `lower`, which is never written.
    pub fn new(
        lower: Arc<dyn FileSystem>,
        upper_size: u64,
        memory: Arc<MemoryFile>,
    ) -> Result<Arc<OverlayFs>, Errno> {
        let upper = TmpFs::with_size(0o755, upper_size, memory);
        let lower_root = lower.root();
        let upper_root: Arc<dyn Inode> = upper.root();
        copy_up::copy_attributes(&lower_root.stat()?, &upper_root)?;
        let shared = Arc::new(Shared {
            dev: new_device_id(),
            upper,
            tree: RwLock::new(()),
            book: Mutex::new(Bookkeeping::default()),
        });
        shared
            .book
            .lock()
            .origin_ino
            .insert(upper_root.ino(), lower_root.ino());
        let root = OverlayInode::new_root(shared, upper_root, lower_root);
        Ok(Arc::new(OverlayFs { root, lower }))
    }
}

impl FileSystem for OverlayFs {
    fn name(&self) -> &'static str {
        "overlay"
    }

    fn root(&self) -> Arc<dyn Inode> {
        self.root.clone()
    }

    /// What the lower layer holds counts as used, and what the upper layer has left is what
    /// is free: the sandbox sees a disk holding the host's files with room for its writes.
    /// Inode counts are the lower layer's.
    fn statfs(&self) -> Result<Statfs, Errno> {
        let upper = self.root.shared().upper.statfs()?;
        let lower = self.lower.statfs()?;
        let lower_used_bytes = lower
            .f_blocks
            .saturating_sub(lower.f_bfree)
            .saturating_mul(lower.f_frsize.unsigned_abs());
        let block = upper.f_bsize.unsigned_abs().max(1);
        Ok(Statfs {
            f_type: OVERLAYFS_MAGIC,
            f_blocks: upper
                .f_blocks
                .saturating_add(lower_used_bytes.div_ceil(block)),
            f_files: lower.f_files,
            f_ffree: lower.f_ffree,
            f_namelen: upper.f_namelen.min(lower.f_namelen),
            ..upper
        })
    }
}
