//! A stub thread started by `Context::spawn_thread`, waiting for the Sentry thread that will
//! trace it.

use std::sync::Arc;

use abi::UserRegs;
use nix::unistd::Pid;
use platform::{Context, PendingThread, PlatformError};

use crate::address_space::PtraceAddressSpace;
use crate::context::{Pending, PtraceContext};
use crate::spawn;
use crate::tracee::{Running, StopReason, Stopped};

/// A parked, untraced stub thread (see `PtraceAddressSpace::spawn_thread`).
#[derive(Debug)]
pub(crate) struct PtracePendingThread {
    /// `None` once attached: the context owns the thread from then on.
    space: Option<Arc<PtraceAddressSpace>>,
    tid: Pid,
    /// The spawning context's registers as of the spawn.
    regs: UserRegs,
}

impl PtracePendingThread {
    pub(crate) fn new(space: Arc<PtraceAddressSpace>, tid: Pid, regs: UserRegs) -> Self {
        PtracePendingThread {
            space: Some(space),
            tid,
            regs,
        }
    }
}

/// Makes the calling thread the tracer of the parked thread `tid` and stops it.
pub(crate) fn seize(tid: Pid) -> Result<Stopped, PlatformError> {
    let mut running = Running::seize(tid)?;
    loop {
        let (stopped, reason) = running.wait()?;
        if reason == StopReason::EventStop {
            return Ok(stopped);
        }
        // The parked thread blocks every signal it can, so this is not expected; resuming
        // suppresses it, and the interrupt still pending stops the thread again.
        running = stopped.cont()?;
    }
}

/// Readies a seized thread to run guest code for the calling thread: signals unblocked (an
/// interrupt is one) and both threads pinned to the caller's CPU.
fn prepare(tracee: &Stopped) -> Result<(), PlatformError> {
    tracee.set_sigmask(0)?;
    let cpus = spawn::pin_to_current_cpu()?;
    spawn::pin(tracee.tid(), &cpus)
}

impl PendingThread for PtracePendingThread {
    fn attach(mut self: Box<Self>) -> Result<Box<dyn Context>, PlatformError> {
        let space = self.space.take().ok_or_else(|| {
            PlatformError::Unavailable(format!("stub thread {} already attached", self.tid))
        })?;
        let tracee = match seize(self.tid) {
            Ok(tracee) => tracee,
            Err(err) => {
                space.end_thread(self.tid, None);
                return Err(err);
            }
        };
        if let Err(err) = prepare(&tracee) {
            space.end_thread(self.tid, Some(tracee));
            return Err(err);
        }
        // Its real registers are the parking loop's: all are written on the first switch.
        Ok(Box::new(PtraceContext::new(
            space,
            tracee,
            self.regs,
            Pending::AllRegs,
        )))
    }
}

impl Drop for PtracePendingThread {
    fn drop(&mut self) {
        if let Some(space) = self.space.take() {
            // Only a tracer can make the thread exit alone: trace it for that long.
            space.end_thread(self.tid, seize(self.tid).ok());
        }
    }
}
