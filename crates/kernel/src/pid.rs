//! Process and thread ids of the sandbox: allocation and lookup.

use std::collections::HashMap;
use std::sync::Arc;

use abi::Errno;

use crate::task::{TaskHandle, ThreadGroup};

/// Ids wrap back to here: Linux keeps the first 300 for system daemons (RESERVED_PIDS).
const PID_WRAP_TO: i32 = 300;

/// Largest id + 1 (Linux's default /proc/sys/kernel/pid_max).
pub(crate) const PID_MAX: i32 = 32_768;

/// Every live task and every thread group not yet reaped, by id.
pub(crate) struct PidTable {
    last: i32,
    tasks: HashMap<i32, Arc<TaskHandle>>,
    groups: HashMap<i32, Arc<ThreadGroup>>,
    /// The most live tasks the sandbox may have (each costs the host two tasks).
    max_tasks: usize,
}

impl PidTable {
    /// An empty table admitting at most `max_tasks` live tasks.
    pub(crate) fn new(max_tasks: u32) -> PidTable {
        PidTable {
            last: 0,
            tasks: HashMap::new(),
            groups: HashMap::new(),
            max_tasks: usize::try_from(max_tasks).unwrap_or(usize::MAX),
        }
    }

    /// The next free id, as Linux hands them out: increasing, wrapping past PID_MAX.
    pub(crate) fn allocate(&mut self) -> Result<i32, Errno> {
        let mut candidate = self.last;
        for _ in 0..PID_MAX {
            candidate += 1;
            if candidate >= PID_MAX {
                candidate = PID_WRAP_TO;
            }
            if !self.tasks.contains_key(&candidate) && !self.groups.contains_key(&candidate) {
                self.last = candidate;
                return Ok(candidate);
            }
        }
        Err(Errno::EAGAIN)
    }

    /// The id handed out last (/proc/loadavg, /proc/stat "processes").
    pub(crate) fn last_allocated(&self) -> i32 {
        self.last
    }

    /// Whether the sandbox has as many live tasks as it may: a clone that would fail anyway
    /// fails before it copies anything.
    pub(crate) fn at_task_limit(&self) -> bool {
        self.tasks.len() >= self.max_tasks
    }

    /// Adds a live task; EAGAIN, as Linux's pids cgroup gives fork, when the sandbox already
    /// has as many as it may.
    pub(crate) fn insert_task(&mut self, task: Arc<TaskHandle>) -> Result<(), Errno> {
        if self.at_task_limit() {
            return Err(Errno::EAGAIN);
        }
        self.tasks.insert(task.tid(), task);
        Ok(())
    }

    /// Files `task` under its new id in place of `old_tid` (an exec from a non-leader thread):
    /// the number of tasks, and so the limit, is unchanged.
    pub(crate) fn retag_task(&mut self, old_tid: i32, task: Arc<TaskHandle>) {
        self.tasks.remove(&old_tid);
        self.tasks.insert(task.tid(), task);
    }

    pub(crate) fn remove_task(&mut self, tid: i32) {
        self.tasks.remove(&tid);
    }

    pub(crate) fn insert_group(&mut self, group: Arc<ThreadGroup>) {
        self.groups.insert(group.tgid, group);
    }

    pub(crate) fn remove_group(&mut self, tgid: i32) {
        self.groups.remove(&tgid);
    }

    pub(crate) fn task(&self, tid: i32) -> Option<Arc<TaskHandle>> {
        self.tasks.get(&tid).cloned()
    }

    pub(crate) fn group(&self, tgid: i32) -> Option<Arc<ThreadGroup>> {
        self.groups.get(&tgid).cloned()
    }

    /// Every thread group, zombies included.
    pub(crate) fn groups(&self) -> impl Iterator<Item = &Arc<ThreadGroup>> {
        self.groups.values()
    }

    /// How many tasks run as `uid` (for RLIMIT_NPROC).
    pub(crate) fn tasks_of_user(&self, uid: u32) -> usize {
        self.tasks
            .values()
            .filter(|t| t.tg.state.lock().creds.ruid == uid)
            .count()
    }
}
