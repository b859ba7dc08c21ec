//! inotify: watches on inodes and the event queues of inotify instances.
//!
//! Events are generated where the VFS performs an operation (open, read, write, close, attribute
//! changes, directory changes), so every filesystem the Sentry writes gets them; changes made
//! behind the Sentry's back (by the host, to a Gofer tree) are never seen. Watches are kept in
//! one table keyed by the watched inode's (st_dev, st_ino); while no watch exists, generating an
//! event is a single atomic load.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use abi::{Errno, Stat};
use parking_lot::Mutex;
use waiter::{events, WaitQueue};

use crate::file::FileOps;
use crate::fs::{FileType, Inode};
use crate::mount::VfsPath;

pub const IN_ACCESS: u32 = 0x0000_0001;
pub const IN_MODIFY: u32 = 0x0000_0002;
pub const IN_ATTRIB: u32 = 0x0000_0004;
pub const IN_CLOSE_WRITE: u32 = 0x0000_0008;
pub const IN_CLOSE_NOWRITE: u32 = 0x0000_0010;
pub const IN_OPEN: u32 = 0x0000_0020;
pub const IN_MOVED_FROM: u32 = 0x0000_0040;
pub const IN_MOVED_TO: u32 = 0x0000_0080;
pub const IN_CREATE: u32 = 0x0000_0100;
pub const IN_DELETE: u32 = 0x0000_0200;
pub const IN_DELETE_SELF: u32 = 0x0000_0400;
pub const IN_MOVE_SELF: u32 = 0x0000_0800;
pub const IN_Q_OVERFLOW: u32 = 0x0000_4000;
pub const IN_IGNORED: u32 = 0x0000_8000;
pub const IN_ONLYDIR: u32 = 0x0100_0000;
pub const IN_DONT_FOLLOW: u32 = 0x0200_0000;
pub const IN_EXCL_UNLINK: u32 = 0x0400_0000;
pub const IN_MASK_CREATE: u32 = 0x1000_0000;
pub const IN_MASK_ADD: u32 = 0x2000_0000;
pub const IN_ISDIR: u32 = 0x4000_0000;
pub const IN_ONESHOT: u32 = 0x8000_0000;

/// Every event a watch can ask for.
pub const IN_ALL_EVENTS: u32 = 0x0000_0fff;
/// The bits inotify_add_watch accepts.
pub const VALID_WATCH_BITS: u32 = IN_ALL_EVENTS
    | IN_ONLYDIR
    | IN_DONT_FOLLOW
    | IN_EXCL_UNLINK
    | IN_MASK_CREATE
    | IN_MASK_ADD
    | IN_ONESHOT;
/// Events a directory watch also hears for the files in it.
const CHILD_EVENTS: u32 = IN_ACCESS
    | IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_CLOSE_NOWRITE
    | IN_OPEN
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE;

/// Linux's default /proc/sys/fs/inotify/max_queued_events.
const MAX_QUEUED_EVENTS: usize = 16384;
/// Linux's default /proc/sys/fs/inotify/max_user_watches is far larger; this bounds the
/// Sentry's memory per instance.
const MAX_WATCHES: usize = 65536;
/// `sizeof(struct inotify_event)`: wd, mask, cookie, len.
const EVENT_HEADER: usize = 16;

/// What identifies a watched inode: (st_dev, st_ino).
type InodeKey = (u64, u64);

/// How many watches exist in all: zero means no event needs generating.
static WATCH_COUNT: AtomicUsize = AtomicUsize::new(0);
/// The watches of every instance, by the inode they watch.
static WATCHES: Mutex<Option<HashMap<InodeKey, Vec<WatchRef>>>> = Mutex::new(None);
/// Pairs IN_MOVED_FROM with its IN_MOVED_TO.
static NEXT_COOKIE: AtomicU32 = AtomicU32::new(1);

struct WatchRef {
    instance: Weak<Instance>,
    wd: i32,
}

struct Event {
    wd: i32,
    mask: u32,
    cookie: u32,
    name: Vec<u8>,
}

