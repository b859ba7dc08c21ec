//! Tasks: one guest thread each, on a Sentry OS thread of its own, inside a thread group.

mod clone;
mod exec;
mod exit;
mod run;
mod signal_frame;
mod signals;
mod thread_group;

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::Arc;
use std::time::Instant;

use abi::Errno;
use mm::MemoryManager;
use parking_lot::{Mutex, MutexGuard};
use platform::{Context, Interrupter};
use vfs::{LookupCtx, VfsPath};
use waiter::Waiter;

use crate::fd_table::{FdTable, DEFAULT_NOFILE};
use crate::kernel::Kernel;
use crate::syscalls::SyscallResult;
use crate::timers::CpuTime;

pub(crate) use clone::CloneArgs;
pub(crate) use exit::WaitSelector;
pub(crate) use signals::{
    PendingSignals, SigAction, SigHandlers, SigStack, ThreadSignals, NSIG, SS_AUTODISARM,
    UNBLOCKABLE,
};
pub(crate) use thread_group::{JobState, TgState, ThreadGroup};

/// The stack of every task's OS thread. The Sentry's recursion on guest-shaped data is bounded
/// (symlink walks by SYMLOOP_MAX, `#!` by MAX_SCRIPT_DEPTH, epoll nesting by EP_MAX_NESTS,
/// procfs links never walk again); this is four times Rust's default, for headroom. It is only
/// reserved: pages are touched as used, and the guard page below it turns an overflow into an
/// abort, never silent corruption.
pub(crate) const TASK_STACK_SIZE: usize = 8 << 20;

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
#[derive(Clone)]
pub(crate) struct FsContext {
    pub(crate) root: VfsPath,
    pub(crate) cwd: VfsPath,
    pub(crate) umask: u32,
}

/// Real, effective, saved and filesystem ids, supplementary groups and capabilities. The
/// sandbox's first process is root inside the sandbox (`Credentials::root`, syscalls/creds.rs,
/// which also holds the rules for changing them).
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) ruid: u32,
    pub(crate) euid: u32,
    pub(crate) suid: u32,
    pub(crate) fsuid: u32,
    pub(crate) rgid: u32,
    pub(crate) egid: u32,
    pub(crate) sgid: u32,
    pub(crate) fsgid: u32,
    pub(crate) groups: Vec<u32>,
    pub(crate) caps: Capabilities,
    /// PR_SET_KEEPCAPS: permitted capabilities survive the uids all leaving 0.
    pub(crate) keep_caps: bool,
}

/// Capability sets, one bit per CAP_* number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Capabilities {
    pub(crate) effective: u64,
    pub(crate) permitted: u64,
    pub(crate) inheritable: u64,
    pub(crate) bounding: u64,
}

/// What a task runs with, reachable from its handle so /proc can show other tasks: the address
/// space, descriptor table and filesystem context. Set when the task starts and at execve,
/// emptied when it exits (so nothing keeps an exited task's memory alive).
#[derive(Clone)]
pub(crate) struct TaskResources {
    pub(crate) mm: Arc<MemoryManager>,
    pub(crate) files: Arc<Mutex<FdTable>>,
    pub(crate) fs: Arc<Mutex<FsContext>>,
}

/// Per-thread settings of prctl and the scheduling syscalls.
#[derive(Clone, Debug, Default)]
pub(crate) struct TaskSettings {
    /// PR_SET_PDEATHSIG: sent to this task's process when its parent exits (0: none).
    pub(crate) pdeathsig: i32,
    /// PR_SET_NO_NEW_PRIVS: sticky, inherited.
    pub(crate) no_new_privs: bool,
    /// setpriority's nice value (-20..=19).
    pub(crate) nice: i32,
    /// sched_setaffinity's mask, one bit per CPU; `None`: every CPU.
    pub(crate) affinity: Option<Vec<u8>>,
}

