//! What the futex code needs of an address space: which futexes are shared between address
//! spaces, and atomic read-modify-writes of a futex word.

use abi::Errno;
use platform::Access;

use super::copy::copy_failure;
use super::MemoryManager;

impl MemoryManager {
    /// The identity of the futex at `addr` beyond this address space: the memory-file offset
    /// backing it when `addr` lies in a shared mapping (every process mapping the same memory
    /// reaches the same offset), `None` in a private mapping (the futex is this address space's
    /// alone), EFAULT if nothing is mapped there.
    pub fn shared_futex_key(&self, addr: u64) -> Result<Option<u64>, Errno> {
        let state = self.state.lock();
        let vma = state.vmas.find(addr).ok_or(Errno::EFAULT)?;
        Ok(vma.shared.then(|| vma.memory_at(addr)))
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
