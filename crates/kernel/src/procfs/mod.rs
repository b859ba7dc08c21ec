//! procfs: /proc, built on demand from the kernel's state (processes, threads, memory,
//! descriptors) whenever it is looked up or read.
//!
//! Which task is asking: the VFS has no notion of a calling task, so "self" and "thread-self"
//! resolve through a thread-local that each task's OS thread sets when its `Task` is made
//! (`set_current_task`, from `Task::new`): one Sentry OS thread serves exactly one guest task,
//! so the thread doing a lookup *is* the caller. A lookup from a non-task thread finds no
//! current task and "self" is ENOENT.
//!
//! Nodes hold ids, not processes: a cached /proc/[pid] dentry of a process that is gone finds
//! nothing when it is used again (ENOENT/ESRCH), as on Linux, and never keeps the process alive.
//! Files are rendered at open and read from that snapshot, so a reader sees one consistent
//! text across several reads (Linux's seq_file does the same per read sequence).

mod process;
mod system;

use std::any::Any;
use std::cell::RefCell;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, OnceLock, Weak};

use abi::{Errno, Stat, Statfs, Timespec};
use vfs::{DirEntry, FileOps, FileSystem, FileType, Inode, OpenFile};

use crate::kernel::Kernel;
use crate::task::TaskHandle;

use crate::ipc::IpcFamily;
use process::{PidFile, PidLink, Scope};
use system::{SysFile, SystemFile};

/// `PROC_SUPER_MAGIC`.
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

thread_local! {
    /// The task this OS thread runs (see the module comment).
    static CURRENT_TASK: RefCell<Weak<TaskHandle>> = const { RefCell::new(Weak::new()) };
}

/// Makes `handle` the task "self" means for lookups from this OS thread.
pub(crate) fn set_current_task(handle: &Arc<TaskHandle>) {
    CURRENT_TASK.with(|current| *current.borrow_mut() = Arc::downgrade(handle));
}

/// The task on whose behalf this OS thread works, if it is a task thread.
fn current_task() -> Option<Arc<TaskHandle>> {
    CURRENT_TASK.with(|current| current.borrow().upgrade())
}

/// One mount, as /proc/mounts lists it.
#[derive(Clone, Debug)]
pub(crate) struct MountRecord {
    pub(crate) path: Vec<u8>,
    pub(crate) fs_type: &'static str,
    pub(crate) read_only: bool,
}

/// What every procfs inode reaches: the kernel (set once it exists) and the mount table.
struct Shared {
    kernel: OnceLock<Weak<Kernel>>,
    dev: u64,
    mounts: OnceLock<Vec<MountRecord>>,
}

impl Shared {
    fn kernel(&self) -> Result<Arc<Kernel>, Errno> {
        self.kernel
            .get()
            .and_then(Weak::upgrade)
            .ok_or(Errno::ENOENT)
    }
}

pub(crate) struct ProcFs {
    shared: Arc<Shared>,
}

impl ProcFs {
    /// A procfs not yet attached to a kernel (the VFS is built before the kernel is).
    pub(crate) fn new() -> Arc<ProcFs> {
        Arc::new(ProcFs {
            shared: Arc::new(Shared {
                kernel: OnceLock::new(),
                dev: vfs::new_device_id(),
                mounts: OnceLock::new(),
            }),
        })
    }

    /// Connects the filesystem to the kernel whose state it shows, and records the mounts it
    /// lists. The kernel is held weakly: the kernel owns the VFS that owns this.
    pub(crate) fn attach(&self, kernel: &Arc<Kernel>, mounts: Vec<MountRecord>) {
        let _ = self.shared.kernel.set(Arc::downgrade(kernel));
        let _ = self.shared.mounts.set(mounts);
    }
}

impl FileSystem for ProcFs {
    fn name(&self) -> &'static str {
        "proc"
    }

    fn root(&self) -> Arc<dyn Inode> {
        Arc::new(ProcInode {
            shared: Arc::clone(&self.shared),
            node: Node::Dir(DirNode::Root),
        })
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        Ok(Statfs {
            f_type: PROC_SUPER_MAGIC,
            f_bsize: 4096,
            f_namelen: 255,
            f_frsize: 4096,
            ..Statfs::default()
        })
    }
}

