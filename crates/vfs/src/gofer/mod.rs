//! The Gofer-backed filesystem: files of the host tree the Gofer serves over 9P.
//!
//! Every inode holds a fid walked one component at a time from the root, so the Gofer never
//! resolves a symlink or a multi-component path for us. On a read-only tree (the sandbox root)
//! attributes are fetched once per inode: they cannot change under us. On a writable tree (a
//! volume) the Sentry's own changes go to the Gofer (create, mkdir, mknod, symlink, link,
//! unlink, rename, setattr, writes, fsync) and attributes are fetched again on each stat, so
//! they reflect both those and the host's. File data is never cached: reads and writes go to
//! the host file, so what the guest wrote is on the host once the call returns.
//!
//! Regular files opened read-only are read through a host descriptor the Gofer donates
//! (p9's Tlopenfd extension), one per inode, shared by all its open files: a read is then one
//! host `pread`, not a Tread round trip. Files the Gofer does not donate, and every file of a
//! Gofer without the extension, are read through a fid of their own. The donated descriptors
//! are kept within a budget (see `donated`): a guest holding many files open must not exhaust
//! the Sentry's host descriptors. Files of a writable tree opened for writing get a descriptor
//! of their own, opened with their access mode, and write through it with `pwrite`.

mod donated;

use std::any::Any;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use abi::{Errno, Stat, Statfs, Timespec};
use mm::{FilePages, MemoryFile, PageQuota, PageSource};
use p9::{Client, Fid, Rgetattr, Tucreate, Tumkdir, Tumknod, Tusymlink};
use parking_lot::Mutex;

use crate::file::{pread_host, pwrite_host, FileOps};
use crate::fs::{new_device_id, DirEntry, FileSystem, FileType, Inode, NewFile, NewOwner, SetAttr};
use donated::{DonatedFds, WritableSlot};

fn errno(e: p9::Error) -> Errno {
    Errno(e.errno())
}

pub struct GoferFs {
    root: Arc<GoferInode>,
}

impl GoferFs {
    /// Attaches to the tree `aname` of the Gofer behind `client`, which the Sentry changes
    /// only if `writable`; at most `fd_budget` donated host descriptors are kept open at once.
    /// Mapped files of a read-only tree are cached in `memory`.
    pub fn new(
        client: Arc<Client>,
        aname: &[u8],
        fd_budget: usize,
        writable: bool,
        memory: Arc<MemoryFile>,
    ) -> Result<Arc<GoferFs>, Errno> {
        let (fid, _) = client.attach(b"root", aname, 0).map_err(errno)?;
        let donated = Arc::new(DonatedFds::new(fd_budget));
        let node = Node::new(client, fid, new_device_id(), donated, writable, memory)?;
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
            f_flags: if node.writable {
                0
            } else {
                i64::try_from(libc::ST_RDONLY).unwrap_or(0)
            },
            ..Statfs::default()
        })
    }

    fn read_only(&self) -> bool {
        !self.root.0.writable
    }
}

