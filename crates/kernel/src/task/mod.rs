//! Tasks: one guest thread of execution, its process state, and its run loop.

mod run;
mod signals;

use std::sync::Arc;

use abi::Errno;
use mm::MemoryManager;
use platform::Context;
use vfs::{LookupCtx, VfsPath};

use crate::fd_table::{FdTable, DEFAULT_NOFILE};
use crate::kernel::Kernel;
use crate::KernelError;

pub(crate) use signals::{SigAction, SigStack, SignalState, NSIG};

/// How a process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// exit/exit_group with this code (0..=255).
    Exited(i32),
    /// Killed by this signal.
    Signaled(i32),
}

impl ExitStatus {
    /// The status as wait(2) encodes it.
    pub fn wait_status(self) -> i32 {
        match self {
            ExitStatus::Exited(code) => (code & 0xff) << 8,
            ExitStatus::Signaled(sig) => sig & 0x7f,
        }
    }
}

/// The filesystem view of a process: its root, working directory and umask.
pub(crate) struct FsContext {
    pub(crate) root: VfsPath,
    pub(crate) cwd: VfsPath,
    pub(crate) umask: u32,
}

/// Real, effective and saved ids. The sandbox's first process is root inside the sandbox.
#[derive(Clone, Copy, Default)]
pub(crate) struct Credentials {
    pub(crate) ruid: u32,
    pub(crate) euid: u32,
    pub(crate) suid: u32,
    pub(crate) rgid: u32,
    pub(crate) egid: u32,
    pub(crate) sgid: u32,
}

/// A resource limit (soft, hard); `u64::MAX` is RLIM_INFINITY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rlimit {
    pub(crate) cur: u64,
    pub(crate) max: u64,
}

/// Number of RLIMIT_* resources Linux has.
pub(crate) const RLIM_NLIMITS: usize = 16;

/// Linux's defaults for a first process.
fn default_rlimits() -> [Rlimit; RLIM_NLIMITS] {
    let unlimited = Rlimit {
        cur: u64::MAX,
        max: u64::MAX,
    };
    let mut limits = [unlimited; RLIM_NLIMITS];
    limits[libc::RLIMIT_STACK as usize] = Rlimit {
        cur: 8 << 20,
        max: u64::MAX,
    };
    limits[libc::RLIMIT_CORE as usize] = Rlimit {
        cur: 0,
        max: u64::MAX,
    };
    limits[libc::RLIMIT_NOFILE as usize] = Rlimit {
        cur: DEFAULT_NOFILE as u64,
        max: 1 << 20,
    };
    limits[libc::RLIMIT_NPROC as usize] = Rlimit {
        cur: 63_432,
        max: 63_432,
    };
    limits[libc::RLIMIT_MEMLOCK as usize] = Rlimit {
        cur: 8 << 20,
        max: 8 << 20,
    };
    limits[libc::RLIMIT_SIGPENDING as usize] = Rlimit {
        cur: 63_432,
        max: 63_432,
    };
    limits[libc::RLIMIT_MSGQUEUE as usize] = Rlimit {
        cur: 819_200,
        max: 819_200,
    };
    limits[libc::RLIMIT_NICE as usize] = Rlimit { cur: 0, max: 0 };
    limits[libc::RLIMIT_RTPRIO as usize] = Rlimit { cur: 0, max: 0 };
    limits
}

/// One guest thread, with the process state it owns (until threads share it, in a later issue).
pub(crate) struct Task {
    pub(crate) kernel: Arc<Kernel>,
    pub(crate) tid: i32,
    pub(crate) pid: i32,
    pub(crate) ppid: i32,
    pub(crate) pgid: i32,
    pub(crate) sid: i32,
    pub(crate) ctx: Box<dyn Context>,
    pub(crate) mm: Arc<MemoryManager>,
    pub(crate) fds: FdTable,
    pub(crate) fs: FsContext,
    pub(crate) creds: Credentials,
    pub(crate) rlimits: [Rlimit; RLIM_NLIMITS],
    pub(crate) signals: SignalState,
    pub(crate) comm: Vec<u8>,
    /// set_tid_address: cleared and futex-woken when the thread exits.
    pub(crate) clear_child_tid: u64,
    /// set_robust_list head, walked when the thread dies (later issue: with other threads).
    pub(crate) robust_list: u64,
    /// Set by exit/exit_group or a fatal signal; the run loop stops.
    pub(crate) exit: Option<ExitStatus>,
}

impl Task {
    /// The sandbox's first task: pid 1, a fresh address space, the given descriptors.
    pub(crate) fn new_init(kernel: Arc<Kernel>, fds: FdTable) -> Result<Task, KernelError> {
        let ctx = kernel.platform.new_address_space(kernel.memory.fd())?;
        let mm = Arc::new(MemoryManager::new(
            Arc::clone(&kernel.memory),
            ctx.address_space(),
            kernel.platform.user_address_range(),
        ));
        let root = kernel.vfs.root();
        Ok(Task {
            tid: 1,
            pid: 1,
            ppid: 0,
            pgid: 1,
            sid: 1,
            ctx,
            mm,
            fds,
            fs: FsContext {
                cwd: root.clone(),
                root,
                umask: 0o022,
            },
            creds: Credentials::default(),
            rlimits: default_rlimits(),
            signals: SignalState::default(),
            comm: Vec::new(),
            clear_child_tid: 0,
            robust_list: 0,
            exit: None,
            kernel,
        })
    }

    /// Starts in `path` if it is a directory in the sandbox; otherwise stays at `/`, as
    /// `runsc do` would rather run than fail on a working directory the root lacks.
    pub(crate) fn set_cwd(&mut self, path: &[u8]) {
        match self.kernel.vfs.lookup(&self.lookup_ctx(), path, true) {
            Ok(dir) if dir.is_dir() => self.fs.cwd = dir,
            Ok(_) | Err(_) => tracing::warn!(
                "working directory {} is not a directory in the sandbox; using /",
                String::from_utf8_lossy(path)
            ),
        }
    }

    /// Path lookups relative to the working directory.
    pub(crate) fn lookup_ctx(&self) -> LookupCtx {
        LookupCtx {
            root: self.fs.root.clone(),
            start: self.fs.cwd.clone(),
        }
    }

    /// Path lookups relative to `dirfd` (AT_FDCWD: the working directory).
    pub(crate) fn lookup_ctx_at(&self, dirfd: u64) -> Result<LookupCtx, Errno> {
        // dirfd is an int: AT_FDCWD arrives sign-extended or not, depending on the caller.
        if crate::syscalls::is_at_fdcwd(dirfd) {
            return Ok(self.lookup_ctx());
        }
        let file = self.fds.get(dirfd)?;
        let dir = file.path().ok_or(Errno::ENOTDIR)?;
        if !dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(LookupCtx {
            root: self.fs.root.clone(),
            start: dir.clone(),
        })
    }

    pub(crate) fn nofile_limit(&self) -> usize {
        usize::try_from(self.rlimits[libc::RLIMIT_NOFILE as usize].cur).unwrap_or(usize::MAX)
    }
}