impl TaskSettings {
    /// What a new task (clone) takes from its creator: all but the parent-death signal.
    pub(crate) fn inherited(&self) -> TaskSettings {
        TaskSettings {
            pdeathsig: 0,
            ..self.clone()
        }
    }
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
pub(crate) fn default_rlimits() -> [Rlimit; RLIM_NLIMITS] {
    let unlimited = Rlimit {
        cur: u64::MAX,
        max: u64::MAX,
    };
    let mut limits = [unlimited; RLIM_NLIMITS];
    let mut set = |resource: u32, cur: u64, max: u64| {
        if let Some(slot) = limits.get_mut(resource as usize) {
            *slot = Rlimit { cur, max };
        }
    };
    set(libc::RLIMIT_STACK, 8 << 20, u64::MAX);
    set(libc::RLIMIT_CORE, 0, u64::MAX);
    set(
        libc::RLIMIT_NOFILE,
        DEFAULT_NOFILE as u64,
        crate::fd_table::NR_OPEN,
    );
    set(libc::RLIMIT_NPROC, 63_432, 63_432);
    set(libc::RLIMIT_MEMLOCK, 8 << 20, 8 << 20);
    set(libc::RLIMIT_SIGPENDING, 63_432, 63_432);
    set(libc::RLIMIT_MSGQUEUE, 819_200, 819_200);
    set(libc::RLIMIT_NICE, 0, 0);
    set(libc::RLIMIT_RTPRIO, 0, 0);
    limits
}

/// The part of a task other tasks reach: to signal it, wake it, find its process.
pub(crate) struct TaskHandle {
    /// The thread id; changes once at most, when a thread other than the leader calls execve
    /// and takes over the leader's id (see `tid()`).
    tid: AtomicI32,
    pub(crate) tg: Arc<ThreadGroup>,
    /// Where the task sleeps in blocking syscalls; signals wake it.
    pub(crate) waiter: Arc<Waiter>,
    /// Stops the task's guest code when it runs (set once its context exists).
    pub(crate) interrupter: Mutex<Option<Arc<dyn Interrupter>>>,
    pub(crate) signals: Mutex<ThreadSignals>,
    /// The thread's name (comm), 15 bytes at most.
    pub(crate) comm: Mutex<Vec<u8>>,
    /// Another thread's execve is replacing the process: this thread is to go, quietly.
    pub(crate) must_exit: AtomicBool,
    /// What the task runs with, for /proc; `None` before it starts and after it exits.
    pub(crate) resources: Mutex<Option<TaskResources>>,
    pub(crate) settings: Mutex<TaskSettings>,
    /// When the task was created (/proc/[pid]/stat starttime).
    pub(crate) started: Instant,
    /// CPU time used so far (times(2), the CPU clocks).
    pub(crate) cpu: CpuTime,
}

impl TaskHandle {
    pub(crate) fn new(tid: i32, tg: Arc<ThreadGroup>, mask: u64, comm: Vec<u8>) -> Arc<TaskHandle> {
        Arc::new(TaskHandle {
            tid: AtomicI32::new(tid),
            tg,
            waiter: Waiter::new(),
            interrupter: Mutex::new(None),
            signals: Mutex::new(ThreadSignals::new(mask)),
            comm: Mutex::new(comm),
            must_exit: AtomicBool::new(false),
            resources: Mutex::new(None),
            settings: Mutex::new(TaskSettings::default()),
            started: Instant::now(),
            cpu: CpuTime::default(),
        })
    }

    pub(crate) fn tid(&self) -> i32 {
        self.tid.load(Ordering::Acquire)
    }

    /// execve from a thread other than the leader: the thread becomes the leader, with its id.
    pub(crate) fn take_leader_id(&self, tgid: i32) {
        self.tid.store(tgid, Ordering::Release);
    }

