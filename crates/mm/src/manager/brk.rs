//! The program break.

use super::{Brk, MemoryManager, VmaTemplate};

impl MemoryManager {
    /// Sets where the heap starts (the page-aligned end of the loaded program); the break starts
    /// there too.
    pub fn set_brk_start(&self, addr: u64) {
        self.state.lock().brk = Brk {
            start: addr,
            current: addr,
        };
    }

    /// brk(2): moves the break to `addr` and returns it, or returns the unchanged break if
    /// `addr` is below the heap start or the heap cannot grow there (`brk(0)` queries).
    pub fn brk(&self, addr: u64) -> u64 {
        let mut state = self.state.lock();
        let current = state.brk.current;
        if addr < state.brk.start {
            return current;
        }
        let (Some(new_top), Some(old_top)) = (abi::page_ceil(addr), abi::page_ceil(current)) else {
            return current;
        };
        let moved = if new_top > old_top {
            new_top <= self.range.end
                && !state.vmas.overlaps(old_top..new_top)
                && self
                    .map_new(
                        &mut state,
                        old_top,
                        new_top - old_top,
                        VmaTemplate::anonymous_rw(),
                    )
                    .is_ok()
        } else {
            self.remove(&mut state, new_top..old_top, true).is_ok()
        };
        if moved {
            state.brk.current = addr;
        }
        state.brk.current
    }
}
