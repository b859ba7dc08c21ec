//! The VFS keeps recently used dentries alive, a bounded number of them, over a filesystem that
//! counts its lookups and live inodes.

use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use abi::{Errno, Stat, Statfs};
use vfs::{FileSystem, FileType, Inode, LookupCtx, Vfs, DENTRY_CACHE_CAPACITY};

/// Counters shared by the filesystem and its inodes.
#[derive(Default)]
struct Counters {
    lookups: AtomicUsize,
    live_inodes: AtomicUsize,
}

/// A directory in which every name is a subdirectory.
struct Dir {
    counters: Arc<Counters>,
}

impl Dir {
    fn new(counters: &Arc<Counters>) -> Arc<Dir> {
        counters.live_inodes.fetch_add(1, Ordering::Relaxed);
        Arc::new(Dir {
            counters: counters.clone(),
        })
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        self.counters.live_inodes.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Inode for Dir {
    fn ino(&self) -> u64 {
        1
    }
    fn file_type(&self) -> FileType {
        FileType::Directory
    }
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(Stat {
            st_mode: libc::S_IFDIR | 0o755,
            ..Stat::default()
        })
    }
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
    fn lookup(&self, _name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        self.counters.lookups.fetch_add(1, Ordering::Relaxed);
        Ok(Dir::new(&self.counters))
    }
}

struct CountingFs {
    root: Arc<Dir>,
}

impl FileSystem for CountingFs {
    fn name(&self) -> &'static str {
        "counting"
    }
    fn root(&self) -> Arc<dyn Inode> {
        self.root.clone()
    }
    fn statfs(&self) -> Result<Statfs, Errno> {
        Ok(Statfs::default())
    }
}

fn counting_vfs() -> (Arc<Vfs>, LookupCtx, Arc<Counters>) {
    let counters = Arc::new(Counters::default());
    let memory = mm::MemoryFile::new(1 << 20).expect("memory file");
    let vfs = Vfs::new(
        Arc::new(CountingFs {
            root: Dir::new(&counters),
        }),
        memory,
    );
    let ctx = LookupCtx {
        root: vfs.root(),
        start: vfs.root(),
    };
    (vfs, ctx, counters)
}

#[test]
fn a_path_used_again_is_not_looked_up_again() {
    let (vfs, ctx, counters) = counting_vfs();
    vfs.stat(&ctx, b"/a/b/c", true).unwrap();
    assert_eq!(counters.lookups.load(Ordering::Relaxed), 3);
    // Nothing outside the VFS refers to /a/b/c, yet it stays resolved.
    vfs.stat(&ctx, b"/a/b/c", true).unwrap();
    vfs.stat(&ctx, b"/a/b", true).unwrap();
    assert_eq!(counters.lookups.load(Ordering::Relaxed), 3);
}

#[test]
fn the_cache_is_bounded_and_forgets_the_least_recently_used() {
    let (vfs, ctx, counters) = counting_vfs();
    let names = DENTRY_CACHE_CAPACITY * 2;
    for i in 0..names {
        vfs.stat(&ctx, format!("/{i}").as_bytes(), true).unwrap();
    }
    assert_eq!(counters.lookups.load(Ordering::Relaxed), names);
    // The root's inode, plus at most the cached dentries'.
    let live = counters.live_inodes.load(Ordering::Relaxed);
    assert_eq!(live, 1 + DENTRY_CACHE_CAPACITY);
    // The most recent name is still cached; the first was evicted and is looked up again.
    vfs.stat(&ctx, format!("/{}", names - 1).as_bytes(), true)
        .unwrap();
    assert_eq!(counters.lookups.load(Ordering::Relaxed), names);
    vfs.stat(&ctx, b"/0", true).unwrap();
    assert_eq!(counters.lookups.load(Ordering::Relaxed), names + 1);
    drop((ctx, vfs));
    assert_eq!(counters.live_inodes.load(Ordering::Relaxed), 0, "all freed");
}
