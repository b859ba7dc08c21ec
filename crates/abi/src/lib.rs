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

/// The legacy vsyscall page, fixed above every address space: calls to its three entry points
/// ([`VSYSCALL_GETTIMEOFDAY`], [`VSYSCALL_TIME`], [`VSYSCALL_GETCPU`]) are emulated as the
/// system calls they name.
pub const VSYSCALL_PAGE: std::ops::Range<u64> = 0xffff_ffff_ff60_0000..0xffff_ffff_ff60_1000;
pub const VSYSCALL_GETTIMEOFDAY: u64 = VSYSCALL_PAGE.start;
pub const VSYSCALL_TIME: u64 = VSYSCALL_PAGE.start + 0x400;
pub const VSYSCALL_GETCPU: u64 = VSYSCALL_PAGE.start + 0x800;

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
