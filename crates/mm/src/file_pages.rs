//! A file's data kept in memory-file pages: the one copy that read(2), write(2) and every shared
//! mapping of the file see.
//!
//! The file holds one reference (owner) to each of its pages; an address space that maps a page
//! takes another, so truncating or punching the file never frees a page that is still mapped.
//! Holes cost nothing: a page exists only once written (or faulted in by a mapping).

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use abi::{Errno, PAGE_SIZE};
use parking_lot::Mutex;

use crate::invalidations::{Invalidations, Mappers};
use crate::memory_file::MemoryFile;

/// Where a file's pages are charged: a filesystem's size limit. Every page a file holds is
/// charged once, whether or not it is mapped.
pub trait PageQuota: Send + Sync {
    /// Takes room for `pages` more pages; ENOSPC, taking nothing, if they don't fit.
    fn charge(&self, pages: u64) -> Result<(), Errno>;
    /// Gives back room taken by [`PageQuota::charge`].
    fn uncharge(&self, pages: u64);
}

/// Where a cached file's pages come from: the file itself, read when a page is first needed.
pub trait PageSource: Send + Sync {
    /// Reads up to `buf.len()` bytes at `offset`; fewer at the end of the file.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno>;
}

/// How many pages a cached file reads from its source at once, around the page needed.
const FILL_PAGES: u64 = 16;
/// PAGE_SIZE, for buffer lengths.
const PAGE_BYTES: usize = 4096;

/// The data of one file: its size and the memory-file page behind each page that holds data.
///
/// Either the data itself (a tmpfs file: a missing page is a hole), or a read-only cache of a
/// file kept elsewhere (a Gofer file: a missing page is read from its [`PageSource`] when
/// needed, and the pages are never written back).
pub struct FilePages {
    memory: Arc<MemoryFile>,
    quota: Arc<dyn PageQuota>,
    source: Option<Box<dyn PageSource>>,
    state: Mutex<Pages>,
    /// The address spaces that map the file, told of pages it drops.
    mappers: Mappers,
}

struct Pages {
    size: u64,
    /// Page index in the file -> memory-file offset of the page.
    backing: BTreeMap<u64, u64>,
}

impl FilePages {
    /// An empty file whose pages live in `memory` and are charged to `quota`.
    pub fn new(memory: Arc<MemoryFile>, quota: Arc<dyn PageQuota>) -> FilePages {
        FilePages::with_source(memory, quota, 0, None)
    }

    fn with_source(
        memory: Arc<MemoryFile>,
        quota: Arc<dyn PageQuota>,
        size: u64,
        source: Option<Box<dyn PageSource>>,
    ) -> FilePages {
        FilePages {
            memory,
            quota,
            source,
            state: Mutex::new(Pages {
                size,
                backing: BTreeMap::new(),
            }),
            mappers: Mappers::default(),
        }
    }

    /// A read-only cache of a file of `size` bytes read from `source`, its pages in `memory`
    /// and charged to `quota`.
    pub fn cached(
        memory: Arc<MemoryFile>,
        quota: Arc<dyn PageQuota>,
        size: u64,
        source: Box<dyn PageSource>,
    ) -> FilePages {
        FilePages::with_source(memory, quota, size, Some(source))
    }

    /// Whether writes to the pages are the file's (not a read-only cache's, which a shared
    /// mapping must then not write).
    pub fn writable(&self) -> bool {
        self.source.is_none()
    }

    /// Registers an address space that maps the file, to be told of pages it drops.
    pub(crate) fn add_mapper(&self, queue: &Arc<Invalidations>) {
        self.mappers.add(queue);
    }

    /// What identifies the file in invalidations: its address.
    pub(crate) fn id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// The memory file holding the pages.
    pub fn memory(&self) -> &Arc<MemoryFile> {
        &self.memory
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.state.lock().size
    }

    /// How many pages hold data (what the file costs).
    pub fn resident_pages(&self) -> u64 {
        self.state.lock().backing.len() as u64
    }

