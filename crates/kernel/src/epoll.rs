//! epoll instances: a set of watched files and the ones that may be ready.
//!
//! Each watch registers a hook on the watched file's wait queue for as long as it exists. The
//! hook marks the watch *flagged* (Linux's ready list) and wakes the epoll's own queue. A wait
//! looks only at flagged watches: each is unflagged, its readiness re-read, and reported if
//! ready; a level-triggered watch that was reported stays flagged (it is looked at again next
//! time), an edge-triggered one waits for the next notification, a one-shot one is disabled
//! until EPOLL_CTL_MOD. A watch holds its file weakly: when the open file description is
//! released (its last fd closed), the watch goes, as on Linux.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use abi::{Errno, Stat};
use parking_lot::Mutex;
use vfs::{FileOps, OpenFile};
use waiter::{events, Notify, OwnedRegistration, WaitQueue};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::eventfd::anon_inode_stat;

pub(crate) const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub(crate) const EPOLLWAKEUP: u32 = 1 << 29;
pub(crate) const EPOLLONESHOT: u32 = 1 << 30;
pub(crate) const EPOLLET: u32 = 1 << 31;
/// Bits that say how to watch rather than what to watch for.
const CONTROL_BITS: u32 = EPOLLEXCLUSIVE | EPOLLWAKEUP | EPOLLONESHOT | EPOLLET;

/// Linux's limit on epoll nesting (EP_MAX_NESTS).
const MAX_NESTING: usize = 4;

/// `struct epoll_event` (packed on x86-64: 12 bytes).
#[repr(C, packed)]
#[derive(Clone, Copy, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct EpollEvent {
    pub(crate) events: u32,
    pub(crate) data: u64,
}

/// One watched (file, fd) pair.
struct Watch {
    file: Weak<OpenFile>,
    fd: i32,
    /// The events asked for, with EPOLLERR | EPOLLHUP and the control bits; only the control
    /// bits once a one-shot watch has fired.
    events: AtomicU32,
    data: AtomicU64,
    /// On the ready list: notified (or added) since last looked at.
    flagged: AtomicBool,
    _registration: Option<OwnedRegistration>,
}

impl Watch {
    fn is_for(&self, file: &Arc<OpenFile>, fd: i32) -> bool {
        self.fd == fd && std::ptr::eq(self.file.as_ptr(), Arc::as_ptr(file))
    }

    /// What the watched file reports now of the events asked for; `None` if it is gone.
    fn ready_events(&self) -> Option<u32> {
        let file = self.file.upgrade()?;
        let wanted = self.events.load(Ordering::Acquire) & !CONTROL_BITS;
        Some(file.readiness(wanted) & wanted)
    }
}

/// What a watched file's queue calls: flags the watch and wakes the epoll's waiters.
struct WatchHook {
    watch: Weak<Watch>,
    epoll_queue: Weak<WaitQueue>,
}

impl Notify for WatchHook {
    fn notify(&self, happened: u32) {
        let Some(watch) = self.watch.upgrade() else {
            return;
        };
        let wanted = watch.events.load(Ordering::Acquire) & !CONTROL_BITS;
        if wanted == 0 || happened & wanted == 0 {
            return;
        }
        watch.flagged.store(true, Ordering::Release);
        if let Some(queue) = self.epoll_queue.upgrade() {
            queue.notify(events::READABLE);
        }
    }
}

/// An epoll instance.
pub(crate) struct Epoll {
    /// Watches in ready-list order: reported level-triggered ones move to the back, so a
    /// small `maxevents` still sees every ready file in turn.
    watches: Mutex<Vec<Arc<Watch>>>,
    /// Woken when a watch is flagged: epoll_wait sleeps here, and poll or an outer epoll
    /// watch the epoll fd through it.
    queue: Arc<WaitQueue>,
}

/// Makes an epoll instance as an open file.
pub(crate) fn new_epoll() -> Arc<OpenFile> {
    OpenFile::anonymous(
        Box::new(Epoll {
            watches: Mutex::new(Vec::new()),
            queue: Arc::new(WaitQueue::new()),
        }),
        libc::O_RDWR,
    )
}

/// The epoll instance behind `file`, if it is one.
pub(crate) fn as_epoll(file: &OpenFile) -> Option<&Epoll> {
    file.ops().as_any().downcast_ref::<Epoll>()
}

