//! clone, fork and vfork: new tasks on new Sentry OS threads.

use std::sync::Arc;

use abi::{Errno, FpState, UserRegs};
use mm::{ForkedMemory, MemoryManager};
use parking_lot::Mutex;
use platform::{Context, PendingThread};
use waiter::Waiter;

use super::{FsContext, JobState, PendingSignals, Task, TaskHandle, TgState, ThreadGroup};
use crate::fd_table::FdTable;
use crate::kernel::Kernel;

/// The clone flags this kernel honours (namespaces, pidfds and the like are refused).
pub(crate) const CLONE_FLAGS_KNOWN: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_PTRACE
    | libc::CLONE_VFORK
    | libc::CLONE_PARENT
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM
    | libc::CLONE_SETTLS
    | libc::CLONE_PARENT_SETTID
    | libc::CLONE_CHILD_CLEARTID
    | libc::CLONE_DETACHED
    | libc::CLONE_CHILD_SETTID) as u64;

/// clone's arguments, from clone(2) or clone3(2).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CloneArgs {
    pub(crate) flags: u64,
    pub(crate) exit_signal: i32,
    pub(crate) stack: u64,
    pub(crate) parent_tid: u64,
    pub(crate) child_tid: u64,
    pub(crate) tls: u64,
}

impl CloneArgs {
    fn has(&self, flag: i32) -> bool {
        self.flags & u64::from(flag.cast_unsigned()) != 0
    }
}

/// A vfork parent sleeps until its child has exec'd or exited.
pub(crate) struct VforkDone {
    done: Mutex<bool>,
    parent: Arc<Waiter>,
}

impl VforkDone {
    pub(crate) fn complete(&self) {
        *self.done.lock() = true;
        self.parent.wake();
    }
}

/// How a new task gets its address space.
enum ChildMemory {
    /// A thread (or vfork child) in the parent's address space.
    Shared(Box<dyn PendingThread>, Arc<MemoryManager>),
    /// A copy of the parent's memory in a new address space.
    Forked(ForkedMemory),
}

/// Everything a new task's OS thread needs to start.
struct ChildStart {
    kernel: Arc<Kernel>,
    handle: Arc<TaskHandle>,
    memory: ChildMemory,
    regs: UserRegs,
    fp: FpState,
    files: Arc<Mutex<FdTable>>,
    fs: Arc<Mutex<FsContext>>,
    set_child_tid: Option<u64>,
    clear_child_tid: u64,
    vfork_done: Option<Arc<VforkDone>>,
}