    /// Reads up to `buf.len()` bytes at `offset`; fewer (0 at or past the end) at the end of
    /// the file. Holes read as zeros.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let state = self.state.lock();
        let end = offset
            .saturating_add(buf.len() as u64)
            .min(state.size)
            .max(offset);
        let len = usize::try_from(end - offset).map_err(|_| Errno::EINVAL)?;
        for (piece, page) in pieces(offset..end) {
            let dst = &mut buf[piece.clone()];
            match state.backing.get(&page.index) {
                Some(&memory) => self
                    .memory
                    .read(memory + page.within, dst)
                    .map_err(memory_failure)?,
                None => dst.fill(0),
            }
        }
        Ok(len)
    }

    /// Writes `buf` at `offset`, growing the file past its end if needed. A write that runs out
    /// of room writes what fits (whole pages) and returns how much; ENOSPC if nothing fits.
    pub fn write_at(&self, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        let end = offset.checked_add(buf.len() as u64).ok_or(Errno::EFBIG)?;
        let mut state = self.state.lock();
        let mut written = 0usize;
        for (piece, page) in pieces(offset..end) {
            let memory = match self.page_locked(&mut state, page.index) {
                Ok(memory) => memory,
                Err(errno) if written == 0 => return Err(errno),
                Err(_) => break,
            };
            self.memory
                .write(memory + page.within, &buf[piece.clone()])
                .map_err(memory_failure)?;
            written = piece.end;
        }
        if written > 0 {
            // A write of nothing leaves the size alone, wherever it was aimed.
            state.size = state.size.max(offset + written as u64);
        }
        Ok(written)
    }

    /// The memory-file offset of page `index`, allocating (and charging) it if it is a hole.
    /// EFAULT for a page at or past the end of the file (a mapping gives SIGBUS there).
    pub fn page(&self, index: u64) -> Result<u64, Errno> {
        let mut state = self.state.lock();
        if index.saturating_mul(PAGE_SIZE) >= state.size {
            return Err(Errno::EFAULT);
        }
        self.page_locked(&mut state, index)
    }

    /// The pages of `indices` that hold data and lie inside the file: (index, memory-file
    /// offset) pairs, in order.
    pub fn backed_pages(&self, indices: Range<u64>) -> Vec<(u64, u64)> {
        let state = self.state.lock();
        let end = indices.end.min(state.size.div_ceil(PAGE_SIZE));
        if indices.start >= end {
            return Vec::new();
        }
        state
            .backing
            .range(indices.start..end)
            .map(|(&index, &memory)| (index, memory))
            .collect()
    }

    fn page_locked(&self, state: &mut Pages, index: u64) -> Result<u64, Errno> {
        if let Some(&memory) = state.backing.get(&index) {
            return Ok(memory);
        }
        if let Some(source) = &self.source {
            self.fill_locked(state, source.as_ref(), index)?;
            return state.backing.get(&index).copied().ok_or(Errno::EIO);
        }
        self.allocate_page(state, index)
    }

    /// Reads the missing pages of the window around page `index` of a cached file from its
    /// source, in one read.
    fn fill_locked(
        &self,
        state: &mut Pages,
        source: &dyn PageSource,
        index: u64,
    ) -> Result<(), Errno> {
        let first = index / FILL_PAGES * FILL_PAGES;
        let end = (first + FILL_PAGES)
            .min(state.size.div_ceil(PAGE_SIZE))
            .max(index + 1);
        let len = usize::try_from((end - first) * PAGE_SIZE).map_err(|_| Errno::EIO)?;
        let mut data = vec![0u8; len];
        let mut filled = 0;
        while filled < len {
            let n = source.read_at(first * PAGE_SIZE + filled as u64, &mut data[filled..])?;
            if n == 0 {
                break; // the end of the file: the rest stays zero
            }
            filled += n.min(len - filled);
        }
        for (page, bytes) in (first..end).zip(data.chunks(PAGE_BYTES)) {
            if state.backing.contains_key(&page) {
                continue;
            }
            let memory = self.allocate_page(state, page)?;
            self.memory.write(memory, bytes).map_err(memory_failure)?;
        }
        Ok(())
    }

    /// Allocates (and charges) a zero page as page `index`.
    fn allocate_page(&self, state: &mut Pages, index: u64) -> Result<u64, Errno> {
        self.quota.charge(1)?;
        let memory = match self.memory.allocate(PAGE_SIZE) {
            Ok(range) => range.start,
            Err(e) => {
                tracing::debug!("file page: {e}");
                self.quota.uncharge(1);
                return Err(Errno::ENOSPC);
            }
        };
        state.backing.insert(index, memory);
        Ok(memory)
    }

    /// Sets the size to `size`. Pages wholly past it are dropped (a mapping that holds one keeps
    /// it until unmapped); the bytes after the end in the last page are zeroed, so growing the
    /// file again shows zeros there.
    pub fn set_size(&self, size: u64) {
        let mut state = self.state.lock();
        // Pages past the end may exist (fallocate with KEEP_SIZE): they go too.
        let backed_end = state
            .backing
            .last_key_value()
            .map_or(0, |(&index, _)| (index + 1) * PAGE_SIZE);
        let old_end = state.size.max(backed_end);
        if size < old_end {
            self.clear_locked(&mut state, size..old_end);
        }
        state.size = size;
        drop(state);
        if size < old_end {
            // Mappings of the pages past the new end go: touching them is SIGBUS.
            self.mappers.post(
                self.id(),
                size.div_ceil(PAGE_SIZE)..old_end.div_ceil(PAGE_SIZE),
            );
        }
    }

    /// Makes `[offset, offset + len)` (clamped to the file) read as zeros: whole pages are
    /// dropped, partial ones zeroed (fallocate's PUNCH_HOLE, madvise's REMOVE).
    pub fn punch(&self, offset: u64, len: u64) {
        let mut state = self.state.lock();
        let end = offset.saturating_add(len).min(state.size);
        if offset < end {
            self.clear_locked(&mut state, offset..end);
            drop(state);
            // Mappings of the dropped whole pages go, so they show the hole's zeros.
            self.mappers
                .post(self.id(), offset.div_ceil(PAGE_SIZE)..end / PAGE_SIZE);
        }
    }

    /// Allocates (and charges) the pages of `[offset, offset + len)` and grows the file to its
    /// end unless `keep_size` (fallocate mode 0 and KEEP_SIZE). ENOSPC if the pages don't fit;
    /// those allocated before stay, as on Linux.
    pub fn allocate(&self, offset: u64, len: u64, keep_size: bool) -> Result<(), Errno> {
        let end = offset.checked_add(len).ok_or(Errno::EFBIG)?;
        let mut state = self.state.lock();
        if !keep_size {
            state.size = state.size.max(end);
        }
        for index in offset / PAGE_SIZE..end.div_ceil(PAGE_SIZE) {
            self.page_locked(&mut state, index)?;
        }
        Ok(())
    }

    /// Zeroes `range` (inside the file): drops its whole pages, zeroes the rest. Visits only
    /// the pages that exist, so clearing a huge sparse file costs what it holds.
    fn clear_locked(&self, state: &mut Pages, range: Range<u64>) {
        let indices: Vec<u64> = state
            .backing
            .range(range.start / PAGE_SIZE..range.end.div_ceil(PAGE_SIZE))
            .map(|(&index, _)| index)
            .collect();
        for index in indices {
            let page_start = index * PAGE_SIZE;
            let part = range.start.max(page_start)..range.end.min(page_start + PAGE_SIZE);
            let memory = state.backing[&index];
            if part.end - part.start == PAGE_SIZE {
                state.backing.remove(&index);
                self.memory.release(memory..memory + PAGE_SIZE);
                self.quota.uncharge(1);
            } else {
                let len = usize::try_from(part.end - part.start).unwrap_or(0);
                if let Err(e) = self.memory.zero(memory + (part.start - page_start), len) {
                    tracing::error!("zeroing part of a file page: {e}");
                }
            }
        }
    }
}

