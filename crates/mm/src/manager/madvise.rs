//! madvise(2).

use std::ops::Range;

use abi::Errno;

use super::{page_aligned, platform_failure, present_runs, MemoryManager, State};
use crate::vma::{ForkFlags, Vma};

impl MemoryManager {
    /// madvise(2). MADV_DONTNEED drops private pages (anonymous ones read as zeros afterwards,
    /// file-backed ones are read from the file again); MADV_REMOVE drops shared anonymous pages;
    /// MADV_DONTFORK/DOFORK and MADV_WIPEONFORK/KEEPONFORK set what fork does with the range; the
    /// other advice Linux knows is accepted and ignored, which Linux allows. ENOMEM if part of
    /// the range is unmapped (the mapped parts are still advised, as on Linux).
    pub fn madvise(&self, addr: u64, len: u64, advice: i32) -> Result<(), Errno> {
        if !page_aligned(addr) {
            return Err(Errno::EINVAL);
        }
        let end = abi::page_ceil(len)
            .and_then(|len| addr.checked_add(len))
            .ok_or(Errno::EINVAL)?;
        let effect = match advice {
            libc::MADV_DONTNEED | libc::MADV_REMOVE => Effect::Discard,
            libc::MADV_DONTFORK => Effect::OnFork(|flags| flags.skip = true),
            libc::MADV_DOFORK => Effect::OnFork(|flags| flags.skip = false),
            libc::MADV_WIPEONFORK => Effect::OnFork(|flags| flags.wipe = true),
            libc::MADV_KEEPONFORK => Effect::OnFork(|flags| flags.wipe = false),
            libc::MADV_NORMAL
            | libc::MADV_RANDOM
            | libc::MADV_SEQUENTIAL
            | libc::MADV_WILLNEED
            | libc::MADV_FREE
            | libc::MADV_MERGEABLE
            | libc::MADV_UNMERGEABLE
            | libc::MADV_HUGEPAGE
            | libc::MADV_NOHUGEPAGE
            | libc::MADV_DONTDUMP
            | libc::MADV_DODUMP
            | libc::MADV_COLD
            | libc::MADV_PAGEOUT
            | libc::MADV_POPULATE_READ
            | libc::MADV_POPULATE_WRITE => Effect::None,
            _ => return Err(Errno::EINVAL),
        };
        if addr == end {
            return Ok(());
        }
        let mut state = self.state.lock();
        let vmas: Vec<Vma> = state.vmas.overlapping(addr..end).cloned().collect();
        if advice == libc::MADV_REMOVE && vmas.iter().any(|vma| !vma.shared || vma.special()) {
            return Err(Errno::EINVAL);
        }
        // Wiping is defined only for memory nobody else sees: private anonymous mappings.
        if advice == libc::MADV_WIPEONFORK
            && vmas
                .iter()
                .any(|vma| vma.shared || vma.demand_paged() || vma.special())
        {
            return Err(Errno::EINVAL);
        }
        match effect {
            Effect::Discard => {
                // Dropping pages must not drop them from the address space sharing them.
                self.break_cow_in(&mut state, addr..end)?;
                let vmas: Vec<Vma> = state.vmas.overlapping(addr..end).cloned().collect();
                self.discard(&mut state, &vmas, addr..end, advice)?;
            }
            Effect::OnFork(change) => state.vmas.update(addr..end, |vma| change(&mut vma.on_fork)),
            Effect::None => {}
        }
        if !state.vmas.covers(addr..end) {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// MADV_DONTNEED or MADV_REMOVE of `range` in `vmas` (those overlapping it).
    fn discard(
        &self,
        state: &mut State,
        vmas: &[Vma],
        range: Range<u64>,
        advice: i32,
    ) -> Result<(), Errno> {
        for vma in vmas {
            // DONTNEED keeps a shared mapping's contents (they belong to the shared object);
            // REMOVE is the advice that frees them. The Sentry's special pages are never freed.
            if (vma.shared && advice == libc::MADV_DONTNEED) || vma.special() {
                continue;
            }
            let part = range.start.max(vma.range.start)..range.end.min(vma.range.end);
            if let Some(pages) = vma.shared_file() {
                // DONTNEED (of a private mapping: a shared one kept its pages above) drops the
                // placed pages, so the next touch shows the file again; REMOVE also punches the
                // file itself, so the next touch faults in fresh zero pages.
                for (run, _) in present_runs(state, vma, part.clone()) {
                    self.space
                        .unmap(run.start, run.end - run.start)
                        .map_err(|e| platform_failure("unmap", &e))?;
                }
                state.file_pages.release(part.clone(), &self.memory);
                if let Some(offset) = vma.file_offset_at(part.start).filter(|_| vma.shared) {
                    pages.punch(offset, part.end - part.start);
                }
                continue;
            }
            if vma.demand_paged() {
                // Unmap so the next touch faults and reads the file again.
                for (run, _) in present_runs(state, vma, part.clone()) {
                    self.space
                        .unmap(run.start, run.end - run.start)
                        .map_err(|e| platform_failure("unmap", &e))?;
                }
                state.populated.remove(vma.memory_for(&part));
            }
            // Punching the hole zeroes the pages in every mapping of the memory file, the
            // guest's included, so anonymous memory needs no re-map.
            self.memory.decommit(vma.memory_for(&part)).map_err(|e| {
                tracing::error!("madvise at {:#x}: {e}", range.start);
                Errno::ENOMEM
            })?;
        }
        Ok(())
    }
}

/// What a madvise advice does here.
enum Effect {
    /// Drop pages (MADV_DONTNEED, MADV_REMOVE).
    Discard,
    /// Change what fork does with the range.
    OnFork(fn(&mut ForkFlags)),
    /// Accepted and ignored.
    None,
}
