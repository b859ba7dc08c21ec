//! A process's timers: the three itimers (alarm, setitimer) and its POSIX timers
//! (timer_create), plus the CPU time of its exited threads and reaped children.
//!
//! ITIMER_VIRTUAL and ITIMER_PROF count wall time, not the process's CPU time: the Sentry has
//! no per-process CPU-time tick to drive them (see `cpu`).

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use abi::{Errno, SigInfo, SI_TIMER};
use parking_lot::Mutex;

use super::{CpuTime, Expire, Timer};
use crate::kernel::Kernel;
use crate::task::{TaskHandle, ThreadGroup};

/// How many POSIX timers a process may have at once (Linux bounds them only by memory).
const MAX_POSIX_TIMERS: usize = 1 << 16;

/// setitimer's `which`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ItimerKind {
    Real,
    Virtual,
    Prof,
}

impl ItimerKind {
    pub(crate) fn from_which(which: i32) -> Result<ItimerKind, Errno> {
        match which {
            libc::ITIMER_REAL => Ok(ItimerKind::Real),
            libc::ITIMER_VIRTUAL => Ok(ItimerKind::Virtual),
            libc::ITIMER_PROF => Ok(ItimerKind::Prof),
            _ => Err(Errno::EINVAL),
        }
    }

    fn signo(self) -> i32 {
        match self {
            ItimerKind::Real => libc::SIGALRM,
            ItimerKind::Virtual => libc::SIGVTALRM,
            ItimerKind::Prof => libc::SIGPROF,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Whom a POSIX timer signals.
pub(crate) enum TimerTarget {
    /// SIGEV_NONE: nobody; the guest polls timer_gettime.
    Nobody,
    /// SIGEV_SIGNAL (and SIGEV_THREAD, which the kernel treats alike): the process.
    Process,
    /// SIGEV_THREAD_ID: one thread of the process.
    Thread(Weak<TaskHandle>),
}

/// What timer_create asked for.
pub(crate) struct PosixTimerSpec {
    pub(crate) signo: i32,
    /// The sigevent's value, handed back as si_value; `None`: the timer's id (no sigevent).
    pub(crate) value: Option<u64>,
    pub(crate) target: TimerTarget,
}

/// A process's timers and the CPU time of what it no longer has.
#[derive(Default)]
pub(crate) struct ProcessTimers {
    /// ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF, made at first use.
    itimers: Mutex<[Option<Arc<Timer>>; 3]>,
    posix: Mutex<PosixTimers>,
    cpu: Mutex<ProcessCpu>,
}

#[derive(Default)]
struct PosixTimers {
    next_id: i32,
    timers: BTreeMap<i32, PosixTimer>,
}

/// One POSIX timer: the timer and the signal it sends.
#[derive(Clone)]
pub(crate) struct PosixTimer {
    pub(crate) timer: Arc<Timer>,
    /// The clock absolute settings are read on.
    pub(crate) clock: i32,
    signal: Arc<TimerSignal>,
}

impl PosixTimer {
    /// timer_getoverrun: the overrun count of the last signal delivered.
    pub(crate) fn overrun(&self) -> i32 {
        self.signal.overrun.lock().last
    }
}

/// CPU time of exited threads and of waited-for children (with their own children's).
#[derive(Default, Clone, Copy)]
struct ProcessCpu {
    exited_user: Duration,
    exited_system: Duration,
    children_user: Duration,
    children_system: Duration,
}

/// A process's CPU time: its own and its reaped children's, as times(2) reports them.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ProcessTimes {
    pub(crate) user: Duration,
    pub(crate) system: Duration,
    pub(crate) children_user: Duration,
    pub(crate) children_system: Duration,
}

impl ProcessTimes {
    /// User and system time with the reaped children's (Linux's RUSAGE_BOTH, what a wait
    /// reports of the child it waited for).
    pub(crate) fn with_children(&self) -> (Duration, Duration) {
        (
            self.user + self.children_user,
            self.system + self.children_system,
        )
    }
}

impl ProcessTimers {
    /// The itimer `kind`, made (disarmed) if it wasn't yet.
    pub(crate) fn itimer(
        &self,
        kernel: &Arc<Kernel>,
        tg: &Arc<ThreadGroup>,
        kind: ItimerKind,
    ) -> Arc<Timer> {
        let mut itimers = self.itimers.lock();
        let slot = &mut itimers[kind.index()];
        Arc::clone(slot.get_or_insert_with(|| {
            kernel.timers.timer(Box::new(ItimerSignal {
                kernel: Arc::downgrade(kernel),
                tg: Arc::downgrade(tg),
                signo: kind.signo(),
            }))
        }))
    }

    /// The setting of itimer `kind` without making it.
    pub(crate) fn itimer_setting(&self, kind: ItimerKind) -> super::Setting {
        self.itimers.lock()[kind.index()]
            .as_ref()
            .map(|t| t.get())
            .unwrap_or_default()
    }

    /// timer_create: a new, disarmed POSIX timer; returns its id.
    pub(crate) fn create_posix(
        &self,
        kernel: &Arc<Kernel>,
        tg: &Arc<ThreadGroup>,
        clock: i32,
        spec: PosixTimerSpec,
    ) -> Result<i32, Errno> {
        let mut posix = self.posix.lock();
        if posix.timers.len() >= MAX_POSIX_TIMERS {
            return Err(Errno::EAGAIN);
        }
        // Ids count up from 0 as Linux hands them out, skipping ones still in use.
        let mut id = posix.next_id;
        while posix.timers.contains_key(&id) {
            id = id.checked_add(1).unwrap_or(0);
        }
        posix.next_id = id.checked_add(1).unwrap_or(0);
        let signal = Arc::new(TimerSignal {
            kernel: Arc::downgrade(kernel),
            tg: Arc::downgrade(tg),
            id,
            spec,
            overrun: Mutex::new(Overrun::default()),
        });
        let timer = kernel.timers.timer(Box::new(Arc::clone(&signal)));
        posix.timers.insert(
            id,
            PosixTimer {
                timer,
                clock,
                signal,
            },
        );
        Ok(id)
    }

    /// The POSIX timer `id`; EINVAL if the process has none by that id.
    pub(crate) fn posix(&self, id: i32) -> Result<PosixTimer, Errno> {
        self.posix
            .lock()
            .timers
            .get(&id)
            .cloned()
            .ok_or(Errno::EINVAL)
    }

    /// timer_delete.
    pub(crate) fn delete_posix(&self, id: i32) -> Result<(), Errno> {
        self.posix
            .lock()
            .timers
            .remove(&id)
            .map(drop)
            .ok_or(Errno::EINVAL)
    }

    /// A signal was just taken off a pending queue for delivery or sigwait: if it is one of
    /// this process's timer signals, it carries the overruns counted while it was pending.
    pub(crate) fn signal_dequeued(&self, info: &mut SigInfo) {
        if info.code != SI_TIMER {
            return;
        }
        let timer = self.posix.lock().timers.get(&info.timer_id()).cloned();
        if let Some(timer) = timer.filter(|t| t.signal.spec.signo == info.signo) {
            let mut overrun = timer.signal.overrun.lock();
            info.set_timer_overrun(overrun.pending);
            overrun.last = overrun.pending;
            overrun.pending = 0;
            overrun.queued = false;
        }
    }

    /// execve: POSIX timers are deleted; itimers carry on.
    pub(crate) fn exec(&self) {
        self.posix.lock().timers.clear();
    }

    /// The process exited: nothing of it fires any more.
    pub(crate) fn exit(&self) {
        *self.itimers.lock() = [None, None, None];
        self.posix.lock().timers.clear();
    }

    /// A thread of the process exited: its CPU time stays counted.
    pub(crate) fn thread_exited(&self, cpu: &CpuTime) {
        let mut times = self.cpu.lock();
        times.exited_user += cpu.user();
        times.exited_system += cpu.system();
    }

    /// The process reaped `child`: its times and its children's become children's times.
    pub(crate) fn child_reaped(&self, child: &ThreadGroup) {
        let (user, system) = child.cpu_times().with_children();
        let mut times = self.cpu.lock();
        times.children_user += user;
        times.children_system += system;
    }

    /// The process's CPU time given its live threads.
    pub(crate) fn times<'a>(&self, live: impl Iterator<Item = &'a CpuTime>) -> ProcessTimes {
        let cpu = *self.cpu.lock();
        let mut times = ProcessTimes {
            user: cpu.exited_user,
            system: cpu.exited_system,
            children_user: cpu.children_user,
            children_system: cpu.children_system,
        };
        for thread in live {
            times.user += thread.user();
            times.system += thread.system();
        }
        times
    }
}

/// An itimer's action: its signal to the process (si_code SI_KERNEL, as Linux sends it).
struct ItimerSignal {
    kernel: Weak<Kernel>,
    tg: Weak<ThreadGroup>,
    signo: i32,
}

impl Expire for ItimerSignal {
    fn expire(&self, _count: u64) {
        if let (Some(kernel), Some(tg)) = (self.kernel.upgrade(), self.tg.upgrade()) {
            kernel.signal_group(&tg, SigInfo::kernel(self.signo));
        }
    }
}

/// A POSIX timer's action: an SI_TIMER signal, at most one pending at a time; expirations
/// while it is pending are counted as overruns, which the signal carries when dequeued.
struct TimerSignal {
    kernel: Weak<Kernel>,
    tg: Weak<ThreadGroup>,
    id: i32,
    spec: PosixTimerSpec,
    overrun: Mutex<Overrun>,
}

#[derive(Default)]
struct Overrun {
    /// A signal was sent and not yet dequeued.
    queued: bool,
    /// Expirations beyond the first since the pending signal was sent.
    pending: i32,
    /// The count the last dequeued signal carried (timer_getoverrun).
    last: i32,
}

impl Expire for TimerSignal {
    fn expire(&self, count: u64) {
        if matches!(self.spec.target, TimerTarget::Nobody) {
            return;
        }
        let (Some(kernel), Some(tg)) = (self.kernel.upgrade(), self.tg.upgrade()) else {
            return;
        };
        let extra = i32::try_from(count.saturating_sub(1)).unwrap_or(i32::MAX);
        {
            let mut overrun = self.overrun.lock();
            // A signal ignored or discarded on the way never gets dequeued: look whether it is
            // still there before counting this as an overrun.
            if overrun.queued && self.still_pending(&tg) {
                overrun.pending = overrun.pending.saturating_add(extra).saturating_add(1);
                return;
            }
            overrun.queued = true;
            overrun.pending = extra;
        }
        let value = self
            .spec
            .value
            .unwrap_or(u64::from(self.id.cast_unsigned()));
        let info = SigInfo::timer(self.spec.signo, self.id, 0, value);
        match &self.spec.target {
            TimerTarget::Process => kernel.signal_group(&tg, info),
            TimerTarget::Thread(thread) => {
                if let Some(thread) = thread.upgrade() {
                    kernel.signal_thread(&thread, info);
                }
            }
            TimerTarget::Nobody => {}
        }
    }
}

impl TimerSignal {
    fn still_pending(&self, tg: &ThreadGroup) -> bool {
        let bit = 1u64 << ((self.spec.signo - 1) & 63);
        let state = tg.state.lock();
        let pending = match &self.spec.target {
            TimerTarget::Thread(thread) => thread
                .upgrade()
                .map_or(0, |t| t.signals.lock().pending.set()),
            TimerTarget::Process | TimerTarget::Nobody => state.pending.set(),
        };
        pending & bit != 0
    }
}

impl ThreadGroup {
    /// The process's CPU time: its live threads', its exited threads', its reaped children's.
    pub(crate) fn cpu_times(&self) -> ProcessTimes {
        let threads = self.state.lock().threads.clone();
        self.timers.times(threads.iter().map(|t| &t.cpu))
    }
}
