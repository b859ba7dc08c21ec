//! Wait queues and waiters.
//!
//! A task that must block (an empty pipe, a futex, wait4, poll) registers a [`Notify`] on the
//! wait queues of what it waits for, re-checks its condition, and sleeps on its [`Waiter`].
//! Whatever changes the condition calls [`WaitQueue::notify`] with the events that happened;
//! signal delivery wakes the waiter directly. Registering before the re-check means no wake-up
//! is lost between the check and the sleep.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// poll(2) event bits, as Linux numbers them (also epoll's).
pub mod events {
    pub const POLLIN: u32 = 0x001;
    pub const POLLPRI: u32 = 0x002;
    pub const POLLOUT: u32 = 0x004;
    pub const POLLERR: u32 = 0x008;
    pub const POLLHUP: u32 = 0x010;
    pub const POLLNVAL: u32 = 0x020;
    pub const POLLRDNORM: u32 = 0x040;
    pub const POLLRDBAND: u32 = 0x080;
    pub const POLLWRNORM: u32 = 0x100;
    pub const POLLWRBAND: u32 = 0x200;
    pub const POLLRDHUP: u32 = 0x2000;
    /// Readable, in every spelling.
    pub const READABLE: u32 = POLLIN | POLLRDNORM;
    /// Writable, in every spelling.
    pub const WRITABLE: u32 = POLLOUT | POLLWRNORM;
    /// Reported whether asked for or not.
    pub const ALWAYS: u32 = POLLERR | POLLHUP | POLLNVAL;
}

/// Something to tell when events happen on a queue it is registered with.
pub trait Notify: Send + Sync {
    fn notify(&self, events: u32);
}

/// A sleeping place for one task: woken by notifications and by signals.
#[derive(Default)]
pub struct Waiter {
    woken: Mutex<bool>,
    cond: Condvar,
}

impl Waiter {
    pub fn new() -> Arc<Waiter> {
        Arc::new(Waiter::default())
    }

    /// Wakes the task if it sleeps, or makes its next sleep return at once.
    pub fn wake(&self) {
        *self.woken.lock() = true;
        self.cond.notify_all();
    }

    /// Sleeps until woken or until `deadline`; returns false on timeout. Consumes the wake-up.
    pub fn sleep(&self, deadline: Option<Instant>) -> bool {
        let mut woken = self.woken.lock();
        while !*woken {
            match deadline {
                Some(deadline) => {
                    if self.cond.wait_until(&mut woken, deadline).timed_out() {
                        return std::mem::take(&mut *woken);
                    }
                }
                None => self.cond.wait(&mut woken),
            }
        }
        *woken = false;
        true
    }

    /// Forgets a pending wake-up (before re-checking a condition in a loop).
    pub fn clear(&self) {
        *self.woken.lock() = false;
    }
}

impl Notify for Waiter {
    fn notify(&self, _events: u32) {
        self.wake();
    }
}

struct Entry {
    id: u64,
    mask: u32,
    target: Arc<dyn Notify>,
}

/// Who to tell when something becomes readable, writable, or otherwise changes.
#[derive(Default)]
pub struct WaitQueue {
    entries: Mutex<Vec<Entry>>,
}

/// A registration on a wait queue; dropping it unregisters.
pub struct Registration<'q> {
    queue: &'q WaitQueue,
    id: u64,
}

/// An owned registration for registrations that outlive a borrow (epoll's watches).
pub struct OwnedRegistration {
    queue: Arc<WaitQueue>,
    id: u64,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl WaitQueue {
    pub fn new() -> WaitQueue {
        WaitQueue::default()
    }

    fn add(&self, target: Arc<dyn Notify>, mask: u32) -> u64 {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        self.entries.lock().push(Entry { id, mask, target });
        id
    }

    fn remove(&self, id: u64) {
        self.entries.lock().retain(|e| e.id != id);
    }

    /// Tells `target` about events in `mask` (plus errors and hang-ups) until the registration
    /// is dropped.
    pub fn register(&self, target: Arc<dyn Notify>, mask: u32) -> Registration<'_> {
        let id = self.add(target, mask | events::ALWAYS);
        Registration { queue: self, id }
    }

    /// [`WaitQueue::register`] for a queue held by `Arc`.
    pub fn register_owned(
        queue: &Arc<WaitQueue>,
        target: Arc<dyn Notify>,
        mask: u32,
    ) -> OwnedRegistration {
        let id = queue.add(target, mask | events::ALWAYS);
        OwnedRegistration {
            queue: Arc::clone(queue),
            id,
        }
    }

    /// Tells every registrant interested in any of `events`.
    pub fn notify(&self, events: u32) {
        // Collect first: a target may register or unregister on this queue while notified.
        let targets: Vec<Arc<dyn Notify>> = self
            .entries
            .lock()
            .iter()
            .filter(|e| e.mask & events != 0)
            .map(|e| Arc::clone(&e.target))
            .collect();
        for target in targets {
            target.notify(events);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.lock().is_empty()
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.queue.remove(self.id);
    }
}

impl Drop for OwnedRegistration {
    fn drop(&mut self) {
        self.queue.remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn notify_wakes_a_registered_waiter() {
        let queue = Arc::new(WaitQueue::new());
        let waiter = Waiter::new();
        let registration = queue.register(waiter.clone(), events::POLLIN);
        let q = Arc::clone(&queue);
        let t = std::thread::spawn(move || q.notify(events::POLLIN));
        assert!(waiter.sleep(Some(Instant::now() + Duration::from_secs(10))));
        t.join().expect("notifier");
        drop(registration);
        assert!(queue.is_empty());
    }

    #[test]
    fn uninteresting_events_and_timeouts() {
        let queue = WaitQueue::new();
        let waiter = Waiter::new();
        let _registration = queue.register(waiter.clone(), events::POLLIN);
        queue.notify(events::POLLOUT);
        assert!(!waiter.sleep(Some(Instant::now() + Duration::from_millis(20))));
        queue.notify(events::POLLHUP);
        assert!(waiter.sleep(Some(Instant::now())));
    }

    #[test]
    fn a_wake_before_sleep_is_not_lost() {
        let waiter = Waiter::new();
        waiter.wake();
        assert!(waiter.sleep(None));
        waiter.wake();
        waiter.clear();
        assert!(!waiter.sleep(Some(Instant::now() + Duration::from_millis(10))));
    }
}
