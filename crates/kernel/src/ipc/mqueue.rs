//! POSIX message queues and the mqueue filesystem (mounted at /dev/mqueue).
//!
//! A queue is an inode of the mqueue filesystem's one directory; mq_open finds or creates it
//! there by name and opens it as a file: reading that file shows the queue's state (QSIZE and
//! the notification), polling it shows whether a message can be received (POLLIN) or sent
//! (POLLOUT). Messages leave highest priority first, in arrival order within a priority.

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use abi::{Errno, Stat, Statfs, Timespec};
use parking_lot::Mutex;
use vfs::{DirEntry, FileOps, FileSystem, FileType, Inode};
use waiter::{events, WaitQueue};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::IpcLimits;
use crate::task::Credentials;

/// Priorities are below this (MQ_PRIO_MAX).
pub(crate) const MQ_PRIO_MAX: u32 = 32768;
/// The filesystem's magic number (MQUEUE_MAGIC).
const MQUEUE_MAGIC: i64 = 0x1980_0202;
/// Default attributes of a queue created without any (DFLT_MSGMAX, DFLT_MSGSIZEMAX).
const DEFAULT_MAXMSG: i64 = 10;
const DEFAULT_MSGSIZE: i64 = 8192;
const NAME_MAX: usize = 255;

const CAP_DAC_OVERRIDE: u32 = 1;
const CAP_FOWNER: u32 = 3;
pub(crate) const CAP_SYS_RESOURCE: u32 = 24;

/// sigev_notify values.
pub(crate) const SIGEV_SIGNAL: i32 = 0;
pub(crate) const SIGEV_NONE: i32 = 1;

/// `struct mq_attr`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct MqAttr {
    pub(crate) flags: i64,
    pub(crate) maxmsg: i64,
    pub(crate) msgsize: i64,
    pub(crate) curmsgs: i64,
    reserved: [i64; 4],
}

/// A registration made with mq_notify: one process is told when a message arrives on the
/// empty queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Notification {
    pub(crate) tgid: i32,
    /// SIGEV_SIGNAL or SIGEV_NONE.
    pub(crate) notify: i32,
    pub(crate) signo: i32,
    pub(crate) value: u64,
}

/// What a successful send asks the caller to deliver: the registered notification, with the
/// sender's identity.
pub(crate) type Delivery = Notification;

struct QueueState {
    maxmsg: usize,
    msgsize: usize,
    /// Messages by priority (highest last in the map's order), oldest first within one.
    messages: BTreeMap<u32, VecDeque<Vec<u8>>>,
    count: usize,
    bytes: usize,
    notification: Option<Notification>,
    /// Receivers sleeping in mq_timedreceive: while any is, a notification isn't sent.
    receivers_waiting: usize,
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    times: Timespec,
}

/// One queue: an inode of the mqueue filesystem.
pub(crate) struct Queue {
    ino: u64,
    dev: u64,
    meta: Mutex<Meta>,
    state: Mutex<QueueState>,
    events: Arc<WaitQueue>,
}

impl Queue {
    pub(crate) fn attr(&self) -> MqAttr {
        let state = self.state.lock();
        MqAttr {
            maxmsg: as_i64(state.maxmsg),
            msgsize: as_i64(state.msgsize),
            curmsgs: as_i64(state.count),
            ..MqAttr::default()
        }
    }

    /// Queues `message` if there is room (EAGAIN if full, EMSGSIZE if too long); returns the
    /// notification to deliver, if this message is one a registered process waits for.
    pub(crate) fn send(&self, message: &[u8], priority: u32) -> Result<Option<Delivery>, Errno> {
        let mut state = self.state.lock();
        if message.len() > state.msgsize {
            return Err(Errno::EMSGSIZE);
        }
        if state.count >= state.maxmsg {
            return Err(Errno::EAGAIN);
        }
        let was_empty = state.count == 0;
        state
            .messages
            .entry(priority)
            .or_default()
            .push_back(message.to_vec());
        state.count += 1;
        state.bytes += message.len();
        // Linux notifies only when the queue goes from empty to not, and nobody is already
        // waiting to receive; the registration is then used up.
        let delivery = if was_empty && state.receivers_waiting == 0 {
            state.notification.take()
        } else {
            None
        };
        drop(state);
        self.touch();
        self.events.notify(events::READABLE);
        Ok(delivery)
    }

