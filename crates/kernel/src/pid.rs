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
#[derive(Default)]
pub(crate) struct PidTable {
    last: i32,
    tasks: HashMap<i32, Arc<TaskHandle>>,
    groups: HashMap<i32, Arc<ThreadGroup>>,
}

impl PidTable {
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

    pub(crate) fn insert_task(&mut self, task: Arc<TaskHandle>) {
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
