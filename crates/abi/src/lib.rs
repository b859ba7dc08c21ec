//! Linux x86_64 ABI types shared by the rvisor crates.
//!
//! Everything here has the exact layout the Linux kernel uses on amd64, so it can be copied to and
//! from guest memory as bytes (`zerocopy`). Constants that `libc` already names are used from
//! `libc` directly; this crate holds what needs a type of its own.
#![forbid(unsafe_code)]

mod errno;
mod regs;
mod signal;
mod stat;
mod statfs;
mod statx;
mod timer;

pub use errno::Errno;
pub use regs::{FpState, UserRegs};
pub use signal::*;
pub use stat::{Stat, Timespec, Timeval};
pub use statfs::Statfs;
pub use statx::{Statx, StatxTimestamp, STATX_BASIC_STATS};
pub use timer::{Itimerspec, Itimerval, Sigevent, Tms, ERESTART_RESTARTBLOCK};

/// The guest page size.
pub const PAGE_SIZE: u64 = 4096;

/// Rounds `v` down to a page boundary.
pub const fn page_floor(v: u64) -> u64 {
    v & !(PAGE_SIZE - 1)
}

/// Rounds `v` up to a page boundary, or `None` on overflow.
pub const fn page_ceil(v: u64) -> Option<u64> {
    match v.checked_add(PAGE_SIZE - 1) {
        Some(x) => Some(x & !(PAGE_SIZE - 1)),
        None => None,
    }
}
