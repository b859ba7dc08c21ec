//! Ending threads and processes: zombies, reparenting to init, and wait4/waitid.

use std::sync::Arc;

use abi::{Errno, SigInfo};

use super::{ExitStatus, JobState, Task, ThreadGroup};
use crate::futex::{FutexKey, FUTEX_OWNER_DIED, FUTEX_TID_MASK, FUTEX_WAITERS};
use crate::kernel::Kernel;
use crate::timers::ProcessTimes;

/// How many robust-list entries are walked at most (ROBUST_LIST_LIMIT).
const ROBUST_LIST_LIMIT: usize = 2048;

/// Which children a wait selects.
#[derive(Clone, Copy, Debug)]
pub(crate) enum WaitSelector {
    Any,
    Pid(i32),
    Pgid(i32),
}

/// A child state change a wait reports.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WaitResult {
    pub(crate) pid: i32,
    pub(crate) uid: u32,
    /// The status word wait4 stores.
    pub(crate) status: i32,
    /// CLD_* for waitid's si_code.
    pub(crate) code: i32,
    /// Exit code or signal number, for waitid's si_status.
    pub(crate) si_status: i32,
    /// The child's CPU times, for the rusage wait4 and waitid fill.
    pub(crate) times: ProcessTimes,
}

impl Task {
    /// Ends this thread after the run loop stopped; the last thread out turns the process into
    /// a zombie and tells its parent.
    pub(crate) fn exit_thread(mut self, status: ExitStatus) {
        if self.clear_child_tid != 0 && self.mm.write_obj(self.clear_child_tid, &0u32).is_ok() {
            // A shared futex, as Linux wakes it: a waiter may be another process.
            self.wake_one_shared(self.clear_child_tid);
        }
        self.exit_robust_list();
        if let Some(done) = self.vfork_done.take() {
            done.complete();
        }
        let kernel = Arc::clone(&self.kernel);
        let tg = Arc::clone(self.tg());
        let tid = self.tid;
        tg.timers.thread_exited(&self.handle.cpu);
        // The context, address space and descriptors go now, before the parent hears of it.
        *self.handle.resources.lock() = None;
        drop(self);

        kernel.pids.lock().remove_task(tid);
        // Out of the pid table, no waiter can queue behind this thread any more: hand on the
        // PI futexes it held.
        kernel.futexes.owner_exited(tid);
        let last = {
            let mut state = tg.state.lock();
            state.threads.retain(|t| t.tid() != tid);
            if state.threads.is_empty() {
                let status = state.group_exit.unwrap_or(status);
                state.zombie = Some(status);
                Some(status)
            } else {
                None
            }
        };
        if let Some(status) = last {
            // Timers die with their process; its semaphore adjustments are undone before the
            // parent can see it exit.
            tg.timers.exit();
            kernel.ipc.process_exited(tg.tgid);
            kernel.process_exited(&tg, status);
        }
    }

    /// Marks the robust futexes this thread held as owner-died and wakes a waiter of each.
    pub(super) fn exit_robust_list(&self) {
        if self.robust_list == 0 {
            return;
        }
        let Ok([mut entry, futex_offset, pending]) = self.mm.read_obj::<[u64; 3]>(self.robust_list)
        else {
            return;
        };
        let offset = futex_offset.cast_signed();
        // Bit 0 of a list pointer marks a PI futex, whose waiters get the lock handed on
        // when this thread is gone (FutexTable::owner_exited) rather than a wake.
        let handle = |entry: u64| {
            let word_addr = (entry & !1).wrapping_add_signed(offset);
            let tid = self.tid.cast_unsigned();
            let died = |word: u32| {
                (word & FUTEX_TID_MASK == tid).then_some((word & FUTEX_WAITERS) | FUTEX_OWNER_DIED)
            };
            if let Ok(Ok(word)) = self.mm.fetch_update_u32(word_addr, died) {
                if word & FUTEX_WAITERS != 0 && entry & 1 == 0 {
                    self.wake_one_shared(word_addr);
                }
            }
        };
        for _ in 0..ROBUST_LIST_LIMIT {
            if entry & !1 == self.robust_list || entry & !1 == 0 {
                break;
            }
            let Ok(next) = self.mm.read_obj::<u64>(entry & !1) else {
                break;
            };
            if entry & !1 != pending & !1 {
                handle(entry);
            }
            entry = next;
        }
        if pending != 0 {
            handle(pending);
        }
    }

