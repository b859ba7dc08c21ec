//! mremap(2).

use std::ops::Range;

use abi::Errno;

use super::{page_aligned, platform_failure, MemoryManager, State, VmaTemplate};
use crate::vma::Vma;

impl MemoryManager {
    /// mremap(2) with MREMAP_MAYMOVE and MREMAP_FIXED; a move re-maps the same memory at the new
    /// address without copying. MREMAP_DONTUNMAP and duplicating a mapping (`old_len` 0) are not
    /// supported (EINVAL).
    pub fn mremap(
        &self,
        old_addr: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
        new_addr: u64,
    ) -> Result<u64, Errno> {
        let may_move_flag = u64::from(libc::MREMAP_MAYMOVE.unsigned_abs());
        let fixed_flag = u64::from(libc::MREMAP_FIXED.unsigned_abs());
        if flags & !(may_move_flag | fixed_flag) != 0 {
            return Err(Errno::EINVAL);
        }
        let may_move = flags & may_move_flag != 0;
        let fixed = flags & fixed_flag != 0;
        if (fixed && !may_move) || !page_aligned(old_addr) {
            return Err(Errno::EINVAL);
        }
        let old_len = abi::page_ceil(old_len)
            .filter(|&l| l != 0)
            .ok_or(Errno::EINVAL)?;
        let new_len = abi::page_ceil(new_len)
            .filter(|&l| l != 0)
            .ok_or(Errno::EINVAL)?;
        let old_end = old_addr.checked_add(old_len).ok_or(Errno::EFAULT)?;

        let mut state = self.state.lock();
        let mapping_end = state.vmas.mapping_end(old_addr).ok_or(Errno::EFAULT)?;
        if old_end > mapping_end {
            return Err(Errno::EFAULT);
        }
        // The file offsets of the resized mapping must stay representable, as mmap ensured.
        // The Sentry's special pages may move but not grow (Linux: VM_DONTEXPAND).
        if new_len > old_len && state.vmas.find(old_addr).is_some_and(|vma| vma.special()) {
            return Err(Errno::EFAULT);
        }
        let file_offset = state
            .vmas
            .find(old_addr)
            .and_then(|vma| vma.file_offset_at(old_addr));
        if file_offset.is_some_and(|offset| offset.checked_add(new_len).is_none()) {
            return Err(Errno::EINVAL);
        }

        if fixed {
            if !page_aligned(new_addr) {
                return Err(Errno::EINVAL);
            }
            let new_end = new_addr
                .checked_add(new_len)
                .filter(|&end| new_addr >= self.range.start && end <= self.range.end)
                .ok_or(Errno::EINVAL)?;
            if new_addr < old_end && old_addr < new_end {
                return Err(Errno::EINVAL);
            }
            self.remove(&mut state, new_addr..new_end, true)?;
            let kept = old_len.min(new_len);
            self.remove(&mut state, old_addr + kept..old_end, true)?;
            self.move_and_grow(&mut state, old_addr..old_addr + kept, new_addr, new_len)?;
            return Ok(new_addr);
        }

        if new_len <= old_len {
            self.remove(&mut state, old_addr + new_len..old_end, true)?;
            return Ok(old_addr);
        }
        let grown_end = old_addr
            .checked_add(new_len)
            .filter(|&end| end <= self.range.end);
        if let Some(grown_end) = grown_end {
            if old_end == mapping_end && !state.vmas.overlaps(old_end..grown_end) {
                self.grow(&mut state, old_end, grown_end - old_end)?;
                return Ok(old_addr);
            }
        }
        if !may_move {
            return Err(Errno::ENOMEM);
        }
        let dest = self.place(&state.vmas, 0, new_len)?;
        self.move_and_grow(&mut state, old_addr..old_end, dest, new_len)?;
        Ok(dest)
    }

    /// Moves the mappings of `source` to `dest` (a free range), then grows them to `new_len`.
    fn move_and_grow(
        &self,
        state: &mut State,
        source: Range<u64>,
        dest: u64,
        new_len: u64,
    ) -> Result<(), Errno> {
        let moved: Vec<Vma> = state.vmas.take(source.clone());
        for vma in &moved {
            let at = dest + (vma.range.start - source.start);
            self.map_present(state, vma, vma.range.clone(), at)?;
        }
        self.space
            .unmap(source.start, source.end - source.start)
            .map_err(|e| platform_failure("unmap", &e))?;
        for mut vma in moved {
            if !vma.owns_memory() {
                let at = dest + (vma.range.start - source.start);
                state.file_pages.relocate(vma.range.clone(), at);
            }
            let len = vma.len();
            vma.range.start = dest + (vma.range.start - source.start);
            vma.range.end = vma.range.start + len;
            state.vmas.insert(vma);
        }
        let moved_len = source.end - source.start;
        if new_len > moved_len {
            self.grow(state, dest + moved_len, new_len - moved_len)?;
        }
        Ok(())
    }

    /// Extends the mapping that ends at `at` by `len` bytes of fresh memory (free range).
    fn grow(&self, state: &mut State, at: u64, len: u64) -> Result<(), Errno> {
        let last = state.vmas.find(at - 1).ok_or(Errno::EFAULT)?;
        let template = VmaTemplate::continuing(last, at);
        self.map_new(state, at, len, template)
    }
}
