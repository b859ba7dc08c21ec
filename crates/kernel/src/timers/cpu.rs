//! CPU time of tasks, as far as the Sentry can see it.
//!
//! Guest code runs in the platform's stub threads, whose CPU clocks the Sentry can't read (the
//! platform doesn't name them, and the Sentry never opens /proc/<tid>/stat by name). So:
//! - user time is the wall time the task spent inside `Context::switch` — running guest code,
//!   or runnable and waiting for a host CPU; time blocked in a syscall is not counted;
//! - system time is the real CPU time of the task's Sentry thread (serving its syscalls and
//!   faults), read from that thread's host CPU clock, which any Sentry thread may read.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::Duration;

use nix::time::{clock_gettime, ClockId};

/// The CPU time of one task.
#[derive(Debug, Default)]
pub(crate) struct CpuTime {
    /// Nanoseconds spent running guest code.
    guest_nanos: AtomicU64,
    /// The host tid of the task's Sentry thread (0 until the thread runs the task).
    host_tid: AtomicI32,
}

impl CpuTime {
    /// The calling OS thread is the one serving this task from now on.
    pub(crate) fn bind_current_thread(&self) {
        self.host_tid
            .store(nix::unistd::gettid().as_raw(), Ordering::Relaxed);
    }

    /// The guest ran for `elapsed`.
    pub(crate) fn add_user(&self, elapsed: Duration) {
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.guest_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub(crate) fn user(&self) -> Duration {
        Duration::from_nanos(self.guest_nanos.load(Ordering::Relaxed))
    }

    /// CPU time the Sentry spent on the task's behalf.
    pub(crate) fn system(&self) -> Duration {
        let tid = self.host_tid.load(Ordering::Relaxed);
        if tid == 0 {
            return Duration::ZERO;
        }
        // MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED) from linux/posix-timers.h: the host lets a
        // thread read the CPU clock of any thread of its own process.
        let clock = ClockId::from_raw((!tid << 3) | CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED);
        clock_gettime(clock).map_or(Duration::ZERO, |t| {
            Duration::new(
                u64::try_from(t.tv_sec()).unwrap_or(0),
                u32::try_from(t.tv_nsec()).unwrap_or(0),
            )
        })
    }

    /// User plus system time.
    pub(crate) fn total(&self) -> Duration {
        self.user() + self.system()
    }
}

const CPUCLOCK_PERTHREAD: i32 = 4;
const CPUCLOCK_SCHED: i32 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_time_is_the_bound_threads_cpu_time() {
        let cpu = CpuTime::default();
        assert_eq!(cpu.system(), Duration::ZERO);
        cpu.bind_current_thread();
        let start = std::time::Instant::now();
        let mut spin = 0u64;
        while start.elapsed() < Duration::from_millis(30) {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        let busy = cpu.system();
        assert!(busy > Duration::from_millis(1), "{busy:?}");
        std::thread::sleep(Duration::from_millis(50));
        // Sleeping costs no CPU.
        assert!(cpu.system() < busy + Duration::from_millis(20));
        cpu.add_user(Duration::from_millis(7));
        assert_eq!(cpu.user(), Duration::from_millis(7));
    }
}
