//! An address space: one stub process, changed by system calls injected into it, and the
//! threads that keep it alive.

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::thread::{self, ThreadId};

use abi::UserRegs;
use nix::unistd::Pid;
use parking_lot::Mutex;
use platform::{AddressSpace, PlatformError, Prot};

use crate::spawn::StubProcess;
use crate::stub::{InjectionSite, StubPage};
use crate::tracee::{StopReason, Stopped};
use crate::MIN_USER_ADDR;

/// Every host signal but SIGKILL and SIGSTOP, which can't be blocked.
const ALL_SIGNALS: u64 = u64::MAX;

/// The clone flags of a new stub thread: a thread of the same process.
const THREAD_FLAGS: libc::c_int = libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM;

/// The guest mappings of one stub process.
#[derive(Debug)]
pub(crate) struct PtraceAddressSpace {
    /// `None` once the last thread is gone and the stub was killed.
    process: Mutex<Option<StubProcess>>,
    /// The stub's pid: its first thread's tid.
    pid: Pid,
    stub: &'static StubPage,
    /// The memory file's descriptor number, the same in the stub (inherited by the fork).
    memory_fd: RawFd,
    threads: Mutex<Threads>,
}

/// The stub's threads, as the Sentry knows them.
#[derive(Debug)]
struct Threads {
    /// Which stub threads each Sentry thread traces: only a tracer may inject into its tracee.
    tracers: HashMap<ThreadId, Vec<Pid>>,
    /// Contexts plus pending threads: the stub lives while this is not zero.
    live: usize,
}

impl PtraceAddressSpace {
    /// The address space of a stub with one (live) thread.
    pub(crate) fn new(
        process: StubProcess,
        pid: Pid,
        stub: &'static StubPage,
        memory_fd: RawFd,
    ) -> PtraceAddressSpace {
        PtraceAddressSpace {
            process: Mutex::new(Some(process)),
            pid,
            stub,
            memory_fd,
            threads: Mutex::new(Threads {
                tracers: HashMap::new(),
                live: 1,
            }),
        }
    }

    pub(crate) fn pid(&self) -> Pid {
        self.pid
    }

    /// Records that the calling thread traces the stub thread `tid`.
    pub(crate) fn add_tracer(&self, tid: Pid) {
        self.threads
            .lock()
            .tracers
            .entry(thread::current().id())
            .or_default()
            .push(tid);
    }

    /// Forgets that the calling thread traces `tid`.
    pub(crate) fn remove_tracer(&self, tid: Pid) {
        let mut threads = self.threads.lock();
        let me = thread::current().id();
        if let Some(tids) = threads.tracers.get_mut(&me) {
            tids.retain(|traced| *traced != tid);
            if tids.is_empty() {
                threads.tracers.remove(&me);
            }
        }
    }

    fn own_tracee(&self) -> Result<Stopped, PlatformError> {
        let tid = self
            .threads
            .lock()
            .tracers
            .get(&thread::current().id())
            .and_then(|tids| tids.first())
            .copied()
            .ok_or_else(|| {
                PlatformError::Unavailable(format!(
                    "address space of stub {} used from a thread that traces none of its threads",
                    self.pid
                ))
            })?;
        Ok(Stopped::of_own_tracee(tid))
    }

    /// Starts a new thread of the stub by injecting clone into `spawner`, a stopped stub thread
    /// traced by the calling thread. The new thread is untraced, parked in the stub page with
    /// every host signal blocked (so none reaches it before its tracer does); it counts as live.
    pub(crate) fn spawn_thread(&self, spawner: &Stopped) -> Result<Pid, PlatformError> {
        // The new thread inherits the blocked signals at once, with no window for one to arrive.
        spawner.set_sigmask(ALL_SIGNALS)?;
        let flags = u64::from(THREAD_FLAGS.unsigned_abs());
        // No new stack: the parked thread uses none.
        let cloned = self.inject(
            spawner,
            self.stub.clone_site(),
            "clone (injected)",
            libc::SYS_clone,
            [flags, 0, 0, 0, 0, 0],
        );
        let unblocked = spawner.set_sigmask(0);
        let tid = cloned?;
        self.threads.lock().live += 1;
        let tid = Pid::from_raw(i32::try_from(tid).map_err(|_| PlatformError::Host {
            call: "clone (injected)",
            source: io::Error::other(format!("returned {tid:#x}")),
        })?);
        if let Err(err) = unblocked {
            self.end_thread(tid, None);
            return Err(err);
        }
        Ok(tid)
    }

    /// Ends the stub thread `tid` (a context or a pending thread going away), and the stub with
    /// it if it was the last. `tracee` is the thread if the calling thread traces it; an
    /// untraced thread other than the last can't be ended here and is left to the stub's end.
    pub(crate) fn end_thread(&self, tid: Pid, tracee: Option<Stopped>) {
        let last = {
            let mut threads = self.threads.lock();
            threads.live = threads.live.saturating_sub(1);
            threads.live == 0
        };
        if last {
            if let Some(process) = self.process.lock().take() {
                process.end_with(tid);
            }
            return;
        }
        let Some(tracee) = tracee else { return };
        let ended = if tid == self.pid {
            self.detach_exiting(tracee)
        } else {
            self.exit_thread(tracee)
        };
        if let Err(err) = ended {
            tracing::warn!(pid = self.pid.as_raw(), tid = tid.as_raw(), %err, "ending a stub thread");
        }
    }

    /// Makes a traced thread other than the first exit, and reaps it.
    fn exit_thread(&self, tracee: Stopped) -> Result<(), PlatformError> {
        self.point_at_exit(&tracee)?;
        tracee.cont()?.reap();
        Ok(())
    }