impl Event {
    /// The name field's length: the name, a NUL, padded to a whole event header.
    fn name_len(&self) -> usize {
        if self.name.is_empty() {
            0
        } else {
            (self.name.len() + 1).next_multiple_of(EVENT_HEADER)
        }
    }

    fn size(&self) -> usize {
        EVENT_HEADER + self.name_len()
    }

    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.wd.to_ne_bytes());
        out.extend_from_slice(&self.mask.to_ne_bytes());
        out.extend_from_slice(&self.cookie.to_ne_bytes());
        let len = u32::try_from(self.name_len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_ne_bytes());
        let start = out.len();
        out.extend_from_slice(&self.name);
        out.resize(start + self.name_len(), 0);
    }

    fn same_as(&self, other: &Event) -> bool {
        self.wd == other.wd
            && self.mask == other.mask
            && self.cookie == other.cookie
            && self.name == other.name
    }
}

struct Watch {
    key: InodeKey,
    mask: u32,
}

#[derive(Default)]
struct State {
    events: VecDeque<Event>,
    queued_bytes: usize,
    /// The overflow event is queued (it is queued once until read).
    overflowed: bool,
    watches: HashMap<i32, Watch>,
    next_wd: i32,
}

/// One inotify instance: what an inotify fd reads from.
struct Instance {
    state: Mutex<State>,
    queue: Arc<WaitQueue>,
}

impl Instance {
    fn push(&self, event: Event) {
        let mut state = self.state.lock();
        if state.events.back().is_some_and(|last| last.same_as(&event)) {
            return;
        }
        let event = if state.events.len() >= MAX_QUEUED_EVENTS {
            if state.overflowed {
                return;
            }
            state.overflowed = true;
            Event {
                wd: -1,
                mask: IN_Q_OVERFLOW,
                cookie: 0,
                name: Vec::new(),
            }
        } else {
            event
        };
        state.queued_bytes += event.size();
        state.events.push_back(event);
        drop(state);
        self.queue.notify(events::READABLE);
    }
}

/// The file behind an inotify fd.
pub struct Inotify {
    instance: Arc<Instance>,
}

impl Inotify {
    pub fn new() -> Inotify {
        Inotify {
            instance: Arc::new(Instance {
                state: Mutex::new(State {
                    next_wd: 1,
                    ..State::default()
                }),
                queue: Arc::new(WaitQueue::new()),
            }),
        }
    }

    /// inotify_add_watch on the resolved `target`: the watch descriptor. `mask` holds the
    /// event bits and IN_MASK_ADD/IN_MASK_CREATE/IN_ONESHOT/IN_EXCL_UNLINK; the caller resolved
    /// the path (IN_DONT_FOLLOW) and checked IN_ONLYDIR.
    pub fn add_watch(&self, target: &VfsPath, mask: u32) -> Result<i32, Errno> {
        if mask & IN_ALL_EVENTS == 0 || mask & !VALID_WATCH_BITS != 0 {
            return Err(Errno::EINVAL);
        }
        if mask & IN_MASK_ADD != 0 && mask & IN_MASK_CREATE != 0 {
            return Err(Errno::EINVAL);
        }
        if mask & IN_ONLYDIR != 0 && !target.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let key = key_of(target.inode()).ok_or(Errno::ENOENT)?;
        let stored_mask = mask & !(IN_MASK_ADD | IN_MASK_CREATE | IN_ONLYDIR | IN_DONT_FOLLOW);
        let mut table = WATCHES.lock();
        let mut state = self.instance.state.lock();
        if let Some((&wd, watch)) = state.watches.iter_mut().find(|(_, w)| w.key == key) {
            if mask & IN_MASK_CREATE != 0 {
                return Err(Errno::EEXIST);
            }
            watch.mask = if mask & IN_MASK_ADD != 0 {
                watch.mask | stored_mask
            } else {
                stored_mask
            };
            return Ok(wd);
        }
        if state.watches.len() >= MAX_WATCHES {
            return Err(Errno::ENOSPC);
        }
        let wd = state.next_wd;
        state.next_wd = state.next_wd.checked_add(1).ok_or(Errno::ENOSPC)?;
        state.watches.insert(
            wd,
            Watch {
                key,
                mask: stored_mask,
            },
        );
        table
            .get_or_insert_with(HashMap::new)
            .entry(key)
            .or_default()
            .push(WatchRef {
                instance: Arc::downgrade(&self.instance),
                wd,
            });
        WATCH_COUNT.fetch_add(1, Ordering::Relaxed);
        Ok(wd)
    }

