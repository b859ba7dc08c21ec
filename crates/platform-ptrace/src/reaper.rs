//! Reaping killed stubs off the guest's path.
//!
//! A guest process's exit kills its stub, and the Sentry tells the parent only once the context is
//! gone; waiting there for the killed stub to tear down its address space and be reaped cost the
//! exiting task ~60 µs on every guest exit. The reaper thread waits instead: a thread of the Sentry
//! may wait for any child or tracee of another of its threads (waitpid without __WNOTHREAD).

use std::sync::mpsc::{self, Sender};
use std::sync::OnceLock;

use nix::unistd::Pid;

use crate::spawn::StubProcess;
use crate::tracee::Running;

/// A killed stub, and its thread that must be reaped before its leader can be (or the leader).
type Killed = (StubProcess, Pid);

/// The reaper thread's queue; `None` if it could not be started.
static REAPER: OnceLock<Option<Sender<Killed>>> = OnceLock::new();

/// Starts the reaper thread (once per process), early: under a host limit on tasks, a thread
/// started at the first guest exit might not be allowed.
pub(crate) fn start() {
    REAPER.get_or_init(|| {
        let (killed, incoming) = mpsc::channel::<Killed>();
        std::thread::Builder::new()
            .name("stub-reaper".into())
            .spawn(move || {
                for (process, thread) in incoming {
                    reap_now(process, thread);
                }
            })
            .inspect_err(|err| tracing::warn!(%err, "ptrace platform: no stub reaper thread"))
            .ok()
            .map(|_| killed)
    });
}

/// Reaps the killed stub `process` (and first `thread`, see [`StubProcess::end_with`]) on the
/// reaper thread, or here if there is none.
pub(crate) fn reap(process: StubProcess, thread: Pid) {
    let handed = match REAPER.get() {
        Some(Some(reaper)) => reaper.send((process, thread)),
        _ => Err(mpsc::SendError((process, thread))),
    };
    if let Err(mpsc::SendError((process, thread))) = handed {
        reap_now(process, thread);
    }
}

fn reap_now(process: StubProcess, thread: Pid) {
    if thread != process.pid() {
        Running::of_traced(thread).reap();
    }
    // Dropping the process waits for its end and reaps it.
    drop(process);
}