/// A walked fid and the attributes of its file; the fid is clunked when the last user (an
/// inode or an open file) drops it.
///
/// On a read-only tree `stat` is valid for the node's whole life; on a writable one it is
/// fetched again on each stat (its `st_dev`, `st_ino` and file type never change).
struct Node {
    client: Arc<Client>,
    fid: Fid,
    stat: Mutex<Stat>,
    /// Whether the tree is a writable volume.
    writable: bool,
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
        writable: bool,
        memory: Arc<MemoryFile>,
    ) -> Result<Node, Errno> {
        match client.getattr(fid, p9::GETATTR_BASIC) {
            Ok(attr) => Ok(Node {
                stat: Mutex::new(stat_of(&attr, dev)),
                writable,
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

    /// The attributes as last fetched: enough for what never changes (device, inode, type).
    fn cached_stat(&self) -> Stat {
        *self.stat.lock()
    }

    /// The attributes, fetched again on a writable tree.
    fn stat(&self) -> Result<Stat, Errno> {
        if !self.writable {
            return Ok(self.cached_stat());
        }
        let attr = self
            .client
            .getattr(self.fid, p9::GETATTR_BASIC)
            .map_err(errno)?;
        let mut stat = self.stat.lock();
        *stat = stat_of(&attr, stat.st_dev);
        Ok(*stat)
    }

    /// Changes the attributes `attr` names through the Gofer.
    fn set_attr(&self, attr: &SetAttr) -> Result<(), Errno> {
        if !self.writable {
            return Err(Errno::EROFS);
        }
        let mut request = p9::Tsetattr {
            fid: self.fid,
            ..p9::Tsetattr::default()
        };
        if let Some(mode) = attr.mode {
            request.valid |= p9::SETATTR_MODE;
            request.mode = mode;
        }
        if let Some(uid) = attr.uid {
            request.valid |= p9::SETATTR_UID;
            request.uid = uid;
        }
        if let Some(gid) = attr.gid {
            request.valid |= p9::SETATTR_GID;
            request.gid = gid;
        }
        if let Some(size) = attr.size {
            request.valid |= p9::SETATTR_SIZE;
            request.size = size;
        }
        let wire = |t: Timespec| {
            (
                u64::from_ne_bytes(t.tv_sec.to_ne_bytes()),
                u64::try_from(t.tv_nsec).unwrap_or(0),
            )
        };
        if let Some(atime) = attr.atime {
            request.valid |= p9::SETATTR_ATIME | p9::SETATTR_ATIME_SET;
            (request.atime_sec, request.atime_nsec) = wire(atime);
        }
        if let Some(mtime) = attr.mtime {
            request.valid |= p9::SETATTR_MTIME | p9::SETATTR_MTIME_SET;
            (request.mtime_sec, request.mtime_nsec) = wire(mtime);
        }
        self.client.setattr(&request).map_err(errno)
    }

    /// A new fid for this file, opened with `flags`.
    fn open_fid(&self, flags: u32) -> Result<Fid, Errno> {
        let (fid, _) = self.client.walk(self.fid, &[]).map_err(errno)?;
        if let Err(e) = self.client.lopen(fid, flags) {
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

/// The open flags a file opened for writing passes to the Gofer: its access mode and sync
/// flags. Not `O_APPEND` (every `pwrite` would append: the Sentry keeps the offset and appends
/// itself) nor `O_TRUNC` (the VFS truncates through setattr).
fn write_open_flags(flags: i32) -> u32 {
    u32::try_from(flags & (libc::O_ACCMODE | libc::O_SYNC | libc::O_DSYNC)).unwrap_or(0)
}

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

/// Writes `buf` at `offset` in as many msize-bounded requests as it needs.
fn write_fid(client: &Client, fid: Fid, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
    let mut done = 0;
    while done < buf.len() {
        let written = client
            .write(fid, offset + done as u64, &buf[done..])
            .map_err(errno)?;
        if written == 0 {
            break;
        }
        done += written as usize;
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
        self.0.cached_stat().st_ino
    }

    fn file_type(&self) -> FileType {
        FileType::from_mode(self.0.cached_stat().st_mode).unwrap_or(FileType::Regular)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        self.0.stat()
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
            node.cached_stat().st_dev,
            Arc::clone(&node.budget),
            node.writable,
            Arc::clone(&node.memory),
        )?;
        Ok(Arc::new(GoferInode(Arc::new(child))))
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        let file = GoferFile {
            node: self.0.clone(),
            handle: Handle::Fid(self.0.open_fid(READ_ONLY)?),
        };
        file.readdir()
    }

    /// Every new file is made with its owner by the owned-creation extension of 9P, so on the
    /// host it never belongs to the Gofer's user, even for a moment.
    fn make(&self, name: &[u8], file: NewFile<'_>, owner: NewOwner) -> Result<(), Errno> {
        let node = self.writable()?;
        let (uid, gid, mode) = (owner.uid, owner.gid, owner.mode & 0o7777);
        let name = name.to_vec();
        match file {
            NewFile::Regular => {
                // Tucreate turns the fid it is given into the new file's, opened: a clone of
                // ours.
                let (fid, _) = node.client.walk(node.fid, &[]).map_err(errno)?;
                let request = Tucreate {
                    fid,
                    name,
                    flags: READ_ONLY,
                    mode,
                    gid,
                    uid,
                };
                let created = node.client.ucreate(request);
                clunk(&node.client, fid);
                created.map(drop)
            }
            NewFile::Directory => node
                .client
                .umkdir(Tumkdir {
                    dfid: node.fid,
                    name,
                    mode,
                    gid,
                    uid,
                })
                .map(drop),
            NewFile::Node { file_type, rdev } => {
                let device = |number: u64| u32::try_from(number).map_err(|_| Errno::EINVAL);
                let request = Tumknod {
                    dfid: node.fid,
                    name,
                    mode: file_type.mode_bits() | mode,
                    major: device(nix::sys::stat::major(rdev))?,
                    minor: device(nix::sys::stat::minor(rdev))?,
                    gid,
                    uid,
                };
                node.client.umknod(request).map(drop)
            }
            NewFile::Symlink { target } => node
                .client
                .usymlink(Tusymlink {
                    fid: node.fid,
                    name,
                    symtgt: target.to_vec(),
                    gid,
                    uid,
                })
                .map(drop),
        }
        .map_err(errno)
    }

    fn link(&self, name: &[u8], target: &Arc<dyn Inode>) -> Result<(), Errno> {
        let node = self.writable()?;
        let target = same_fs(target)?;
        node.client
            .link(node.fid, target.0.fid, name)
            .map_err(errno)
    }

    fn unlink(&self, name: &[u8]) -> Result<(), Errno> {
        let node = self.writable()?;
        node.client.unlinkat(node.fid, name, 0).map_err(errno)
    }

    fn rmdir(&self, name: &[u8]) -> Result<(), Errno> {
        let node = self.writable()?;
        let flags = u32::try_from(libc::AT_REMOVEDIR).unwrap_or(0);
        node.client.unlinkat(node.fid, name, flags).map_err(errno)
    }

    fn rename(
        &self,
        old_name: &[u8],
        new_dir: &Arc<dyn Inode>,
        new_name: &[u8],
    ) -> Result<(), Errno> {
        let node = self.writable()?;
        let new_dir = same_fs(new_dir)?;
        node.client
            .renameat(node.fid, old_name, new_dir.0.fid, new_name)
            .map_err(errno)
    }

    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        self.0.client.readlink(self.0.fid).map_err(errno)
    }

    fn open(&self, flags: i32) -> Result<Option<Box<dyn FileOps>>, Errno> {
        let handle = if flags & libc::O_ACCMODE != libc::O_RDONLY {
            self.writable()?;
            self.open_for_writing(flags)?
        } else if self.file_type() == FileType::Regular && self.0.donated_fd()?.is_some() {
            Handle::Donated
        } else {
            Handle::Fid(self.0.open_fid(READ_ONLY)?)
        };
        Ok(Some(Box::new(GoferFile {
            node: self.0.clone(),
            handle,
        })))
    }

    fn set_attr(&self, attr: &SetAttr) -> Result<(), Errno> {
        self.0.set_attr(attr)
    }

    /// The Gofer serves `user.*` attributes only; others are answered here as absent (the
    /// security and ACL names `ls -l` asks for on every file cost no round trip).
    fn getxattr(&self, name: &[u8]) -> Result<Vec<u8>, Errno> {
        if !name.starts_with(USER_XATTR_PREFIX) {
            return Err(Errno::ENODATA);
        }
        self.0.client.get_xattr(self.0.fid, name).map_err(errno)
    }

    fn listxattr(&self) -> Result<Vec<Vec<u8>>, Errno> {
        // 9P lists names as the host does: each NUL-terminated.
        let names = self.0.client.get_xattr(self.0.fid, b"").map_err(errno)?;
        Ok(names
            .split(|&b| b == 0)
            .filter(|name| !name.is_empty())
            .map(<[u8]>::to_vec)
            .collect())
    }

    fn setxattr(&self, name: &[u8], value: &[u8], flags: i32) -> Result<(), Errno> {
        let node = self.writable()?;
        if !name.starts_with(USER_XATTR_PREFIX) {
            return Err(Errno::EOPNOTSUPP);
        }
        let flags = u32::try_from(flags).map_err(|_| Errno::EINVAL)?;
        node.client
            .set_xattr(node.fid, name, value, flags)
            .map_err(errno)
    }

    /// Through 9P a removal is an empty value set with XATTR_REPLACE, as Linux's client sends.
    fn removexattr(&self, name: &[u8]) -> Result<(), Errno> {
        let node = self.writable()?;
        if !name.starts_with(USER_XATTR_PREFIX) {
            return Err(Errno::ENODATA);
        }
        let replace = u32::try_from(libc::XATTR_REPLACE).unwrap_or(0);
        node.client
            .set_xattr(node.fid, name, b"", replace)
            .map_err(errno)
    }

    /// The file's page cache (read-only: shared writable mappings are refused). Only a
    /// read-only tree's files are cached: a volume's change behind the cache's back.
    fn shared_pages(&self) -> Option<Arc<FilePages>> {
        if self.file_type() != FileType::Regular || self.0.writable {
            return None;
        }
        let node = &self.0;
        let cache = node.cache.get_or_init(|| {
            let size = u64::try_from(node.stat.lock().st_size).unwrap_or(0);
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

/// The extended attribute namespace the Gofer serves.
const USER_XATTR_PREFIX: &[u8] = b"user.";

impl GoferInode {
    /// The node, if its tree is writable; EROFS otherwise.
    fn writable(&self) -> Result<&Arc<Node>, Errno> {
        if self.0.writable {
            Ok(&self.0)
        } else {
            Err(Errno::EROFS)
        }
    }

    /// How a file opened for writing reaches its bytes: a descriptor the Gofer donates with
    /// the file's access mode, while the budget allows and the Gofer agrees; else a fid.
    fn open_for_writing(&self, flags: i32) -> Result<Handle, Errno> {
        let node = &self.0;
        let flags = write_open_flags(flags);
        if self.file_type() == FileType::Regular {
            if let Some(slot) = node.budget.hold_writable() {
                match node.client.lopenfd(node.fid, flags) {
                    Ok((_, _, fd)) => return Ok(Handle::Writable { fd, _slot: slot }),
                    Err(p9::Error::Remote(code)) if declines(code) => {}
                    Err(e) => return Err(errno(e)),
                }
            }
        }
        Ok(Handle::Fid(node.open_fid(flags)?))
    }
}

/// `inode` as a Gofer inode of this filesystem (the VFS has checked it is on the same mount).
fn same_fs(inode: &Arc<dyn Inode>) -> Result<Arc<GoferInode>, Errno> {
    Arc::clone(inode)
        .into_any()
        .downcast::<GoferInode>()
        .map_err(|_| Errno::EXDEV)
}

/// Reads a Gofer file's pages into its cache (weakly: the cache lives in the node).
struct NodeSource(Weak<Node>);

impl PageSource for NodeSource {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let node = self.0.upgrade().ok_or(Errno::EIO)?;
        if let Some(fd) = node.donated_fd()? {
            return pread_host(fd.as_fd(), offset, buf);
        }
        let fid = node.open_fid(READ_ONLY)?;
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
    /// Through a host descriptor donated for writing to this open file alone, which holds a
    /// place in the budget while open.
    Writable { fd: OwnedFd, _slot: WritableSlot },
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
        if let Handle::Fid(fid) = &self.handle {
            let fid = *fid;
            clunk(&self.node.client, fid);
        }
    }
}

impl FileOps for GoferFile {
    fn stat(&self) -> Result<Stat, Errno> {
        self.node.stat()
    }

    fn pread(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        match &self.handle {
            Handle::Fid(fid) => read_fid(&self.node.client, *fid, offset, buf),
            Handle::Writable { fd, .. } => pread_host(fd.as_fd(), offset, buf),
            Handle::Donated => {
                // The Gofer donated this file's descriptor at open; it does so again if the
                // budget closed it since.
                let fd = self.node.donated_fd()?.ok_or(Errno::EIO)?;
                pread_host(fd.as_fd(), offset, buf)
            }
        }
    }

    fn pwrite(&self, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        match &self.handle {
            Handle::Writable { fd, .. } => pwrite_host(fd.as_fd(), offset, buf),
            Handle::Fid(fid) => write_fid(&self.node.client, *fid, offset, buf),
            // Opened read-only: the open file description never writes through it.
            Handle::Donated => Err(Errno::EBADF),
        }
    }

    fn truncate(&self, len: u64) -> Result<(), Errno> {
        self.node.set_attr(&SetAttr {
            size: Some(len),
            ..SetAttr::default()
        })
    }

    /// What was written is on the host once fsync returns: the donated descriptor is the host
    /// file's own, and Tfsync has the Gofer sync its descriptor.
    fn fsync(&self) -> Result<(), Errno> {
        match &self.handle {
            Handle::Writable { fd, .. } => nix::unistd::fsync(fd).map_err(|e| Errno(e as i32)),
            Handle::Fid(fid) if self.node.writable => {
                self.node.client.fsync(*fid, false).map_err(errno)
            }
            Handle::Fid(_) | Handle::Donated => Ok(()),
        }
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        match &self.handle {
            Handle::Fid(fid) => read_dir(&self.node.client, *fid),
            Handle::Donated | Handle::Writable { .. } => Err(Errno::ENOTDIR),
        }
    }
}