    /// inotify_rm_watch: removes watch `wd`, queueing IN_IGNORED; EINVAL for an unknown wd.
    pub fn rm_watch(&self, wd: i32) -> Result<(), Errno> {
        let mut table = WATCHES.lock();
        let watch = self
            .instance
            .state
            .lock()
            .watches
            .remove(&wd)
            .ok_or(Errno::EINVAL)?;
        unlist(&mut table, watch.key, &self.instance, wd);
        drop(table);
        self.instance.push(ignored(wd));
        Ok(())
    }
}

impl Default for Inotify {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Inotify {
    fn drop(&mut self) {
        let mut table = WATCHES.lock();
        let watches = std::mem::take(&mut self.instance.state.lock().watches);
        for (wd, watch) in watches {
            unlist(&mut table, watch.key, &self.instance, wd);
        }
    }
}

fn ignored(wd: i32) -> Event {
    Event {
        wd,
        mask: IN_IGNORED,
        cookie: 0,
        name: Vec::new(),
    }
}

/// Drops `instance`'s watch `wd` on `key` from the table.
fn unlist(
    table: &mut Option<HashMap<InodeKey, Vec<WatchRef>>>,
    key: InodeKey,
    instance: &Arc<Instance>,
    wd: i32,
) {
    let Some(table) = table.as_mut() else {
        return;
    };
    if let Some(refs) = table.get_mut(&key) {
        let before = refs.len();
        refs.retain(|r| !(r.wd == wd && std::ptr::eq(r.instance.as_ptr(), Arc::as_ptr(instance))));
        WATCH_COUNT.fetch_sub(before - refs.len(), Ordering::Relaxed);
        if refs.is_empty() {
            table.remove(&key);
        }
    }
}

impl FileOps for Inotify {
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(Stat {
            st_nlink: 1,
            st_mode: 0o600,
            st_blksize: 4096,
            // Linux's anon_inodefs, as eventfd and epoll files.
            st_dev: 0x0e,
            ..Stat::default()
        })
    }

    /// As many whole events as fit in `buf`; EINVAL if not even the first does, EAGAIN when
    /// none is queued.
    fn read(&self, _pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let mut state = self.instance.state.lock();
        let first = state.events.front().ok_or(Errno::EAGAIN)?;
        if first.size() > buf.len() {
            return Err(Errno::EINVAL);
        }
        let mut out = Vec::with_capacity(buf.len().min(state.queued_bytes));
        while let Some(event) = state.events.front() {
            if out.len() + event.size() > buf.len() {
                break;
            }
            event.encode(&mut out);
            let size = event.size();
            if event.mask == IN_Q_OVERFLOW {
                state.overflowed = false;
            }
            state.queued_bytes -= size;
            state.events.pop_front();
        }
        buf[..out.len()].copy_from_slice(&out);
        Ok(out.len())
    }

    fn write(&self, _pos: &mut u64, _buf: &[u8], _append: bool) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn seek(&self, _pos: &mut u64, _offset: i64, _whence: i32) -> Result<u64, Errno> {
        Err(Errno::ESPIPE)
    }

    fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> Result<u64, Errno> {
        crate::file::queued_bytes_ioctl(cmd, arg, || self.instance.state.lock().queued_bytes)
    }

    fn readiness(&self, mask: u32) -> u32 {
        if self.instance.state.lock().events.is_empty() {
            0
        } else {
            events::READABLE & mask
        }
    }

