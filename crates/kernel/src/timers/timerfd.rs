//! timerfd: a timer read as a file — an 8-byte count of expirations since the last read.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use abi::{Errno, Stat};
use parking_lot::Mutex;
use vfs::{FileOps, OpenFile};
use waiter::{events, WaitQueue};

use super::{Expire, Setting, Timer, TimerQueue};

/// The kernel-side index of live timerfds, by the address of their file operations: how
/// timerfd_settime/gettime find the timer behind an fd (vfs files don't expose their type).
#[derive(Default)]
pub(crate) struct TimerFdRegistry {
    files: Mutex<HashMap<usize, Weak<TimerFd>>>,
}

impl TimerFdRegistry {
    /// The timerfd `file` is; EINVAL when it is another kind of file, as Linux answers.
    pub(crate) fn get(&self, file: &OpenFile) -> Result<Arc<TimerFd>, Errno> {
        self.files
            .lock()
            .get(&ops_key(file.ops()))
            .and_then(Weak::upgrade)
            .ok_or(Errno::EINVAL)
    }
}

fn ops_key(ops: &dyn FileOps) -> usize {
    std::ptr::from_ref(ops).cast::<()>().addr()
}

/// A timerfd: its timer, the clock it was made on, and the expirations not yet read.
pub(crate) struct TimerFd {
    pub(crate) timer: Arc<Timer>,
    pub(crate) clock: i32,
    expirations: Arc<Expirations>,
}

impl TimerFd {
    /// timerfd_settime: (re)arms the timer; unread expirations are dropped, as Linux does.
    pub(crate) fn set(&self, setting: Setting) -> Setting {
        let old = self.timer.set(setting);
        *self.expirations.count.lock() = 0;
        old
    }
}

/// The count the timer adds to and read(2) takes, and the queue pollers wait on.
#[derive(Default)]
struct Expirations {
    count: Mutex<u64>,
    queue: Arc<WaitQueue>,
}

impl Expire for Expirations {
    fn expire(&self, count: u64) {
        {
            let mut total = self.count.lock();
            *total = total.saturating_add(count);
        }
        self.queue.notify(events::READABLE);
    }
}

/// The open file over a timerfd; leaves the registry when the last descriptor closes.
struct TimerFdFile {
    timerfd: Arc<TimerFd>,
    registry: Arc<TimerFdRegistry>,
}

/// timerfd_create: a disarmed timerfd on `clock`, as an open file with `flags` (O_NONBLOCK).
pub(crate) fn new_timerfd(
    queue: &TimerQueue,
    registry: &Arc<TimerFdRegistry>,
    clock: i32,
    flags: i32,
) -> Arc<OpenFile> {
    let expirations = Arc::new(Expirations::default());
    let timer = queue.timer(Box::new(Arc::clone(&expirations)));
    let timerfd = Arc::new(TimerFd {
        timer,
        clock,
        expirations,
    });
    let file = Box::new(TimerFdFile {
        timerfd: Arc::clone(&timerfd),
        registry: Arc::clone(registry),
    });
    // The box's contents don't move from here on: its address names the file while it lives.
    registry
        .files
        .lock()
        .insert(ops_key(file.as_ref()), Arc::downgrade(&timerfd));
    OpenFile::anonymous(file, libc::O_RDWR | flags)
}

impl Drop for TimerFdFile {
    fn drop(&mut self) {
        self.registry.files.lock().remove(&ops_key(&*self));
    }
}

impl FileOps for TimerFdFile {
    fn stat(&self) -> Result<Stat, Errno> {
        // An anonymous inode, as Linux makes for timerfds: no file type bits.
        Ok(Stat {
            st_mode: 0o600,
            st_nlink: 1,
            st_blksize: 4096,
            ..Stat::default()
        })
    }

    fn read(&self, _pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let out = buf.get_mut(..8).ok_or(Errno::EINVAL)?;
        let mut count = self.timerfd.expirations.count.lock();
        if *count == 0 {
            return Err(Errno::EAGAIN);
        }
        out.copy_from_slice(&count.to_ne_bytes());
        *count = 0;
        Ok(8)
    }

    fn write(&self, _pos: &mut u64, _buf: &[u8], _append: bool) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn seek(&self, pos: &mut u64, _offset: i64, _whence: i32) -> Result<u64, Errno> {
        // noop_llseek: the offset stays where it is.
        Ok(*pos)
    }

    fn readiness(&self, mask: u32) -> u32 {
        if *self.timerfd.expirations.count.lock() > 0 {
            mask & events::READABLE
        } else {
            0
        }
    }

    fn wait_queue(&self) -> Option<Arc<WaitQueue>> {
        Some(Arc::clone(&self.timerfd.expirations.queue))
    }
}
