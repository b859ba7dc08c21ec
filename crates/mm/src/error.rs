use std::io;

/// Errors of the memory file itself (never of a guest request, which gets an `Errno`).
#[derive(Debug, thiserror::Error)]
pub enum MmError {
    #[error("memory file capacity {0:#x} is not a positive multiple of the page size")]
    BadCapacity(u64),
    #[error("creating the memory file: {0}")]
    Create(#[source] memfd::Error),
    #[error("sizing the memory file to {capacity:#x} bytes: {source}")]
    Resize { capacity: u64, source: io::Error },
    #[error("mapping the memory file into the sentry: {0}")]
    Map(#[source] nix::Error),
    #[error("reading the memory file's size on the host: {0}")]
    Stat(#[source] io::Error),
    #[error("memory file is full: no free range of {0:#x} bytes")]
    Exhausted(u64),
    #[error("punching a hole at {offset:#x}+{len:#x} of the memory file: {source}")]
    PunchHole {
        offset: u64,
        len: u64,
        source: nix::Error,
    },
    #[error("looking for data at {offset:#x} of the memory file: {source}")]
    Seek { offset: u64, source: nix::Error },
    #[error("copying {len:#x} bytes from {from:#x} to {to:#x} of the memory file: {source}")]
    Copy {
        from: u64,
        to: u64,
        len: u64,
        source: nix::Error,
    },
    #[error("range {offset:#x}+{len:#x} is outside the memory file")]
    OutOfBounds { offset: u64, len: u64 },
}

/// Why a guest fault could not be resolved: the signal to deliver and its `si_code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SegvCode {
    /// No mapping at the address (SIGSEGV, `SEGV_MAPERR`).
    MapErr,
    /// The mapping forbids the access (SIGSEGV, `SEGV_ACCERR`).
    AccErr,
    /// A file mapping's page past the end of its file, or no room for it (SIGBUS,
    /// `BUS_ADRERR`).
    BusAdrErr,
}

impl SegvCode {
    /// The signal to deliver.
    pub fn signo(self) -> i32 {
        match self {
            SegvCode::MapErr | SegvCode::AccErr => libc::SIGSEGV,
            SegvCode::BusAdrErr => libc::SIGBUS,
        }
    }

    /// The `si_code` value of the signal.
    pub fn si_code(self) -> i32 {
        match self {
            // SEGV_MAPERR, SEGV_ACCERR and BUS_ADRERR (asm-generic/siginfo.h; the libc crate
            // lacks them).
            SegvCode::MapErr => 1,
            SegvCode::AccErr | SegvCode::BusAdrErr => 2,
        }
    }
}
