//! Guest address spaces for rvisor.
//!
//! All application memory of a sandbox lives in one [`MemoryFile`] (a memfd). A
//! [`MemoryManager`] is one guest address space: it keeps the guest's VMAs, implements the mmap
//! family, resolves demand-paging faults and copies data between the Sentry and the guest. It
//! places memory-file ranges at guest addresses through the platform's
//! [`platform::AddressSpace`], and reaches the same pages through the Sentry's own mapping of the
//! memory file, so a copy-in or copy-out is a plain memcpy.
#![deny(unsafe_code)]

mod error;
mod file_pages;
mod invalidations;
mod manager;
mod memory_file;
mod range_set;
#[allow(unsafe_code)]
mod sys;
mod vma;

pub use error::{MmError, SegvCode};
pub use file_pages::{FilePages, PageQuota, PageSource};
pub use manager::{
    parse_prot, ForkedMemory, LockLimit, MappableFile, MappingsEpoch, MapsEntry, MemoryManager,
    MmStats, MmapRequest, SpecialPages,
};
pub use memory_file::MemoryFile;
