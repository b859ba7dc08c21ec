//! Fitting the vvar clock line to the host's clock.
//!
//! Each update samples the TSC together with the host's CLOCK_MONOTONIC, estimates the TSC's
//! rate from the first sample to this one (a baseline that grows, so the estimate sharpens),
//! and publishes a new line that starts where the old one is now (time never jumps back) and
//! meets the host's clock at the next update (the error is slewed away, as NTP would).

use nix::time::{clock_gettime, ClockId};

use crate::sys::rdtsc_ordered;
use crate::vvar::ClockParams;

/// How far behind the host the line may be before it jumps forward instead of slewing.
const MAX_SLEW_NS: u64 = 1_000_000;

/// Readings of the host clock around one TSC read; the tightest of these is kept.
const SAMPLE_TRIES: usize = 5;

/// The TSC and the host's clocks read at (nearly) the same moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub tsc: u64,
    /// Host CLOCK_MONOTONIC in ns, read just after the TSC: never less than a value the host
    /// clock gave before the TSC was read.
    pub monotonic: u64,
    /// Host CLOCK_REALTIME in ns, read right after.
    pub realtime: u64,
}

impl Sample {
    /// Reads the TSC between two readings of the host's CLOCK_MONOTONIC, a few times, and keeps
    /// the reading with the narrowest bracket (one not stretched by an interrupt).
    pub fn take() -> Sample {
        let mut best: Option<(u64, Sample)> = None;
        for _ in 0..SAMPLE_TRIES {
            let before = host_ns(ClockId::CLOCK_MONOTONIC);
            let tsc = rdtsc_ordered();
            let after = host_ns(ClockId::CLOCK_MONOTONIC);
            let realtime = host_ns(ClockId::CLOCK_REALTIME);
            let width = after.saturating_sub(before);
            if best.is_none_or(|(narrowest, _)| width < narrowest) {
                best = Some((
                    width,
                    Sample {
                        tsc,
                        monotonic: after,
                        realtime,
                    },
                ));
            }
        }
        best.map(|(_, sample)| sample)
            .expect("SAMPLE_TRIES is positive")
    }
}

/// A host clock in ns (0 if it can't be read, which Linux never does for these clocks).
pub fn host_ns(clock: ClockId) -> u64 {
    clock_gettime(clock).map_or(0, |t| {
        u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000_000
            + u64::try_from(t.tv_nsec()).unwrap_or(0)
    })
}

/// The line published so far and the first sample, which every rate estimate starts from.
#[derive(Debug)]
pub struct Calibrator {
    origin: Sample,
    params: ClockParams,
}

impl Calibrator {
    /// Starts calibrating at `origin`; the clock is not ready until the first [`update`].
    ///
    /// [`update`]: Calibrator::update
    pub fn new(origin: Sample) -> Calibrator {
        Calibrator {
            origin,
            params: ClockParams::default(),
        }
    }

    /// The line published last.
    pub fn params(&self) -> ClockParams {
        self.params
    }

    /// The line to publish at `sample`, the next update expected `next_interval_ns` later. The
    /// line is unchanged when the TSC or the host clock has not moved since the origin.
    pub fn update(&mut self, sample: Sample, next_interval_ns: u64) -> ClockParams {
        let ticks = sample.tsc.saturating_sub(self.origin.tsc);
        let elapsed = sample.monotonic.saturating_sub(self.origin.monotonic);
        if ticks == 0 || elapsed == 0 || next_interval_ns == 0 {
            return self.params;
        }
        let rate = (u128::from(elapsed) << 32) / u128::from(ticks);
        let mut now = if self.params.ready != 0 {
            self.params.monotonic_at(sample.tsc)
        } else {
            sample.monotonic
        };
        if sample.monotonic > now.saturating_add(MAX_SLEW_NS) {
            now = sample.monotonic;
        }
        // Where the host will be at the next update, and how many ticks away that is.
        let target = sample.monotonic.saturating_add(next_interval_ns);
        let next_ticks = ((u128::from(next_interval_ns) << 32) / rate.max(1)).max(1);
        let slope = (u128::from(target.saturating_sub(now)) << 32) / next_ticks;
        let slope = slope.clamp(rate / 2, rate * 2).max(1);
        self.params = ClockParams {
            ready: 1,
            tsc_base: sample.tsc,
            monotonic_base: now,
            ns_per_tick: u64::try_from(slope).unwrap_or(u64::MAX),
            realtime_offset: i64::try_from(sample.realtime)
                .unwrap_or(i64::MAX)
                .wrapping_sub(i64::try_from(sample.monotonic).unwrap_or(i64::MAX)),
        };
        self.params
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host whose clock runs `ppm` parts per million faster than a 3 GHz TSC says, read with
    /// up to `jitter` ns of error.
    struct Host {
        ppm: i64,
    }

    impl Host {
        fn sample(&self, tsc: u64, jitter: u64) -> Sample {
            let ns = i128::from(tsc / GHZ3);
            let ns = ns + ns * i128::from(self.ppm) / 1_000_000;
            let monotonic = u64::try_from(ns).unwrap() + jitter;
            Sample {
                tsc,
                monotonic,
                realtime: monotonic + 1_700_000_000_000_000_000,
            }
        }
    }

    const GHZ3: u64 = 3;

    /// Updates at 2 ms, 4 ms, ... then every second; reads in between never go backwards and the
    /// line ends within a microsecond of the host.
    fn run(host: &Host) {
        let mut tsc = 10_000_000u64;
        let mut calibrator = Calibrator::new(host.sample(tsc, 0));
        let mut interval_ns = 2_000_000u64;
        let mut last_read = 0u64;
        for step in 0..40u64 {
            tsc += interval_ns * GHZ3;
            let jitter = (step * 7919) % 40;
            let before = calibrator.params();
            let next = interval_ns.saturating_mul(2).min(1_000_000_000);
            let params = calibrator.update(host.sample(tsc, jitter), next);
            if before.ready != 0 {
                assert!(
                    params.monotonic_at(tsc) >= before.monotonic_at(tsc),
                    "jumped back at step {step}"
                );
            }
            for probe in 0..10 {
                let read = params.monotonic_at(tsc + probe * next * GHZ3 / 10);
                assert!(read >= last_read, "went back at step {step}");
                last_read = read;
            }
            interval_ns = next;
        }
        let truth = host.sample(tsc, 0).monotonic;
        let error = calibrator.params().monotonic_at(tsc).abs_diff(truth);
        assert!(error < 1_000, "{error} ns off the host after settling");
        assert_eq!(
            calibrator.params().realtime_offset,
            1_700_000_000_000_000_000
        );
    }

    #[test]
    fn follows_a_host_clock_that_agrees_with_the_tsc() {
        run(&Host { ppm: 0 });
    }

    #[test]
    fn slews_to_a_host_clock_running_fast_or_slow() {
        run(&Host { ppm: 80 });
        run(&Host { ppm: -80 });
    }

    #[test]
    fn no_line_before_time_has_passed() {
        let sample = Host { ppm: 0 }.sample(5, 0);
        let mut calibrator = Calibrator::new(sample);
        assert_eq!(calibrator.update(sample, 1_000).ready, 0);
    }

    #[test]
    fn a_taken_sample_brackets_the_tsc() {
        let a = Sample::take();
        let b = Sample::take();
        assert!(b.tsc > a.tsc && b.monotonic >= a.monotonic);
    }
}
