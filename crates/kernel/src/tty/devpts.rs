//! devpts, mounted at /dev/pts: `ptmx` (each open makes a new pty and returns its master) and
//! one node per live pty, `N`, that opens its replica. /dev/ptmx is a symlink to `pts/ptmx`,
//! as in Docker and gVisor.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use abi::{Errno, Stat, Statfs, Timespec};
use parking_lot::Mutex;
use vfs::devfs::makedev;
use vfs::{DirEntry, FileOps, FileSystem, FileType, Inode};

use super::pty::{Pty, PtyFile};
use crate::kernel::Kernel;

const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;
/// Device numbers: /dev/ptmx is (5, 2); replica N is (136, N).
const PTMX_MAJOR: u64 = 5;
const PTMX_MINOR: u64 = 2;
const REPLICA_MAJOR: u64 = 136;
/// How many ptys may exist at once (Linux's default /proc/sys/kernel/pty/max).
const MAX_PTYS: u32 = 4096;

const ROOT_INO: u64 = 1;
const PTMX_INO: u64 = 2;

/// The live ptys of the sandbox, by index; what /dev/tty and session lookups search.
pub(crate) struct PtyTable {
    kernel: OnceLock<Weak<Kernel>>,
    ptys: Mutex<BTreeMap<u32, Weak<Pty>>>,
    dev: u64,
    created: Timespec,
}

impl PtyTable {
    pub(crate) fn new() -> Arc<PtyTable> {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Arc::new(PtyTable {
            kernel: OnceLock::new(),
            ptys: Mutex::new(BTreeMap::new()),
            dev: vfs::new_device_id(),
            created: Timespec {
                tv_sec: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(since.subsec_nanos()),
            },
        })
    }

    /// Connects the table to the kernel whose process groups its ptys signal. Held weakly:
    /// the kernel owns the table.
    pub(crate) fn attach(&self, kernel: &Arc<Kernel>) {
        let _ = self.kernel.set(Arc::downgrade(kernel));
    }

    pub(crate) fn kernel(&self) -> Option<Arc<Kernel>> {
        self.kernel.get().and_then(Weak::upgrade)
    }

    /// A new pty at the lowest free index, its master open.
    fn allocate(self: &Arc<Self>) -> Result<Arc<Pty>, Errno> {
        let mut ptys = self.ptys.lock();
        let index = (0..MAX_PTYS)
            .find(|i| !ptys.contains_key(i))
            .ok_or(Errno::ENOSPC)?;
        let pty = Arc::new(Pty::new(index, Arc::clone(self)));
        ptys.insert(index, Arc::downgrade(&pty));
        Ok(pty)
    }

    fn get(&self, index: u32) -> Option<Arc<Pty>> {
        self.ptys.lock().get(&index).and_then(Weak::upgrade)
    }

    /// The pty's master is gone: its name goes.
    pub(crate) fn remove(&self, index: u32) {
        self.ptys.lock().remove(&index);
    }

    /// The pty that is session `sid`'s controlling terminal.
    pub(crate) fn controlling(&self, sid: i32) -> Option<Arc<Pty>> {
        self.ptys
            .lock()
            .values()
            .filter_map(Weak::upgrade)
            .find(|pty| pty.job.session() == sid)
    }

    /// /proc/[pid]/stat's tty_nr and tpgid for a process of session `sid`: its pty's device
    /// number (in the kernel's `new_encode_dev` form) and foreground group; 0 and -1 without.
    pub(crate) fn stat_fields(&self, sid: i32) -> (u64, i32) {
        match self.controlling(sid) {
            Some(pty) => {
                let minor = u64::from(pty.index);
                let tty_nr = (minor & 0xff) | (REPLICA_MAJOR << 8) | ((minor & !0xff) << 12);
                (tty_nr, pty.job.foreground())
            }
            None => (0, -1),
        }
    }

    fn stat(&self, ino: u64, mode: u32, rdev: u64) -> Stat {
        Stat {
            st_dev: self.dev,
            st_ino: ino,
            st_nlink: if mode & libc::S_IFMT == libc::S_IFDIR {
                2
            } else {
                1
            },
            st_mode: mode,
            st_rdev: rdev,
            st_blksize: 1024,
            st_atime: self.created,
            st_mtime: self.created,
            st_ctime: self.created,
            ..Stat::default()
        }
    }

