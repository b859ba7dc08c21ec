//! The Gofer's 9P server: a fid table of `O_PATH` descriptors and the requests on them.
//!
//! One Gofer serves several trees, each chosen by the `aname` of Tattach (see [`Tree`]): the
//! sandbox root and every volume. A fid belongs to the tree it was attached to; walks, `..`,
//! renames and links never cross from one tree to another.
//!
//! The Sentry holds a fid for every file it has cached or open, and a guest can keep more files
//! open than the Gofer may hold host descriptors. So the fids' descriptors are kept within a
//! budget: past it the least recently used are closed, and a fid whose descriptor was closed
//! walks its path from the root again when next used (failing with ESTALE if that now reaches
//! another file).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

use nix::fcntl::{renameat, OFlag};
use nix::sys::stat::{mkdirat, FileStat, Mode};
use nix::unistd::{symlinkat, unlinkat, UnlinkatFlags};
use p9::*;

use crate::errno::*;
use crate::host::{self, Owner};
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

/// A host directory served as one tree.
pub struct Tree {
    /// The Tattach `aname` that selects it.
    pub aname: Vec<u8>,
    /// `O_PATH|O_DIRECTORY` descriptor of its root.
    pub root: OwnedFd,
    /// Whether every request that would change it fails with `EROFS`.
    pub read_only: bool,
}

/// What a fid refers to.
struct FidState {
    /// Index of the tree it belongs to in `Gofer::trees`.
    tree: usize,
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
    /// A fid made by Txattrwalk: the attribute's value (or the list of names) to read.
    XattrRead(Vec<u8>),
    /// A fid turned by Txattrcreate into a handle that sets `name` when clunked, with the
    /// value written so far.
    XattrWrite(XattrWrite),
}

struct XattrWrite {
    name: Vec<u8>,
    size: usize,
    flags: u32,
    value: Vec<u8>,
}

/// Txattrcreate flags meaning "remove the attribute" when the size is 0: what Linux's 9p
/// client sends for removexattr(2).
const XATTR_REPLACE: u32 = 2;

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
    trees: Vec<Tree>,
    msize: u32,
    fids: HashMap<Fid, FidState>,
    path_fds: PathFdBudget,
    qid_paths: QidPaths,
}