/// Every kind of file procfs has.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Node {
    Dir(DirNode),
    File(FileNode),
    Link(LinkNode),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum DirNode {
    Root,
    /// /proc/[pid] or /proc/[pid]/task/[tid].
    Pid(Scope),
    /// /proc/[pid]/task.
    Tasks(i32),
    /// /proc/[pid]/fd.
    Fds(Scope),
    /// /proc/[pid]/fdinfo.
    FdInfos(Scope),
    /// /proc/sys and the directories below it, by path ("" is /proc/sys itself).
    Sys(&'static str),
    /// /proc/sysvipc.
    SysvIpc,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum FileNode {
    System(SystemFile),
    Sys(SysFile),
    /// /proc/sysvipc/{shm,sem,msg}.
    SysvIpc(IpcFamily),
    Pid(Scope, PidFile),
    FdInfo(Scope, u64),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum LinkNode {
    SelfPid,
    ThreadSelf,
    /// /proc/mounts → self/mounts.
    Mounts,
    Pid(Scope, PidLink),
    Fd(Scope, u64),
}

#[derive(Clone)]
struct ProcInode {
    shared: Arc<Shared>,
    node: Node,
}

impl ProcInode {
    fn child(&self, node: Node) -> Arc<dyn Inode> {
        Arc::new(ProcInode {
            shared: Arc::clone(&self.shared),
            node,
        })
    }

    /// The file's text, rendered now.
    fn render(&self, file: &FileNode) -> Result<Vec<u8>, Errno> {
        let kernel = self.shared.kernel()?;
        match file {
            FileNode::System(f) => system::render(&kernel, f, self.shared.mounts.get()),
            FileNode::Sys(f) => Ok(system::render_sys(&kernel, *f)),
            FileNode::SysvIpc(family) => Ok(kernel.ipc.sysvipc(*family).into_bytes()),
            FileNode::Pid(scope, f) => {
                process::render(&kernel, scope, *f, self.shared.mounts.get())
            }
            FileNode::FdInfo(scope, fd) => process::fdinfo(&kernel, scope, *fd),
        }
    }

    /// Owner of the file: a process's files belong to its effective ids.
    fn owner(&self) -> (u32, u32) {
        let scope = match &self.node {
            Node::Dir(DirNode::Pid(s) | DirNode::Fds(s) | DirNode::FdInfos(s))
            | Node::File(FileNode::Pid(s, _) | FileNode::FdInfo(s, _))
            | Node::Link(LinkNode::Pid(s, _) | LinkNode::Fd(s, _)) => s.clone(),
            Node::Dir(DirNode::Tasks(tgid)) => Scope::process(*tgid),
            _ => return (0, 0),
        };
        self.shared
            .kernel()
            .ok()
            .and_then(|k| scope.group(&k).ok())
            .map_or((0, 0), |tg| {
                let creds = &tg.state.lock().creds;
                (creds.euid, creds.egid)
            })
    }

    /// Whether the node still names something that exists.
    fn check_alive(&self) -> Result<(), Errno> {
        let kernel = self.shared.kernel()?;
        match &self.node {
            Node::Dir(DirNode::Pid(s) | DirNode::Fds(s) | DirNode::FdInfos(s))
            | Node::File(FileNode::Pid(s, _))
            | Node::Link(LinkNode::Pid(s, _)) => s.check(&kernel),
            Node::Dir(DirNode::Tasks(tgid)) => Scope::process(*tgid).check(&kernel),
            Node::Link(LinkNode::Fd(s, fd)) | Node::File(FileNode::FdInfo(s, fd)) => {
                process::fd_file(&kernel, s, *fd).map(drop)
            }
            _ => Ok(()),
        }
    }
}

/// A stable inode number for a node: its hash (the root is 1, as on Linux).
fn ino_of(node: &Node) -> u64 {
    if *node == Node::Dir(DirNode::Root) {
        return 1;
    }
    let mut hasher = DefaultHasher::new();
    node.hash(&mut hasher);
    hasher.finish() | 2
}

impl Inode for ProcInode {
    fn ino(&self) -> u64 {
        ino_of(&self.node)
    }

    fn file_type(&self) -> FileType {
        match self.node {
            Node::Dir(_) => FileType::Directory,
            Node::File(_) => FileType::Regular,
            Node::Link(_) => FileType::Symlink,
        }
    }

    fn stat(&self) -> Result<Stat, Errno> {
        self.check_alive()?;
        let perm = match &self.node {
            Node::Dir(DirNode::Fds(_)) => 0o500,
            Node::Dir(_) => 0o555,
            Node::Link(LinkNode::Fd(..)) => 0o700,
            Node::Link(_) => 0o777,
            Node::File(f) if is_writable(f) => 0o644,
            Node::File(FileNode::Pid(_, PidFile::Environ)) => 0o400,
            Node::File(_) => 0o444,
        };
        let (uid, gid) = self.owner();
        let now = now();
        Ok(Stat {
            st_dev: self.shared.dev,
            st_ino: self.ino(),
            st_nlink: if matches!(self.node, Node::Dir(_)) {
                2
            } else {
                1
            },
            st_mode: self.file_type().mode_bits() | perm,
            st_uid: uid,
            st_gid: gid,
            st_blksize: 1024,
            st_atime: now,
            st_mtime: now,
            st_ctime: now,
            ..Stat::default()
        })
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        let Node::Dir(dir) = &self.node else {
            return Err(Errno::ENOTDIR);
        };
        let kernel = self.shared.kernel()?;
        let found = match dir {
            DirNode::Root => match name {
                b"self" => Some(Node::Link(LinkNode::SelfPid)),
                b"thread-self" => Some(Node::Link(LinkNode::ThreadSelf)),
                b"mounts" => Some(Node::Link(LinkNode::Mounts)),
                b"sys" => Some(Node::Dir(DirNode::Sys(""))),
                b"sysvipc" => Some(Node::Dir(DirNode::SysvIpc)),
                _ => match parse_id(name) {
                    Some(pid) => {
                        let scope = Scope::process(pid);
                        scope.check(&kernel)?;
                        Some(Node::Dir(DirNode::Pid(scope)))
                    }
                    None => SystemFile::named(name).map(|f| Node::File(FileNode::System(f))),
                },
            },
            DirNode::Pid(scope) => {
                scope.check(&kernel)?;
                process::entry(scope, name)
            }
            DirNode::Tasks(tgid) => {
                let tid = parse_id(name).ok_or(Errno::ENOENT)?;
                let scope = Scope::thread(*tgid, tid);
                scope.check(&kernel)?;
                Some(Node::Dir(DirNode::Pid(scope)))
            }
            DirNode::Fds(scope) | DirNode::FdInfos(scope) => {
                let fd = parse_id(name).ok_or(Errno::ENOENT)?;
                let fd = u64::try_from(fd).map_err(|_| Errno::ENOENT)?;
                process::fd_file(&kernel, scope, fd)?;
                Some(if matches!(dir, DirNode::Fds(_)) {
                    Node::Link(LinkNode::Fd(scope.clone(), fd))
                } else {
                    Node::File(FileNode::FdInfo(scope.clone(), fd))
                })
            }
            DirNode::Sys(path) => system::sys_lookup(path, name),
            DirNode::SysvIpc => IpcFamily::ALL
                .into_iter()
                .find(|f| f.name().as_bytes() == name)
                .map(|f| Node::File(FileNode::SysvIpc(f))),
        };
        found.map(|node| self.child(node)).ok_or(Errno::ENOENT)
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        let Node::Dir(dir) = &self.node else {
            return Err(Errno::ENOTDIR);
        };
        let kernel = self.shared.kernel()?;
        let nodes: Vec<(Vec<u8>, Node)> = match dir {
            DirNode::Root => {
                let mut nodes: Vec<(Vec<u8>, Node)> = SystemFile::ALL
                    .iter()
                    .map(|f| {
                        (
                            f.name().as_bytes().to_vec(),
                            Node::File(FileNode::System(*f)),
                        )
                    })
                    .collect();
                nodes.push((b"self".to_vec(), Node::Link(LinkNode::SelfPid)));
                nodes.push((b"thread-self".to_vec(), Node::Link(LinkNode::ThreadSelf)));
                nodes.push((b"mounts".to_vec(), Node::Link(LinkNode::Mounts)));
                nodes.push((b"sys".to_vec(), Node::Dir(DirNode::Sys(""))));
                nodes.push((b"sysvipc".to_vec(), Node::Dir(DirNode::SysvIpc)));
                let mut pids: Vec<i32> = kernel.pids.lock().groups().map(|g| g.tgid).collect();
                pids.sort_unstable();
                nodes.extend(pids.into_iter().map(|pid| {
                    (
                        pid.to_string().into_bytes(),
                        Node::Dir(DirNode::Pid(Scope::process(pid))),
                    )
                }));
                nodes
            }
            DirNode::Pid(scope) => {
                scope.check(&kernel)?;
                process::entries(scope)
            }
            DirNode::Tasks(tgid) => {
                let tg = Scope::process(*tgid).group(&kernel)?;
                let mut tids: Vec<i32> = tg.state.lock().threads.iter().map(|t| t.tid()).collect();
                tids.sort_unstable();
                tids.into_iter()
                    .map(|tid| {
                        let node = Node::Dir(DirNode::Pid(Scope::thread(*tgid, tid)));
                        (tid.to_string().into_bytes(), node)
                    })
                    .collect()
            }
            DirNode::Fds(scope) | DirNode::FdInfos(scope) => process::fd_numbers(&kernel, scope)?
                .into_iter()
                .map(|fd| {
                    let node = if matches!(dir, DirNode::Fds(_)) {
                        Node::Link(LinkNode::Fd(scope.clone(), fd))
                    } else {
                        Node::File(FileNode::FdInfo(scope.clone(), fd))
                    };
                    (fd.to_string().into_bytes(), node)
                })
                .collect(),
            DirNode::Sys(path) => system::sys_entries(path),
            DirNode::SysvIpc => IpcFamily::ALL
                .into_iter()
                .map(|f| {
                    (
                        f.name().as_bytes().to_vec(),
                        Node::File(FileNode::SysvIpc(f)),
                    )
                })
                .collect(),
        };
        Ok(nodes
            .into_iter()
            .map(|(name, node)| DirEntry {
                ino: ino_of(&node),
                file_type: match node {
                    Node::Dir(_) => FileType::Directory,
                    Node::File(_) => FileType::Regular,
                    Node::Link(_) => FileType::Symlink,
                },
                name,
            })
            .collect())
    }

    fn readlink(&self) -> Result<Vec<u8>, Errno> {
        let Node::Link(link) = &self.node else {
            return Err(Errno::EINVAL);
        };
        match link {
            LinkNode::SelfPid => {
                let me = current_task().ok_or(Errno::ENOENT)?;
                Ok(me.tg.tgid.to_string().into_bytes())
            }
            LinkNode::ThreadSelf => {
                let me = current_task().ok_or(Errno::ENOENT)?;
                Ok(format!("{}/task/{}", me.tg.tgid, me.tid()).into_bytes())
            }
            LinkNode::Mounts => Ok(b"self/mounts".to_vec()),
            LinkNode::Pid(scope, link) => process::readlink(&*self.shared.kernel()?, scope, *link),
            LinkNode::Fd(scope, fd) => process::fd_link(&*self.shared.kernel()?, scope, *fd),
        }
    }

    fn magic_link(&self) -> Option<Result<Arc<OpenFile>, Errno>> {
        let Node::Link(LinkNode::Fd(scope, fd)) = &self.node else {
            return None;
        };
        Some(
            self.shared
                .kernel()
                .and_then(|kernel| process::fd_file(&kernel, scope, *fd)),
        )
    }

    fn open(&self, _flags: i32) -> Result<Option<Box<dyn FileOps>>, Errno> {
        match &self.node {
            Node::File(file) => Ok(Some(Box::new(Snapshot {
                bytes: self.render(file)?,
                inode: self.clone(),
            }))),
            _ => Ok(None),
        }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let Node::File(file) = &self.node else {
            return Err(Errno::EISDIR);
        };
        read_from(&self.render(file)?, offset, buf)
    }
}

/// The files a write changes: a task's name and the host name.
fn is_writable(file: &FileNode) -> bool {
    matches!(
        file,
        FileNode::Pid(_, PidFile::Comm)
            | FileNode::Sys(SysFile::Hostname | SysFile::Domainname | SysFile::Ipc(_))
    )
}

/// A procfs file opened for reading: its text as it was at open.
struct Snapshot {
    bytes: Vec<u8>,
    inode: ProcInode,
}

impl FileOps for Snapshot {
    fn stat(&self) -> Result<Stat, Errno> {
        self.inode.stat()
    }

    fn pread(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        read_from(&self.bytes, offset, buf)
    }

    fn pwrite(&self, _offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        let Node::File(file) = &self.inode.node else {
            return Err(Errno::EINVAL);
        };
        if !is_writable(file) {
            return Err(Errno::EACCES);
        }
        let kernel = self.inode.shared.kernel()?;
        let writer = current_task();
        match file {
            FileNode::Pid(scope, PidFile::Comm) => process::write_comm(&kernel, scope, buf),
            FileNode::Sys(f) => system::write_sys(&kernel, *f, writer.as_deref(), buf),
            _ => Err(Errno::EACCES),
        }?;
        Ok(buf.len())
    }
}

fn read_from(bytes: &[u8], offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    let n = buf.len().min(bytes.len() - start);
    buf[..n].copy_from_slice(&bytes[start..start + n]);
    Ok(n)
}

/// The time, for the files' timestamps.
fn now() -> Timespec {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timespec {
        tv_sec: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(since.subsec_nanos()),
    }
}

/// A decimal id (fd or pid) without sign or leading zeros ("01" names nothing).
fn parse_id(name: &[u8]) -> Option<i32> {
    let leading_zero = name.len() > 1 && name.first() == Some(&b'0');
    if leading_zero || name.is_empty() || !name.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(name).ok()?.parse().ok()
}
