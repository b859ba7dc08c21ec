//! Kernel timers: one clock-source thread per sandbox that fires every armed timer at its
//! deadline, and what the guest builds on them — itimers and POSIX timers of a process
//! (`process`), timerfds (`timerfd`) — plus the CPU-time accounting behind times(2) and the CPU
//! clocks (`cpu`).
//!
//! Deadlines are host `Instant`s (CLOCK_MONOTONIC). A CLOCK_REALTIME deadline is converted when
//! the timer is set, so a later step of the host's wall clock doesn't move it (Linux would);
//! the sandbox can't set the clock itself.

mod cpu;
mod process;
mod timerfd;

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

pub(crate) use cpu::CpuTime;
pub(crate) use process::{ItimerKind, PosixTimerSpec, ProcessTimers, ProcessTimes, TimerTarget};
pub(crate) use timerfd::{new_timerfd, TimerFdRegistry};

/// What a timer does when it fires.
pub(crate) trait Expire: Send + Sync {
    /// The timer fired `count` times: more than once when whole intervals went by before the
    /// clock-source thread got to it.
    fn expire(&self, count: u64);
}

impl<T: Expire> Expire for Arc<T> {
    fn expire(&self, count: u64) {
        T::expire(self, count);
    }
}

/// When a timer next fires and how often it repeats (a zero interval: once).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Setting {
    pub(crate) next: Option<Instant>,
    pub(crate) interval: Duration,
}

impl Setting {
    /// The time left until the next expiration (zero when disarmed or due).
    pub(crate) fn remaining(&self) -> Duration {
        self.next.map_or(Duration::ZERO, |next| {
            next.saturating_duration_since(Instant::now())
        })
    }
}

/// A position in the queue: the deadline, and a sequence number that keeps equal deadlines apart.
type Key = (Instant, u64);

/// One timer: its setting and its action. Dropping it disarms it.
pub(crate) struct Timer {
    queue: Arc<Shared>,
    state: Mutex<TimerState>,
    action: Box<dyn Expire>,
}

#[derive(Default)]
struct TimerState {
    setting: Setting,
    /// Where the timer sits in the queue while armed.
    key: Option<Key>,
}

impl Timer {
    /// Arms the timer with `setting` (disarms it when `setting.next` is `None`); returns the
    /// setting it had.
    pub(crate) fn set(self: &Arc<Self>, setting: Setting) -> Setting {
        let mut state = self.state.lock();
        let old = state.setting;
        if let Some(key) = state.key.take() {
            self.queue.remove(key);
        }
        state.setting = setting;
        if let Some(next) = setting.next {
            state.key = Some(self.queue.insert(next, Arc::downgrade(self)));
        }
        old
    }

    /// The current setting.
    pub(crate) fn get(&self) -> Setting {
        self.state.lock().setting
    }

    /// The clock-source thread took this timer out of the queue at `key`: count the
    /// expirations, re-arm a periodic timer, and act.
    fn fire(self: &Arc<Self>, key: Key) {
        let count = {
            let mut state = self.state.lock();
            if state.key != Some(key) {
                // Re-armed or disarmed since the thread looked.
                return;
            }
            state.key = None;
            let Some(due) = state.setting.next else {
                return;
            };
            let interval = state.setting.interval;
            if interval.is_zero() {
                state.setting.next = None;
                1
            } else {
                let late = Instant::now().saturating_duration_since(due).as_nanos();
                let missed = late / interval.as_nanos();
                let next = u64::try_from(interval.as_nanos() * (missed + 1))
                    .ok()
                    .and_then(|nanos| due.checked_add(Duration::from_nanos(nanos)));
                state.setting.next = next;
                if let Some(next) = next {
                    state.key = Some(self.queue.insert(next, Arc::downgrade(self)));
                }
                u64::try_from(missed + 1).unwrap_or(u64::MAX)
            }
        };
        self.action.expire(count);
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if let Some(key) = self.state.get_mut().key.take() {
            self.queue.remove(key);
        }
    }
}

/// The sandbox's clock source: armed timers by deadline, and the thread that fires them.
pub(crate) struct TimerQueue {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<QueueState>,
    changed: Condvar,
}

#[derive(Default)]
struct QueueState {
    armed: BTreeMap<Key, Weak<Timer>>,
    next_seq: u64,
    /// The thread starts with the first armed timer: programs without timers don't pay for it.
    thread_started: bool,
    shutdown: bool,
}

