//! The Gofer's 9P server: a fid table of `O_PATH` descriptors and the requests on them.
//!
//! The Sentry holds a fid for every file it has cached or open, and a guest can keep more files
//! open than the Gofer may hold host descriptors. So the fids' descriptors are kept within a
//! budget: past it the least recently used are closed, and a fid whose descriptor was closed
//! walks its path from the root again when next used (failing with ESTALE if that now reaches
//! another file).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{renameat, OFlag};
use nix::sys::stat::{mkdirat, FileStat, Mode};
use nix::unistd::{symlinkat, unlinkat, UnlinkatFlags};
use p9::*;

use crate::errno::*;
use crate::host;
use crate::pseudo_fs;
use crate::qid_paths::QidPaths;

/// The largest frame the Gofer accepts: a megabyte of data per read or write is plenty for one
/// round trip over a socketpair.
const MAX_MSIZE: u32 = 1 << 20;

/// Bytes of an Rread/Rreaddir before its data.
const READ_OVERHEAD: u32 = HEADER_SIZE + 4;

/// The open flags a client may pass to Tlopen/Tlcreate. Others (`O_NOFOLLOW`, `O_CREAT`,
/// `O_PATH`, `O_NOCTTY`, ...) either make no sense on a reopened descriptor or are the
/// Gofer's to decide.
const ALLOWED_OPEN_FLAGS: OFlag = OFlag::O_ACCMODE
    .union(OFlag::O_TRUNC)
    .union(OFlag::O_APPEND)
    .union(OFlag::O_NONBLOCK)
    .union(OFlag::O_DSYNC)
    .union(OFlag::O_SYNC)
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_LARGEFILE);

/// What a fid refers to.
struct FidState {
    /// `O_PATH|O_NOFOLLOW` descriptor of the file; `None` once closed to keep within the budget.
    path_fd: Option<OwnedFd>,
    /// When the descriptor was last used: its key in `PathFdBudget::lru`.
    last_used: u64,
    /// Names walked from the root to reach it, so `..` can be re-walked from the root.
    components: Vec<Vec<u8>>,
    qid: Qid,
    /// Whether the file is on a host pseudo-filesystem, so not to be opened or walked from.
    opaque: bool,
    open: Option<Opened>,
}

/// A file a walk has reached.
struct Reached {
    /// `O_PATH|O_NOFOLLOW` descriptor of the file.
    path_fd: OwnedFd,
    opaque: bool,
}

impl Reached {
    /// Classifies the file behind `path_fd`, returning its attributes too.
    fn new(path_fd: OwnedFd) -> Reply<(Reached, FileStat)> {
        let stat = host::stat(path_fd.as_fd())?;
        let opaque = pseudo_fs::is_opaque(path_fd.as_fd(), &stat)?;
        Ok((Reached { path_fd, opaque }, stat))
    }

    /// Child `name` of this directory, unless this is opaque.
    fn enter(&self, name: &[u8]) -> Reply<(Reached, FileStat)> {
        if self.opaque {
            return Err(EACCES);
        }
        Reached::new(host::open_child(self.path_fd.as_fd(), name)?)
    }
}

enum Opened {
    File(File),
    /// A snapshot of the listing, taken at open and at each read from offset 0.
    Dir(Vec<DirEntry>),
}

/// The fids holding a descriptor, least recently used first.
struct PathFdBudget {
    budget: usize,
    clock: u64,
    lru: BTreeMap<u64, Fid>,
}

impl PathFdBudget {
    /// Marks `state`'s descriptor used now.
    fn touch(&mut self, fid: Fid, state: &mut FidState) {
        self.lru.remove(&state.last_used);
        self.clock += 1;
        state.last_used = self.clock;
        self.lru.insert(self.clock, fid);
    }

    /// Forgets `state`, whose descriptor is being dropped.
    fn forget(&mut self, state: &FidState) {
        self.lru.remove(&state.last_used);
    }
}

pub struct Gofer {
    root: OwnedFd,
    read_only: bool,
    msize: u32,
    fids: HashMap<Fid, FidState>,
    path_fds: PathFdBudget,
    qid_paths: QidPaths,
}

