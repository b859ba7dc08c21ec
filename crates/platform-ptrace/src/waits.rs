//! Waiting for a tracee's next stop, with a watchdog that makes a wait that sleeps through a stop
//! look again.
//!
//! Every tracer thread blocks in `waitpid(tid, __WALL)` until its stub thread stops. Under heavy
//! load (two vCPUs, tracer and stubs pinned to one) the host sometimes leaves a tracer asleep in
//! that wait4 for good although its own tracee has stopped: the guest thread hangs, and with it
//! every process that waits for it (a vfork parent, a shell's wait4). Nothing in the Sentry can
//! wake the tracer, but any restart of the wait4 finds the stop at once (a debugger attaching to
//! the Sentry unsticks it).
//!
//! So each wait is watched: a thread that has been inside one wait4 for a whole tick is kicked
//! with a signal whose handler does nothing and has SA_RESTART, so the kernel restarts the wait4,
//! which looks at the tracee again. A wait that is just long (a guest computing for seconds) costs
//! one restart per tick.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Once, Weak};
use std::time::Duration;

use nix::unistd::{getpid, gettid, Pid};
use parking_lot::Mutex;

use crate::sys;

/// How long a wait goes unwatched: a lost stop is found again within one to two ticks.
const TICK: Duration = Duration::from_secs(1);

/// One tracer thread, as the watchdog sees it.
#[derive(Debug)]
struct Waiter {
    tid: Pid,
    /// Odd while the thread is inside `wait_for`; bumped at every entry and exit, so an odd value
    /// seen twice a tick apart is one wait that lasted the whole tick.
    epoch: AtomicU64,
    /// Set when the watchdog kicked the current wait.
    kicked: AtomicBool,
}

/// Every thread that ever waited for a tracee, while it lives.
static WAITERS: Mutex<Vec<Weak<Waiter>>> = Mutex::new(Vec::new());

thread_local! {
    static ME: Arc<Waiter> = register();
}

fn register() -> Arc<Waiter> {
    start_watchdog();
    let me = Arc::new(Waiter {
        tid: gettid(),
        epoch: AtomicU64::new(0),
        kicked: AtomicBool::new(false),
    });
    WAITERS.lock().push(Arc::downgrade(&me));
    me
}

/// waitpid(tid, __WALL) for a tracee or child of the calling thread: its raw status.
pub(crate) fn wait_for(tid: Pid) -> io::Result<i32> {
    ME.with(|me| {
        me.epoch.fetch_add(1, Ordering::AcqRel);
        let status = sys::wait_for(tid);
        me.epoch.fetch_add(1, Ordering::AcqRel);
        if me.kicked.swap(false, Ordering::AcqRel) {
            tracing::debug!(tid = tid.as_raw(), "a wait for a tracee was kicked");
        }
        status
    })
}

fn start_watchdog() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        if let Err(err) = sys::install_kick_handler() {
            tracing::warn!(%err, "ptrace platform: no watchdog for lost stops");
            return;
        }
        let started = std::thread::Builder::new()
            .name("ptrace-watchdog".into())
            .spawn(watch);
        if let Err(err) = started {
            tracing::warn!(%err, "ptrace platform: no watchdog for lost stops");
        }
    });
}

/// The watchdog: every tick, kicks the threads that have been inside the same wait since the
/// tick before.
fn watch() {
    let mut last_seen: HashMap<Pid, u64> = HashMap::new();
    loop {
        std::thread::sleep(TICK);
        let waiters: Vec<Arc<Waiter>> = {
            let mut list = WAITERS.lock();
            list.retain(|waiter| waiter.strong_count() > 0);
            list.iter().filter_map(Weak::upgrade).collect()
        };
        let mut seen = HashMap::with_capacity(waiters.len());
        for waiter in waiters {
            let epoch = waiter.epoch.load(Ordering::Acquire);
            if epoch % 2 == 1 && last_seen.get(&waiter.tid) == Some(&epoch) {
                waiter.kicked.store(true, Ordering::Release);
                // ESRCH: the thread just exited.
                let _ = sys::tgkill(getpid(), waiter.tid, sys::kick_signal());
            }
            seen.insert(waiter.tid, epoch);
        }
        last_seen = seen;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kick lands in a thread blocked in `wait_for`: the handler runs, wait4 is restarted,
    /// and the wait still reports its child's end.
    #[test]
    #[allow(
        clippy::zombie_processes,
        reason = "the child is reaped by the wait under test"
    )]
    fn a_kicked_wait_still_reports_its_child() {
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("600")
            .spawn()
            .expect("start sleep");
        let pid = Pid::from_raw(i32::try_from(child.id()).expect("pid fits i32"));
        let (tid_tx, tid_rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            tid_tx.send(gettid()).expect("send tid");
            wait_for(pid)
        });
        let tid = tid_rx.recv().expect("waiter's tid");
        let before = sys::kicks_taken();
        sys::tgkill(getpid(), tid, sys::kick_signal()).expect("kick the waiter");
        while sys::kicks_taken() == before {
            std::thread::yield_now();
        }
        child.kill().expect("kill sleep");
        let status = waiter.join().expect("waiter thread").expect("waitpid");
        assert!(
            libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL,
            "status {status:#x}"
        );
    }
}
