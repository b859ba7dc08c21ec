//! Keys of process-shared futexes.

use abi::Errno;

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
}
