//! The memory file: one memfd holding all application memory of a sandbox.

mod allocator;
mod owners;

use std::num::NonZeroUsize;
use std::ops::Range;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{fence, Ordering};
use std::sync::Arc;

use nix::fcntl::{copy_file_range, fallocate, FallocateFlags};
use nix::unistd::{lseek, Whence};
use parking_lot::Mutex;

use crate::error::MmError;
use crate::sys::SentryMapping;
use allocator::FileAllocator;
use owners::SharedOwners;

/// A sparse memfd, mapped once into the Sentry, whose page ranges back guest memory.
///
/// Pages cost nothing until touched; released ranges are punched out so their memory goes back to
/// the host and they read as zeros when allocated again. A page may have several owners (a shared
/// mapping inherited by fork); it is freed when the last one releases it.
pub struct MemoryFile {
    memfd: memfd::Memfd,
    mapping: SentryMapping,
    capacity: u64,
    ownership: Mutex<Ownership>,
}

/// Which pages are free, and which allocated ones have more than one owner.
struct Ownership {
    allocator: FileAllocator,
    shared: SharedOwners,
}

impl MemoryFile {
    /// A capacity that no sandbox is expected to exhaust; it costs only address space.
    pub const DEFAULT_CAPACITY: u64 = 64 << 30;

    /// Creates the memfd, sizes it to `capacity` bytes (a multiple of the page size) and maps it
    /// into the Sentry.
    pub fn new(capacity: u64) -> Result<Arc<MemoryFile>, MmError> {
        let mapping_len = usize::try_from(capacity)
            .ok()
            .and_then(NonZeroUsize::new)
            .filter(|_| capacity.is_multiple_of(abi::PAGE_SIZE))
            .ok_or(MmError::BadCapacity(capacity))?;
        let memfd = memfd::MemfdOptions::default()
            .close_on_exec(true)
            .create("rvisor-memory")
            .map_err(MmError::Create)?;
        memfd
            .as_file()
            .set_len(capacity)
            .map_err(|source| MmError::Resize { capacity, source })?;
        let mapping =
            SentryMapping::new(memfd.as_file().as_fd(), mapping_len).map_err(MmError::Map)?;
        Ok(Arc::new(MemoryFile {
            memfd,
            mapping,
            capacity,
            ownership: Mutex::new(Ownership {
                allocator: FileAllocator::new(capacity),
                shared: SharedOwners::default(),
            }),
        }))
    }

