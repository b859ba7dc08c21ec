//! CPU time of tasks, as far as the Sentry can see it.
//!
//! Guest code runs in the platform's stub threads, whose CPU clocks the Sentry can't read (the
//! platform doesn't name them, and the Sentry never opens /proc/<tid>/stat by name). So:
//! - user time is the wall time the task spent inside `Context::switch` — running guest code,
//!   or runnable and waiting for a host CPU; time blocked in a syscall is not counted;
//! - system time is the real CPU time of the task's Sentry thread (serving its syscalls and
//!   faults), read from that thread's host CPU clock, which any Sentry thread may read, less
//!   what that thread spends inside `switch` (the platform's own syscalls, already counted as
//!   user time). That share is estimated from one switch in [`SAMPLE_EVERY`], whose CPU time is
//!   measured: reading the clock around every switch would cost a few percent of a round trip.

use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use nix::time::{clock_gettime, ClockId};

/// The CPU time of one task.
#[derive(Debug, Default)]
pub(crate) struct CpuTime {
    /// Nanoseconds spent running guest code.
    guest_nanos: AtomicU64,
    /// The host tid of the task's Sentry thread (0 until the thread runs the task).
    host_tid: AtomicI32,
    switches: AtomicU64,
    /// Switches whose Sentry CPU time was measured, and that time in nanoseconds.
    sampled_switches: AtomicU64,
    sampled_nanos: AtomicU64,
}

/// One switch in this many has the Sentry thread's CPU time around it measured.
const SAMPLE_EVERY: u64 = 64;

/// A switch into the guest being timed.
pub(crate) struct Switch {
    entered: Instant,
    /// The Sentry thread's CPU clock at entry, for a sampled switch.
    cpu_at_entry: Option<Duration>,
}

impl CpuTime {
    /// The calling OS thread is the one serving this task from now on.
    pub(crate) fn bind_current_thread(&self) {
        self.host_tid
            .store(nix::unistd::gettid().as_raw(), Ordering::Relaxed);
    }

    /// The task's thread is about to run the guest (called by that thread).
    pub(crate) fn enter_guest(&self) -> Switch {
        let n = self.switches.fetch_add(1, Ordering::Relaxed);
        Switch {
            entered: Instant::now(),
            cpu_at_entry: n.is_multiple_of(SAMPLE_EVERY).then(own_thread_cpu),
        }
    }

    /// The guest stopped running (called by the task's thread).
    pub(crate) fn leave_guest(&self, switch: Switch) {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.guest_nanos
            .fetch_add(nanos(switch.entered.elapsed()), Ordering::Relaxed);
        if let Some(at_entry) = switch.cpu_at_entry {
            let spent = own_thread_cpu().saturating_sub(at_entry);
            self.sampled_nanos
                .fetch_add(nanos(spent), Ordering::Relaxed);
            self.sampled_switches.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(crate) fn user(&self) -> Duration {
        Duration::from_nanos(self.guest_nanos.load(Ordering::Relaxed))
    }

    /// CPU time the Sentry spent on the task's behalf outside the guest switches.
    pub(crate) fn system(&self) -> Duration {
        let tid = self.host_tid.load(Ordering::Relaxed);
        if tid == 0 {
            return Duration::ZERO;
        }
        // MAKE_THREAD_CPUCLOCK(tid, CPUCLOCK_SCHED) from linux/posix-timers.h: the host lets a
        // thread read the CPU clock of any thread of its own process.
        let clock = ClockId::from_raw((!tid << 3) | CPUCLOCK_PERTHREAD | CPUCLOCK_SCHED);
        let thread_cpu = clock_gettime(clock).map_or(Duration::ZERO, duration_of);
        let sampled = self.sampled_switches.load(Ordering::Relaxed);
        let in_switches = self
            .sampled_nanos
            .load(Ordering::Relaxed)
            .checked_div(sampled)
            .map_or(0, |per_switch| {
                per_switch.saturating_mul(self.switches.load(Ordering::Relaxed))
            });
        thread_cpu.saturating_sub(Duration::from_nanos(in_switches))
    }

    /// User plus system time.
    pub(crate) fn total(&self) -> Duration {
        self.user() + self.system()
    }
}

fn duration_of(t: nix::sys::time::TimeSpec) -> Duration {
    Duration::new(
        u64::try_from(t.tv_sec()).unwrap_or(0),
        u32::try_from(t.tv_nsec()).unwrap_or(0),
    )
}

/// The calling thread's CPU time.
fn own_thread_cpu() -> Duration {
    clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map_or(Duration::ZERO, duration_of)
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
        let switch = cpu.enter_guest();
        std::thread::sleep(Duration::from_millis(7));
        cpu.leave_guest(switch);
        assert!(cpu.user() >= Duration::from_millis(7));
    }
}
