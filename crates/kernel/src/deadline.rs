//! Guest-given times as host deadlines, checked in one place.
//!
//! Every duration or absolute time a guest gives (poll's milliseconds, a timespec, select's
//! timeval, a futex's absolute time, a socket's SO_RCVTIMEO) becomes a [`Deadline`] here: a
//! malformed time is EINVAL where Linux says so (`timespec64_valid`), and one too far away to
//! represent saturates to "never", as Linux's `timespec64_add_safe` and
//! `MAX_SCHEDULE_TIMEOUT` do, instead of overflowing `Instant` arithmetic.

use std::time::{Duration, Instant};

use abi::{Errno, Timespec, Timeval};

const NSEC_PER_SEC: i64 = 1_000_000_000;
const USEC_PER_SEC: i64 = 1_000_000;

/// The farthest a deadline is kept as an instant: a wait longer than a century is a wait
/// forever, and no `Instant` sum can overflow below it.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 86_400);

/// What [`Deadline::remaining`] reports for a wait that never ends: Linux's `TIME64_MAX`
/// seconds, the time left it writes back for a saturated timeout.
const NEVER_REMAINING: Duration = Duration::from_secs(i64::MAX.unsigned_abs());

/// A guest timespec as a duration; EINVAL for a negative `tv_sec` or a `tv_nsec` outside a
/// second, as Linux's `timespec64_valid`.
pub(crate) fn duration_of(ts: Timespec) -> Result<Duration, Errno> {
    let secs = u64::try_from(ts.tv_sec).map_err(|_| Errno::EINVAL)?;
    let nanos = u32::try_from(ts.tv_nsec)
        .ok()
        .filter(|&n| i64::from(n) < NSEC_PER_SEC);
    Ok(Duration::new(secs, nanos.ok_or(Errno::EINVAL)?))
}

/// A guest timeval (itimers, settimeofday) as a duration; EINVAL when out of range.
pub(crate) fn duration_of_timeval(tv: Timeval) -> Result<Duration, Errno> {
    if !(0..USEC_PER_SEC).contains(&tv.tv_usec) {
        return Err(Errno::EINVAL);
    }
    duration_of(Timespec {
        tv_sec: tv.tv_sec,
        tv_nsec: tv.tv_usec * 1000,
    })
}

/// select's timeval: Linux carries whole seconds out of `tv_usec` before checking, so only a
/// negative part is EINVAL; a sum past `i64` saturates.
pub(crate) fn duration_of_select_timeval(tv: Timeval) -> Result<Duration, Errno> {
    let secs = u64::try_from(tv.tv_sec).map_err(|_| Errno::EINVAL)?;
    let usecs = u64::try_from(tv.tv_usec).map_err(|_| Errno::EINVAL)?;
    Ok(Duration::from_secs(secs).saturating_add(Duration::from_micros(usecs)))
}

/// A millisecond timeout (poll, epoll_wait): negative waits forever.
pub(crate) fn millis(timeout: i32) -> Option<Duration> {
    u64::try_from(timeout).ok().map(Duration::from_millis)
}

/// When a wait gives up: at a host instant, or never.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deadline {
    At(Instant),
    Never,
}

impl Deadline {
    /// `timeout` from now; one too long to represent never ends.
    pub(crate) fn after(timeout: Duration) -> Self {
        Self::after_from(Instant::now(), timeout)
    }

    /// `timeout` from `start`, saturating to [`Deadline::Never`].
    fn after_from(start: Instant, timeout: Duration) -> Self {
        if timeout > FOREVER {
            return Deadline::Never;
        }
        start
            .checked_add(timeout)
            .map_or(Deadline::Never, Deadline::At)
    }

    /// A wait with an optional timeout: none waits forever.
    pub(crate) fn within(timeout: Option<Duration>) -> Self {
        timeout.map_or(Deadline::Never, Self::after)
    }

    /// When a clock that reads `clock_now` reaches `value` (a time already past is now).
    pub(crate) fn when_clock_reads(value: Duration, clock_now: Duration) -> Self {
        Self::after(value.saturating_sub(clock_now))
    }

    /// The instant to sleep until, for a waiter (`None`: no limit).
    pub(crate) fn instant(self) -> Option<Instant> {
        match self {
            Deadline::At(at) => Some(at),
            Deadline::Never => None,
        }
    }

    /// An instant for a timer that must stay armed: a deadline that never comes is kept a
    /// century away.
    pub(crate) fn armed_instant(self) -> Instant {
        self.instant().unwrap_or_else(|| {
            let now = Instant::now();
            now.checked_add(FOREVER).unwrap_or(now)
        })
    }

    pub(crate) fn has_passed(self) -> bool {
        self.instant().is_some_and(|at| Instant::now() >= at)
    }