impl Gofer {
    /// A server of `root` whose fids hold at most `fd_budget` host descriptors at once.
    pub fn new(root: OwnedFd, read_only: bool, fd_budget: usize) -> Gofer {
        Gofer {
            root,
            read_only,
            msize: MAX_MSIZE,
            fids: HashMap::new(),
            path_fds: PathFdBudget {
                budget: fd_budget.max(2),
                clock: 0,
                lru: BTreeMap::new(),
            },
            qid_paths: QidPaths::default(),
        }
    }

    fn fid(&self, fid: Fid) -> Reply<&FidState> {
        self.fids.get(&fid).ok_or(EBADF)
    }

    /// The descriptor of `fid`, which [`Gofer::ready`] made sure it has.
    fn path_fd(&self, fid: Fid) -> Reply<&OwnedFd> {
        self.fid(fid)?.path_fd.as_ref().ok_or(EIO)
    }

    /// Makes sure `fid` has its descriptor, walking its path from the root again if it was
    /// closed, marks it used, and closes the least recently used others past the budget.
    fn ready(&mut self, fid: Fid) -> Reply<()> {
        let state = self.fids.get(&fid).ok_or(EBADF)?;
        if state.path_fd.is_none() {
            let (reached, stat) = self.walk_from_root(&state.components)?;
            if host::qid(&stat, &mut self.qid_paths).path != state.qid.path {
                return Err(ESTALE);
            }
            self.fids.get_mut(&fid).ok_or(EBADF)?.path_fd = Some(reached.path_fd);
        }
        let state = self.fids.get_mut(&fid).ok_or(EBADF)?;
        self.path_fds.touch(fid, state);
        self.close_past_budget();
        Ok(())
    }

    /// Closes the descriptors of the least recently used fids until the budget holds; the
    /// fid just used is the most recent, so it stays.
    fn close_past_budget(&mut self) {
        while self.path_fds.lru.len() > self.path_fds.budget {
            let Some((_, fid)) = self.path_fds.lru.pop_first() else {
                break;
            };
            if let Some(state) = self.fids.get_mut(&fid) {
                state.path_fd = None;
            }
        }
    }

    /// Fails with `EROFS` when serving read-only.
    fn writable(&self) -> Reply<()> {
        if self.read_only {
            Err(EROFS)
        } else {
            Ok(())
        }
    }

    /// Registers `newfid`, which must be unused (or be the fid being walked, which it replaces).
    fn insert_fid(&mut self, newfid: Fid, replaces: Option<Fid>, state: FidState) -> Reply<()> {
        if replaces != Some(newfid) && self.fids.contains_key(&newfid) {
            return Err(EBADF);
        }
        if let Some(replaced) = self.fids.insert(newfid, state) {
            self.path_fds.forget(&replaced);
        }
        let state = self.fids.get_mut(&newfid).ok_or(EBADF)?;
        self.path_fds.touch(newfid, state);
        self.close_past_budget();
        Ok(())
    }

    /// Walks `components` from the root, one `openat` per name.
    fn walk_from_root(&self, components: &[Vec<u8>]) -> Reply<(Reached, FileStat)> {
        let (mut reached, mut stat) = Reached::new(host::dup(&self.root)?)?;
        for name in components {
            (reached, stat) = reached.enter(name)?;
        }
        Ok((reached, stat))
    }

    /// One walk step from (`from`, `components`) through `name`.
    fn step(
        &self,
        from: &Reached,
        components: &mut Vec<Vec<u8>>,
        name: &[u8],
    ) -> Reply<(Reached, FileStat)> {
        if name == b".." {
            // The parent is found by name from the root, never by the host's "..", so a walk
            // cannot leave the root (at the root, ".." is the root). Going up from an opaque
            // directory is allowed: it leads back to files the walk went through.
            components.pop();
            return self.walk_from_root(components);
        }
        let child = from.enter(name)?;
        components.push(name.to_vec());
        Ok(child)
    }

    /// Checks that directory `dfid` may have entry `name` created or removed (the tree is
    /// writable, `name` one plain component) and makes its descriptor ready.
    fn dir_to_change(&mut self, dfid: Fid, name: &[u8]) -> Reply<()> {
        self.writable()?;
        if !host::is_plain_name(name) {
            return Err(EINVAL);
        }
        let dir = self.fid(dfid)?;
        if dir.qid.ty != QID_TYPE_DIR {
            return Err(ENOTDIR);
        }
        if dir.opaque {
            return Err(EACCES);
        }
        self.ready(dfid)
    }
}