    /// Takes the oldest message of the highest priority, if it fits `max` (EMSGSIZE if `max`
    /// is below the queue's message size, EAGAIN if empty).
    pub(crate) fn receive(&self, max: usize) -> Result<(Vec<u8>, u32), Errno> {
        let mut state = self.state.lock();
        if max < state.msgsize {
            return Err(Errno::EMSGSIZE);
        }
        let mut highest = state.messages.last_entry().ok_or(Errno::EAGAIN)?;
        let priority = *highest.key();
        let message = highest.get_mut().pop_front().ok_or(Errno::EAGAIN)?;
        if highest.get().is_empty() {
            highest.remove();
        }
        state.count -= 1;
        state.bytes -= message.len();
        drop(state);
        self.touch();
        self.events.notify(events::WRITABLE);
        Ok((message, priority))
    }

    /// A receiver starts (or stops) sleeping on the queue.
    pub(crate) fn receiver_waiting(&self, waiting: bool) {
        let mut state = self.state.lock();
        if waiting {
            state.receivers_waiting += 1;
        } else {
            state.receivers_waiting -= 1;
        }
    }

    /// Registers `notification` (EBUSY if another process has), or with `None` removes the
    /// registration of process `tgid`.
    fn set_notification(&self, tgid: i32, notification: Option<Notification>) -> Result<(), Errno> {
        let mut state = self.state.lock();
        match notification {
            Some(n) => {
                if state.notification.is_some_and(|old| old.tgid != tgid) {
                    return Err(Errno::EBUSY);
                }
                state.notification = Some(n);
            }
            None => {
                if state.notification.is_some_and(|old| old.tgid == tgid) {
                    state.notification = None;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn events(&self) -> &Arc<WaitQueue> {
        &self.events
    }

    fn touch(&self) {
        self.meta.lock().times = super::now_timespec();
    }

    /// What reading the queue's file shows.
    fn info(&self) -> Vec<u8> {
        let state = self.state.lock();
        let (notify, signo, pid) = state.notification.map_or((0, 0, 0), |n| {
            let signo = if n.notify == SIGEV_SIGNAL { n.signo } else { 0 };
            (n.notify, signo, n.tgid)
        });
        format!(
            "QSIZE:{:<10} NOTIFY:{notify:<5} SIGNO:{signo:<5} NOTIFY_PID:{pid:<6}\n",
            state.bytes
        )
        .into_bytes()
    }

    /// Whether `creds` may open the queue for `want` (0o4 read, 0o2 write).
    fn check_access(&self, creds: &Credentials, want: u32) -> Result<(), Errno> {
        let meta = self.meta.lock();
        let granted = if creds.fsuid == meta.uid {
            meta.mode >> 6
        } else if creds.fsgid == meta.gid || creds.groups.contains(&meta.gid) {
            meta.mode >> 3
        } else {
            meta.mode
        };
        if want & !granted & 0o7 != 0 && !creds.capable(CAP_DAC_OVERRIDE) {
            return Err(Errno::EACCES);
        }
        Ok(())
    }
}

/// A queue as the directory's child: opening it through /dev/mqueue gives the queue's file.
struct QueueInode(Arc<Queue>);

impl Inode for QueueInode {
    fn ino(&self) -> u64 {
        self.0.ino
    }

    fn file_type(&self) -> FileType {
        FileType::Regular
    }

    fn stat(&self) -> Result<Stat, Errno> {
        self.0.stat()
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn open(&self, _flags: i32) -> Result<Option<Box<dyn FileOps>>, Errno> {
        Ok(Some(Box::new(QueueFile(Arc::clone(&self.0)))))
    }
}

impl Queue {
    fn stat(&self) -> Result<Stat, Errno> {
        let meta = self.meta.lock();
        let size = as_i64(self.info().len());
        Ok(Stat {
            st_dev: self.dev,
            st_ino: self.ino,
            st_nlink: 1,
            st_mode: libc::S_IFREG | meta.mode,
            st_uid: meta.uid,
            st_gid: meta.gid,
            st_size: size,
            st_blksize: 4096,
            st_atime: meta.times,
            st_mtime: meta.times,
            st_ctime: meta.times,
            ..Stat::default()
        })
    }
}

/// A queue opened (by mq_open or open(2) of /dev/mqueue/NAME).
pub(crate) struct QueueFile(pub(crate) Arc<Queue>);

impl QueueFile {
    /// The queue behind `file`, if it is one (mq_* on another fd: EBADF).
    pub(crate) fn of(file: &vfs::OpenFile) -> Option<Arc<Queue>> {
        file.ops()
            .as_any()
            .downcast_ref::<QueueFile>()
            .map(|q| Arc::clone(&q.0))
    }
}

impl FileOps for QueueFile {
    fn stat(&self) -> Result<Stat, Errno> {
        self.0.stat()
    }

    fn pread(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let info = self.0.info();
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(info.len());
        let n = buf.len().min(info.len() - start);
        buf[..n].copy_from_slice(&info[start..start + n]);
        Ok(n)
    }

    fn readiness(&self, mask: u32) -> u32 {
        let state = self.0.state.lock();
        let mut ready = 0;
        if state.count > 0 {
            ready |= events::READABLE;
        }
        if state.count < state.maxmsg {
            ready |= events::WRITABLE;
        }
        ready & (mask | events::ALWAYS)
    }

    fn wait_queue(&self) -> Option<Arc<WaitQueue>> {
        Some(Arc::clone(&self.0.events))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The mqueue filesystem: one directory of queues, the sandbox's namespace of queue names.
pub(crate) struct MqueueFs {
    root: Arc<MqueueDir>,
    /// Queues with an mq_notify registration, named or not, so that a process's registrations
    /// end with it (Linux drops them as the process's descriptors close).
    registered: Mutex<Vec<Weak<Queue>>>,
}

impl Default for MqueueFs {
    fn default() -> Self {
        MqueueFs {
            root: Arc::new(MqueueDir {
                dev: vfs::new_device_id(),
                queues: Mutex::new(BTreeMap::new()),
                next_ino: AtomicU64::new(2),
            }),
            registered: Mutex::new(Vec::new()),
        }
    }
}

struct MqueueDir {
    dev: u64,
    queues: Mutex<BTreeMap<Vec<u8>, Arc<Queue>>>,
    next_ino: AtomicU64,
}

/// What mq_open asks for.
pub(crate) struct OpenRequest<'a> {
    pub(crate) name: &'a [u8],
    pub(crate) flags: i32,
    /// Permission bits for a new queue, umask applied.
    pub(crate) mode: u32,
    /// The attributes for a new queue (None: the defaults).
    pub(crate) attr: Option<MqAttr>,
}

impl MqueueFs {
    /// mq_notify by process `tgid`: registers `notification` on `queue` (EBUSY if another
    /// process has), or with `None` removes `tgid`'s registration.
    pub(crate) fn notify(
        &self,
        queue: &Arc<Queue>,
        tgid: i32,
        notification: Option<Notification>,
    ) -> Result<(), Errno> {
        queue.set_notification(tgid, notification)?;
        if notification.is_some() {
            let mut registered = self.registered.lock();
            registered.retain(|q| q.strong_count() > 0);
            if !registered
                .iter()
                .any(|q| std::ptr::eq(q.as_ptr(), Arc::as_ptr(queue)))
            {
                registered.push(Arc::downgrade(queue));
            }
        }
        Ok(())
    }

    /// Process `tgid` ended: its registrations go.
    pub(crate) fn process_exited(&self, tgid: i32) {
        let queues: Vec<Arc<Queue>> = {
            let mut registered = self.registered.lock();
            registered.retain(|q| q.strong_count() > 0);
            registered.iter().filter_map(Weak::upgrade).collect()
        };
        for queue in queues {
            let _ = queue.set_notification(tgid, None);
        }
    }

    /// mq_open: finds or creates the queue `name`, checking access as Linux does.
    pub(crate) fn open(
        &self,
        request: &OpenRequest<'_>,
        creds: &Credentials,
        limits: &IpcLimits,
    ) -> Result<Arc<Queue>, Errno> {
        let name = check_name(request.name)?;
        let want = match request.flags & libc::O_ACCMODE {
            libc::O_RDONLY => 0o4,
            libc::O_WRONLY => 0o2,
            libc::O_RDWR => 0o6,
            _ => return Err(Errno::EINVAL),
        };
        let mut queues = self.root.queues.lock();
        if let Some(queue) = queues.get(name) {
            if request.flags & (libc::O_CREAT | libc::O_EXCL) == libc::O_CREAT | libc::O_EXCL {
                return Err(Errno::EEXIST);
            }
            queue.check_access(creds, want)?;
            return Ok(Arc::clone(queue));
        }
        if request.flags & libc::O_CREAT == 0 {
            return Err(Errno::ENOENT);
        }
        let privileged = creds.capable(CAP_SYS_RESOURCE);
        if queues.len() >= limits.mq_queues_max as usize && !privileged {
            return Err(Errno::ENOSPC);
        }
        let (maxmsg, msgsize) = match request.attr {
            None => (
                DEFAULT_MAXMSG.min(i64::from(limits.mq_msg_max)),
                DEFAULT_MSGSIZE.min(i64::from(limits.mq_msgsize_max)),
            ),
            Some(attr) => {
                if attr.maxmsg <= 0 || attr.msgsize <= 0 {
                    return Err(Errno::EINVAL);
                }
                if !privileged
                    && (attr.maxmsg > i64::from(limits.mq_msg_max)
                        || attr.msgsize > i64::from(limits.mq_msgsize_max))
                {
                    return Err(Errno::EINVAL);
                }
                // Linux's hard limits, whatever the privilege (HARD_MSGMAX, HARD_MSGSIZEMAX).
                if attr.maxmsg > 65536 || attr.msgsize > 16 << 20 {
                    return Err(Errno::EINVAL);
                }
                (attr.maxmsg, attr.msgsize)
            }
        };
        let queue = Arc::new(Queue {
            ino: self.root.next_ino.fetch_add(1, Ordering::Relaxed),
            dev: self.root.dev,
            meta: Mutex::new(Meta {
                mode: request.mode & 0o777,
                uid: creds.fsuid,
                gid: creds.fsgid,
                times: super::now_timespec(),
            }),
            state: Mutex::new(QueueState {
                maxmsg: usize::try_from(maxmsg).unwrap_or(usize::MAX),
                msgsize: usize::try_from(msgsize).unwrap_or(usize::MAX),
                messages: BTreeMap::new(),
                count: 0,
                bytes: 0,
                notification: None,
                receivers_waiting: 0,
            }),
            events: Arc::new(WaitQueue::new()),
        });
        queues.insert(name.to_vec(), Arc::clone(&queue));
        Ok(queue)
    }

    /// mq_unlink: the name goes; open descriptors keep the queue.
    pub(crate) fn unlink(&self, name: &[u8], creds: &Credentials) -> Result<(), Errno> {
        let name = check_name(name)?;
        let mut queues = self.root.queues.lock();
        let queue = queues.get(name).ok_or(Errno::ENOENT)?;
        // The directory is sticky and world-writable: only the queue's owner may remove it.
        if queue.meta.lock().uid != creds.fsuid && !creds.capable(CAP_FOWNER) {
            return Err(Errno::EACCES);
        }
        queues.remove(name);
        Ok(())
    }
}

fn as_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A queue name as the kernel gets it (glibc strips the leading slash): no slashes, not "."
/// or "..".
fn check_name(name: &[u8]) -> Result<&[u8], Errno> {
    if name.is_empty() {
        return Err(Errno::ENOENT);
    }
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.contains(&b'/') || name == b"." || name == b".." {
        return Err(Errno::EACCES);
    }
    Ok(name)
}

impl FileSystem for MqueueFs {
    fn name(&self) -> &'static str {
        "mqueue"
    }

    fn root(&self) -> Arc<dyn Inode> {
        Arc::clone(&self.root) as Arc<dyn Inode>
    }

    fn statfs(&self) -> Result<Statfs, Errno> {
        Ok(Statfs {
            f_type: MQUEUE_MAGIC,
            f_bsize: 4096,
            f_namelen: as_i64(NAME_MAX),
            f_frsize: 4096,
            ..Statfs::default()
        })
    }
}

impl Inode for MqueueDir {
    fn ino(&self) -> u64 {
        1
    }

    fn file_type(&self) -> FileType {
        FileType::Directory
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(Stat {
            st_dev: self.dev,
            st_ino: 1,
            st_nlink: 2,
            st_mode: libc::S_IFDIR | 0o1777,
            st_blksize: 4096,
            ..Stat::default()
        })
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn lookup(&self, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        self.queues
            .lock()
            .get(name)
            .map(|q| Arc::new(QueueInode(Arc::clone(q))) as Arc<dyn Inode>)
            .ok_or(Errno::ENOENT)
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, Errno> {
        Ok(self
            .queues
            .lock()
            .iter()
            .map(|(name, q)| DirEntry {
                ino: q.ino,
                file_type: FileType::Regular,
                name: name.clone(),
            })
            .collect())
    }

    fn unlink(&self, name: &[u8]) -> Result<(), Errno> {
        self.queues
            .lock()
            .remove(name)
            .map(|_| ())
            .ok_or(Errno::ENOENT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(uid: u32) -> Credentials {
        let mut creds = Credentials::root();
        creds.fsuid = uid;
        creds.fsgid = uid;
        creds.euid = uid;
        if uid != 0 {
            creds.caps = crate::task::Capabilities::default();
        }
        creds
    }

    fn open(
        fs: &MqueueFs,
        name: &[u8],
        flags: i32,
        creds: &Credentials,
    ) -> Result<Arc<Queue>, Errno> {
        let request = OpenRequest {
            name,
            flags,
            mode: 0o600,
            attr: Some(MqAttr {
                maxmsg: 2,
                msgsize: 8,
                ..MqAttr::default()
            }),
        };
        fs.open(&request, creds, &IpcLimits::default())
    }

    #[test]
    fn names_creation_and_access() {
        let fs = MqueueFs::default();
        let root = user(0);
        let create = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
        assert_eq!(
            open(&fs, b"q", libc::O_RDWR, &root).err(),
            Some(Errno::ENOENT)
        );
        let queue = open(&fs, b"q", create, &root).expect("create");
        assert_eq!(open(&fs, b"q", create, &root).err(), Some(Errno::EEXIST));
        assert_eq!(open(&fs, b"a/b", create, &root).err(), Some(Errno::EACCES));
        assert_eq!(open(&fs, b"", create, &root).err(), Some(Errno::ENOENT));
        assert_eq!(open(&fs, b"q", 3, &root).err(), Some(Errno::EINVAL));
        assert_eq!(
            open(&fs, b"q", libc::O_RDONLY, &user(1000)).err(),
            Some(Errno::EACCES)
        );
        assert_eq!(fs.unlink(b"q", &user(1000)), Err(Errno::EACCES));
        // The filesystem shows the queue by name.
        let dir = fs.root();
        assert_eq!(dir.readdir().expect("readdir")[0].name, b"q");
        assert_eq!(dir.lookup(b"q").expect("lookup").ino(), queue.ino);
        fs.unlink(b"q", &root).expect("unlink");
        assert_eq!(dir.lookup(b"q").err(), Some(Errno::ENOENT));
        // An open queue outlives its name.
        assert_eq!(queue.send(b"x", 0), Ok(None));
    }

    #[test]
    fn priorities_sizes_and_notification() {
        let fs = MqueueFs::default();
        let queue = open(&fs, b"q", libc::O_RDWR | libc::O_CREAT, &user(0)).expect("create");
        let note = Notification {
            tgid: 7,
            notify: SIGEV_SIGNAL,
            signo: libc::SIGUSR1,
            value: 42,
        };
        fs.notify(&queue, 7, Some(note)).expect("notify");
        assert_eq!(fs.notify(&queue, 8, Some(note)), Err(Errno::EBUSY));
        assert_eq!(queue.send(b"toolong!!", 0), Err(Errno::EMSGSIZE));
        assert_eq!(queue.send(b"low", 1), Ok(Some(note)));
        assert_eq!(queue.send(b"high", 5), Ok(None));
        assert_eq!(queue.send(b"more", 5), Err(Errno::EAGAIN));
        assert_eq!(
            queue.info(),
            b"QSIZE:7          NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n"
        );
        assert_eq!(queue.receive(4), Err(Errno::EMSGSIZE));
        assert_eq!(queue.receive(8), Ok((b"high".to_vec(), 5)));
        assert_eq!(queue.receive(8), Ok((b"low".to_vec(), 1)));
        assert_eq!(queue.receive(8), Err(Errno::EAGAIN));
        // No notification while a receiver waits.
        fs.notify(&queue, 7, Some(note)).expect("notify again");
        // The owner's exit ends its registration: another process may register.
        fs.process_exited(7);
        fs.notify(&queue, 8, Some(note))
            .expect("registration freed");
        queue.receiver_waiting(true);
        assert_eq!(queue.send(b"x", 0), Ok(None));
        queue.receiver_waiting(false);
    }
}
