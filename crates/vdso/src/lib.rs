//! rvisor's vDSO: the image every guest process gets (see image/vdso.c, built by build.rs) and
//! the layout and arithmetic of its data page, the "vvar" page the Sentry keeps current.
//!
//! The Sentry maps the vvar page read-only just below the image. Its clock fields describe
//! CLOCK_MONOTONIC as a line over the TSC (a base sample and a rate) plus the offset of
//! CLOCK_REALTIME; the vDSO and the Sentry's own clock_gettime evaluate the same line with the
//! same arithmetic ([`ClockParams::monotonic_at`]), so the two never disagree. [`Calibrator`]
//! computes each new line so that time never jumps backwards and drifts back to the host's.
#![deny(unsafe_code)]

mod calibrator;
#[allow(unsafe_code)]
mod sys;
mod vvar;

pub use calibrator::{host_ns, Calibrator, Sample};
pub use sys::rdtsc_ordered;
pub use vvar::{ClockParams, CPU_MAP_LEN, CPU_MAP_OFFSET, GETCPU_READY_OFFSET, NO_CPU, SEQ_OFFSET};

/// The vDSO image: one read-execute segment laid out as it is mapped (build.rs checks), to be
/// mapped one page above the vvar page.
pub const IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vdso.so"));

/// Whether the TSC can be the guest's clock: it must tick at a constant rate whatever the CPU's
/// power state (CPUID's invariant TSC bit). Without it the vDSO always makes the system call.
pub fn tsc_is_usable() -> bool {
    const INVARIANT_TSC: u32 = 1 << 8;
    max_extended_leaf() >= 0x8000_0007
        && std::arch::x86_64::__cpuid(0x8000_0007).edx & INVARIANT_TSC != 0
}

/// Whether `rdtscp` exists, so the vDSO's getcpu can read the host CPU from TSC_AUX.
pub fn rdtscp_is_available() -> bool {
    const RDTSCP: u32 = 1 << 27;
    max_extended_leaf() >= 0x8000_0001 && std::arch::x86_64::__cpuid(0x8000_0001).edx & RDTSCP != 0
}

fn max_extended_leaf() -> u32 {
    std::arch::x86_64::__cpuid(0x8000_0000).eax
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_is_a_shared_object_named_like_linuxs() {
        assert_eq!(&IMAGE[..4], b"\x7fELF");
        let soname = b"linux-vdso.so.1\0";
        assert!(IMAGE.windows(soname.len()).any(|w| w == soname));
        for name in [
            "__vdso_clock_gettime",
            "__vdso_gettimeofday",
            "__vdso_time",
            "__vdso_getcpu",
            "__vdso_clock_getres",
            "LINUX_2.6",
        ] {
            let name = [name.as_bytes(), b"\0"].concat();
            assert!(IMAGE.windows(name.len()).any(|w| w == name), "{name:?}");
        }
    }
}