fn child_stat(dir: &OwnedFd, name: &[u8]) -> Reply<FileStat> {
    host::stat(host::open_child(dir.as_fd(), name)?.as_fd())
}

fn open_flags(flags: u32) -> OFlag {
    OFlag::from_bits_truncate(i32::from_ne_bytes(flags.to_ne_bytes())) & ALLOWED_OPEN_FLAGS
}

fn writes(flags: OFlag) -> bool {
    (flags & OFlag::O_ACCMODE) != OFlag::O_RDONLY || flags.contains(OFlag::O_TRUNC)
}

fn name_of(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

impl Server for Gofer {
    fn version(&mut self, request: &Tversion) -> Reply<Rversion> {
        // A new session: the protocol says Tversion clunks every fid.
        self.fids.clear();
        self.path_fds.lru.clear();
        self.msize = request.msize.min(MAX_MSIZE);
        let version = if request.version == VERSION {
            VERSION
        } else {
            b"unknown"
        };
        Ok(Rversion {
            msize: self.msize,
            version: version.to_vec(),
        })
    }

    fn attach(&mut self, request: &Tattach) -> Reply<Rattach> {
        let (root, stat) = Reached::new(host::dup(&self.root)?)?;
        let qid = host::qid(&stat, &mut self.qid_paths);
        let state = FidState {
            path_fd: Some(root.path_fd),
            last_used: 0,
            components: Vec::new(),
            qid,
            opaque: root.opaque,
            open: None,
        };
        self.insert_fid(request.fid, None, state)?;
        Ok(Rattach { qid })
    }

    fn walk(&mut self, request: &Twalk) -> Reply<Rwalk> {
        self.ready(request.fid)?;
        let start = self.fid(request.fid)?;
        let mut components = start.components.clone();
        let mut reached = Reached {
            path_fd: host::dup(self.path_fd(request.fid)?)?,
            opaque: start.opaque,
        };
        let mut qid = start.qid;
        let mut wqids = Vec::with_capacity(request.wnames.len());
        for name in &request.wnames {
            match self.step(&reached, &mut components, name) {
                Ok((next, stat)) => {
                    reached = next;
                    qid = host::qid(&stat, &mut self.qid_paths);
                    wqids.push(qid);
                }
                // The first name failing is an error; a later one is a partial walk, which
                // the protocol reports as fewer qids and no new fid.
                Err(errno) if wqids.is_empty() => return Err(errno),
                Err(_) => return Ok(Rwalk { wqids }),
            }
        }
        let state = FidState {
            path_fd: Some(reached.path_fd),
            last_used: 0,
            components,
            qid,
            opaque: reached.opaque,
            open: None,
        };
        self.insert_fid(request.newfid, Some(request.fid), state)?;
        Ok(Rwalk { wqids })
    }

    fn getattr(&mut self, request: &Tgetattr) -> Reply<Rgetattr> {
        self.ready(request.fid)?;
        let stat = host::stat(self.path_fd(request.fid)?.as_fd())?;
        Ok(host::getattr(&stat, &mut self.qid_paths))
    }

    fn lopen(&mut self, request: &Tlopen) -> Reply<Rlopen> {
        let flags = open_flags(request.flags);
        if writes(flags) {
            self.writable()?;
        }
        self.ready(request.fid)?;
        let state = self.fids.get_mut(&request.fid).ok_or(EBADF)?;
        if state.open.is_some() {
            return Err(EINVAL);
        }
        if state.opaque {
            return Err(EACCES);
        }
        let path_fd = state.path_fd.as_ref().ok_or(EIO)?;
        let stat = host::stat(path_fd.as_fd())?;
        let opened = if host::is_dir(&stat) {
            if writes(flags) {
                return Err(EISDIR);
            }
            Opened::Dir(host::list_dir(path_fd.as_fd(), &mut self.qid_paths)?)
        } else if host::is_regular(&stat) {
            Opened::File(host::open_file(path_fd.as_fd(), flags)?)
        } else if state.qid.ty == QID_TYPE_SYMLINK {
            // Opening would follow the link; the Sentry resolves links itself.
            return Err(ELOOP);
        } else {
            // Host FIFOs and devices are not the sandbox's to open: a FIFO open could block
            // the Gofer and a device would reach host hardware.
            return Err(EPERM);
        };
        state.open = Some(opened);
        Ok(Rlopen {
            qid: state.qid,
            iounit: 0,
        })
    }

    /// Fd donation: only read-only opens of regular files are donated, so the Sentry can read
    /// what it could read through Tread and nothing more; everything else is declined with
    /// `EOPNOTSUPP` (the client then uses Tlopen, whose checks apply).
    fn lopenfd(&mut self, request: &Tlopenfd) -> Reply<(Rlopenfd, OwnedFd)> {
        let flags = open_flags(request.flags);
        if writes(flags) {
            return Err(EOPNOTSUPP);
        }
        self.ready(request.fid)?;
        let state = self.fid(request.fid)?;
        if state.opaque {
            return Err(EACCES);
        }
        let path_fd = self.path_fd(request.fid)?;
        if !host::is_regular(&host::stat(path_fd.as_fd())?) {
            return Err(EOPNOTSUPP);
        }
        let fd = host::reopen(path_fd.as_fd(), flags)?;
        let reply = Rlopenfd {
            qid: state.qid,
            iounit: 0,
        };
        Ok((reply, fd))
    }

    fn read(&mut self, request: &Tread) -> Reply<Rread> {
        let count = request.count.min(self.msize.saturating_sub(READ_OVERHEAD));
        match &self.fid(request.fid)?.open {
            Some(Opened::File(file)) => Ok(Rread {
                data: Data(host::read_at(file, request.offset, count as usize)?),
            }),
            Some(Opened::Dir(_)) => Err(EISDIR),
            None => Err(EBADF),
        }
    }

    fn readdir(&mut self, request: &Treaddir) -> Reply<Rreaddir> {
        let count = request.count.min(self.msize.saturating_sub(READ_OVERHEAD));
        if request.offset == 0 {
            self.ready(request.fid)?;
        }
        let state = self.fids.get_mut(&request.fid).ok_or(EBADF)?;
        let Some(Opened::Dir(listing)) = &mut state.open else {
            return Err(EBADF);
        };
        if request.offset == 0 {
            let path_fd = state.path_fd.as_ref().ok_or(EIO)?;
            *listing = host::list_dir(path_fd.as_fd(), &mut self.qid_paths)?;
        }
        let start = usize::try_from(request.offset)
            .unwrap_or(usize::MAX)
            .min(listing.len());
        let packed = DirEntry::pack(&listing[start..], count).map_err(|_| EIO)?;
        Ok(Rreaddir { data: Data(packed) })
    }

    fn readlink(&mut self, request: &Treadlink) -> Reply<Rreadlink> {
        if self.fid(request.fid)?.qid.ty != QID_TYPE_SYMLINK {
            return Err(EINVAL);
        }
        self.ready(request.fid)?;
        Ok(Rreadlink {
            target: host::readlink(self.path_fd(request.fid)?.as_fd())?,
        })
    }

    fn statfs(&mut self, request: &Tstatfs) -> Reply<Rstatfs> {
        self.ready(request.fid)?;
        host::statfs(self.path_fd(request.fid)?.as_fd())
    }

    fn clunk(&mut self, request: &Tclunk) -> Reply<Rclunk> {
        let state = self.fids.remove(&request.fid).ok_or(EBADF)?;
        self.path_fds.forget(&state);
        Ok(Rclunk {})
    }

    fn write(&mut self, request: &Twrite) -> Reply<Rwrite> {
        self.writable()?;
        match &self.fid(request.fid)?.open {
            Some(Opened::File(file)) => {
                let written = host::write_at(file, request.offset, &request.data.0)?;
                Ok(Rwrite {
                    count: u32::try_from(written).map_err(|_| EIO)?,
                })
            }
            Some(Opened::Dir(_)) => Err(EISDIR),
            None => Err(EBADF),
        }
    }

    fn lcreate(&mut self, request: &Tlcreate) -> Reply<Rlcreate> {
        self.dir_to_change(request.fid, &request.name)?;
        let dir = self.path_fd(request.fid)?;
        let flags = open_flags(request.flags) | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
        let mode = Mode::from_bits_truncate(request.mode & 0o7777);
        let file = nix::fcntl::openat(dir.as_fd(), name_of(&request.name), flags, mode)
            .map_err(from_nix)?;
        let path_fd = host::open_child(dir.as_fd(), &request.name)?;
        let qid = host::qid(&host::stat(file.as_fd())?, &mut self.qid_paths);
        let state = self.fids.get_mut(&request.fid).ok_or(EBADF)?;
        state.components.push(request.name.clone());
        state.path_fd = Some(path_fd);
        state.qid = qid;
        state.open = Some(Opened::File(File::from(file)));
        Ok(Rlcreate { qid, iounit: 0 })
    }

    fn mkdir(&mut self, request: &Tmkdir) -> Reply<Rmkdir> {
        self.dir_to_change(request.dfid, &request.name)?;
        let dir = self.path_fd(request.dfid)?;
        let mode = Mode::from_bits_truncate(request.mode & 0o7777);
        mkdirat(dir.as_fd(), name_of(&request.name), mode).map_err(from_nix)?;
        let stat = child_stat(dir, &request.name)?;
        Ok(Rmkdir {
            qid: host::qid(&stat, &mut self.qid_paths),
        })
    }

    fn symlink(&mut self, request: &Tsymlink) -> Reply<Rsymlink> {
        self.dir_to_change(request.fid, &request.name)?;
        let dir = self.path_fd(request.fid)?;
        symlinkat(
            name_of(&request.symtgt),
            dir.as_fd(),
            name_of(&request.name),
        )
        .map_err(from_nix)?;
        let stat = child_stat(dir, &request.name)?;
        Ok(Rsymlink {
            qid: host::qid(&stat, &mut self.qid_paths),
        })
    }

    fn unlinkat(&mut self, request: &Tunlinkat) -> Reply<Runlinkat> {
        self.dir_to_change(request.dirfd, &request.name)?;
        let dir = self.path_fd(request.dirfd)?;
        let flags = if request.flags & u32::from_ne_bytes(libc::AT_REMOVEDIR.to_ne_bytes()) != 0 {
            UnlinkatFlags::RemoveDir
        } else {
            UnlinkatFlags::NoRemoveDir
        };
        unlinkat(dir.as_fd(), name_of(&request.name), flags).map_err(from_nix)?;
        Ok(Runlinkat {})
    }

    fn renameat(&mut self, request: &Trenameat) -> Reply<Rrenameat> {
        self.dir_to_change(request.olddirfid, &request.oldname)?;
        self.dir_to_change(request.newdirfid, &request.newname)?;
        // The budget is at least two, so readying the second left the first its descriptor.
        let (old_dir, new_dir) = (
            self.path_fd(request.olddirfid)?,
            self.path_fd(request.newdirfid)?,
        );
        renameat(
            old_dir.as_fd(),
            name_of(&request.oldname),
            new_dir.as_fd(),
            name_of(&request.newname),
        )
        .map_err(from_nix)?;
        // Fids at or under the old name are reached through the new one from now on, should
        // their descriptors be closed and walked again.
        let path_of = |dir: Fid, name: &[u8]| -> Reply<Vec<Vec<u8>>> {
            let mut path = self.fid(dir)?.components.clone();
            path.push(name.to_vec());
            Ok(path)
        };
        let old_path = path_of(request.olddirfid, &request.oldname)?;
        let new_path = path_of(request.newdirfid, &request.newname)?;
        for state in self.fids.values_mut() {
            if state.components.starts_with(&old_path) {
                state
                    .components
                    .splice(..old_path.len(), new_path.iter().cloned());
            }
        }
        Ok(Rrenameat {})
    }

    fn fsync(&mut self, request: &Tfsync) -> Reply<Rfsync> {
        match &self.fid(request.fid)?.open {
            Some(Opened::File(file)) => {
                let synced = if request.datasync != 0 {
                    file.sync_data()
                } else {
                    file.sync_all()
                };
                synced.map_err(|e| from_io(&e))?;
                Ok(Rfsync {})
            }
            Some(Opened::Dir(_)) => Ok(Rfsync {}),
            None => Err(EBADF),
        }
    }

    fn setattr(&mut self, _: &Tsetattr) -> Reply<Rsetattr> {
        self.writable()?;
        Err(EOPNOTSUPP)
    }
}
