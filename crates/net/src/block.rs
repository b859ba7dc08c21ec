//! How socket operations wait: the caller's side of sleeping, and the register-recheck-sleep
//! loop every blocking operation runs.

use std::sync::Arc;

use abi::Errno;
use waiter::{WaitQueue, Waiter};

/// The calling task's way of sleeping while a socket operation would block.
pub trait Blocker {
    /// Whether the operation may sleep at all (false for O_NONBLOCK or MSG_DONTWAIT).
    fn may_block(&self) -> bool;
    /// The waiter to register on the wait queues of what the operation waits for.
    fn waiter(&self) -> Arc<Waiter>;
    /// Sleeps until woken. An error ends the wait: a pending signal (ERESTARTSYS, or EINTR
    /// under a timeout, as Linux's `sock_intr_errno`) or the timeout passing (EAGAIN).
    fn sleep(&mut self) -> Result<(), Errno>;
}

/// Runs `op` until it stops returning EAGAIN, sleeping on `queue` for `events` in between.
/// Registration comes before the re-check, so no wake-up is lost between them.
pub(crate) fn block_on<T>(
    blocker: &mut dyn Blocker,
    queue: &WaitQueue,
    events: u32,
    mut op: impl FnMut() -> Result<T, Errno>,
) -> Result<T, Errno> {
    loop {
        match op() {
            Err(Errno::EAGAIN) => {}
            result => return result,
        }
        if !blocker.may_block() {
            return Err(Errno::EAGAIN);
        }
        let waiter = blocker.waiter();
        let _registration = queue.register(waiter.clone(), events);
        waiter.clear();
        match op() {
            Err(Errno::EAGAIN) => {}
            result => return result,
        }
        blocker.sleep()?;
    }
}