impl Gofer {
    /// A server of `trees` whose fids hold at most `fd_budget` host descriptors at once.
    pub fn new(trees: Vec<Tree>, fd_budget: usize) -> Gofer {
        Gofer {
            trees,
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
            let (reached, stat) = self.walk_from_root(state.tree, &state.components)?;
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

    /// Fails with `EROFS` when `fid`'s tree is served read-only.
    fn writable(&self, fid: Fid) -> Reply<()> {
        let tree = self.fid(fid)?.tree;
        match self.trees.get(tree) {
            Some(tree) if !tree.read_only => Ok(()),
            _ => Err(EROFS),
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

    /// Walks `components` from the root of `tree`, one `openat` per name.
    fn walk_from_root(&self, tree: usize, components: &[Vec<u8>]) -> Reply<(Reached, FileStat)> {
        let root = &self.trees.get(tree).ok_or(EBADF)?.root;
        let (mut reached, mut stat) = Reached::new(host::dup(root)?)?;
        for name in components {
            (reached, stat) = reached.enter(name)?;
        }
        Ok((reached, stat))
    }

    /// One walk step from (`from`, `components`) through `name`.
    fn step(
        &self,
        tree: usize,
        from: &Reached,
        components: &mut Vec<Vec<u8>>,
        name: &[u8],
    ) -> Reply<(Reached, FileStat)> {
        if name == b".." {
            // The parent is found by name from the root, never by the host's "..", so a walk
            // cannot leave the root (at the root, ".." is the root). Going up from an opaque
            // directory is allowed: it leads back to files the walk went through.
            components.pop();
            return self.walk_from_root(tree, components);
        }
        let child = from.enter(name)?;
        components.push(name.to_vec());
        Ok(child)
    }

    /// Checks that directory `dfid` may have entry `name` created or removed (the tree is
    /// writable, `name` one plain component) and makes its descriptor ready.
    fn dir_to_change(&mut self, dfid: Fid, name: &[u8]) -> Reply<()> {
        self.writable(dfid)?;
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

    /// Fids of `tree` at or under `old_path` are reached through `new_path` from now on,
    /// should their descriptors be closed and walked again.
    fn moved(&mut self, tree: usize, old_path: &[Vec<u8>], new_path: &[Vec<u8>]) {
        for state in self.fids.values_mut() {
            if state.tree == tree && state.components.starts_with(old_path) {
                state
                    .components
                    .splice(..old_path.len(), new_path.iter().cloned());
            }
        }
    }
}

/// Creating requests: 9P2000.L's, whose files belong to the Gofer's user with its umask
/// applied, and the owned-creation extension's, whose files get exactly the `owner` asked.
impl Gofer {
    /// Tlcreate/Tucreate: creates and opens regular file `name` in directory `fid`, which then
    /// refers to it.
    fn create_file(
        &mut self,
        fid: Fid,
        name: &[u8],
        flags: u32,
        mode: u32,
        owner: Option<Owner>,
    ) -> Reply<(Qid, u32)> {
        self.dir_to_change(fid, name)?;
        let dir = self.path_fd(fid)?;
        let flags = open_flags(flags) | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
        let mode = Mode::from_bits_truncate(mode & 0o7777);
        let file = nix::fcntl::openat(dir.as_fd(), name_of(name), flags, mode).map_err(from_nix)?;
        let made = owned(file.as_fd(), owner)
            .and_then(|stat| Ok((stat, host::open_child(dir.as_fd(), name)?)));
        let (stat, path_fd) = undo_on_error(dir, name, false, made)?;
        let qid = host::qid(&stat, &mut self.qid_paths);
        let state = self.fids.get_mut(&fid).ok_or(EBADF)?;
        state.components.push(name.to_vec());
        state.path_fd = Some(path_fd);
        state.qid = qid;
        state.open = Some(Opened::File(File::from(file)));
        Ok((qid, 0))
    }

    /// Tmkdir/Tumkdir.
    fn make_dir(&mut self, dfid: Fid, name: &[u8], mode: u32, owner: Option<Owner>) -> Reply<Qid> {
        self.dir_to_change(dfid, name)?;
        let dir = self.path_fd(dfid)?;
        let mode = Mode::from_bits_truncate(mode & 0o7777);
        mkdirat(dir.as_fd(), name_of(name), mode).map_err(from_nix)?;
        self.made(dfid, name, true, owner)
    }

    /// Tsymlink/Tusymlink.
    fn make_symlink(
        &mut self,
        dfid: Fid,
        name: &[u8],
        target: &[u8],
        owner: Option<Owner>,
    ) -> Reply<Qid> {
        self.dir_to_change(dfid, name)?;
        let dir = self.path_fd(dfid)?;
        symlinkat(name_of(target), dir.as_fd(), name_of(name)).map_err(from_nix)?;
        self.made(dfid, name, false, owner)
    }

    /// Tmknod/Tumknod.
    fn make_node(&mut self, dfid: Fid, name: &[u8], mode: u32, owner: Option<Owner>) -> Reply<Qid> {
        self.dir_to_change(dfid, name)?;
        let dir = self.path_fd(dfid)?;
        host::mknod(dir.as_fd(), name, mode)?;
        self.made(dfid, name, false, owner)
    }

    /// The qid of `name`, just made in directory `dfid`, after giving it `owner`.
    fn made(&mut self, dfid: Fid, name: &[u8], is_dir: bool, owner: Option<Owner>) -> Reply<Qid> {
        let dir = self.path_fd(dfid)?;
        let made =
            host::open_child(dir.as_fd(), name).and_then(|path_fd| owned(path_fd.as_fd(), owner));
        let stat = undo_on_error(dir, name, is_dir, made)?;
        Ok(host::qid(&stat, &mut self.qid_paths))
    }
}

/// Gives `file`, just made, `owner` if asked; returns its attributes.
fn owned(file: BorrowedFd<'_>, owner: Option<Owner>) -> Reply<FileStat> {
    match owner {
        Some(owner) => host::set_owner(file, owner),
        None => host::stat(file),
    }
}

/// `result` of finishing `name`, just made in `dir`; on an error the file is removed again,
/// so a request fails as a whole (a file the client was told nothing of, with the Gofer's
/// owner, would be there otherwise).
fn undo_on_error<T>(dir: &OwnedFd, name: &[u8], is_dir: bool, result: Reply<T>) -> Reply<T> {
    if result.is_err() {
        let flags = if is_dir {
            UnlinkatFlags::RemoveDir
        } else {
            UnlinkatFlags::NoRemoveDir
        };
        // Best effort: the error reported is the one that made the request fail.
        let _ = unlinkat(dir.as_fd(), name_of(name), flags);
    }
    result
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

    /// `aname` names the tree; the sandbox root answers to "" and "/" as well as its own.
    fn attach(&mut self, request: &Tattach) -> Reply<Rattach> {
        let tree = self
            .trees
            .iter()
            .position(|tree| tree.aname == request.aname)
            .or_else(|| (request.aname.is_empty() || request.aname == b"/").then_some(0))
            .ok_or(ENOENT)?;
        let (root, stat) = Reached::new(host::dup(&self.trees.get(tree).ok_or(ENOENT)?.root)?)?;
        let qid = host::qid(&stat, &mut self.qid_paths);
        let state = FidState {
            tree,
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
        let tree = start.tree;
        let mut wqids = Vec::with_capacity(request.wnames.len());
        for name in &request.wnames {
            match self.step(tree, &reached, &mut components, name) {
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
            tree,
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
            self.writable(request.fid)?;
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

    /// Fd donation: only opens of regular files are donated, and opens for writing only on a
    /// writable tree, so the Sentry can do what it could through Tread/Twrite and nothing
    /// more; everything else is declined with `EOPNOTSUPP` (the client then uses Tlopen, whose
    /// checks apply).
    fn lopenfd(&mut self, request: &Tlopenfd) -> Reply<(Rlopenfd, OwnedFd)> {
        let flags = open_flags(request.flags);
        if writes(flags) && self.writable(request.fid).is_err() {
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
            Some(Opened::XattrRead(value)) => {
                let start = usize::try_from(request.offset)
                    .unwrap_or(usize::MAX)
                    .min(value.len());
                let end = start.saturating_add(count as usize).min(value.len());
                Ok(Rread {
                    data: Data(value[start..end].to_vec()),
                })
            }
            Some(Opened::Dir(_)) => Err(EISDIR),
            Some(Opened::XattrWrite(_)) | None => Err(EBADF),
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

    /// Forgets the fid; one made by Txattrcreate sets (or removes) its attribute first, and
    /// reports whether that worked.
    fn clunk(&mut self, request: &Tclunk) -> Reply<Rclunk> {
        let set = match self.fid(request.fid)?.open {
            Some(Opened::XattrWrite(_)) => self.ready(request.fid),
            _ => Ok(()),
        };
        let state = self.fids.remove(&request.fid).ok_or(EBADF)?;
        self.path_fds.forget(&state);
        set?;
        if let (Some(Opened::XattrWrite(xattr)), Some(path_fd)) = (&state.open, &state.path_fd) {
            if xattr.value.len() != xattr.size {
                return Err(EINVAL);
            }
            if xattr.size == 0 && xattr.flags == XATTR_REPLACE {
                host::remove_xattr(path_fd.as_fd(), &xattr.name)?;
            } else {
                host::set_xattr(path_fd.as_fd(), &xattr.name, &xattr.value, xattr.flags)?;
            }
        }
        Ok(Rclunk {})
    }

    fn write(&mut self, request: &Twrite) -> Reply<Rwrite> {
        self.writable(request.fid)?;
        let count = u32::try_from(request.data.0.len()).map_err(|_| EINVAL)?;
        match &mut self.fids.get_mut(&request.fid).ok_or(EBADF)?.open {
            Some(Opened::File(file)) => {
                let written = host::write_at(file, request.offset, &request.data.0)?;
                Ok(Rwrite {
                    count: u32::try_from(written).map_err(|_| EIO)?,
                })
            }
            Some(Opened::XattrWrite(xattr)) => {
                // The value is written in order, and never past the size announced.
                let fits = xattr.value.len() + request.data.0.len() <= xattr.size;
                if request.offset != xattr.value.len() as u64 || !fits {
                    return Err(EINVAL);
                }
                xattr.value.extend_from_slice(&request.data.0);
                Ok(Rwrite { count })
            }
            Some(Opened::Dir(_)) => Err(EISDIR),
            Some(Opened::XattrRead(_)) | None => Err(EBADF),
        }
    }

    fn lcreate(&mut self, request: &Tlcreate) -> Reply<Rlcreate> {
        let (qid, iounit) = self.create_file(
            request.fid,
            &request.name,
            request.flags,
            request.mode,
            None,
        )?;
        Ok(Rlcreate { qid, iounit })
    }

    fn mkdir(&mut self, request: &Tmkdir) -> Reply<Rmkdir> {
        let qid = self.make_dir(request.dfid, &request.name, request.mode, None)?;
        Ok(Rmkdir { qid })
    }

    fn symlink(&mut self, request: &Tsymlink) -> Reply<Rsymlink> {
        let qid = self.make_symlink(request.fid, &request.name, &request.symtgt, None)?;
        Ok(Rsymlink { qid })
    }

    fn ucreate(&mut self, request: &Tucreate) -> Reply<Rucreate> {
        let owner = Owner {
            uid: request.uid,
            gid: request.gid,
            mode: request.mode,
        };
        let (qid, iounit) = self.create_file(
            request.fid,
            &request.name,
            request.flags,
            request.mode,
            Some(owner),
        )?;
        Ok(Rucreate { qid, iounit })
    }

    fn umkdir(&mut self, request: &Tumkdir) -> Reply<Rumkdir> {
        let owner = Owner {
            uid: request.uid,
            gid: request.gid,
            mode: request.mode,
        };
        let qid = self.make_dir(request.dfid, &request.name, request.mode, Some(owner))?;
        Ok(Rumkdir { qid })
    }

    fn usymlink(&mut self, request: &Tusymlink) -> Reply<Rusymlink> {
        let owner = Owner {
            uid: request.uid,
            gid: request.gid,
            mode: 0o777,
        };
        let qid = self.make_symlink(request.fid, &request.name, &request.symtgt, Some(owner))?;
        Ok(Rusymlink { qid })
    }

    fn umknod(&mut self, request: &Tumknod) -> Reply<Rumknod> {
        let owner = Owner {
            uid: request.uid,
            gid: request.gid,
            mode: request.mode,
        };
        let qid = self.make_node(request.dfid, &request.name, request.mode, Some(owner))?;
        Ok(Rumknod { qid })
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
        let tree = self.fid(request.olddirfid)?.tree;
        if self.fid(request.newdirfid)?.tree != tree {
            return Err(EXDEV);
        }
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
        let path_of = |dir: Fid, name: &[u8]| -> Reply<Vec<Vec<u8>>> {
            let mut path = self.fid(dir)?.components.clone();
            path.push(name.to_vec());
            Ok(path)
        };
        let old_path = path_of(request.olddirfid, &request.oldname)?;
        let new_path = path_of(request.newdirfid, &request.newname)?;
        self.moved(tree, &old_path, &new_path);
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
            Some(Opened::XattrRead(_) | Opened::XattrWrite(_)) | None => Err(EBADF),
        }
    }

    fn setattr(&mut self, request: &Tsetattr) -> Reply<Rsetattr> {
        self.writable(request.fid)?;
        self.ready(request.fid)?;
        let is_symlink = self.fid(request.fid)?.qid.ty == QID_TYPE_SYMLINK;
        let path_fd = self.path_fd(request.fid)?.as_fd();
        let valid = request.valid;
        if valid & SETATTR_SIZE != 0 {
            let stat = host::stat(path_fd)?;
            if host::is_dir(&stat) {
                return Err(EISDIR);
            }
            if !host::is_regular(&stat) {
                return Err(EINVAL);
            }
            host::truncate(path_fd, request.size)?;
        }
        if valid & SETATTR_MODE != 0 {
            // Linux has no modes of symlinks (lchmod is EOPNOTSUPP); through /proc a chmod
            // of one would reach its target.
            if is_symlink {
                return Err(EOPNOTSUPP);
            }
            host::chmod(path_fd, request.mode)?;
        }
        if valid & (SETATTR_UID | SETATTR_GID) != 0 {
            let uid = (valid & SETATTR_UID != 0).then_some(request.uid);
            let gid = (valid & SETATTR_GID != 0).then_some(request.gid);
            host::chown(path_fd, uid, gid)?;
        }
        if valid & (SETATTR_ATIME | SETATTR_MTIME) != 0 {
            let atime = host::time_of(
                valid & SETATTR_ATIME != 0,
                valid & SETATTR_ATIME_SET != 0,
                request.atime_sec,
                request.atime_nsec,
            );
            let mtime = host::time_of(
                valid & SETATTR_MTIME != 0,
                valid & SETATTR_MTIME_SET != 0,
                request.mtime_sec,
                request.mtime_nsec,
            );
            host::set_times(path_fd, atime, mtime)?;
        }
        Ok(Rsetattr {})
    }

    fn link(&mut self, request: &Tlink) -> Reply<Rlink> {
        self.dir_to_change(request.dfid, &request.name)?;
        if self.fid(request.fid)?.tree != self.fid(request.dfid)?.tree {
            return Err(EXDEV);
        }
        let target = self.fid(request.fid)?;
        if target.qid.ty == QID_TYPE_DIR {
            return Err(EPERM);
        }
        if target.qid.ty == QID_TYPE_SYMLINK {
            // Through /proc the link would be made to the symlink's target.
            return Err(EOPNOTSUPP);
        }
        self.ready(request.fid)?;
        // The budget is at least two, so readying the target left the directory its
        // descriptor.
        let (target, dir) = (self.path_fd(request.fid)?, self.path_fd(request.dfid)?);
        host::link(target.as_fd(), dir.as_fd(), &request.name)?;
        Ok(Rlink {})
    }

    fn mknod(&mut self, request: &Tmknod) -> Reply<Rmknod> {
        let qid = self.make_node(request.dfid, &request.name, request.mode, None)?;
        Ok(Rmknod { qid })
    }

    /// Trename: moves `fid` into `dfid` as `name`, found again by its own path from the root.
    fn rename(&mut self, request: &Trename) -> Reply<Rrename> {
        let state = self.fid(request.fid)?;
        let (tree, mut parent) = (state.tree, state.components.clone());
        let old_name = parent.pop().ok_or(EBUSY)?;
        if self.fid(request.dfid)?.tree != tree {
            return Err(EXDEV);
        }
        self.dir_to_change(request.dfid, &request.name)?;
        let (old_dir, _) = self.walk_from_root(tree, &parent)?;
        let new_dir = self.path_fd(request.dfid)?;
        let mut new_path = self.fid(request.dfid)?.components.clone();
        new_path.push(request.name.clone());
        renameat(
            old_dir.path_fd.as_fd(),
            name_of(&old_name),
            new_dir.as_fd(),
            name_of(&request.name),
        )
        .map_err(from_nix)?;
        parent.push(old_name);
        self.moved(tree, &parent, &new_path);
        Ok(Rrename {})
    }

    /// Txattrwalk: `newfid` reads the value of `name` of `fid` (an empty name: the list of
    /// names). Only `user.*` attributes are the sandbox's.
    fn xattrwalk(&mut self, request: &Txattrwalk) -> Reply<Rxattrwalk> {
        self.ready(request.fid)?;
        let state = self.fid(request.fid)?;
        if state.opaque {
            return Err(EACCES);
        }
        let path_fd = self.path_fd(request.fid)?.as_fd();
        // A symlink has no user.* attributes on Linux, and through /proc its target's would
        // be read.
        let is_symlink = state.qid.ty == QID_TYPE_SYMLINK;
        let value = if is_symlink && request.name.is_empty() {
            Vec::new()
        } else if is_symlink {
            return Err(ENODATA);
        } else if request.name.is_empty() {
            host::list_user_xattrs(path_fd)?
        } else if host::is_user_xattr(&request.name) {
            host::get_xattr(path_fd, &request.name)?
        } else {
            return Err(EOPNOTSUPP);
        };
        let size = value.len() as u64;
        let state = FidState {
            tree: state.tree,
            path_fd: Some(host::dup(&path_fd)?),
            last_used: 0,
            components: state.components.clone(),
            qid: state.qid,
            opaque: false,
            open: Some(Opened::XattrRead(value)),
        };
        self.insert_fid(request.newfid, None, state)?;
        Ok(Rxattrwalk { size })
    }

    /// Txattrcreate: `fid` takes the value in Twrites and sets it when clunked.
    fn xattrcreate(&mut self, request: &Txattrcreate) -> Reply<Rxattrcreate> {
        self.writable(request.fid)?;
        if !host::is_user_xattr(&request.name) {
            return Err(EOPNOTSUPP);
        }
        let size = usize::try_from(request.attr_size)
            .ok()
            .filter(|&size| size <= host::XATTR_SIZE_MAX)
            .ok_or(E2BIG)?;
        let state = self.fids.get_mut(&request.fid).ok_or(EBADF)?;
        if state.open.is_some() {
            return Err(EINVAL);
        }
        if state.opaque {
            return Err(EACCES);
        }
        if state.qid.ty == QID_TYPE_SYMLINK {
            // As Linux answers for user.* attributes of a symlink; through /proc the target's
            // would be set.
            return Err(EPERM);
        }
        state.open = Some(Opened::XattrWrite(XattrWrite {
            name: request.name.clone(),
            size,
            flags: request.flags,
            value: Vec::with_capacity(size),
        }));
        Ok(Rxattrcreate {})
    }
}
