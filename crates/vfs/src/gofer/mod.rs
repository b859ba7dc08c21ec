//! The Gofer-backed filesystem: files of the host tree the Gofer serves over 9P.
//!
//! Every inode holds a fid walked one component at a time from the root, so the Gofer never
//! resolves a symlink or a multi-component path for us. Attributes are fetched once per inode:
//! the Gofer serves the root read-only, so they cannot change under us. (When it serves a
//! writable tree, cached attributes and donated descriptors need revalidating; see `Node`.)
//!
//! Regular files opened read-only are read through a host descriptor the Gofer donates
//! (p9's Tlopenfd extension), one per inode, shared by all its open files: a read is then one
//! host `pread`, not a Tread round trip. Files the Gofer does not donate, and every file of a
//! Gofer without the extension, are read through a fid of their own. The donated descriptors
//! are kept within a budget (see `donated`): a guest holding many files open must not exhaust
//! the Sentry's host descriptors.

mod donated;

use std::any::Any;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use abi::{Errno, Stat, Statfs, Timespec};
use mm::{FilePages, MemoryFile, PageQuota, PageSource};
use p9::{Client, Fid, Rgetattr};
use parking_lot::Mutex;

use crate::file::{pread_host, FileOps};
use crate::fs::{new_device_id, DirEntry, FileSystem, FileType, Inode};
use donated::DonatedFds;

fn errno(e: p9::Error) -> Errno {
    Errno(e.errno())
}

pub struct GoferFs {
    root: Arc<GoferInode>,
}

impl GoferFs {
    /// Attaches to the tree `aname` of the Gofer behind `client`; at most `fd_budget` donated
    /// host descriptors are kept open at once. Mapped files are cached in `memory`.
    pub fn new(
        client: Arc<Client>,
        aname: &[u8],
        fd_budget: usize,
        memory: Arc<MemoryFile>,
    ) -> Result<Arc<GoferFs>, Errno> {
        let (fid, _) = client.attach(b"root", aname, 0).map_err(errno)?;
        let donated = Arc::new(DonatedFds::new(fd_budget));
        let node = Node::new(client, fid, new_device_id(), donated, memory)?;
        Ok(Arc::new(GoferFs {
            root: Arc::new(GoferInode(Arc::new(node))),
        }))
    }
}

impl FileSystem for GoferFs {
    fn name(&self) -> &'static str {
        "9p"
    }

    fn root(&self) -> Arc<dyn Inode> {
        self.root.clone()
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        let node = &self.root.0;
        let st = node.client.statfs(node.fid).map_err(errno)?;
        let fsid = st.fsid.to_ne_bytes();
        let half = |range: std::ops::Range<usize>| {
            i32::from_ne_bytes(fsid[range].try_into().unwrap_or_default())
        };
        Ok(Statfs {
            f_type: i64::from(st.ty),
            f_bsize: i64::from(st.bsize),
            f_blocks: st.blocks,
            f_bfree: st.bfree,
            f_bavail: st.bavail,
            f_files: st.files,
            f_ffree: st.ffree,
            f_fsid: [half(0..4), half(4..8)],
            f_namelen: i64::from(st.namelen),
            f_frsize: i64::from(st.bsize),
            f_flags: i64::try_from(libc::ST_RDONLY).unwrap_or(0),
            ..Statfs::default()
        })
    }

    fn read_only(&self) -> bool {
        true
    }
}

/// A walked fid and the attributes of its file; the fid is clunked when the last user (an
/// inode or an open file) drops it.
///
/// `stat` and `donated` are valid for the node's whole life because the tree is read-only.
/// With a writable tree, revalidation goes here: refetch the attributes when the host file
/// may have changed (gVisor compares them on each lookup), and donate descriptors for writes.
struct Node {
    client: Arc<Client>,
    fid: Fid,
    stat: Stat,
    /// The read-only host descriptor the Gofer donated, if asked for and not closed since.
    donation: Mutex<Donation>,
    /// Read since the budget last passed over this node's descriptor.
    referenced: AtomicBool,
    /// The budget of the filesystem's donated descriptors.
    budget: Arc<DonatedFds>,
    /// Where the page cache of mapped files lives (the sandbox's memory file).
    memory: Arc<MemoryFile>,
    /// A regular file's pages, read from the file when first mapped and shared by every
    /// mapping (a shared read-only mapping, or a private one until it writes), so exec and
    /// libraries don't read the same pages again. Valid for the node's life because the tree
    /// is read-only; a writable tree would have to write through it or drop it.
    cache: OnceLock<Arc<FilePages>>,
}

enum Donation {
    /// Not asked for yet, or closed to keep within the budget.
    Unasked,
    /// The Gofer declined (or lacks the extension): the file is read through fids.
    Declined,
    Held(Arc<OwnedFd>),
}