impl Drop for FilePages {
    fn drop(&mut self) {
        let state = self.state.get_mut();
        for &memory in state.backing.values() {
            self.memory.release(memory..memory + PAGE_SIZE);
        }
        self.quota.uncharge(state.backing.len() as u64);
    }
}

/// Where a piece of a byte range falls: its page and the offset inside it.
struct PagePosition {
    index: u64,
    within: u64,
}

/// `range` cut at page boundaries: each piece as positions relative to `range.start` (for
/// indexing a buffer) and the page it lies in.
fn pieces(range: Range<u64>) -> impl Iterator<Item = (Range<usize>, PagePosition)> {
    let mut cursor = range.start;
    std::iter::from_fn(move || {
        if cursor >= range.end {
            return None;
        }
        let index = cursor / PAGE_SIZE;
        let piece_end = ((index + 1) * PAGE_SIZE).min(range.end);
        // The ranges cut are a buffer's (or a file's, unindexed), so positions fit in usize.
        let start = usize::try_from(cursor - range.start).unwrap_or(usize::MAX);
        let end = usize::try_from(piece_end - range.start).unwrap_or(usize::MAX);
        let position = PagePosition {
            index,
            within: cursor % PAGE_SIZE,
        };
        cursor = piece_end;
        Some((start..end, position))
    })
}