    /// Time left (zero once passed; `TIME64_MAX` seconds for a wait that never ends).
    pub(crate) fn remaining(self) -> Duration {
        match self {
            Deadline::At(at) => at.saturating_duration_since(Instant::now()),
            Deadline::Never => NEVER_REMAINING,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(tv_sec: i64, tv_nsec: i64) -> Timespec {
        Timespec { tv_sec, tv_nsec }
    }

    #[test]
    fn malformed_timespecs_are_einval() {
        assert_eq!(duration_of(ts(-1, 0)), Err(Errno::EINVAL));
        assert_eq!(duration_of(ts(0, -1)), Err(Errno::EINVAL));
        assert_eq!(duration_of(ts(0, NSEC_PER_SEC)), Err(Errno::EINVAL));
        assert_eq!(
            duration_of(ts(i64::MAX, 999_999_999)),
            Ok(Duration::new(i64::MAX.unsigned_abs(), 999_999_999))
        );
    }

    #[test]
    fn timevals() {
        let tv = |tv_sec, tv_usec| Timeval { tv_sec, tv_usec };
        assert_eq!(duration_of_timeval(tv(0, USEC_PER_SEC)), Err(Errno::EINVAL));
        assert_eq!(duration_of_timeval(tv(0, i64::MAX)), Err(Errno::EINVAL));
        assert_eq!(
            duration_of_timeval(tv(1, 500_000)),
            Ok(Duration::from_millis(1500))
        );
        assert_eq!(
            duration_of_select_timeval(tv(1, 2_500_000)),
            Ok(Duration::from_millis(3500))
        );
        assert_eq!(duration_of_select_timeval(tv(0, -1)), Err(Errno::EINVAL));
        assert_eq!(duration_of_select_timeval(tv(-1, 0)), Err(Errno::EINVAL));
        assert!(duration_of_select_timeval(tv(i64::MAX, i64::MAX)).is_ok());
    }

    #[test]
    fn millis_negative_is_forever() {
        assert_eq!(millis(-1), None);
        assert_eq!(millis(i32::MIN), None);
        assert_eq!(millis(0), Some(Duration::ZERO));
        assert_eq!(Deadline::within(millis(-1)), Deadline::Never);
    }

    #[test]
    fn huge_timeouts_never_end() {
        assert_eq!(Deadline::after(Duration::MAX), Deadline::Never);
        assert_eq!(
            Deadline::after(FOREVER + Duration::from_nanos(1)),
            Deadline::Never
        );
        assert!(!Deadline::Never.has_passed());
        assert_eq!(Deadline::Never.remaining(), NEVER_REMAINING);
        assert!(Deadline::Never.armed_instant() > Instant::now());
    }

    #[test]
    fn zero_and_past_deadlines_have_passed() {
        assert!(Deadline::after(Duration::ZERO).has_passed());
        assert_eq!(Deadline::after(Duration::ZERO).remaining(), Duration::ZERO);
        let past = Deadline::when_clock_reads(Duration::from_secs(5), Duration::from_secs(10));
        assert!(past.has_passed());
    }

    proptest! {
        #[test]
        fn any_timespec_is_checked_without_panicking(sec in any::<i64>(), nsec in any::<i64>()) {
            let valid = sec >= 0 && (0..NSEC_PER_SEC).contains(&nsec);
            let result = duration_of(ts(sec, nsec));
            prop_assert_eq!(result.is_ok(), valid);
            if let Ok(d) = result {
                let deadline = Deadline::after(d);
                prop_assert!(deadline.remaining() <= d.max(NEVER_REMAINING));
                prop_assert_eq!(deadline == Deadline::Never, d > FOREVER);
            }
        }

        #[test]
        fn any_select_timeval_saturates(sec in any::<i64>(), usec in any::<i64>()) {
            let result = duration_of_select_timeval(Timeval { tv_sec: sec, tv_usec: usec });
            prop_assert_eq!(result.is_ok(), sec >= 0 && usec >= 0);
            if let Ok(d) = result {
                let _ = Deadline::after(d).armed_instant();
            }
        }

        #[test]
        fn absolute_times_never_overflow(value in any::<u64>(), nanos in 0u32..1_000_000_000, now in any::<u64>()) {
            let deadline = Deadline::when_clock_reads(Duration::new(value, nanos), Duration::from_secs(now));
            prop_assert!(deadline.remaining() <= NEVER_REMAINING);
            if value <= now {
                prop_assert!(deadline.has_passed());
            }
        }

        #[test]
        fn a_deadline_within_forever_is_that_far(millis in 0..FOREVER.as_secs() * 1000) {
            let start = Instant::now();
            let timeout = Duration::from_millis(millis);
            prop_assert_eq!(Deadline::after_from(start, timeout), Deadline::At(start + timeout));
        }
    }
}