    /// Makes the first thread exit untraced. Its tracer can't wait for it: the kernel reports a
    /// first thread's end only once all the others are gone. It stays a zombie until then and is
    /// reaped with the stub.
    fn detach_exiting(&self, tracee: Stopped) -> Result<(), PlatformError> {
        // No host signal may reach it untraced.
        tracee.set_sigmask(ALL_SIGNALS)?;
        self.point_at_exit(&tracee)?;
        tracee.detach()
    }

    /// Sets up `tracee` to run exit(0) from the stub page when resumed.
    fn point_at_exit(&self, tracee: &Stopped) -> Result<(), PlatformError> {
        let mut regs = UserRegs::default();
        tracee.regs(&mut regs)?;
        tracee.set_regs(&UserRegs {
            rip: self.stub.syscall_site().start,
            rax: libc::SYS_exit.unsigned_abs(),
            rdi: 0,
            orig_rax: u64::MAX,
            ..regs
        })
    }

    /// Checks that `[addr, addr + len)` lies in the guest range: the stub page above it must
    /// stay mapped and unchanged.
    fn check_range(&self, call: &'static str, addr: u64, len: u64) -> Result<(), PlatformError> {
        let inside = addr >= MIN_USER_ADDR
            && addr
                .checked_add(len)
                .is_some_and(|end| end <= self.stub.range().start);
        if inside {
            Ok(())
        } else {
            Err(PlatformError::Host {
                call,
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("range {addr:#x}+{len:#x} is outside the guest address range"),
                ),
            })
        }
    }

    /// Runs system call `nr` in one of the calling thread's stub threads and returns its result.
    fn inject_own(
        &self,
        call: &'static str,
        nr: i64,
        args: [u64; 6],
    ) -> Result<u64, PlatformError> {
        let stopped = self.own_tracee()?;
        self.inject(&stopped, self.stub.syscall_site(), call, nr, args)
    }

    /// Runs system call `nr` in `stopped` from `site` and returns its result; the stub thread's
    /// registers are restored afterwards.
    pub(crate) fn inject(
        &self,
        stopped: &Stopped,
        site: InjectionSite,
        call: &'static str,
        nr: i64,
        args: [u64; 6],
    ) -> Result<u64, PlatformError> {
        let tid = stopped.tid();
        let mut saved = UserRegs::default();
        stopped.regs(&mut saved)?;
        let mut regs = UserRegs {
            rip: site.start,
            rax: u64::try_from(nr).expect("system call numbers are positive"),
            rdi: args[0],
            rsi: args[1],
            rdx: args[2],
            r10: args[3],
            r8: args[4],
            r9: args[5],
            ..saved
        };
        regs.orig_rax = u64::MAX;
        stopped.set_regs(&regs)?;
        // `stopped` stays borrowed by the caller: the thread is stopped again when this returns.
        let mut running = Stopped::of_own_tracee(tid).cont()?;
        let stopped = loop {
            let (stopped, reason) = running.wait()?;
            if let StopReason::Signal(_) = reason {
                match stopped.signal_info()? {
                    Some(info) if crate::context::is_synchronous(&info) => {
                        if info.signo == libc::SIGTRAP {
                            break stopped;
                        }
                        return Err(PlatformError::StubDied {
                            pid: tid.as_raw(),
                            reason: format!(
                                "injected {call} raised signal {} at {:#x}",
                                info.signo, info.addr
                            ),
                        });
                    }
                    // A signal from the host meanwhile (an interrupt: its request stays
                    // recorded) or a group-stop: suppressed, never delivered to the stub.
                    _ => {}
                }
            }
            running = stopped.cont()?;
        };
        stopped.regs(&mut regs)?;
        let result = regs.rax;
        // The kernel must not restart a "system call" when the guest resumes from this stop.
        saved.orig_rax = u64::MAX;
        stopped.set_regs(&saved)?;
        if regs.rip != site.done {
            return Err(PlatformError::StubDied {
                pid: tid.as_raw(),
                reason: format!("injected {call} stopped at {:#x}", regs.rip),
            });
        }
        let errno = crate::signed(result);
        if (-4095..0).contains(&errno) {
            return Err(PlatformError::Host {
                call,
                source: io::Error::from_raw_os_error(
                    i32::try_from(-errno).expect("errno fits i32"),
                ),
            });
        }
        Ok(result)
    }
}

impl AddressSpace for PtraceAddressSpace {
    fn map_file(
        &self,
        addr: u64,
        len: u64,
        file_offset: u64,
        prot: Prot,
    ) -> Result<(), PlatformError> {
        self.check_range("mmap (injected)", addr, len)?;
        let flags = libc::MAP_SHARED | libc::MAP_FIXED;
        let fd = u64::from(self.memory_fd.unsigned_abs());
        let args = [
            addr,
            len,
            prot.bits(),
            u64::from(flags.unsigned_abs()),
            fd,
            file_offset,
        ];
        let got = self.inject_own("mmap (injected)", libc::SYS_mmap, args)?;
        if got != addr {
            return Err(PlatformError::Host {
                call: "mmap (injected)",
                source: io::Error::other(format!("mapped at {got:#x} instead of {addr:#x}")),
            });
        }
        Ok(())
    }

    fn unmap(&self, addr: u64, len: u64) -> Result<(), PlatformError> {
        self.check_range("munmap (injected)", addr, len)?;
        self.inject_own(
            "munmap (injected)",
            libc::SYS_munmap,
            [addr, len, 0, 0, 0, 0],
        )
        .map(drop)
    }

    fn protect(&self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError> {
        self.check_range("mprotect (injected)", addr, len)?;
        self.inject_own(
            "mprotect (injected)",
            libc::SYS_mprotect,
            [addr, len, prot.bits(), 0, 0, 0],
        )
        .map(drop)
    }
}