/// A memory-file access that failed: a bug in the page bookkeeping, not the guest's doing.
fn memory_failure(e: crate::error::MmError) -> Errno {
    tracing::error!("file page access: {e}");
    Errno::EIO
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    const PAGE: u64 = PAGE_SIZE;

    /// A quota of `limit` pages that counts what is charged.
    struct Counted {
        limit: u64,
        used: AtomicU64,
    }

    impl PageQuota for Counted {
        fn charge(&self, pages: u64) -> Result<(), Errno> {
            self.used
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                    Some(used + pages).filter(|&total| total <= self.limit)
                })
                .map(|_| ())
                .map_err(|_| Errno::ENOSPC)
        }

        fn uncharge(&self, pages: u64) {
            self.used.fetch_sub(pages, Ordering::Relaxed);
        }
    }

    fn file(limit: u64) -> (FilePages, Arc<Counted>, Arc<MemoryFile>) {
        let memory = MemoryFile::new(1 << 30).expect("memory file");
        let quota = Arc::new(Counted {
            limit,
            used: AtomicU64::new(0),
        });
        (FilePages::new(memory.clone(), quota.clone()), quota, memory)
    }

    #[test]
    fn a_write_that_does_not_fit_writes_whole_pages_that_do() {
        let (pages, quota, _) = file(2);
        let data = vec![7u8; 3 * PAGE_BYTES];
        assert_eq!(pages.write_at(100, &data), Ok(2 * PAGE_BYTES - 100));
        assert_eq!(pages.size(), 2 * PAGE);
        assert_eq!(pages.write_at(2 * PAGE, b"x"), Err(Errno::ENOSPC));
        assert_eq!(quota.used.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn holes_cost_nothing_and_read_as_zeros() {
        let (pages, quota, _) = file(4);
        pages.set_size(1 << 40);
        assert_eq!(quota.used.load(Ordering::Relaxed), 0);
        pages.write_at(5 * PAGE + 3, b"abc").expect("write");
        let mut back = [1u8; 8];
        assert_eq!(pages.read_at(5 * PAGE, &mut back), Ok(8));
        assert_eq!(&back, b"\0\0\0abc\0\0");
        assert_eq!(pages.resident_pages(), 1);
    }

    #[test]
    fn a_page_held_by_a_mapping_outlives_truncation() {
        let (pages, quota, memory) = file(4);
        pages.write_at(0, b"kept").expect("write");
        let page = pages.page(0).expect("page");
        memory.share(page..page + PAGE); // a mapping's reference
        pages.set_size(0);
        assert_eq!(quota.used.load(Ordering::Relaxed), 0);
        let mut back = [0u8; 4];
        memory.read(page, &mut back).expect("read");
        assert_eq!(&back, b"kept", "still mapped, so not freed");
        assert_eq!(pages.page(0), Err(Errno::EFAULT), "past the end");
        memory.release(page..page + PAGE);
        assert_eq!(memory.allocated(), 0);
    }

    /// A source of `len` patterned bytes that counts its reads.
    struct Patterned {
        len: u64,
        reads: Arc<AtomicU64>,
    }

    impl PageSource for Patterned {
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            let n = buf
                .len()
                .min(usize::try_from(self.len.saturating_sub(offset)).unwrap());
            for (i, byte) in buf[..n].iter_mut().enumerate() {
                *byte = u8::try_from((offset + i as u64) % 251).unwrap();
            }
            Ok(n)
        }
    }

    #[test]
    fn a_cache_reads_its_source_a_window_at_a_time_and_is_read_only() {
        let memory = MemoryFile::new(1 << 30).expect("memory file");
        let reads = Arc::new(AtomicU64::new(0));
        let len = 20 * PAGE + 7;
        let source = Box::new(Patterned {
            len,
            reads: reads.clone(),
        });
        let quota = Arc::new(Counted {
            limit: u64::MAX,
            used: AtomicU64::new(0),
        });
        let pages = FilePages::cached(memory.clone(), quota, len, source);
        assert!(!pages.writable());
        let page = pages.page(3).expect("page");
        let mut byte = [0u8; 1];
        memory.read(page + 5, &mut byte).expect("read");
        assert_eq!(byte[0], u8::try_from((3 * PAGE + 5) % 251).unwrap());
        assert_eq!(pages.resident_pages(), 16, "the whole window was read");
        pages.page(15).expect("page");
        assert_eq!(reads.load(Ordering::Relaxed), 1, "in one read");
        let last = pages.page(20).expect("last page");
        memory.read(last + 7, &mut byte).expect("read");
        assert_eq!(byte[0], 0, "past the end of the file: zeros");
        assert_eq!(pages.page(21), Err(Errno::EFAULT));
        drop(pages);
        assert_eq!(memory.allocated(), 0);
    }

    #[test]
    fn truncating_a_huge_sparse_file_visits_only_its_pages() {
        let (pages, quota, memory) = file(u64::MAX);
        let far = 1u64 << 60;
        assert_eq!(pages.write_at(far, b"x"), Ok(1));
        assert_eq!(pages.write_at(5, b"y"), Ok(1));
        pages.set_size(3);
        assert_eq!(pages.resident_pages(), 1, "the first page stays, cut");
        let mut back = [0xee_u8; 8];
        assert_eq!(pages.read_at(0, &mut back), Ok(3));
        assert_eq!(back[..3], [0, 0, 0]);
        pages.set_size(0);
        assert_eq!(quota.used.load(Ordering::Relaxed), 0);
        assert_eq!(memory.allocated(), 0);
    }

    proptest! {
        /// The file reads back as a byte vector model, and every page (and its charge) goes
        /// back when the file is dropped.
        #[test]
        fn matches_a_byte_vector(ops in proptest::collection::vec((0u8..4, 0u64..(6 * PAGE), 0u64..(2 * PAGE), any::<u8>()), 1..30)) {
            let (pages, quota, memory) = file(u64::MAX);
            let mut model: Vec<u8> = Vec::new();
            for (op, offset, len, byte) in ops {
                let (start, len_usize) = (usize::try_from(offset).unwrap(), usize::try_from(len).unwrap());
                match op {
                    0 => {
                        let data = vec![byte; len_usize];
                        prop_assert_eq!(pages.write_at(offset, &data), Ok(len_usize));
                        if len_usize > 0 {
                            if model.len() < start + len_usize {
                                model.resize(start + len_usize, 0);
                            }
                            model[start..start + len_usize].fill(byte);
                        }
                    }
                    1 => {
                        pages.set_size(offset);
                        model.resize(start, 0);
                    }
                    2 => {
                        pages.punch(offset, len);
                        let end = (start + len_usize).min(model.len());
                        if start < end {
                            model[start..end].fill(0);
                        }
                    }
                    _ => {
                        prop_assert_eq!(pages.allocate(offset, len, false), Ok(()));
                        if model.len() < start + len_usize {
                            model.resize(start + len_usize, 0);
                        }
                    }
                }
                let mut back = vec![0xeeu8; model.len() + 10];
                prop_assert_eq!(pages.read_at(0, &mut back), Ok(model.len()));
                prop_assert_eq!(&back[..model.len()], &model[..]);
                prop_assert_eq!(quota.used.load(Ordering::Relaxed), pages.resident_pages());
                let allocated_pages = memory.allocated() / PAGE;
                prop_assert_eq!(allocated_pages, pages.resident_pages());
            }
            drop(pages);
            prop_assert_eq!(quota.used.load(Ordering::Relaxed), 0);
            prop_assert_eq!(memory.allocated(), 0);
        }
    }
}