    /// The memfd, for the platform to map into guest address spaces.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.memfd.as_file().as_fd()
    }

    /// The file's size in bytes.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// How many bytes are allocated (owned by someone), whether or not they hold data.
    pub fn allocated(&self) -> u64 {
        self.capacity - self.ownership.lock().allocator.free_bytes()
    }

    /// How many bytes of the file hold memory on the host: the pages written (by the guest or
    /// the Sentry) and not punched out since. What the sandbox's memory limit counts.
    pub fn resident(&self) -> Result<u64, MmError> {
        use std::os::unix::fs::MetadataExt;
        let metadata = self.memfd.as_file().metadata().map_err(MmError::Stat)?;
        Ok(metadata.blocks().saturating_mul(512))
    }

    /// Allocates `len` bytes (a multiple of the page size) of zeroed file, with one owner (the
    /// caller); returns the range.
    pub fn allocate(&self, len: u64) -> Result<Range<u64>, MmError> {
        self.ownership
            .lock()
            .allocator
            .allocate(len)
            .ok_or(MmError::Exhausted(len))
    }

    /// Adds an owner to the allocated `range`: it stays allocated until one more
    /// [`MemoryFile::release`] than before.
    pub fn share(&self, range: Range<u64>) {
        self.ownership.lock().shared.acquire(range);
    }

    /// Whether some page of the allocated `range` has an owner besides the caller.
    pub fn shared_with_others(&self, range: Range<u64>) -> bool {
        self.ownership.lock().shared.any_shared(range)
    }

    /// Drops the caller's ownership of `range`. The pages it owned alone are freed: they go back
    /// to the host and to the free list. A range whose hole could not be punched is kept out of
    /// the free list, since it might not read as zeros.
    pub fn release(&self, range: Range<u64>) {
        let ownerless = self.ownership.lock().shared.release(range);
        for part in ownerless {
            match self.decommit(part.clone()) {
                Ok(()) => self.ownership.lock().allocator.free(part),
                Err(e) => tracing::warn!("leaking memory file range: {e}"),
            }
        }
    }

    /// Drops the pages of `range` (still allocated): they read as zeros afterwards, in every
    /// mapping of the file.
    pub fn decommit(&self, range: Range<u64>) -> Result<(), MmError> {
        let (offset, len) = (range.start, range.end - range.start);
        let punch_error = |source| MmError::PunchHole {
            offset,
            len,
            source,
        };
        let file_offset = i64::try_from(offset).map_err(|_| punch_error(nix::Error::EINVAL))?;
        let file_len = i64::try_from(len).map_err(|_| punch_error(nix::Error::EINVAL))?;
        fallocate(
            self.fd(),
            FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
            file_offset,
            file_len,
        )
        .map_err(punch_error)
    }

    /// The parts of `range` that hold data (pages written since they were last punched out), in
    /// order; the rest reads as zeros without costing memory.
    pub fn data_runs(&self, range: Range<u64>) -> Result<Vec<Range<u64>>, MmError> {
        let seek = |offset: u64, whence: Whence| -> Result<Option<u64>, MmError> {
            let seek_error = |source| MmError::Seek { offset, source };
            let position = i64::try_from(offset).map_err(|_| seek_error(nix::Error::EINVAL))?;
            match lseek(self.fd(), position, whence) {
                Ok(found) => Ok(Some(u64::try_from(found).unwrap_or(u64::MAX))),
                // ENXIO: no data (SEEK_DATA) at or after `offset`.
                Err(nix::Error::ENXIO) => Ok(None),
                Err(source) => Err(seek_error(source)),
            }
        };
        let mut runs = Vec::new();
        let mut cursor = range.start;
        while cursor < range.end {
            let Some(data) = seek(cursor, Whence::SeekData)?.filter(|&d| d < range.end) else {
                break;
            };
            // The file's end counts as a hole, so SEEK_HOLE from data always finds one.
            let hole = seek(data, Whence::SeekHole)?.map_or(range.end, |h| h.min(range.end));
            runs.push(data..hole);
            cursor = hole;
        }
        Ok(runs)
    }

    /// Copies the data of `from` to the (allocated, zero) range starting at `to`, inside the
    /// host kernel and skipping holes, so a sparse range costs only what it holds.
    pub fn copy_data(&self, from: Range<u64>, to: u64) -> Result<(), MmError> {
        for run in self.data_runs(from.clone())? {
            let copy_error = |source| MmError::Copy {
                from: run.start,
                to: to + (run.start - from.start),
                len: run.end - run.start,
                source,
            };
            let to_i64 = |offset: u64| i64::try_from(offset).map_err(|_| nix::Error::EINVAL);
            let mut done = 0;
            while run.start + done < run.end {
                let mut source_offset = to_i64(run.start + done).map_err(copy_error)?;
                let mut dest_offset =
                    to_i64(to + (run.start - from.start) + done).map_err(copy_error)?;
                let left = usize::try_from(run.end - run.start - done).unwrap_or(usize::MAX);
                let copied = copy_file_range(
                    self.fd(),
                    Some(&mut source_offset),
                    self.fd(),
                    Some(&mut dest_offset),
                    left,
                )
                .map_err(copy_error)?;
                if copied == 0 {
                    // The source ends inside the file's capacity, so this is not its end.
                    return Err(copy_error(nix::Error::EIO));
                }
                done += copied as u64;
            }
        }
        Ok(())
    }

    /// Copies the file bytes at `offset` into `dst`.
    pub fn read(&self, offset: u64, dst: &mut [u8]) -> Result<(), MmError> {
        self.mapping
            .read(offset, dst)
            .map_err(|_| out_of_bounds(offset, dst.len()))
    }

    /// Copies `src` into the file at `offset`.
    pub fn write(&self, offset: u64, src: &[u8]) -> Result<(), MmError> {
        self.mapping
            .write(offset, src)
            .map_err(|_| out_of_bounds(offset, src.len()))
    }

    /// Rewrites the seqlock-protected record at `offset` (8-byte aligned): a sequence count, then
    /// data. The count turns odd (visible to every CPU before `compute` runs), the bytes
    /// `compute` returns are written after it, and the count turns even again; a reader that
    /// sees the same even count before and after reading the data has read one whole record.
    /// Writers must take turns (the caller serializes them).
    pub fn write_seqlocked(
        &self,
        offset: u64,
        compute: impl FnOnce() -> Vec<u8>,
    ) -> Result<(), MmError> {
        let count = self
            .mapping
            .load_u64(offset)
            .map_err(|_| out_of_bounds(offset, 8))?;
        // (An odd count left behind would be a writer that never finished: skip past it.)
        let odd = count.wrapping_add(if count.is_multiple_of(2) { 1 } else { 2 });
        self.mapping
            .store_u64(offset, odd, Ordering::SeqCst)
            .map_err(|_| out_of_bounds(offset, 8))?;
        // The data writes below stay after the odd count, and so does a TSC read in `compute`
        // (Intel: MFENCE, then LFENCE; RDTSC, reads the TSC after earlier stores are visible).
        fence(Ordering::SeqCst);
        let data = compute();
        self.write(offset + 8, &data)?;
        self.mapping
            .store_u64(offset, odd.wrapping_add(1), Ordering::Release)
            .map_err(|_| out_of_bounds(offset, 8))
    }

    /// Replaces the 4-byte aligned word at `offset` with `update(current)` atomically:
    /// `Ok(previous)` once stored, `Err(current)` when `update` returns `None`.
    pub fn fetch_update_u32(
        &self,
        offset: u64,
        update: impl FnMut(u32) -> Option<u32>,
    ) -> Result<Result<u32, u32>, MmError> {
        self.mapping
            .fetch_update_u32(offset, update)
            .map_err(|_| out_of_bounds(offset, 4))
    }

    /// Sets `len` bytes at `offset` to zero.
    pub fn zero(&self, offset: u64, len: usize) -> Result<(), MmError> {
        self.mapping
            .zero(offset, len)
            .map_err(|_| out_of_bounds(offset, len))
    }
}

