//! The sandbox's memory limit and its OOM killer.
//!
//! Guest pages become host memory when touched, which the host does without the Sentry
//! seeing it (a stub's page fault on the memory file), so the limit is watched rather than
//! checked at allocation: a thread samples how much of the memory file is resident and, past the
//! limit, kills the process holding the most memory with SIGKILL, as Linux's OOM killer does in a
//! memory cgroup. The Sentry itself is never the victim; guest mmap keeps Linux's overcommit.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use abi::{Errno, SigInfo};

use crate::kernel::Kernel;
use crate::task::ThreadGroup;
use crate::KernelError;

/// How often the resident size is sampled: a guest touching memory as fast as the host allows
/// passes the limit by at most what it can touch in this time.
const SAMPLE_INTERVAL: Duration = Duration::from_millis(10);

/// How long a victim has to die and give its memory back before another process is chosen.
const VICTIM_GRACE: Duration = Duration::from_secs(2);

/// Starts the thread enforcing the kernel's memory limit; it ends with the kernel.
pub(crate) fn start_oom_killer(kernel: &Arc<Kernel>) -> Result<(), KernelError> {
    let limit = kernel.memory_limit;
    let kernel = Arc::downgrade(kernel);
    std::thread::Builder::new()
        .name("oom-killer".into())
        .spawn(move || watch(&kernel, limit))
        .map_err(KernelError::Thread)?;
    Ok(())
}

fn watch(kernel: &Weak<Kernel>, limit: u64) {
    let mut victim: Option<(Weak<ThreadGroup>, Instant)> = None;
    loop {
        std::thread::sleep(SAMPLE_INTERVAL);
        let Some(kernel) = kernel.upgrade() else {
            return;
        };
        let resident = match kernel.memory.resident() {
            Ok(resident) => resident,
            Err(e) => {
                tracing::warn!("memory limit no longer enforced: {e}");
                return;
            }
        };
        if resident <= limit {
            victim = None;
            continue;
        }
        let dying = victim.as_ref().is_some_and(|(tg, killed_at)| {
            killed_at.elapsed() < VICTIM_GRACE
                && tg
                    .upgrade()
                    .is_some_and(|tg| tg.state.lock().zombie.is_none())
        });
        if dying {
            continue;
        }
        victim = kill_largest(&kernel, resident, limit).map(|tg| (tg, Instant::now()));
    }
}

impl Kernel {
    /// The memory the guest sees (sysinfo, /proc/meminfo), in bytes: total and free, the
    /// host's bounded by the sandbox's limit, as a memory cgroup's are shown in a container.
    pub(crate) fn memory_totals(&self) -> Result<(u64, u64), Errno> {
        let host = nix::sys::sysinfo::sysinfo().map_err(|e| Errno(e as i32))?;
        let resident = self.memory.resident().unwrap_or(0);
        let total = host.ram_total().min(self.memory_limit);
        let free = host
            .ram_unused()
            .min(self.memory_limit.saturating_sub(resident));
        Ok((total, free))
    }
}

/// Kills the live process with the most resident memory; returns it.
fn kill_largest(kernel: &Kernel, resident: u64, limit: u64) -> Option<Weak<ThreadGroup>> {
    let groups: Vec<Arc<ThreadGroup>> = kernel.pids.lock().groups().cloned().collect();
    let (tg, size) = groups
        .into_iter()
        .filter_map(|tg| {
            let leader = {
                let state = tg.state.lock();
                if state.zombie.is_some() || state.group_exit.is_some() {
                    return None;
                }
                Arc::clone(state.threads.first()?)
            };
            let mm = Arc::clone(&leader.resources.lock().as_ref()?.mm);
            let size = mm.stats().resident();
            Some((tg, size))
        })
        .max_by_key(|(_, size)| *size)?;
    tracing::warn!(
        "out of memory: {} MiB resident past the sandbox's limit of {} MiB; killing process {} \
         ({} MiB)",
        resident >> 20,
        limit >> 20,
        tg.tgid,
        size >> 20
    );
    kernel.signal_group(&tg, SigInfo::kernel(libc::SIGKILL));
    Some(Arc::downgrade(&tg))
}