impl Task {
    /// clone(2): creates the task and starts its thread; returns its tid.
    pub(crate) fn clone_task(&mut self, args: &CloneArgs) -> Result<i32, Errno> {
        if args.flags & !CLONE_FLAGS_KNOWN != 0 {
            return Err(Errno::EINVAL);
        }
        let thread = args.has(libc::CLONE_THREAD);
        let shared_vm = args.has(libc::CLONE_VM);
        if (thread && !args.has(libc::CLONE_SIGHAND))
            || (args.has(libc::CLONE_SIGHAND) && !shared_vm)
        {
            return Err(Errno::EINVAL);
        }
        if !thread {
            self.check_nproc()?;
        }
        if self.kernel.pids.lock().at_task_limit() {
            return Err(Errno::EAGAIN);
        }

        let mut regs = *self.ctx.regs();
        regs.rax = 0;
        if args.stack != 0 {
            regs.rsp = args.stack;
        }
        if args.has(libc::CLONE_SETTLS) {
            regs.fs_base = args.tls;
        }
        let fp = self.ctx.fp_state().map_err(|_| Errno::ENOMEM)?;
        let memory = if shared_vm {
            let pending = self.ctx.spawn_thread().map_err(|e| {
                // The host is out of tasks: the guest sees EAGAIN, which is no news for the log.
                tracing::debug!("clone: spawning a thread: {e}");
                Errno::EAGAIN
            })?;
            ChildMemory::Shared(pending, Arc::clone(&self.mm))
        } else {
            ChildMemory::Forked(self.mm.fork()?)
        };
        let files = if args.has(libc::CLONE_FILES) {
            Arc::clone(&self.files)
        } else {
            Arc::new(Mutex::new(self.fds().clone()))
        };
        let fs = if args.has(libc::CLONE_FS) {
            Arc::clone(&self.fs)
        } else {
            Arc::new(Mutex::new(self.fs.lock().clone()))
        };

        let tid = self.kernel.pids.lock().allocate()?;
        let tg = if thread {
            Arc::clone(self.tg())
        } else {
            self.new_child_group(tid, args)
        };
        let mask = self.handle.signals.lock().mask;
        let comm = self.handle.comm.lock().clone();
        let handle = TaskHandle::new(tid, Arc::clone(&tg), mask, comm);
        *handle.settings.lock() = self.handle.settings.lock().inherited();
        {
            let mut pids = self.kernel.pids.lock();
            // Linux's copy_process: a signal sent to the parent's process group, or to every
            // process, while it forked must reach the child too. Group senders walk the table
            // under this lock, so either the walk comes after this insertion and finds the child,
            // or it came before and its signal is pending here: then the fork restarts after
            // the signal was handled (the memory copied and the stub spawned are dropped).
            if !thread && self.has_deliverable_signal() {
                return Err(abi::restart::ERESTARTNOINTR);
            }
            pids.insert_task(Arc::clone(&handle))?;
            if !thread {
                pids.insert_group(Arc::clone(&tg));
            }
        }
        tg.state.lock().threads.push(Arc::clone(&handle));
        if !thread {
            let parent = tg.state.lock().parent.clone();
            if let Some(parent) = parent {
                parent.state.lock().children.push(Arc::clone(&tg));
            }
        }
        if args.has(libc::CLONE_PARENT_SETTID) {
            // The child exists already: as in Linux (kernel_clone ignores put_user's result), a
            // bad address fails the write, not the clone. Returning early would leave a task
            // with no thread that no signal ends and no wait reaps.
            let _ = self.mm.write_obj(args.parent_tid, &tid);
        }
        let vfork_done = args.has(libc::CLONE_VFORK).then(|| {
            Arc::new(VforkDone {
                done: Mutex::new(false),
                parent: Arc::clone(&self.handle.waiter),
            })
        });
        let start = ChildStart {
            kernel: Arc::clone(&self.kernel),
            handle: Arc::clone(&handle),
            memory,
            regs,
            fp,
            files,
            fs,
            set_child_tid: args.has(libc::CLONE_CHILD_SETTID).then_some(args.child_tid),
            clear_child_tid: if args.has(libc::CLONE_CHILD_CLEARTID) {
                args.child_tid
            } else {
                0
            },
            vfork_done: vfork_done.clone(),
        };
        // The child reports whether the host gave it an address space (a stub) before the
        // clone succeeds: a child that never ran is undone, never left behind as a zombie.
        let (started_tx, started_rx) = std::sync::mpsc::sync_channel(1);
        let spawned = std::thread::Builder::new()
            .name(format!("task-{tid}"))
            .stack_size(crate::task::TASK_STACK_SIZE)
            .spawn(move || start.run(&started_tx));
        let started = match spawned {
            Ok(_) => started_rx.recv().unwrap_or(false),
            Err(e) => {
                tracing::debug!("clone: starting the task's thread: {e}");
                false
            }
        };
        if !started {
            unregister(&self.kernel, &handle, thread);
            return Err(Errno::EAGAIN);
        }
        if let Some(done) = vfork_done {
            // Killable, as Linux's wait_for_vfork_done: an exiting parent stops waiting.
            while !*done.done.lock() && !self.is_exiting() {
                self.handle.waiter.sleep(None);
            }
        }
        Ok(tid)
    }

    /// RLIMIT_NPROC, as Linux checks it at fork: root is exempt.
    fn check_nproc(&self) -> Result<(), Errno> {
        let (uid, limit) = {
            let state = self.tg().state.lock();
            (
                state.creds.ruid,
                state.rlimits[libc::RLIMIT_NPROC as usize].cur,
            )
        };
        if uid != 0 {
            let count = self.kernel.pids.lock().tasks_of_user(uid) as u64;
            if count >= limit {
                return Err(Errno::EAGAIN);
            }
        }
        Ok(())
    }