    /// Makes the task look at its state soon: wakes it if it sleeps in the Sentry, stops its
    /// guest code if it runs.
    pub(crate) fn kick(&self) {
        self.waiter.wake();
        if let Some(interrupter) = self.interrupter.lock().as_ref() {
            interrupter.interrupt();
        }
    }
}

/// The rest of an interrupted syscall, run by restart_syscall(2).
pub(crate) type RestartBlock = Box<dyn FnOnce(&mut Task) -> SyscallResult + Send>;

/// A task as its own OS thread holds it.
pub(crate) struct Task {
    pub(crate) kernel: Arc<Kernel>,
    pub(crate) handle: Arc<TaskHandle>,
    pub(crate) tid: i32,
    pub(crate) ctx: Box<dyn Context>,
    pub(crate) mm: Arc<MemoryManager>,
    pub(crate) files: Arc<Mutex<FdTable>>,
    pub(crate) fs: Arc<Mutex<FsContext>>,
    /// set_tid_address / CLONE_CHILD_CLEARTID: zeroed and futex-woken when the thread exits.
    pub(crate) clear_child_tid: u64,
    /// set_robust_list head, walked when the thread exits.
    pub(crate) robust_list: u64,
    /// The syscall being served replaced all registers (execve, rt_sigreturn): don't write a
    /// return value over them.
    pub(crate) regs_replaced: bool,
    /// The last syscall returned an ERESTART* errno: signal delivery decides between restarting
    /// it and EINTR.
    pub(crate) restart: Option<Errno>,
    /// What restart_syscall(2) continues after a syscall returned ERESTART_RESTARTBLOCK and no
    /// handler ran (a sleep with its deadline kept).
    pub(crate) restart_block: Option<RestartBlock>,
    /// Set by vfork children: completed (parent woken) at execve or exit.
    pub(crate) vfork_done: Option<Arc<clone::VforkDone>>,
    /// This thread alone exits (exit(2) of one thread) with this status.
    pub(crate) thread_exit: Option<ExitStatus>,
}

impl Task {
    /// The sandbox's first task: pid 1 in a fresh address space, with the given descriptors.
    pub(crate) fn new_init(kernel: Arc<Kernel>, fds: FdTable) -> Result<Task, crate::KernelError> {
        let ctx = kernel.platform.new_address_space(kernel.memory.fd())?;
        let mm = Arc::new(MemoryManager::new(
            Arc::clone(&kernel.memory),
            ctx.address_space(),
            kernel.platform.user_address_range(),
        ));
        let root = kernel.vfs.root();
        let tg = ThreadGroup::new(
            1,
            TgState {
                parent: None,
                children: Vec::new(),
                threads: Vec::new(),
                pgid: 1,
                sid: 1,
                exit_signal: libc::SIGCHLD,
                group_exit: None,
                zombie: None,
                job: JobState::Running,
                pending: PendingSignals::default(),
                handlers: Arc::new(Mutex::new(SigHandlers::default())),
                creds: Credentials::root(),
                rlimits: default_rlimits(),
                exe: Vec::new(),
                cmdline: Vec::new(),
                environ: Vec::new(),
                has_execed: true,
                dumpable: true,
                child_subreaper: false,
            },
        );
        let handle = TaskHandle::new(1, Arc::clone(&tg), 0, Vec::new());
        tg.state.lock().threads.push(Arc::clone(&handle));
        {
            let mut pids = kernel.pids.lock();
            pids.insert_task(Arc::clone(&handle))
                .map_err(|_| crate::KernelError::NoRoomForInit)?;
            pids.insert_group(tg);
        }
        let fs = FsContext {
            cwd: root.clone(),
            root,
            umask: 0o022,
        };
        Ok(Task::new(
            kernel,
            handle,
            ctx,
            mm,
            Arc::new(Mutex::new(fds)),
            Arc::new(Mutex::new(fs)),
        ))
    }

