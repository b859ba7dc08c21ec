//! One guest address space: its VMAs and everything the guest can do to them.

mod brk;
mod copy;
mod cow;
mod fault;
mod fork;
mod futex_key;
mod madvise;
mod maps;
mod mlock;
mod mmap;
mod mremap;
mod residency;
mod shared_file;
mod special;
mod stats;
#[cfg(test)]
mod tests;

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use abi::{Errno, PAGE_SIZE};
use parking_lot::Mutex;
use platform::{AddressSpace, PlatformError, Prot};

use crate::file_pages::FilePages;
use crate::invalidations::Invalidations;
use crate::memory_file::MemoryFile;
use crate::range_set::RangeSet;
use crate::vma::{Backing, ForkFlags, Vma, VmaSet};
use shared_file::MappedFilePages;

pub use fault::MappingsEpoch;
pub use fork::ForkedMemory;
pub use maps::MapsEntry;
pub use mlock::LockLimit;
pub use mmap::{parse_prot, MmapRequest};
pub use special::SpecialPages;
pub use stats::MmStats;

/// A file that can back a private mapping: read once per demand-paged chunk.
pub trait MappableFile: Send + Sync {
    /// Reads up to `buf.len()` bytes at `offset`; fewer (or 0) at the end of the file.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno>;

    /// The name `/proc/self/maps` shows for mappings of this file.
    fn name(&self) -> Vec<u8> {
        Vec::new()
    }

    /// The file's device as stat(2) reports it (`st_dev`), for `/proc/self/maps`.
    fn device(&self) -> u64 {
        0
    }

    /// The file's inode number (`st_ino`), for `/proc/self/maps`.
    fn inode(&self) -> u64 {
        0
    }

    /// The file's pages, for shared mappings: every mapper and read(2)/write(2) see them. `None`
    /// (the default) for a file that cannot be mapped shared (mmap fails with ENODEV).
    fn shared_pages(&self) -> Option<Arc<FilePages>> {
        None
    }

    /// Whether a shared mapping may write the file (it was opened for writing).
    fn writable(&self) -> bool {
        false
    }
}

/// Room left between the top of the user range and the mmap base, for the main stack to grow.
const STACK_GAP: u64 = 128 << 20;

/// A guest address space.
///
/// All methods take `&self` (the state is behind a lock) and must be called from a thread that
/// may drive the platform address space (a thread owning a context of it).
pub struct MemoryManager {
    memory: Arc<MemoryFile>,
    space: Arc<dyn AddressSpace>,
    /// The guest addresses usable by the application.
    range: Range<u64>,
    /// Where top-down placement of new mappings starts.
    mmap_base: u64,
    state: Mutex<State>,
    /// How many times a platform mapping was made or widened (see [`MappingsEpoch`]); bumped
    /// under the state lock once the platform call returned.
    mappings_changed: AtomicU64,
    /// Pages that files mapped here dropped, to unmap (see [`MemoryManager::apply_invalidations`]).
    invalidations: Arc<Invalidations>,
}

struct State {
    vmas: VmaSet,
    /// Memory-file ranges of demand-paged VMAs that are filled and mapped.
    populated: RangeSet,
    /// The file pages placed in shared file mappings.
    file_pages: MappedFilePages,
    brk: Brk,
    /// mlockall(MCL_FUTURE): new mappings are locked.
    lock_future: bool,
}

impl State {
    /// No mappings, no heap yet.
    fn empty() -> State {
        State {
            vmas: VmaSet::new(),
            populated: RangeSet::new(),
            file_pages: MappedFilePages::default(),
            brk: Brk {
                start: 0,
                current: 0,
            },
            lock_future: false,
        }
    }

    /// Gives up the memory of every VMA (freed where no other address space holds it).
    fn release_memory(&mut self, memory: &MemoryFile) {
        for vma in std::mem::take(&mut self.vmas).iter() {
            self.release_vma(vma, vma.range.clone(), memory);
        }
        self.populated = RangeSet::new();
    }

    /// Gives up the memory behind `range` of `vma` (a VMA just taken out of the set).
    fn release_vma(&mut self, vma: &Vma, range: Range<u64>, memory: &MemoryFile) {
        if vma.owns_memory() {
            let owned = vma.memory_for(&range);
            self.populated.remove(owned.clone());
            memory.release(owned);
        } else {
            self.file_pages.release(range, memory);
        }
    }
}

/// The program break: the heap is `[start, page_ceil(current))`.
#[derive(Clone, Copy)]
struct Brk {
    start: u64,
    current: u64,
}

