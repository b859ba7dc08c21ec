//! The vvar page's layout, mirroring `struct vvar` in image/vdso.c.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The sequence count, odd while the Sentry rewrites the clock fields that follow it.
pub const SEQ_OFFSET: u64 = 0;
/// Written once: nonzero if the vDSO's getcpu may read TSC_AUX with rdtscp.
pub const GETCPU_READY_OFFSET: u64 = 64;
/// Written once: the sandbox's CPU number of each host CPU, [`NO_CPU`] for the others.
pub const CPU_MAP_OFFSET: u64 = 128;
pub const CPU_MAP_LEN: usize = 2048;
/// A host CPU the sandbox does not run on: getcpu asks the Sentry.
pub const NO_CPU: u8 = 0xff;

/// The clock fields, right after the sequence count: CLOCK_MONOTONIC is the line through
/// (`tsc_base`, `monotonic_base`) with slope `ns_per_tick`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct ClockParams {
    /// 0 until the TSC is calibrated: the vDSO makes the system call.
    pub ready: u64,
    pub tsc_base: u64,
    /// CLOCK_MONOTONIC at `tsc_base`, in ns.
    pub monotonic_base: u64,
    /// Nanoseconds per TSC tick, 32.32 fixed point.
    pub ns_per_tick: u64,
    /// CLOCK_REALTIME - CLOCK_MONOTONIC, in ns.
    pub realtime_offset: i64,
}

impl ClockParams {
    /// CLOCK_MONOTONIC in ns when the TSC reads `tsc`: exactly the vDSO's `read_clock`. A TSC
    /// below the base (read just before an update on another CPU) counts as the base.
    pub fn monotonic_at(&self, tsc: u64) -> u64 {
        let ticks = u128::from(tsc.saturating_sub(self.tsc_base));
        let elapsed = (ticks * u128::from(self.ns_per_tick)) >> 32;
        // Truncation as in C: 2^64 ns is 584 years after the base.
        #[allow(clippy::cast_possible_truncation)]
        let elapsed = elapsed as u64;
        self.monotonic_base.wrapping_add(elapsed)
    }

    /// CLOCK_REALTIME in ns for a CLOCK_MONOTONIC value.
    pub fn realtime_of(&self, monotonic: u64) -> u64 {
        monotonic.wrapping_add_signed(self.realtime_offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_fields_follow_the_sequence_count() {
        assert_eq!(size_of::<ClockParams>(), 40);
        const { assert!(CPU_MAP_OFFSET + CPU_MAP_LEN as u64 <= 4096) };
    }

    #[test]
    fn time_is_the_line_through_the_base() {
        let params = ClockParams {
            ready: 1,
            tsc_base: 1000,
            monotonic_base: 5_000,
            // 0.5 ns per tick.
            ns_per_tick: 1 << 31,
            realtime_offset: -1_000,
        };
        assert_eq!(params.monotonic_at(3000), 6_000);
        assert_eq!(params.monotonic_at(500), 5_000, "before the base: the base");
        assert_eq!(params.realtime_of(6_000), 5_000);
    }
}
