//! The TSC read the clock needs, which Rust only offers as unsafe intrinsics.

use std::arch::x86_64::{_mm_lfence, _rdtsc};

/// The TSC, read after every earlier load has completed and before any later one starts: the
/// vDSO's `lfence; rdtsc; lfence`.
pub fn rdtsc_ordered() -> u64 {
    // SAFETY: lfence and rdtsc only order and read the CPU's timestamp counter; x86-64 has both
    // (SSE2 is part of the base ISA) and no memory is touched.
    unsafe {
        _mm_lfence();
        let tsc = _rdtsc();
        _mm_lfence();
        tsc
    }
}