impl MemoryManager {
    /// An empty address space over `space`, for guest addresses in `range`.
    pub fn new(
        memory: Arc<MemoryFile>,
        space: Arc<dyn AddressSpace>,
        range: Range<u64>,
    ) -> MemoryManager {
        let mmap_base = abi::page_floor(range.end.saturating_sub(STACK_GAP)).max(range.start);
        MemoryManager {
            memory,
            space,
            range,
            mmap_base,
            state: Mutex::new(State::empty()),
            mappings_changed: AtomicU64::new(0),
            invalidations: Arc::default(),
        }
    }

    /// The guest addresses usable by the application.
    pub fn user_range(&self) -> Range<u64> {
        self.range.clone()
    }

    /// Where top-down placement of new mappings starts; the main stack belongs above it.
    pub fn mmap_base(&self) -> u64 {
        self.mmap_base
    }

    /// The memory file behind this address space.
    pub fn memory_file(&self) -> &Arc<MemoryFile> {
        &self.memory
    }

    /// Picks an address for `len` bytes: the hint if that range is free, else the highest free
    /// range below the mmap base, else the highest anywhere.
    fn place(&self, vmas: &VmaSet, hint: u64, len: u64) -> Result<u64, Errno> {
        if let Some(start) = abi::page_ceil(hint).filter(|&h| h != 0 && h >= self.range.start) {
            if let Some(end) = start.checked_add(len).filter(|&end| end <= self.range.end) {
                if !vmas.overlaps(start..end) {
                    return Ok(start);
                }
            }
        }
        vmas.gap_top_down(self.range.start..self.mmap_base, len)
            .or_else(|| vmas.gap_top_down(self.range.clone(), len))
            .ok_or(Errno::ENOMEM)
    }

    /// Creates a VMA at the free range `[addr, addr + len)` with fresh memory: anonymous memory
    /// is mapped at once, a file is left to demand paging.
    fn map_new(
        &self,
        state: &mut State,
        addr: u64,
        len: u64,
        template: VmaTemplate,
    ) -> Result<(), Errno> {
        let owns_memory = !matches!(template.backing, Backing::SharedFile { .. });
        let memory = if owns_memory {
            self.memory.allocate(len).map_err(|e| {
                // Any guest can ask for more than there is: its ENOMEM, not the Sentry's warning.
                tracing::debug!("mmap of {len:#x} bytes: {e}");
                Errno::ENOMEM
            })?
        } else {
            0..0
        };
        let vma = Vma {
            range: addr..addr + len,
            prot: template.prot,
            max_prot: template.max_prot,
            shared: template.shared,
            grows_down: template.grows_down,
            memory_offset: memory.start,
            backing: template.backing,
            on_fork: template.on_fork,
            cow: false,
            locked: state.lock_future,
        };
        if let Some(pages) = vma.shared_file() {
            pages.add_mapper(&self.invalidations);
        }
        if !vma.demand_paged() && owns_memory {
            if let Err(e) = self.map_file(addr, len, memory.start, vma.prot) {
                self.memory.release(memory);
                return Err(e);
            }
        }
        state.vmas.insert(vma);
        Ok(())
    }

    /// Removes every mapping in `range`, freeing the memory behind it. `unmap_space` is false
    /// when the caller is about to map over the whole range anyway.
    fn remove(&self, state: &mut State, range: Range<u64>, unmap_space: bool) -> Result<(), Errno> {
        if !state.vmas.overlaps(range.clone()) {
            return Ok(());
        }
        if unmap_space {
            // No guest mapping lies outside the user range (munmap may name addresses below
            // it, as on Linux): only the part inside is the platform's to unmap.
            let start = range.start.max(self.range.start);
            let end = range.end.min(self.range.end);
            self.space
                .unmap(start, end - start)
                .map_err(|e| platform_failure("unmap", &e))?;
        }
        for vma in state.vmas.take(range) {
            state.release_vma(&vma, vma.range.clone(), &self.memory);
        }
        Ok(())
    }

    /// Maps the present parts of `vma` within `range` again, with `range.start` placed at `dest`
    /// (a move of what the platform has mapped).
    fn map_present(
        &self,
        state: &State,
        vma: &Vma,
        range: Range<u64>,
        dest: u64,
    ) -> Result<(), Errno> {
        for (run, offset) in present_runs(state, vma, range.clone()) {
            let at = dest + (run.start - range.start);
            let prot = run_prot(state, vma, run.start, vma.prot);
            self.map_file(at, run.end - run.start, offset, prot)?;
        }
        Ok(())
    }

    /// Places `[offset, offset + len)` of the memory file at guest `addr` in the platform
    /// address space. Called with the state locked, like every mapping change.
    fn map_file(&self, addr: u64, len: u64, offset: u64, prot: Prot) -> Result<(), Errno> {
        self.space
            .map_file(addr, len, offset, prot)
            .map_err(|e| platform_failure("map_file", &e))?;
        self.mappings_changed.fetch_add(1, Ordering::Release);
        Ok(())
    }

