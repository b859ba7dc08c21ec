//! execve: a new program image in a new address space, replacing the process's old one.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use abi::Errno;
use mm::MemoryManager;
use parking_lot::Mutex;

use super::Task;
use crate::loader::Executable;

/// How often an exec'ing thread looks whether its siblings are gone.
const SIBLING_POLL: Duration = Duration::from_millis(1);

impl Task {
    /// execve(2) after its arguments were read and the file opened: loads `program` into a
    /// fresh address space and, once nothing can fail any more, makes it the process's.
    pub(crate) fn execve(
        &mut self,
        program: Executable,
        argv: Vec<Vec<u8>>,
        envp: &[Vec<u8>],
    ) -> Result<(), Errno> {
        let kernel = Arc::clone(&self.kernel);
        let mut ctx = kernel
            .platform
            .new_address_space(kernel.memory.fd())
            .map_err(|e| {
                tracing::warn!("execve: a new address space: {e}");
                Errno::ENOMEM
            })?;
        let mm = Arc::new(MemoryManager::new(
            Arc::clone(&kernel.memory),
            ctx.address_space(),
            kernel.platform.user_address_range(),
        ));
        let image = self.load_image(&mm, program, argv, envp)?;
        image.start(ctx.as_mut());

        // The point of no return: the old image goes.
        self.end_other_threads()?;
        // As Linux's futex_exec_release: the robust futexes the old image held are marked
        // owner-died as at exit, and its PI futexes with waiters handed on.
        self.exit_robust_list();
        self.kernel.futexes.owner_exited(self.tid);
        self.become_leader();
        *self.handle.interrupter.lock() = Some(ctx.interrupter());
        self.ctx = ctx;
        self.mm = mm;
        self.clear_child_tid = 0;
        self.robust_list = 0;
        {
            // Descriptors are unshared (CLONE_FILES ends at exec), then close-on-exec applies.
            let mut table = self.fds().clone();
            table.remove_cloexec();
            self.files = Arc::new(Mutex::new(table));
        }
        self.publish_resources();
        {
            let mut state = self.tg().state.lock();
            state.creds.apply_exec(image.set_ids);
            // A set-id program's memory is not its caller's to read (Linux's suid_dumpable 0).
            state.dumpable =
                state.creds.euid == state.creds.ruid && state.creds.egid == state.creds.rgid;
            let reset = state.handlers.lock().reset_for_exec();
            state.handlers = Arc::new(Mutex::new(reset));
            state.has_execed = true;
        }
        // POSIX timers don't survive exec; itimers do.
        self.tg().timers.exec();
        {
            let mut signals = self.handle.signals.lock();
            signals.altstack = super::SigStack::disabled();
        }
        if let Some(done) = self.vfork_done.take() {
            done.complete();
        }
        self.image_started(&image);
        self.regs_replaced = true;
        Ok(())
    }

    /// Linux's de_thread: every other thread of the process exits before the new image runs.
    /// EAGAIN if the process is already going (exit_group, a fatal signal, or another thread's
    /// execve got here first, which ends this thread): this execve then never happens.
    fn end_other_threads(&self) -> Result<(), Errno> {
        let others: Vec<_> = {
            // Checked and marked under the group's lock, so of two threads calling execve at
            // once exactly one goes on.
            let state = self.tg().state.lock();
            if state.group_exit.is_some() || self.is_marked_to_exit() {
                return Err(Errno::EAGAIN);
            }
            let others: Vec<_> = state
                .threads
                .iter()
                .filter(|t| t.tid() != self.tid)
                .cloned()
                .collect();
            for t in &others {
                t.must_exit.store(true, Ordering::Release);
            }
            others
        };
        if others.is_empty() {
            return Ok(());
        }
        for t in &others {
            t.kick();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.tg().state.lock().threads.len() > 1 && Instant::now() < deadline {
            if self.tg().state.lock().group_exit.is_some() {
                // Killed while waiting: the whole process goes, this thread with it.
                return Err(Errno::EAGAIN);
            }
            std::thread::sleep(SIBLING_POLL);
        }
        Ok(())
    }

    /// execve from a thread other than the leader: as on Linux, the thread takes over the
    /// leader's id (the process's pid), and its own id is free again. The leader is gone by
    /// now: its exit removed its id from the table before leaving the thread list.
    fn become_leader(&mut self) {
        let tgid = self.pid();
        if self.tid == tgid {
            return;
        }
        let mut pids = self.kernel.pids.lock();
        if pids.task(tgid).is_some() {
            // The leader outlived the wait for it (see end_other_threads): keep the id it
            // still holds rather than share it.
            return;
        }
        let old_tid = self.tid;
        self.handle.take_leader_id(tgid);
        self.tid = tgid;
        pids.retag_task(old_tid, Arc::clone(&self.handle));
    }
}