    fn wait_queue(&self) -> Option<Arc<WaitQueue>> {
        Some(Arc::clone(&self.instance.queue))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// Whether any watch exists (events need generating at all).
fn watching() -> bool {
    WATCH_COUNT.load(Ordering::Relaxed) != 0
}

fn key_of(inode: &Arc<dyn Inode>) -> Option<InodeKey> {
    let stat = inode.stat().ok()?;
    Some((stat.st_dev, stat.st_ino))
}

/// Queues `mask` for every watch on `inode` itself that asks for it. `removed` ends the
/// watches afterwards (IN_IGNORED): the inode is gone.
fn deliver(inode: &Arc<dyn Inode>, mask: u32, removed: bool) {
    let Some(key) = key_of(inode) else {
        return;
    };
    let is_dir = inode.file_type() == FileType::Directory;
    deliver_key(key, is_dir, mask, 0, b"", removed, 0);
}

/// `skip`: watches with any of these flags don't hear the event (IN_EXCL_UNLINK).
fn deliver_key(
    key: InodeKey,
    is_dir: bool,
    mask: u32,
    cookie: u32,
    name: &[u8],
    removed: bool,
    skip: u32,
) {
    let mut guard = WATCHES.lock();
    let Some(table) = guard.as_mut() else {
        return;
    };
    let Some(refs) = table.get_mut(&key) else {
        return;
    };
    // As Linux, the self events (IN_DELETE_SELF, IN_MOVE_SELF) don't say IN_ISDIR.
    let isdir = if is_dir && mask & (IN_DELETE_SELF | IN_MOVE_SELF) == 0 {
        IN_ISDIR
    } else {
        0
    };
    let mut ended: Vec<(*const Instance, i32)> = Vec::new();
    for r in refs.iter() {
        let Some(instance) = r.instance.upgrade() else {
            continue;
        };
        let mut state = instance.state.lock();
        let Some(watch) = state.watches.get(&r.wd) else {
            continue;
        };
        let wanted = if watch.mask & skip == 0 {
            watch.mask & mask
        } else {
            0
        };
        let ends = removed || (wanted != 0 && watch.mask & IN_ONESHOT != 0);
        if ends {
            state.watches.remove(&r.wd);
            ended.push((Arc::as_ptr(&instance), r.wd));
        }
        drop(state);
        if wanted != 0 {
            instance.push(Event {
                wd: r.wd,
                mask: wanted | isdir,
                cookie,
                name: name.to_vec(),
            });
        }
        if ends {
            instance.push(ignored(r.wd));
        }
    }
    if !ended.is_empty() {
        let before = refs.len();
        refs.retain(|r| !ended.contains(&(r.instance.as_ptr(), r.wd)));
        WATCH_COUNT.fetch_sub(before - refs.len(), Ordering::Relaxed);
        if refs.is_empty() {
            table.remove(&key);
        }
    }
}

/// An event on the file at `path`: its own watches hear it, and so does a watch on its
/// directory (with the file's name), unless that watch excludes unlinked files.
pub fn notify(path: &VfsPath, mask: u32) {
    if !watching() {
        return;
    }
    let inode = path.inode();
    let dentry = path.dentry();
    // As Linux, the directory's watches hear of it first.
    match dentry.parent() {
        Some(parent) if !path.is_mount_root() => {
            let is_dir = inode.file_type() == FileType::Directory;
            let unlinked = dentry.is_deleted();
            deliver_child(parent.inode(), mask, &dentry.name(), is_dir, unlinked);
        }
        _ => {}
    }
    deliver(inode, mask, false);
}

/// A directory watch hears of a child's event, with the child's name; if the child was
/// `unlinked`, only watches without IN_EXCL_UNLINK do.
fn deliver_child(dir: &Arc<dyn Inode>, mask: u32, name: &[u8], child_is_dir: bool, unlinked: bool) {
    let mask = mask & CHILD_EVENTS;
    if mask == 0 {
        return;
    }
    let Some(key) = key_of(dir) else {
        return;
    };
    let skip = if unlinked { IN_EXCL_UNLINK } else { 0 };
    deliver_key(key, child_is_dir, mask, 0, name, false, skip);
}

/// `name` was created in `dir` (create, mkdir, mknod, symlink, link, bind).
pub fn notify_create(dir: &VfsPath, name: &[u8], is_dir: bool) {
    if watching() {
        deliver_child(dir.inode(), IN_CREATE, name, is_dir, false);
    }
}

/// `name` of `dir` was removed; `victim`, what it named, is let go of before the directory
/// hears IN_DELETE, so a filesystem that reports its inodes' end (tmpfs) says IN_DELETE_SELF
/// first when nothing else holds the file, as Linux.
pub fn notify_remove(dir: &VfsPath, name: &[u8], victim: VfsPath) {
    if !watching() {
        return;
    }
    let is_dir = victim.is_dir();
    notify_unlinked(victim.inode());
    drop(victim);
    deliver_child(dir.inode(), IN_DELETE, name, is_dir, false);
}

/// The inode gained a link: IN_ATTRIB to its own watches (not its directory's).
pub fn notify_link_count(inode: &Arc<dyn Inode>) {
    if watching() {
        deliver(inode, IN_ATTRIB, false);
    }
}

/// The inode lost a link: IN_ATTRIB (for a non-directory); IN_DELETE_SELF (ending its
/// watches) when it has none left, unless its filesystem reports that when the last reference
/// goes ([`notify_evicted`]).
fn notify_unlinked(inode: &Arc<dyn Inode>) {
    let is_dir = inode.file_type() == FileType::Directory;
    if !is_dir {
        deliver(inode, IN_ATTRIB, false);
    }
    let gone = is_dir || inode.stat().is_ok_and(|st| st.st_nlink == 0);
    if gone && !inode.reports_eviction() {
        deliver(inode, IN_DELETE_SELF, true);
    }
}

/// The last reference to an unlinked inode (st_dev `dev`, st_ino `ino`) went away: its
/// watches hear IN_DELETE_SELF and end. Filesystems whose inodes say
/// [`Inode::reports_eviction`] call this.
pub fn notify_evicted(dev: u64, ino: u64, is_dir: bool) {
    if watching() {
        deliver_key((dev, ino), is_dir, IN_DELETE_SELF, 0, b"", true, 0);
    }
}

/// A rename moved `moved` from `old_name` of `old_dir` to `new_name` of `new_dir`, replacing
/// `replaced` if it was there.
pub fn notify_rename(
    old_dir: &VfsPath,
    old_name: &[u8],
    new_dir: &VfsPath,
    new_name: &[u8],
    moved: &Arc<dyn Inode>,
    replaced: Option<VfsPath>,
) {
    if !watching() {
        return;
    }
    let cookie = NEXT_COOKIE.fetch_add(1, Ordering::Relaxed);
    let is_dir = moved.file_type() == FileType::Directory;
    if let Some(key) = key_of(old_dir.inode()) {
        deliver_key(key, is_dir, IN_MOVED_FROM, cookie, old_name, false, 0);
    }
    if let Some(key) = key_of(new_dir.inode()) {
        deliver_key(key, is_dir, IN_MOVED_TO, cookie, new_name, false, 0);
    }
    // As Linux: the replaced file's IN_ATTRIB, the moved one's IN_MOVE_SELF, then the
    // replaced one's end.
    if let Some(replaced) = &replaced {
        if !replaced.is_dir() {
            deliver(replaced.inode(), IN_ATTRIB, false);
        }
    }
    deliver(moved, IN_MOVE_SELF, false);
    if let Some(replaced) = replaced {
        let inode = replaced.inode();
        let gone = replaced.is_dir() || inode.stat().is_ok_and(|st| st.st_nlink == 0);
        if gone && !inode.reports_eviction() {
            deliver(inode, IN_DELETE_SELF, true);
        }
    }
}

/// The inotify mask of an attribute change, as Linux's `fsnotify_change`.
pub fn attr_change_mask(attr: &crate::fs::SetAttr) -> u32 {
    let mut mask = 0;
    if attr.mode.is_some() || attr.uid.is_some() || attr.gid.is_some() {
        mask |= IN_ATTRIB;
    }
    if attr.size.is_some() {
        mask |= IN_MODIFY;
    }
    match (attr.atime.is_some(), attr.mtime.is_some()) {
        (true, true) => mask |= IN_ATTRIB,
        (true, false) => mask |= IN_ACCESS,
        (false, true) => mask |= IN_MODIFY,
        (false, false) => {}
    }
    mask
}