    /// Changes the protection of mapped guest pages in the platform address space. Called with
    /// the state locked, like every mapping change.
    fn protect(&self, addr: u64, len: u64, prot: Prot) -> Result<(), Errno> {
        self.space
            .protect(addr, len, prot)
            .map_err(|e| platform_failure("protect", &e))?;
        self.mappings_changed.fetch_add(1, Ordering::Release);
        Ok(())
    }
}

impl Drop for MemoryManager {
    /// Gives the address space's memory back to the memory file. The platform tears down its
    /// own mappings with the address space (and may only be called from its own threads).
    fn drop(&mut self) {
        self.state.get_mut().release_memory(&self.memory);
    }
}

/// The attributes of a new VMA.
#[derive(Clone)]
struct VmaTemplate {
    prot: Prot,
    max_prot: Prot,
    shared: bool,
    grows_down: bool,
    backing: Backing,
    on_fork: ForkFlags,
}

impl VmaTemplate {
    /// Private read-write anonymous memory (the heap).
    fn anonymous_rw() -> VmaTemplate {
        VmaTemplate {
            prot: Prot::RW,
            max_prot: Prot::RWX,
            shared: false,
            grows_down: false,
            backing: Backing::Anonymous,
            on_fork: ForkFlags::default(),
        }
    }

    /// The attributes of `vma` for memory that continues it at guest address `at`.
    fn continuing(vma: &Vma, at: u64) -> VmaTemplate {
        let backing = match (&vma.backing, vma.file_offset_at(at)) {
            (Backing::File { file, .. }, Some(offset)) => Backing::File {
                file: file.clone(),
                offset,
            },
            (Backing::SharedFile { file, pages, .. }, Some(offset)) => Backing::SharedFile {
                file: file.clone(),
                pages: pages.clone(),
                offset,
            },
            _ => Backing::Anonymous,
        };
        VmaTemplate {
            prot: vma.prot,
            max_prot: vma.max_prot,
            shared: vma.shared,
            grows_down: vma.grows_down,
            backing,
            on_fork: vma.on_fork,
        }
    }
}

/// The guest ranges of `vma` within `range` that are mapped in the platform address space, each
/// with the memory-file offset of its start: all of an anonymous VMA, the filled chunks of a
/// demand-paged one, the placed pages of a shared file mapping.
fn present_runs(state: &State, vma: &Vma, range: Range<u64>) -> Vec<(Range<u64>, u64)> {
    let range = range.start.max(vma.range.start)..range.end.min(vma.range.end);
    if range.is_empty() {
        return Vec::new();
    }
    if !vma.owns_memory() {
        return state.file_pages.runs(range);
    }
    if !vma.demand_paged() {
        let offset = vma.memory_at(range.start);
        return vec![(range, offset)];
    }
    let to_guest = |memory: u64| vma.range.start + (memory - vma.memory_offset);
    state
        .populated
        .intersection(vma.memory_for(&range))
        .into_iter()
        .map(|m| (to_guest(m.start)..to_guest(m.end), m.start))
        .collect()
}

/// The protection a present run of `vma` starting at `start` is mapped with, for the VMA
/// protection `prot`: without write while the run is copy-on-write (a forked private VMA, a
/// private file mapping's page that is not its own copy yet).
fn run_prot(state: &State, vma: &Vma, start: u64, prot: Prot) -> Prot {
    let writable = if vma.owns_memory() {
        !vma.cow
    } else {
        vma.shared || state.file_pages.is_own(start)
    };
    Prot {
        write: prot.write && writable,
        ..prot
    }
}

/// Whether `prot` allows `access`, as amd64 pages do: write and execute permission imply read.
fn allows(prot: Prot, access: platform::Access) -> bool {
    match access {
        platform::Access::Read => prot.read || prot.write || prot.exec,
        platform::Access::Write => prot.write,
        platform::Access::Exec => prot.exec,
    }
}

/// The errno for a platform call that failed: the guest gets ENOMEM (its request could not be
/// carried out), the log gets why.
fn platform_failure(call: &str, e: &PlatformError) -> Errno {
    tracing::error!("address space {call} failed: {e}");
    Errno::ENOMEM
}

/// `addr` rounded down to a multiple of `align` (a power of two).
fn align_down(addr: u64, align: u64) -> u64 {
    addr & !(align - 1)
}

/// Whether `addr` is page-aligned.
fn page_aligned(addr: u64) -> bool {
    addr.is_multiple_of(PAGE_SIZE)
}