impl TimerQueue {
    pub(crate) fn new() -> TimerQueue {
        TimerQueue {
            shared: Arc::new(Shared {
                state: Mutex::new(QueueState::default()),
                changed: Condvar::new(),
            }),
        }
    }

    /// A new, disarmed timer that runs `action` when it fires.
    pub(crate) fn timer(&self, action: Box<dyn Expire>) -> Arc<Timer> {
        Arc::new(Timer {
            queue: Arc::clone(&self.shared),
            state: Mutex::new(TimerState::default()),
            action,
        })
    }
}

impl Drop for TimerQueue {
    fn drop(&mut self) {
        self.shared.state.lock().shutdown = true;
        self.shared.changed.notify_all();
    }
}

impl Shared {
    fn insert(self: &Arc<Self>, deadline: Instant, timer: Weak<Timer>) -> Key {
        let mut state = self.state.lock();
        let key = (deadline, state.next_seq);
        state.next_seq += 1;
        state.armed.insert(key, timer);
        if !state.thread_started {
            state.thread_started = true;
            let shared = Arc::clone(self);
            let spawned = std::thread::Builder::new()
                .name("timers".into())
                .spawn(move || shared.run());
            if let Err(e) = spawned {
                // Timers then never fire; the guest sees sleeps that don't end.
                tracing::error!("starting the timer thread: {e}");
            }
        }
        // The new deadline may be the earliest: the thread re-computes its wait.
        self.changed.notify_one();
        key
    }

    fn remove(&self, key: Key) {
        self.state.lock().armed.remove(&key);
    }

    /// The clock-source thread: sleeps until the earliest deadline, fires what is due.
    fn run(&self) {
        let mut state = self.state.lock();
        while !state.shutdown {
            let Some((&key, _)) = state.armed.first_key_value() else {
                self.changed.wait(&mut state);
                continue;
            };
            if key.0 > Instant::now() {
                self.changed.wait_until(&mut state, key.0);
                continue;
            }
            let timer = state.armed.remove(&key).and_then(|t| t.upgrade());
            if let Some(timer) = timer {
                // Firing takes the timer's lock, then this one to re-arm, then whatever the
                // action locks: not under this lock.
                parking_lot::MutexGuard::unlocked(&mut state, || timer.fire(key));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    struct Count(Arc<AtomicU64>);

    impl Expire for Count {
        fn expire(&self, count: u64) {
            self.0.fetch_add(count, Ordering::SeqCst);
        }
    }

    fn counting_timer(queue: &TimerQueue) -> (Arc<Timer>, Arc<AtomicU64>) {
        let fired = Arc::new(AtomicU64::new(0));
        (queue.timer(Box::new(Count(Arc::clone(&fired)))), fired)
    }

    #[test]
    fn one_shot_fires_once_and_disarms() {
        let queue = TimerQueue::new();
        let (timer, fired) = counting_timer(&queue);
        timer.set(Setting {
            next: Some(Instant::now() + Duration::from_millis(10)),
            interval: Duration::ZERO,
        });
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(fired.load(Ordering::SeqCst), 1);
        assert_eq!(timer.get().next, None);
    }

    #[test]
    fn periodic_counts_every_interval_and_stops_when_disarmed() {
        let queue = TimerQueue::new();
        let (timer, fired) = counting_timer(&queue);
        let start = Instant::now();
        timer.set(Setting {
            next: Some(start + Duration::from_millis(10)),
            interval: Duration::from_millis(10),
        });
        std::thread::sleep(Duration::from_millis(105));
        let old = timer.set(Setting::default());
        let elapsed = start.elapsed().as_millis();
        let count = fired.load(Ordering::SeqCst);
        // Missed intervals are counted, not lost, however late the thread ran.
        assert!(
            u128::from(count) <= elapsed / 10 && count >= 5,
            "{count} in {elapsed} ms"
        );
        assert_eq!(old.interval, Duration::from_millis(10));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(fired.load(Ordering::SeqCst), count);
    }

    #[test]
    fn dropping_a_timer_disarms_it() {
        let queue = TimerQueue::new();
        let (timer, fired) = counting_timer(&queue);
        timer.set(Setting {
            next: Some(Instant::now() + Duration::from_millis(10)),
            interval: Duration::ZERO,
        });
        drop(timer);
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(fired.load(Ordering::SeqCst), 0);
        assert!(queue.shared.state.lock().armed.is_empty());
    }
}