    /// The thread group of a forked child: a copy of the caller's process state.
    fn new_child_group(&self, tgid: i32, args: &CloneArgs) -> Arc<ThreadGroup> {
        let state = self.tg().state.lock();
        let parent = if args.has(libc::CLONE_PARENT) {
            state.parent.clone()
        } else {
            Some(Arc::clone(self.tg()))
        };
        let handlers = if args.has(libc::CLONE_SIGHAND) {
            Arc::clone(&state.handlers)
        } else {
            Arc::new(Mutex::new(state.handlers.lock().clone()))
        };
        ThreadGroup::new(
            tgid,
            TgState {
                parent,
                children: Vec::new(),
                threads: Vec::new(),
                pgid: state.pgid,
                sid: state.sid,
                exit_signal: args.exit_signal,
                group_exit: None,
                zombie: None,
                job: JobState::Running,
                pending: PendingSignals::default(),
                handlers,
                creds: state.creds.clone(),
                rlimits: state.rlimits,
                exe: state.exe.clone(),
                cmdline: state.cmdline.clone(),
                environ: state.environ.clone(),
                has_execed: false,
                dumpable: state.dumpable,
                child_subreaper: false,
            },
        )
    }
}

impl ChildStart {
    /// The new task's OS thread: binds a context, reports on `started` whether it could, sets
    /// the registers, runs.
    fn run(self, report: &std::sync::mpsc::SyncSender<bool>) {
        let ChildStart {
            kernel,
            handle,
            memory,
            regs,
            fp,
            files,
            fs,
            set_child_tid,
            clear_child_tid,
            vfork_done,
        } = self;
        let started = match memory {
            ChildMemory::Shared(pending, mm) => pending
                .attach()
                .map(|ctx| (ctx, mm))
                .map_err(|e| e.to_string()),
            ChildMemory::Forked(forked) => kernel
                .platform
                .new_address_space(kernel.memory.fd())
                .map_err(|e| e.to_string())
                .and_then(|ctx| {
                    MemoryManager::from_fork(forked, ctx.address_space())
                        .map(|mm| (ctx, Arc::new(mm)))
                        .map_err(|e| e.to_string())
                }),
        };
        let (mut ctx, mm): (Box<dyn Context>, Arc<MemoryManager>) = match started {
            Ok(started) => started,
            Err(e) => {
                // The host is out of something (tasks, memory): the clone fails with EAGAIN.
                tracing::debug!("task {}: starting: {e}", handle.tid());
                let _ = report.send(false);
                return;
            }
        };
        let _ = report.send(true);
        *ctx.regs_mut() = regs;
        if let Err(e) = ctx.set_fp_state(&fp) {
            tracing::warn!("task {}: restoring the FPU state: {e}", handle.tid());
        }
        let mut task = Task::new(kernel, handle, ctx, mm, files, fs);
        task.clear_child_tid = clear_child_tid;
        task.vfork_done = vfork_done;
        if let Some(addr) = set_child_tid {
            // A bad address here is the child's problem, as in Linux: the write just fails.
            let _ = task.mm.write_obj(addr, &task.tid);
        }
        let status = task.run();
        task.exit_thread(status);
    }
}

/// Undoes the registration of a task whose thread never ran guest code, as if the clone had
/// not happened: no zombie, no SIGCHLD; its id is free again.
fn unregister(kernel: &Arc<Kernel>, handle: &Arc<TaskHandle>, thread: bool) {
    let tg = &handle.tg;
    tg.state.lock().threads.retain(|t| t.tid() != handle.tid());
    if !thread {
        let parent = tg.state.lock().parent.clone();
        if let Some(parent) = parent {
            parent
                .state
                .lock()
                .children
                .retain(|child| !Arc::ptr_eq(child, tg));
        }
    }
    let mut pids = kernel.pids.lock();
    pids.remove_task(handle.tid());
    if !thread {
        pids.remove_group(tg.tgid);
    }
}
