//! Copies between the Sentry and guest memory, through the Sentry's mapping of the memory file.

use std::ops::Range;

use abi::{Errno, PAGE_SIZE};
use platform::Access;
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::{allows, MemoryManager, State};
use crate::error::MmError;

impl MemoryManager {
    /// Copies guest memory at `addr` into `dst`: EFAULT if any byte is unmapped or unreadable.
    pub fn copy_in(&self, addr: u64, dst: &mut [u8]) -> Result<(), Errno> {
        self.with_guest_range(addr, dst.len(), Access::Read, |memory_offset, piece| {
            self.memory
                .read(memory_offset, &mut dst[piece])
                .map_err(copy_failure)
        })
    }

    /// Copies `src` into guest memory at `addr`: EFAULT if any byte is unmapped or unwritable.
    pub fn copy_out(&self, addr: u64, src: &[u8]) -> Result<(), Errno> {
        self.with_guest_range(addr, src.len(), Access::Write, |memory_offset, piece| {
            self.memory
                .write(memory_offset, &src[piece])
                .map_err(copy_failure)
        })
    }

    /// Sets `len` bytes of guest memory at `addr` to zero: EFAULT as for copy_out.
    pub fn zero(&self, addr: u64, len: u64) -> Result<(), Errno> {
        let len = usize::try_from(len).map_err(|_| Errno::EFAULT)?;
        self.with_guest_range(addr, len, Access::Write, |memory_offset, piece| {
            self.memory
                .zero(memory_offset, piece.len())
                .map_err(copy_failure)
        })
    }

    /// Reads a `T` from guest memory.
    pub fn read_obj<T: FromBytes>(&self, addr: u64) -> Result<T, Errno> {
        let mut bytes = vec![0u8; size_of::<T>()];
        self.copy_in(addr, &mut bytes)?;
        T::read_from_bytes(&bytes).map_err(|_| Errno::EFAULT)
    }

    /// Writes `value` to guest memory.
    pub fn write_obj<T: IntoBytes + Immutable>(&self, addr: u64, value: &T) -> Result<(), Errno> {
        self.copy_out(addr, value.as_bytes())
    }

    /// Reads a NUL-terminated string, without its NUL, looking at no more than `max` bytes (the
    /// NUL included, as PATH_MAX counts): ENAMETOOLONG if they hold no NUL, EFAULT if an
    /// unmapped or unreadable byte comes first.
    pub fn read_cstring(&self, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        let mut string = Vec::new();
        let mut cursor = addr;
        let mut page = vec![0u8; buffer_offset(0, PAGE_SIZE)?];
        while string.len() < max {
            // Read no further than the page end: the next page may be unmapped, and the string
            // may end before it.
            let to_page_end = buffer_offset(0, PAGE_SIZE - cursor % PAGE_SIZE)?;
            let want = to_page_end.min(max - string.len());
            self.copy_in(cursor, &mut page[..want])?;
            if let Some(nul) = page[..want].iter().position(|&b| b == 0) {
                string.extend_from_slice(&page[..nul]);
                return Ok(string);
            }
            string.extend_from_slice(&page[..want]);
            cursor = cursor.checked_add(want as u64).ok_or(Errno::EFAULT)?;
        }
        Err(Errno::ENAMETOOLONG)
    }

    /// Checks that `[addr, addr + len)` is mapped with `access`, fills its demand-paged chunks,
    /// then calls `copy(memory-file offset, range of the caller's buffer)` for each piece, in
    /// order, under the lock (so no unmap can free the memory mid-copy).
    pub(super) fn with_guest_range(
        &self,
        addr: u64,
        len: usize,
        access: Access,
        mut copy: impl FnMut(u64, Range<usize>) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len as u64).ok_or(Errno::EFAULT)?;
        self.apply_invalidations();
        let mut state = self.state.lock();
        check_access(&state, addr..end, access)?;
        self.populate(&mut state, addr..end).map_err(|e| {
            tracing::warn!("filling guest memory at {addr:#x} for a copy: {e}");
            Errno::EFAULT
        })?;
        if access == Access::Write {
            // No room for the copy: the write faults, as Linux's copy-out does when the fault
            // handler runs out of memory.
            self.break_cow_in(&mut state, addr..end)
                .and_then(|()| self.own_file_pages_in(&mut state, addr..end))
                .map_err(|_| Errno::EFAULT)?;
        }
        for vma in state.vmas.overlapping(addr..end) {
            let part = addr.max(vma.range.start)..end.min(vma.range.end);
            if vma.owns_memory() {
                let piece = buffer_offset(addr, part.start)?..buffer_offset(addr, part.end)?;
                copy(vma.memory_at(part.start), piece)?;
                continue;
            }
            // A shared file mapping's pages are placed one by one: copy page by page.
            let mut cursor = part.start;
            while cursor < part.end {
                let page = abi::page_floor(cursor);
                let piece_end = (page + PAGE_SIZE).min(part.end);
                let memory = state.file_pages.get(page).ok_or(Errno::EFAULT)?;
                let piece = buffer_offset(addr, cursor)?..buffer_offset(addr, piece_end)?;
                copy(memory + (cursor - page), piece)?;
                cursor = piece_end;
            }
        }
        Ok(())
    }
}

/// EFAULT unless VMAs allowing `access` cover `range`.
fn check_access(state: &State, range: Range<u64>, access: Access) -> Result<(), Errno> {
    let mut cursor = range.start;
    for vma in state.vmas.overlapping(range.clone()) {
        if vma.range.start > cursor || !allows(vma.prot, access) {
            return Err(Errno::EFAULT);
        }
        cursor = vma.range.end;
    }
    if cursor < range.end {
        return Err(Errno::EFAULT);
    }
    Ok(())
}

/// The position of guest address `at` in a buffer copied to or from `start`.
fn buffer_offset(start: u64, at: u64) -> Result<usize, Errno> {
    usize::try_from(at - start).map_err(|_| Errno::EFAULT)
}

/// A copy the memory file refused: a bug in the VMA bookkeeping, not the guest's doing.
pub(super) fn copy_failure(e: MmError) -> Errno {
    tracing::error!("copying guest memory: {e}");
    Errno::EFAULT
}
