//! Creating a stub process (fork, trace, confine, clear its address space) and ending it.

use std::os::fd::RawFd;

use abi::UserRegs;
use nix::sched::{sched_getcpu, sched_setaffinity, CpuSet};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{getpid, Pid};
use platform::PlatformError;

use crate::host_error;
use crate::stub::{seccomp, StubPage};
use crate::sys::{self, ChildPlan, RseqSlot};
use crate::tracee::{Running, StopReason, Stopped};
use crate::waits;

/// A stub process: killed and reaped when dropped, so none outlives its address space.
#[derive(Debug)]
pub(crate) struct StubProcess {
    pid: Pid,
}

impl StubProcess {
    /// The stub process `pid`, a child of the Sentry: from now on dropping it kills and reaps it.
    pub(crate) fn adopt(pid: Pid) -> StubProcess {
        StubProcess { pid }
    }

    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    /// Kills the stub and has it reaped in the background, first `thread`, a thread of it traced
    /// by the calling thread: a traced thread's end is reported to its tracer's thread group only,
    /// and until it is reaped the leader can't be.
    pub(crate) fn end_with(self, thread: Pid) {
        let _ = kill(self.pid, Signal::SIGKILL);
        crate::reaper::reap(self, thread);
    }
}

impl Drop for StubProcess {
    fn drop(&mut self) {
        // ESRCH: it is already gone (its tracer thread exited, and EXITKILL or PDEATHSIG fired);
        // it may still need reaping.
        let _ = kill(self.pid, Signal::SIGKILL);
        while let Ok(status) = waits::wait_for(self.pid) {
            if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
                break;
            }
        }
    }
}

/// Forks a stub traced by the calling thread and runs it to its set-up stop.
///
/// Returns the stopped stub (its only thread), its registers there, and the process handle. Pins
/// the calling thread to the CPU it is on; the stub inherits the pinning. The stub blocks no
/// host signals (an interrupt is one).
pub(crate) fn spawn_stub(
    stub: &StubPage,
    memory_fd: RawFd,
) -> Result<(Stopped, UserRegs, StubProcess), PlatformError> {
    pin_to_current_cpu()?;
    let filter = seccomp::stub_filter(stub.range());
    let plan = ChildPlan {
        parent: getpid(),
        memory_fd,
        filter: &filter,
        entry: stub.entry_addr(),
        rseq: RseqSlot::default(),
    };
    let pid = sys::fork_stub(&plan).map_err(|source| PlatformError::Host {
        call: "fork",
        source,
    })?;
    let process = StubProcess::adopt(pid);

    let (stopped, reason) = Running::forked(pid).wait()?;
    expect_stop(&stopped, reason, libc::SIGSTOP, "its first stop")?;
    stopped.set_options()?;
    sys::fill_rseq_slot(pid, &plan.rseq).map_err(|source| PlatformError::Host {
        call: "ptrace(PTRACE_GET_RSEQ_CONFIGURATION)",
        source,
    })?;
    let (stopped, reason) = stopped.cont()?.wait()?;
    expect_stop(&stopped, reason, libc::SIGTRAP, "the end of its set-up")?;

    let mut regs = UserRegs::default();
    stopped.regs(&mut regs)?;
    if regs.rip != stub.syscall_site().start {
        return Err(died(
            pid,
            format!(
                "set-up stopped at {:#x}, not at the end of the stub code",
                regs.rip
            ),
        ));
    }
    // The two munmap results, then prctl's.
    if regs.r12 != 0 || regs.r13 != 0 || regs.rax != 0 {
        return Err(died(
            pid,
            format!(
                "set-up failed: munmap returned {} and {}, prctl(PR_SET_PDEATHSIG) {}",
                crate::signed(regs.r12),
                crate::signed(regs.r13),
                crate::signed(regs.rax)
            ),
        ));
    }
    stopped.set_sigmask(0)?;
    Ok((stopped, regs, process))
}

fn expect_stop(
    stopped: &Stopped,
    reason: StopReason,
    signo: i32,
    what: &str,
) -> Result<(), PlatformError> {
    if reason == StopReason::Signal(signo) {
        Ok(())
    } else {
        Err(died(
            stopped.tid(),
            format!("{what} was {reason:?}, not signal {signo}"),
        ))
    }
}

fn died(pid: Pid, reason: String) -> PlatformError {
    PlatformError::StubDied {
        pid: pid.as_raw(),
        reason,
    }
}

/// Pins the calling thread to the CPU it is running on and returns that CPU: a tracer and its
/// stub on different CPUs pay a cross-CPU wake-up (~40 µs here) on every stop.
pub(crate) fn pin_to_current_cpu() -> Result<CpuSet, PlatformError> {
    let cpu = sched_getcpu().map_err(host_error("sched_getcpu"))?;
    let mut set = CpuSet::new();
    set.set(cpu).map_err(host_error("sched_setaffinity"))?;
    pin(Pid::from_raw(0), &set)?;
    Ok(set)
}

/// Pins thread `tid` (0: the calling thread) to `cpus`.
pub(crate) fn pin(tid: Pid, cpus: &CpuSet) -> Result<(), PlatformError> {
    sched_setaffinity(tid, cpus).map_err(host_error("sched_setaffinity"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After set-up, nothing of the Sentry is left in the stub: only the stub page (and the
    /// vsyscall page, which can't be unmapped; the seccomp filter kills any call made from it).
    #[test]
    fn stub_keeps_only_its_code_page() {
        let stub = StubPage::get().expect("stub page");
        let memory = memfd::MemfdOptions::default()
            .create("memory")
            .expect("memfd")
            .into_file();
        let (stopped, _regs, _process) =
            spawn_stub(stub, std::os::fd::AsRawFd::as_raw_fd(&memory)).expect("spawn a stub");
        let maps = std::fs::read_to_string(format!("/proc/{}/maps", stopped.tid())).expect("maps");
        let ranges: Vec<&str> = maps
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .collect();
        let page = stub.range();
        let stub_range = format!("{:x}-{:x}", page.start, page.end);
        assert_eq!(
            ranges,
            [stub_range.as_str(), "ffffffffff600000-ffffffffff601000"],
            "{maps}"
        );
        assert!(maps.starts_with(&format!("{stub_range} r-xp")), "{maps}");
    }
}