    pub(crate) fn ptmx_stat(&self) -> Stat {
        self.stat(
            PTMX_INO,
            libc::S_IFCHR | 0o666,
            makedev(PTMX_MAJOR, PTMX_MINOR),
        )
    }

    /// Replica N: inode N + 3 and mode 0620, as Linux's devpts gives them (owned by root;
    /// the pty puts in its owner).
    pub(crate) fn replica_stat(&self, index: u32) -> Stat {
        self.stat(
            u64::from(index) + 3,
            libc::S_IFCHR | 0o620,
            makedev(REPLICA_MAJOR, u64::from(index)),
        )
    }
}

/// The devpts filesystem over the kernel's pty table.
pub(crate) struct DevPts {
    table: Arc<PtyTable>,
}

impl DevPts {
    pub(crate) fn new(table: Arc<PtyTable>) -> Arc<DevPts> {
        Arc::new(DevPts { table })
    }
}

impl FileSystem for DevPts {
    fn name(&self) -> &'static str {
        "devpts"
    }

    fn root(&self) -> Arc<dyn Inode> {
        Arc::new(DevPtsInode {
            table: Arc::clone(&self.table),
            node: Node::Root,
        })
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        Ok(Statfs {
            f_type: DEVPTS_SUPER_MAGIC,
            f_bsize: 4096,
            f_namelen: 255,
            f_frsize: 4096,
            ..Statfs::default()
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Node {
    Root,
    Ptmx,
    Replica(u32),
}

struct DevPtsInode {
    table: Arc<PtyTable>,
    node: Node,
}

impl DevPtsInode {
    fn child(&self, node: Node) -> Arc<dyn Inode> {
        Arc::new(DevPtsInode {
            table: Arc::clone(&self.table),
            node,
        })
    }

    /// The pty a replica node names, while its master is open (the name may be cached
    /// after the pty went).
    fn pty(&self, index: u32) -> Result<Arc<Pty>, Errno> {
        self.table.get(index).ok_or(Errno::ENOENT)
    }
}

impl Inode for DevPtsInode {
    fn ino(&self) -> u64 {
        match self.node {
            Node::Root => ROOT_INO,
            Node::Ptmx => PTMX_INO,
            Node::Replica(index) => u64::from(index) + 3,
        }
    }

    fn file_type(&self) -> FileType {
        match self.node {
            Node::Root => FileType::Directory,
            Node::Ptmx | Node::Replica(_) => FileType::CharDevice,
        }
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(match self.node {
            Node::Root => self.table.stat(ROOT_INO, libc::S_IFDIR | 0o755, 0),
            Node::Ptmx => self.table.ptmx_stat(),
            Node::Replica(index) => self.pty(index)?.replica_stat(),
        })
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        if self.node != Node::Root {
            return Err(Errno::ENOTDIR);
        }
        if name == b"ptmx" {
            return Ok(self.child(Node::Ptmx));
        }
        // Only canonical decimal names ("0", "12"; not "012" or "+1") name a replica.
        let canonical = !name.is_empty()
            && name.iter().all(u8::is_ascii_digit)
            && (name[0] != b'0' || name.len() == 1);
        let index = std::str::from_utf8(name)
            .ok()
            .filter(|_| canonical)
            .and_then(|s| s.parse::<u32>().ok())
            .ok_or(Errno::ENOENT)?;
        self.pty(index)?;
        Ok(self.child(Node::Replica(index)))
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        if self.node != Node::Root {
            return Err(Errno::ENOTDIR);
        }
        let mut entries = vec![DirEntry {
            ino: PTMX_INO,
            file_type: FileType::CharDevice,
            name: b"ptmx".to_vec(),
        }];
        let ptys = self.table.ptys.lock();
        entries.extend(ptys.keys().map(|&index| DirEntry {
            ino: u64::from(index) + 3,
            file_type: FileType::CharDevice,
            name: index.to_string().into_bytes(),
        }));
        Ok(entries)
    }

    fn open(&self, _flags: i32) -> Result<Option<Box<dyn FileOps>>, Errno> {
        match self.node {
            Node::Root => Ok(None),
            Node::Ptmx => Ok(Some(Box::new(PtyFile::master(self.table.allocate()?)))),
            Node::Replica(index) => Ok(Some(Box::new(self.pty(index)?.open_replica()?))),
        }
    }
}