fn out_of_bounds(offset: u64, len: usize) -> MmError {
    MmError::OutOfBounds {
        offset,
        len: len as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: u64 = abi::PAGE_SIZE;

    #[test]
    fn written_bytes_read_back_and_released_ranges_read_as_zero() {
        let memory = MemoryFile::new(1 << 30).expect("memory file");
        let range = memory.allocate(2 * PAGE).expect("allocate");
        memory.write(range.start + 100, b"hello").expect("write");
        let mut back = [0u8; 5];
        memory.read(range.start + 100, &mut back).expect("read");
        assert_eq!(&back, b"hello");

        memory.release(range.clone());
        let again = memory.allocate(2 * PAGE).expect("allocate again");
        assert_eq!(again, range, "first fit reuses the freed range");
        memory.read(again.start + 100, &mut back).expect("read");
        assert_eq!(back, [0; 5]);
    }

    #[test]
    fn resident_counts_written_pages_until_released() {
        let memory = MemoryFile::new(1 << 30).expect("memory file");
        let range = memory.allocate(16 * PAGE).expect("allocate");
        assert_eq!(
            memory.resident().expect("resident"),
            0,
            "allocated, untouched"
        );
        for page in 0..4 {
            memory
                .write(range.start + page * PAGE, b"x")
                .expect("write");
        }
        assert_eq!(memory.resident().expect("resident"), 4 * PAGE);
        memory.release(range);
        assert_eq!(memory.resident().expect("resident"), 0);
    }

    #[test]
    fn copies_past_the_end_are_refused() {
        let memory = MemoryFile::new(PAGE).expect("memory file");
        let mut buf = [0u8; 2];
        assert!(matches!(
            memory.read(PAGE - 1, &mut buf),
            Err(MmError::OutOfBounds { .. })
        ));
        assert!(matches!(
            memory.write(u64::MAX, &buf),
            Err(MmError::OutOfBounds { .. })
        ));
        assert!(matches!(
            memory.allocate(2 * PAGE),
            Err(MmError::Exhausted(_))
        ));
    }

    #[test]
    fn a_seqlocked_record_is_rewritten_between_odd_and_even_counts() {
        let memory = MemoryFile::new(PAGE).expect("memory file");
        let count = |memory: &MemoryFile| {
            let mut bytes = [0u8; 8];
            memory.read(0, &mut bytes).expect("read");
            u64::from_le_bytes(bytes)
        };
        memory
            .write_seqlocked(0, || {
                assert_eq!(count(&memory), 1, "odd while computing");
                b"data".to_vec()
            })
            .expect("write");
        assert_eq!(count(&memory), 2);
        let mut data = [0u8; 4];
        memory.read(8, &mut data).expect("read");
        assert_eq!(&data, b"data");
        assert!(memory.write_seqlocked(4, Vec::new).is_err(), "unaligned");
    }

    #[test]
    fn capacity_must_be_whole_pages() {
        assert!(matches!(MemoryFile::new(0), Err(MmError::BadCapacity(0))));
        assert!(matches!(
            MemoryFile::new(PAGE + 1),
            Err(MmError::BadCapacity(_))
        ));
    }
}
