//! Tests of the memory manager against a platform address space that records its calls.

mod copy;
mod cow;
mod demand_paging;
mod fork;
mod futex_key;
mod mapping;
mod properties;
mod resize;
mod shared_file;
mod special;
mod stats;

use std::ops::Range;
use std::sync::Arc;

use abi::{Errno, PAGE_SIZE};
use parking_lot::Mutex;
use platform::{AddressSpace, PlatformError, Prot};

use super::{MappableFile, MemoryManager, MmapRequest};
use crate::memory_file::MemoryFile;

const PAGE: u64 = PAGE_SIZE;
/// The guest range of the tests: the amd64 user range above the first 64 KiB.
const USER: Range<u64> = 0x10000..0x7fff_ffff_f000;

/// A platform call the manager made.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    Map {
        addr: u64,
        len: u64,
        offset: u64,
        prot: Prot,
    },
    Unmap {
        addr: u64,
        len: u64,
    },
    Protect {
        addr: u64,
        len: u64,
        prot: Prot,
    },
}

/// An address space that only records what it is asked to do.
#[derive(Default)]
struct RecordingSpace {
    calls: Mutex<Vec<Call>>,
}

impl RecordingSpace {
    /// The calls made since the last `take`.
    fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock())
    }
}

impl AddressSpace for RecordingSpace {
    fn map_file(&self, addr: u64, len: u64, offset: u64, prot: Prot) -> Result<(), PlatformError> {
        self.calls.lock().push(Call::Map {
            addr,
            len,
            offset,
            prot,
        });
        Ok(())
    }

    fn unmap(&self, addr: u64, len: u64) -> Result<(), PlatformError> {
        self.calls.lock().push(Call::Unmap { addr, len });
        Ok(())
    }

    fn protect(&self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError> {
        self.calls.lock().push(Call::Protect { addr, len, prot });
        Ok(())
    }
}

/// A file held in memory.
struct BytesFile(Vec<u8>);

impl MappableFile for BytesFile {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let start = usize::try_from(offset)
            .map_err(|_| Errno::EINVAL)?
            .min(self.0.len());
        let n = buf.len().min(self.0.len() - start);
        buf[..n].copy_from_slice(&self.0[start..start + n]);
        Ok(n)
    }

    fn name(&self) -> Vec<u8> {
        b"/bytes".to_vec()
    }
}

/// A file of `len` bytes whose byte `i` is `i % 251` (a pattern that never lines up with pages).
fn patterned_file(len: u64) -> Arc<BytesFile> {
    Arc::new(BytesFile(
        (0..len)
            .map(|i| u8::try_from(i % 251).expect("below 251"))
            .collect(),
    ))
}

fn manager_over(range: Range<u64>) -> (MemoryManager, Arc<RecordingSpace>) {
    let memory = MemoryFile::new(1 << 30).expect("creating the memory file");
    let space = Arc::new(RecordingSpace::default());
    (MemoryManager::new(memory, space.clone(), range), space)
}

fn manager() -> (MemoryManager, Arc<RecordingSpace>) {
    manager_over(USER)
}

fn anon(len: u64, prot: Prot) -> MmapRequest {
    MmapRequest {
        addr: 0,
        len,
        prot,
        fixed: false,
        fixed_noreplace: false,
        shared: false,
        file: None,
        grows_down: false,
    }
}

fn anon_at(addr: u64, len: u64, prot: Prot) -> MmapRequest {
    MmapRequest {
        addr,
        fixed: true,
        ..anon(len, prot)
    }
}

fn file_at(addr: u64, len: u64, prot: Prot, file: Arc<BytesFile>, offset: u64) -> MmapRequest {
    MmapRequest {
        file: Some((file, offset)),
        ..anon_at(addr, len, prot)
    }
}

/// The listing as (start, end, prot) triples.
fn layout(mm: &MemoryManager) -> Vec<(u64, u64, Prot)> {
    mm.maps()
        .into_iter()
        .map(|e| (e.start, e.end, e.prot))
        .collect()
}

/// `v` as a buffer index.
fn index(v: u64) -> usize {
    usize::try_from(v).expect("fits in usize")
}