impl Epoll {
    /// EPOLL_CTL_ADD. `file` is what `fd` refers to; the caller has checked it may be watched.
    pub(crate) fn add(
        &self,
        file: &Arc<OpenFile>,
        fd: i32,
        event: EpollEvent,
    ) -> Result<(), Errno> {
        let mut watches = self.watches.lock();
        watches.retain(|w| w.file.strong_count() > 0);
        if watches.iter().any(|w| w.is_for(file, fd)) {
            return Err(Errno::EEXIST);
        }
        let events = event.events | events::POLLERR | events::POLLHUP;
        let queue = file.wait_queue();
        let watch = Arc::new_cyclic(|me: &Weak<Watch>| {
            let registration = queue.as_ref().map(|queue| {
                let hook = Arc::new(WatchHook {
                    watch: me.clone(),
                    epoll_queue: Arc::downgrade(&self.queue),
                });
                WaitQueue::register_owned(queue, hook, u32::MAX)
            });
            Watch {
                file: Arc::downgrade(file),
                fd,
                events: AtomicU32::new(events),
                data: AtomicU64::new(event.data),
                // Looked at by the next wait, to report a file that is ready already.
                flagged: AtomicBool::new(true),
                _registration: registration,
            }
        });
        watches.push(watch);
        drop(watches);
        self.queue.notify(events::READABLE);
        Ok(())
    }

    /// EPOLL_CTL_MOD: new events and data; re-arms a one-shot watch.
    pub(crate) fn modify(
        &self,
        file: &Arc<OpenFile>,
        fd: i32,
        event: EpollEvent,
    ) -> Result<(), Errno> {
        let watches = self.watches.lock();
        let watch = watches
            .iter()
            .find(|w| w.is_for(file, fd))
            .ok_or(Errno::ENOENT)?;
        if watch.events.load(Ordering::Acquire) & EPOLLEXCLUSIVE != 0 {
            return Err(Errno::EINVAL);
        }
        watch.data.store(event.data, Ordering::Release);
        watch.events.store(
            event.events | events::POLLERR | events::POLLHUP,
            Ordering::Release,
        );
        watch.flagged.store(true, Ordering::Release);
        drop(watches);
        self.queue.notify(events::READABLE);
        Ok(())
    }

    /// EPOLL_CTL_DEL.
    pub(crate) fn delete(&self, file: &Arc<OpenFile>, fd: i32) -> Result<(), Errno> {
        let mut watches = self.watches.lock();
        let at = watches
            .iter()
            .position(|w| w.is_for(file, fd))
            .ok_or(Errno::ENOENT)?;
        watches.remove(at);
        Ok(())
    }

    /// Takes up to `max` ready events, as one epoll_wait reports them.
    pub(crate) fn collect(&self, max: usize) -> Vec<EpollEvent> {
        let mut watches = self.watches.lock();
        watches.retain(|w| w.file.strong_count() > 0);
        let mut ready = Vec::new();
        let mut requeue = Vec::new();
        for (index, watch) in watches.iter().enumerate() {
            if ready.len() == max {
                break;
            }
            // Unflag before looking: a notification from now on flags it again.
            if !watch.flagged.swap(false, Ordering::AcqRel) {
                continue;
            }
            let Some(revents) = watch.ready_events().filter(|&r| r != 0) else {
                continue;
            };
            ready.push(EpollEvent {
                events: revents,
                data: watch.data.load(Ordering::Acquire),
            });
            let events = watch.events.load(Ordering::Acquire);
            if events & EPOLLONESHOT != 0 {
                watch.events.store(events & CONTROL_BITS, Ordering::Release);
            } else if events & EPOLLET == 0 {
                watch.flagged.store(true, Ordering::Release);
                requeue.push(index);
            }
        }
        // Reported level-triggered watches go to the back of the ready order.
        for index in requeue.into_iter().rev() {
            let watch = watches.remove(index);
            watches.push(watch);
        }
        ready
    }

    /// Whether a wait would report something now (without consuming anything).
    fn has_ready(&self) -> bool {
        self.watches
            .lock()
            .iter()
            .any(|w| w.flagged.load(Ordering::Acquire) && w.ready_events().is_some_and(|r| r != 0))
    }

    pub(crate) fn queue(&self) -> &Arc<WaitQueue> {
        &self.queue
    }

    /// Whether adding `target` (an epoll) to this one would close a loop or nest too deep.
    pub(crate) fn would_loop(&self, target: &Epoll) -> bool {
        fn reaches(from: &Epoll, to: &Epoll, depth: usize) -> bool {
            if std::ptr::eq(from, to) {
                return true;
            }
            if depth > MAX_NESTING {
                return true;
            }
            let inner: Vec<Arc<OpenFile>> = from
                .watches
                .lock()
                .iter()
                .filter_map(|w| w.file.upgrade())
                .collect();
            inner
                .iter()
                .filter_map(|f| as_epoll(f))
                .any(|e| reaches(e, to, depth + 1))
        }
        reaches(target, self, 0)
    }
}

impl FileOps for Epoll {
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(anon_inode_stat())
    }

    fn read(&self, _pos: &mut u64, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn write(&self, _pos: &mut u64, _buf: &[u8], _append: bool) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn seek(&self, _pos: &mut u64, _offset: i64, _whence: i32) -> Result<u64, Errno> {
        Err(Errno::ESPIPE)
    }

    fn readiness(&self, mask: u32) -> u32 {
        if self.has_ready() {
            mask & events::READABLE
        } else {
            0
        }
    }

    fn wait_queue(&self) -> Option<Arc<WaitQueue>> {
        Some(Arc::clone(&self.queue))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
