use std::sync::Arc;
use std::time::Instant;

use mm::MemoryFile;
use parking_lot::{Condvar, Mutex};
use platform::Platform;
use vfs::Vfs;

use crate::boot::Limits;
use crate::clock::Clock;
use crate::futex::FutexTable;
use crate::pid::PidTable;
use crate::task::{ExitStatus, ThreadGroup};
use crate::terminal::Terminal;
use crate::timers::{TimerFdRegistry, TimerQueue};
use crate::tty::devpts::PtyTable;
use crate::vdso::Vdso;
use crate::KernelError;

/// The identity the sandbox reports through uname(2): its own kernel, not the host's.
pub(crate) const UNAME_SYSNAME: &str = "Linux";
pub(crate) const UNAME_RELEASE: &str = "5.15.0-rvisor";
pub(crate) const UNAME_VERSION: &str = "#1 SMP rvisor";
pub(crate) const UNAME_MACHINE: &str = "x86_64";

/// Sandbox-wide state shared by all tasks.
pub struct Kernel {
    pub(crate) platform: Arc<dyn Platform>,
    pub(crate) memory: Arc<MemoryFile>,
    pub(crate) vfs: Arc<Vfs>,
    pub(crate) strace: bool,
    /// Bytes of resident guest memory the sandbox may hold (see `oom`).
    pub(crate) memory_limit: u64,
    pub(crate) hostname: Mutex<Vec<u8>>,
    pub(crate) domainname: Mutex<Vec<u8>>,
    /// Uptime counts from here.
    pub(crate) boot_time: Instant,
    /// CLOCK_MONOTONIC and CLOCK_REALTIME, as the vDSO computes them too.
    pub(crate) clock: Arc<Clock>,
    /// The vDSO image and data page mapped into every process.
    pub(crate) vdso: Vdso,
    pub(crate) pids: Mutex<PidTable>,
    pub(crate) futexes: FutexTable,
    /// The sandbox's controlling terminal (its stdio, when a tty).
    pub(crate) terminal: Terminal,
    /// The sandbox's pseudo-terminals (devpts).
    pub(crate) ptys: Arc<PtyTable>,
    /// The clock source every itimer, POSIX timer and timerfd of the sandbox is armed on.
    pub(crate) timers: TimerQueue,
    pub(crate) timerfds: Arc<TimerFdRegistry>,
    /// The sandbox's abstract AF_UNIX namespace.
    pub(crate) unix_names: net::unix::AbstractNames,
    /// System V IPC objects and POSIX message queues.
    pub(crate) ipc: crate::ipc::IpcNamespace,
    /// How init ended; set once, when the sandbox is over.
    sandbox_exit: Mutex<Option<ExitStatus>>,
    sandbox_done: Condvar,
}

impl Kernel {
    pub(crate) fn new(
        platform: Arc<dyn Platform>,
        memory: Arc<MemoryFile>,
        vfs: Arc<Vfs>,
        strace: bool,
        limits: &Limits,
    ) -> Result<Arc<Kernel>, KernelError> {
        let vdso = Vdso::new(&memory)?;
        let clock = Clock::start(Arc::clone(&memory), vdso.vvar_offset())
            .map_err(KernelError::ClockThread)?;
        Ok(Arc::new(Kernel {
            platform,
            memory,
            vfs,
            strace,
            memory_limit: limits.memory,
            hostname: Mutex::new(b"rvisor".to_vec()),
            domainname: Mutex::new(b"(none)".to_vec()),
            boot_time: Instant::now(),
            clock,
            vdso,
            pids: Mutex::new(PidTable::new(limits.max_tasks)),
            futexes: FutexTable::default(),
            terminal: Terminal::default(),
            ptys: PtyTable::new(),
            timers: TimerQueue::new(),
            timerfds: Arc::default(),
            unix_names: net::unix::AbstractNames::new(),
            ipc: crate::ipc::IpcNamespace::default(),
            sandbox_exit: Mutex::new(None),
            sandbox_done: Condvar::new(),
        }))
    }

    /// The sandbox's init process (pid 1), while it exists.
    pub(crate) fn init(&self) -> Option<Arc<ThreadGroup>> {
        self.pids.lock().group(1)
    }

    /// Init ended with `status`: the sandbox is over.
    pub(crate) fn finish(&self, status: ExitStatus) {
        let mut exit = self.sandbox_exit.lock();
        if exit.is_none() {
            *exit = Some(status);
        }
        self.sandbox_done.notify_all();
    }

    /// Waits until init has ended.
    pub(crate) fn wait_finished(&self) -> ExitStatus {
        let mut exit = self.sandbox_exit.lock();
        loop {
            if let Some(status) = *exit {
                return status;
            }
            self.sandbox_done.wait(&mut exit);
        }
    }
}