impl Node {
    /// Takes ownership of `fid` (clunking it if its attributes can't be read).
    fn new(
        client: Arc<Client>,
        fid: Fid,
        dev: u64,
        budget: Arc<DonatedFds>,
        memory: Arc<MemoryFile>,
    ) -> Result<Node, Errno> {
        match client.getattr(fid, p9::GETATTR_BASIC) {
            Ok(attr) => Ok(Node {
                stat: stat_of(&attr, dev),
                client,
                fid,
                donation: Mutex::new(Donation::Unasked),
                referenced: AtomicBool::new(false),
                budget,
                memory,
                cache: OnceLock::new(),
            }),
            Err(e) => {
                clunk(&client, fid);
                Err(errno(e))
            }
        }
    }

    /// A new fid for this file, opened for reading.
    fn open_fid(&self) -> Result<Fid, Errno> {
        let (fid, _) = self.client.walk(self.fid, &[]).map_err(errno)?;
        if let Err(e) = self.client.lopen(fid, READ_ONLY) {
            clunk(&self.client, fid);
            return Err(errno(e));
        }
        Ok(fid)
    }

    /// The donated read-only descriptor of this regular file, asking the Gofer when it has
    /// none (first use, or closed for the budget); `None` if the Gofer declines.
    fn donated_fd(self: &Arc<Self>) -> Result<Option<Arc<OwnedFd>>, Errno> {
        self.referenced.store(true, Ordering::Relaxed);
        let fd = {
            let mut donation = self.donation.lock();
            match &*donation {
                Donation::Held(fd) => return Ok(Some(Arc::clone(fd))),
                Donation::Declined => return Ok(None),
                Donation::Unasked => {}
            }
            let fd = match self.client.lopenfd(self.fid, READ_ONLY) {
                Ok((_, _, fd)) => Arc::new(fd),
                Err(p9::Error::Remote(code)) if declines(code) => {
                    *donation = Donation::Declined;
                    return Ok(None);
                }
                Err(e) => return Err(errno(e)),
            };
            *donation = Donation::Held(Arc::clone(&fd));
            fd
        };
        self.budget.admit(self);
        Ok(Some(fd))
    }

    /// Clears the referenced mark; whether it was set.
    fn take_referenced(&self) -> bool {
        self.referenced.swap(false, Ordering::Relaxed)
    }

    /// Closes the donated descriptor (once reads in flight are done with it); the next read
    /// asks the Gofer again.
    fn close_donated(&self) {
        let mut donation = self.donation.lock();
        if matches!(*donation, Donation::Held(_)) {
            *donation = Donation::Unasked;
        }
    }
}

/// `O_RDONLY` as 9P carries open flags.
const READ_ONLY: u32 = libc::O_RDONLY as u32;

/// Whether a Tlopenfd error means "not donated, open with Tlopen": the Gofer declined this
/// file or does not know the extension.
fn declines(code: u32) -> bool {
    [libc::EOPNOTSUPP, libc::ENOSYS]
        .iter()
        .any(|&declined| u32::try_from(declined) == Ok(code))
}

impl Drop for Node {
    fn drop(&mut self) {
        clunk(&self.client, self.fid);
    }
}

fn clunk(client: &Client, fid: Fid) {
    if let Err(e) = client.clunk(fid) {
        tracing::debug!("clunking gofer fid {fid}: {e}");
    }
}

fn stat_of(attr: &Rgetattr, dev: u64) -> Stat {
    let time = |sec: u64, nsec: u64| Timespec {
        tv_sec: i64::try_from(sec).unwrap_or(i64::MAX),
        tv_nsec: i64::try_from(nsec).unwrap_or(0),
    };
    Stat {
        st_dev: dev,
        st_ino: attr.qid.path,
        st_nlink: attr.nlink,
        st_mode: attr.mode,
        st_uid: attr.uid,
        st_gid: attr.gid,
        st_rdev: attr.rdev,
        st_size: i64::try_from(attr.size).unwrap_or(i64::MAX),
        st_blksize: i64::try_from(attr.blksize).unwrap_or(4096),
        st_blocks: i64::try_from(attr.blocks).unwrap_or(i64::MAX),
        st_atime: time(attr.atime_sec, attr.atime_nsec),
        st_mtime: time(attr.mtime_sec, attr.mtime_nsec),
        st_ctime: time(attr.ctime_sec, attr.ctime_nsec),
        ..Stat::default()
    }
}

/// Reads at `offset` in as many msize-bounded requests as `buf` needs.
fn read_fid(client: &Client, fid: Fid, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut done = 0;
    while done < buf.len() {
        let want = u32::try_from(buf.len() - done).unwrap_or(u32::MAX);
        let data = client
            .read(fid, offset + done as u64, want)
            .map_err(errno)?;
        if data.is_empty() {
            break;
        }
        let n = data.len().min(buf.len() - done);
        buf[done..done + n].copy_from_slice(&data[..n]);
        done += n;
    }
    Ok(done)
}

