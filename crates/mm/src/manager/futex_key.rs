//! What the futex code needs of an address space: keys of process-shared futexes, and atomic
//! read-modify-writes of a futex word.

use abi::Errno;
use platform::Access;

use super::copy::copy_failure;
use super::MemoryManager;

impl MemoryManager {
    /// The key of a futex at `addr` that other address spaces can find: `Some(memory-file
    /// offset of addr)` if it lies in a shared mapping (anonymous or of a file; a file's page is
    /// placed first, so the key is the file page's, the same in every mapper), `None` in a
    /// private mapping (the futex is keyed by address space and address instead), EFAULT if
    /// unmapped.
    pub fn shared_futex_key(&self, addr: u64) -> Result<Option<u64>, Errno> {
        let mut state = self.state.lock();
        let vma = state.vmas.find(addr).ok_or(Errno::EFAULT)?.clone();
        if !vma.shared {
            return Ok(None);
        }
        if vma.owns_memory() {
            return Ok(Some(vma.memory_at(addr)));
        }
        let page = abi::page_floor(addr);
        let memory = self.place_file_page(&mut state, &vma, page)?;
        Ok(Some(memory + (addr - page)))
    }

    /// Replaces the 4-byte aligned guest word at `addr` with `update(current)` in one atomic
    /// step, as a guest's `lock cmpxchg` would (futex operations that change the word under
    /// the futex lock): `Ok(previous)` once stored, `Err(current)` when `update` returns `None`.
    /// EINVAL if `addr` is misaligned, EFAULT unless the word is mapped writable.
    pub fn fetch_update_u32(
        &self,
        addr: u64,
        mut update: impl FnMut(u32) -> Option<u32>,
    ) -> Result<Result<u32, u32>, Errno> {
        if !addr.is_multiple_of(4) {
            return Err(Errno::EINVAL);
        }
        // An aligned word never crosses a page, so it is one piece of one VMA.
        let mut outcome = Err(Errno::EFAULT);
        self.with_guest_range(addr, 4, Access::Write, |memory_offset, _| {
            outcome = self
                .memory
                .fetch_update_u32(memory_offset, &mut update)
                .map_err(copy_failure);
            Ok(())
        })?;
        outcome
    }
}