    /// A task over a context already bound to the calling OS thread.
    pub(crate) fn new(
        kernel: Arc<Kernel>,
        handle: Arc<TaskHandle>,
        ctx: Box<dyn Context>,
        mm: Arc<MemoryManager>,
        files: Arc<Mutex<FdTable>>,
        fs: Arc<Mutex<FsContext>>,
    ) -> Task {
        *handle.interrupter.lock() = Some(ctx.interrupter());
        *handle.resources.lock() = Some(TaskResources {
            mm: Arc::clone(&mm),
            files: Arc::clone(&files),
            fs: Arc::clone(&fs),
        });
        // This OS thread is the task's from here on: /proc/self resolves to it.
        crate::procfs::set_current_task(&handle);
        handle.cpu.bind_current_thread();
        Task {
            tid: handle.tid(),
            kernel,
            handle,
            ctx,
            mm,
            files,
            fs,
            clear_child_tid: 0,
            robust_list: 0,
            regs_replaced: false,
            restart: None,
            restart_block: None,
            vfork_done: None,
            thread_exit: None,
        }
    }

    pub(crate) fn tg(&self) -> &Arc<ThreadGroup> {
        &self.handle.tg
    }

    pub(crate) fn pid(&self) -> i32 {
        self.handle.tg.tgid
    }

    pub(crate) fn fds(&self) -> MutexGuard<'_, FdTable> {
        self.files.lock()
    }

    /// Path lookups relative to the working directory.
    pub(crate) fn lookup_ctx(&self) -> LookupCtx {
        let creds = self.fs_creds();
        let fs = self.fs.lock();
        LookupCtx {
            root: fs.root.clone(),
            start: fs.cwd.clone(),
            creds,
        }
    }

    /// Path lookups relative to `dirfd` (AT_FDCWD: the working directory).
    pub(crate) fn lookup_ctx_at(&self, dirfd: u64) -> Result<LookupCtx, Errno> {
        if crate::syscalls::is_at_fdcwd(dirfd) {
            return Ok(self.lookup_ctx());
        }
        let file = self.fds().get(dirfd)?;
        let dir = file.path().ok_or(Errno::ENOTDIR)?;
        if !dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(LookupCtx {
            root: self.fs.lock().root.clone(),
            start: dir.clone(),
            creds: self.fs_creds(),
        })
    }

    /// Starts in `path` if it is a directory in the sandbox; otherwise stays at `/`, as
    /// `runsc do` would rather run than fail on a working directory the root lacks.
    pub(crate) fn set_cwd(&mut self, path: &[u8]) -> Result<(), Errno> {
        let dir = self.kernel.vfs.lookup(&self.lookup_ctx(), path, true)?;
        if !dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        self.fs.lock().cwd = dir;
        Ok(())
    }

    /// Sets the limits a first process inherits from whoever started the sandbox. The
    /// descriptor limit is capped at what the fd table can hold, as Linux caps it at nr_open.
    pub(crate) fn inherit_rlimits(&self, limits: &[crate::ResourceLimit]) {
        let mut state = self.tg().state.lock();
        for limit in limits {
            let Some(slot) = state.rlimits.get_mut(limit.resource as usize) else {
                continue;
            };
            let cap = if limit.resource == libc::RLIMIT_NOFILE {
                crate::fd_table::NR_OPEN
            } else {
                u64::MAX
            };
            *slot = Rlimit {
                cur: limit.soft.min(cap),
                max: limit.hard.min(cap),
            };
        }
    }

    pub(crate) fn rlimit(&self, resource: u32) -> Rlimit {
        self.tg().state.lock().rlimits[resource as usize % RLIM_NLIMITS]
    }

    pub(crate) fn nofile_limit(&self) -> usize {
        usize::try_from(self.rlimit(libc::RLIMIT_NOFILE).cur).unwrap_or(usize::MAX)
    }

    pub(crate) fn creds(&self) -> Credentials {
        self.tg().state.lock().creds.clone()
    }

    /// What the filesystem checks permissions against (the fs ids, not the effective ones).
    pub(crate) fn fs_creds(&self) -> vfs::Credentials {
        self.tg().state.lock().creds.fs_creds()
    }

    /// Publishes the task's current address space and descriptors on its handle (after
    /// execve replaced them).
    pub(crate) fn publish_resources(&self) {
        *self.handle.resources.lock() = Some(TaskResources {
            mm: Arc::clone(&self.mm),
            files: Arc::clone(&self.files),
            fs: Arc::clone(&self.fs),
        });
    }
}