    /// Wakes one waiter of the futex at `addr`, keyed as a shared one (Linux's FLAGS_SHARED).
    fn wake_one_shared(&self, addr: u64) {
        if let Ok(key) = FutexKey::of(&self.mm, addr, false) {
            // A PI futex refuses plain wakes (EINVAL): nothing to do then.
            let _ = self.kernel.futexes.wake(key, 1, u32::MAX);
        }
    }

    /// wait4/waitid: reports a child's state change, sleeping for one unless WNOHANG.
    pub(crate) fn wait_child(
        &mut self,
        selector: WaitSelector,
        options: i32,
    ) -> Result<Option<WaitResult>, Errno> {
        let waiter = Arc::clone(&self.handle.waiter);
        let tg = Arc::clone(self.tg());
        loop {
            let _registration = tg.child_events.register(waiter.clone(), u32::MAX);
            waiter.clear();
            match self.scan_children(selector, options)? {
                Some(result) => return Ok(Some(result)),
                None if options & libc::WNOHANG != 0 => return Ok(None),
                None => {}
            }
            if self.has_deliverable_signal() {
                return Err(abi::restart::ERESTARTSYS);
            }
            waiter.sleep(None);
        }
    }

    fn scan_children(
        &self,
        selector: WaitSelector,
        options: i32,
    ) -> Result<Option<WaitResult>, Errno> {
        let children: Vec<Arc<ThreadGroup>> = self.tg().state.lock().children.clone();
        let mut matched = false;
        for child in children {
            // Read before the state lock, which cpu_times takes.
            let times = child.cpu_times();
            let mut state = child.state.lock();
            let selected = match selector {
                WaitSelector::Any => true,
                WaitSelector::Pid(pid) => child.tgid == pid,
                WaitSelector::Pgid(pgid) => state.pgid == pgid,
            };
            // Without __WALL, a wait sees either the SIGCHLD children or (__WCLONE) the others.
            let clone_child = state.exit_signal != libc::SIGCHLD;
            let kind_ok =
                options & libc::__WALL != 0 || (options & libc::__WCLONE != 0) == clone_child;
            // A zombie has no stop or continue left to report: without WEXITED it is no child
            // to wait for (Linux's wait_task_zombie leaves notask_error at ECHILD).
            let exited_unwanted = state.zombie.is_some() && options & libc::WEXITED == 0;
            if !selected || !kind_ok || exited_unwanted {
                continue;
            }
            matched = true;
            let uid = state.creds.ruid;
            let keep = options & libc::WNOWAIT != 0;
            if let Some(status) = state.zombie.filter(|_| options & libc::WEXITED != 0) {
                let (code, si_status) = match status {
                    ExitStatus::Exited(c) => (abi::CLD_EXITED, c),
                    ExitStatus::Signaled(s) => (abi::CLD_KILLED, s),
                };
                drop(state);
                if !keep {
                    self.kernel.reap(self.tg(), &child);
                }
                return Ok(Some(WaitResult {
                    pid: child.tgid,
                    uid,
                    status: status.wait_status(),
                    code,
                    si_status,
                    times,
                }));
            }
            match state.job {
                JobState::Stopped {
                    signo,
                    reported: false,
                } if options & libc::WUNTRACED != 0 => {
                    if !keep {
                        state.job = JobState::Stopped {
                            signo,
                            reported: true,
                        };
                    }
                    let status = 0x7f | (signo << 8);
                    return Ok(Some(WaitResult {
                        pid: child.tgid,
                        uid,
                        status,
                        code: abi::CLD_STOPPED,
                        si_status: signo,
                        times,
                    }));
                }
                JobState::Continued if options & libc::WCONTINUED != 0 => {
                    if !keep {
                        state.job = JobState::Running;
                    }
                    let result = WaitResult {
                        pid: child.tgid,
                        uid,
                        status: 0xffff,
                        code: abi::CLD_CONTINUED,
                        si_status: libc::SIGCONT,
                        times,
                    };
                    return Ok(Some(result));
                }
                _ => {}
            }
        }
        if matched {
            Ok(None)
        } else {
            Err(Errno::ECHILD)
        }
    }
}

