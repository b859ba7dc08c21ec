//! mlock(2) and friends, as accounting only: every page of the sandbox is in the memory file
//! and never swapped, so locking changes nothing but what is counted (VmLck) and limited
//! (RLIMIT_MEMLOCK).

use abi::Errno;

use super::MemoryManager;

/// The limit on locked memory a caller is held to: `None` for a caller with CAP_IPC_LOCK.
pub type LockLimit = Option<u64>;

impl MemoryManager {
    /// mlock/mlock2 (`lock`) and munlock (`!lock`) of the pages covering `[addr, addr + len)`
    /// (the start need not be aligned). ENOMEM if part is unmapped or locking would pass
    /// `limit` (EPERM if the limit is zero), as Linux.
    pub fn mlock(&self, addr: u64, len: u64, lock: bool, limit: LockLimit) -> Result<(), Errno> {
        let start = abi::page_floor(addr);
        let end = addr
            .checked_add(len)
            .and_then(abi::page_ceil)
            .ok_or(Errno::ENOMEM)?;
        if lock && limit == Some(0) {
            return Err(Errno::EPERM);
        }
        if start == end {
            return Ok(());
        }
        let mut state = self.state.lock();
        if !state.vmas.covers(start..end) {
            return Err(Errno::ENOMEM);
        }
        if lock {
            let newly: u64 = state
                .vmas
                .overlapping(start..end)
                .filter(|vma| !vma.locked)
                .map(|vma| vma.range.end.min(end) - vma.range.start.max(start))
                .sum();
            check_limit(locked_bytes(&state), newly, limit)?;
        }
        state.vmas.update(start..end, |vma| vma.locked = lock);
        Ok(())
    }

    /// mlockall: `current` locks every mapping now, `future` every mapping made later.
    /// ENOMEM if the mappings pass `limit` (EPERM if it is zero).
    pub fn mlockall(&self, current: bool, future: bool, limit: LockLimit) -> Result<(), Errno> {
        if limit == Some(0) {
            return Err(Errno::EPERM);
        }
        let mut state = self.state.lock();
        if current {
            let all: u64 = state.vmas.iter().map(|vma| vma.len()).sum();
            check_limit(0, all, limit)?;
            let everything = self.range.clone();
            state.vmas.update(everything, |vma| vma.locked = true);
        }
        state.lock_future = future;
        Ok(())
    }

    /// munlockall: unlocks every mapping and stops locking new ones.
    pub fn munlockall(&self) {
        let mut state = self.state.lock();
        let everything = self.range.clone();
        state.vmas.update(everything, |vma| vma.locked = false);
        state.lock_future = false;
    }
}

/// The bytes of locked mappings.
pub(super) fn locked_bytes(state: &super::State) -> u64 {
    state
        .vmas
        .iter()
        .filter(|vma| vma.locked)
        .map(|vma| vma.len())
        .sum()
}

/// ENOMEM if `locked` plus `more` bytes pass `limit`.
fn check_limit(locked: u64, more: u64, limit: LockLimit) -> Result<(), Errno> {
    match limit {
        Some(limit) if locked.saturating_add(more) > limit => Err(Errno::ENOMEM),
        _ => Ok(()),
    }
}
