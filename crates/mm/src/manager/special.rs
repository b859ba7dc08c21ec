//! The Sentry's own pages in a guest address space: the vDSO and its data page.

use std::ops::Range;

use abi::Errno;
use platform::Prot;

use super::{page_aligned, MemoryManager};
use crate::vma::{Backing, ForkFlags, Vma};

/// Memory-file pages the Sentry owns, to be shown read-only (or read-execute) to the guest.
#[derive(Clone, Debug)]
pub struct SpecialPages {
    /// The name /proc/[pid]/maps gives them, e.g. `[vdso]`.
    pub name: &'static [u8],
    /// The allocated memory-file range (whole pages) the Sentry keeps owning.
    pub memory: Range<u64>,
    /// Without write permission: the pages are shared by every process. mprotect can't add
    /// more than this.
    pub prot: Prot,
}

impl MemoryManager {
    /// Maps `pieces` one after another at a free address, each sharing its memory-file pages
    /// (a new owner of them; the mapping never copies them, not even across fork); returns the
    /// address of the first.
    pub fn map_special(&self, pieces: &[SpecialPages]) -> Result<u64, Errno> {
        let mut len = 0u64;
        for piece in pieces {
            let piece_len = piece.memory.end.saturating_sub(piece.memory.start);
            if piece_len == 0
                || piece.prot.write
                || !page_aligned(piece.memory.start)
                || !page_aligned(piece_len)
            {
                return Err(Errno::EINVAL);
            }
            len = len.checked_add(piece_len).ok_or(Errno::ENOMEM)?;
        }
        let mut state = self.state.lock();
        let start = self.place(&state.vmas, 0, len)?;
        let mut addr = start;
        for piece in pieces {
            let piece_len = piece.memory.end - piece.memory.start;
            self.map_file(addr, piece_len, piece.memory.start, piece.prot)?;
            self.memory.share(piece.memory.clone());
            state.vmas.insert(Vma {
                range: addr..addr + piece_len,
                prot: piece.prot,
                max_prot: piece.prot,
                shared: false,
                grows_down: false,
                memory_offset: piece.memory.start,
                backing: Backing::Special { name: piece.name },
                on_fork: ForkFlags::default(),
                cow: false,
                locked: false,
            });
            addr += piece_len;
        }
        Ok(start)
    }
}
