//! An address space: one stub process, changed by system calls injected into it.

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::thread::{self, ThreadId};

use abi::UserRegs;
use nix::unistd::Pid;
use parking_lot::Mutex;
use platform::{AddressSpace, PlatformError, Prot};

use crate::spawn::StubProcess;
use crate::stub::StubPage;
use crate::tracee::{StopReason, Stopped};
use crate::MIN_USER_ADDR;

/// The guest mappings of one stub process.
#[derive(Debug)]
pub(crate) struct PtraceAddressSpace {
    process: StubProcess,
    stub: &'static StubPage,
    /// The memory file's descriptor number, the same in the stub (inherited by the fork).
    memory_fd: RawFd,
    /// Which stub thread each Sentry thread traces: only a tracer may inject into its tracee.
    tracers: Mutex<HashMap<ThreadId, Pid>>,
}

impl PtraceAddressSpace {
    pub(crate) fn new(
        process: StubProcess,
        stub: &'static StubPage,
        memory_fd: RawFd,
    ) -> PtraceAddressSpace {
        PtraceAddressSpace {
            process,
            stub,
            memory_fd,
            tracers: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn pid(&self) -> Pid {
        self.process.pid()
    }

    /// Records that the calling thread traces the stub thread `tid`.
    pub(crate) fn add_tracer(&self, tid: Pid) {
        self.tracers.lock().insert(thread::current().id(), tid);
    }

    /// Forgets the calling thread's stub thread.
    pub(crate) fn remove_tracer(&self) {
        self.tracers.lock().remove(&thread::current().id());
    }

    fn own_tracee(&self) -> Result<Stopped, PlatformError> {
        let tid = self
            .tracers
            .lock()
            .get(&thread::current().id())
            .copied()
            .ok_or_else(|| {
                PlatformError::Unavailable(format!(
                    "address space of stub {} used from a thread that traces none of its threads",
                    self.pid()
                ))
            })?;
        Ok(Stopped::of_own_tracee(tid))
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

    /// Runs system call `nr` in the stub and returns its result; the stub's registers are
    /// restored afterwards.
    fn inject(&self, call: &'static str, nr: i64, args: [u64; 6]) -> Result<u64, PlatformError> {
        let stopped = self.own_tracee()?;
        let mut saved = UserRegs::default();
        stopped.regs(&mut saved)?;
        let mut regs = UserRegs {
            rip: self.stub.inject_addr(),
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
        let mut running = stopped.cont()?;
        let stopped = loop {
            let (stopped, reason) = running.wait()?;
            if reason == StopReason::Signal(libc::SIGTRAP) {
                break stopped;
            }
            // A signal from the host meanwhile: suppressed, never delivered to the stub.
            let info = stopped.siginfo()?;
            if crate::context::is_synchronous(&info) {
                return Err(PlatformError::StubDied {
                    pid: stopped.tid().as_raw(),
                    reason: format!(
                        "injected {call} raised signal {} at {:#x}",
                        info.signo, info.addr
                    ),
                });
            }
            running = stopped.cont()?;
        };
        stopped.regs(&mut regs)?;
        let result = regs.rax;
        // The kernel must not restart a "system call" when the guest resumes from this stop.
        saved.orig_rax = u64::MAX;
        stopped.set_regs(&saved)?;
        if regs.rip != self.stub.inject_done_addr() {
            return Err(PlatformError::StubDied {
                pid: stopped.tid().as_raw(),
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
        let got = self.inject("mmap (injected)", libc::SYS_mmap, args)?;
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
        self.inject(
            "munmap (injected)",
            libc::SYS_munmap,
            [addr, len, 0, 0, 0, 0],
        )
        .map(drop)
    }

    fn protect(&self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError> {
        self.check_range("mprotect (injected)", addr, len)?;
        self.inject(
            "mprotect (injected)",
            libc::SYS_mprotect,
            [addr, len, prot.bits(), 0, 0, 0],
        )
        .map(drop)
    }
}