/// All entries of the open directory `fid`, without "." and "..".
fn read_dir(client: &Client, fid: Fid) -> Result<Vec<DirEntry>, Errno> {
    let mut entries = Vec::new();
    let mut offset = 0;
    loop {
        let batch = client.readdir(fid, offset, client.msize()).map_err(errno)?;
        let Some(last) = batch.last() else {
            return Ok(entries);
        };
        offset = last.offset;
        entries.extend(
            batch
                .into_iter()
                .filter(|e| e.name != b"." && e.name != b"..")
                .map(|e| {
                    let file_type = FileType::from_dirent_type(e.ty).unwrap_or(
                        if e.qid.ty & p9::QID_TYPE_DIR != 0 {
                            FileType::Directory
                        } else if e.qid.ty & p9::QID_TYPE_SYMLINK != 0 {
                            FileType::Symlink
                        } else {
                            FileType::Regular
                        },
                    );
                    DirEntry {
                        ino: e.qid.path,
                        file_type,
                        name: e.name,
                    }
                }),
        );
    }
}

pub struct GoferInode(Arc<Node>);

impl Inode for GoferInode {
    fn ino(&self) -> u64 {
        self.0.stat.st_ino
    }

    fn file_type(&self) -> FileType {
        FileType::from_mode(self.0.stat.st_mode).unwrap_or(FileType::Regular)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.0.stat)
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        let node = &self.0;
        let (fid, qids) = node.client.walk(node.fid, &[name]).map_err(errno)?;
        if qids.len() != 1 {
            clunk(&node.client, fid);
            return Err(Errno::ENOENT);
        }
        let child = Node::new(
            node.client.clone(),
            fid,
            node.stat.st_dev,
            Arc::clone(&node.budget),
            Arc::clone(&node.memory),
        )?;
        Ok(Arc::new(GoferInode(Arc::new(child))))
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        let file = GoferFile {
            node: self.0.clone(),
            handle: Handle::Fid(self.0.open_fid()?),
        };
        file.readdir()
    }

    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        self.0.client.readlink(self.0.fid).map_err(errno)
    }

    fn open(&self, flags: i32) -> Result<Option<Box<dyn FileOps>>, Errno> {
        if flags & libc::O_ACCMODE != libc::O_RDONLY {
            return Err(Errno::EROFS);
        }
        let donated = self.file_type() == FileType::Regular && self.0.donated_fd()?.is_some();
        let handle = if donated {
            Handle::Donated
        } else {
            Handle::Fid(self.0.open_fid()?)
        };
        Ok(Some(Box::new(GoferFile {
            node: self.0.clone(),
            handle,
        })))
    }

    fn set_attr(&self, _attr: &crate::fs::SetAttr) -> Result<(), Errno> {
        Err(Errno::EROFS)
    }

    /// The file's page cache (read-only: shared writable mappings are refused).
    fn shared_pages(&self) -> Option<Arc<FilePages>> {
        if self.file_type() != FileType::Regular {
            return None;
        }
        let node = &self.0;
        let cache = node.cache.get_or_init(|| {
            let size = u64::try_from(node.stat.st_size).unwrap_or(0);
            let source = Box::new(NodeSource(Arc::downgrade(node)));
            Arc::new(FilePages::cached(
                Arc::clone(&node.memory),
                Arc::new(Unmetered),
                size,
                source,
            ))
        });
        Some(Arc::clone(cache))
    }
}

/// Reads a Gofer file's pages into its cache (weakly: the cache lives in the node).
struct NodeSource(Weak<Node>);

impl PageSource for NodeSource {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let node = self.0.upgrade().ok_or(Errno::EIO)?;
        if let Some(fd) = node.donated_fd()? {
            return pread_host(fd.as_fd(), offset, buf);
        }
        let fid = node.open_fid()?;
        let read = read_fid(&node.client, fid, offset, buf);
        clunk(&node.client, fid);
        read
    }
}

/// The page cache of host files costs the sandbox's memory (the memory file), not a
/// filesystem's space.
struct Unmetered;

impl PageQuota for Unmetered {
    fn charge(&self, _pages: u64) -> Result<(), Errno> {
        Ok(())
    }

    fn uncharge(&self, _pages: u64) {}
}

/// How an open file reaches its bytes.
enum Handle {
    /// Through the node's donated host descriptor.
    Donated,
    /// Through a fid opened for this file alone, clunked on drop.
    Fid(Fid),
}

/// A file opened through the Gofer.
struct GoferFile {
    node: Arc<Node>,
    handle: Handle,
}

impl Drop for GoferFile {
    fn drop(&mut self) {
        if let Handle::Fid(fid) = self.handle {
            clunk(&self.node.client, fid);
        }
    }
}

impl FileOps for GoferFile {
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.node.stat)
    }

    fn pread(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        match self.handle {
            Handle::Fid(fid) => read_fid(&self.node.client, fid, offset, buf),
            Handle::Donated => {
                // The Gofer donated this file's descriptor at open; it does so again if the
                // budget closed it since.
                let fd = self.node.donated_fd()?.ok_or(Errno::EIO)?;
                pread_host(fd.as_fd(), offset, buf)
            }
        }
    }

    fn pwrite(&self, _offset: u64, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::EROFS)
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        match self.handle {
            Handle::Fid(fid) => read_dir(&self.node.client, fid),
            Handle::Donated => Err(Errno::ENOTDIR),
        }
    }
}