impl Kernel {
    /// The last thread of `tg` is gone: reparent its children, tell its parent, and end the
    /// sandbox if it was init.
    pub(crate) fn process_exited(&self, tg: &Arc<ThreadGroup>, status: ExitStatus) {
        let init = self.init();
        let (children, parent, exit_signal, uid, sid) = {
            let mut state = tg.state.lock();
            (
                std::mem::take(&mut state.children),
                state.parent.clone(),
                state.exit_signal,
                state.creds.ruid,
                state.sid,
            )
        };
        if sid == tg.tgid {
            self.session_leader_exited(sid);
        }
        if tg.tgid == 1 {
            // Init is gone: Linux kills everything else in its pid namespace, and the sandbox ends.
            // With the table locked throughout, as kill(-1): a racing fork can't add a child
            // after the walk (see clone_task).
            let pids = self.pids.lock();
            for group in pids.groups().filter(|g| g.tgid != 1) {
                self.start_group_exit(group, ExitStatus::Signaled(libc::SIGKILL));
            }
            drop(pids);
            self.finish(status);
            return;
        }
        if let Some(reaper) = self.subreaper_of(tg).or(init) {
            let has_zombies = children.iter().any(|c| c.state.lock().zombie.is_some());
            for child in &children {
                let mut state = child.state.lock();
                state.parent = Some(Arc::clone(&reaper));
                // A clone() child's exit signal was its parent's choice; the reaper gets SIGCHLD
                // (Linux's reparent_leader: "we don't want people slaying init").
                state.exit_signal = libc::SIGCHLD;
            }
            reaper
                .state
                .lock()
                .children
                .extend(children.iter().cloned());
            if has_zombies {
                reaper.child_events.notify(waiter::events::POLLIN);
            }
        }
        self.send_parent_death_signals(&children);
        let Some(parent) = parent else {
            return;
        };
        let (code, si_status) = match status {
            ExitStatus::Exited(c) => (abi::CLD_EXITED, c),
            ExitStatus::Signaled(s) => (abi::CLD_KILLED, s),
        };
        let handlers = Arc::clone(&parent.state.lock().handlers);
        let chld = handlers.lock().get(libc::SIGCHLD);
        // A parent ignoring SIGCHLD (or with SA_NOCLDWAIT) never sees zombies: reap now.
        let autoreap = exit_signal == libc::SIGCHLD
            && (chld.handler == libc::SIG_IGN as u64 || chld.has_flag(libc::SA_NOCLDWAIT));
        if exit_signal > 0 {
            self.signal_group(
                &parent,
                SigInfo::child(exit_signal, code, tg.tgid, uid, si_status),
            );
        }
        if autoreap {
            self.reap(&parent, tg);
        }
        parent.child_events.notify(waiter::events::POLLIN);
    }

    /// Removes a zombie child for good.
    pub(crate) fn reap(&self, parent: &Arc<ThreadGroup>, child: &Arc<ThreadGroup>) {
        parent.timers.child_reaped(child);
        parent
            .state
            .lock()
            .children
            .retain(|c| !Arc::ptr_eq(c, child));
        self.pids.lock().remove_group(child.tgid);
    }
}
