//! Sizes of an address space, for /proc/[pid]/status and statm.

use abi::PAGE_SIZE;

use super::MemoryManager;

/// How much an address space maps and how much of it holds memory, in bytes.
///
/// Resident sizes count memory-file pages that hold data: the pages the guest has written (or a
/// fault filled), not the untouched rest of a mapping, which costs nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MmStats {
    /// Everything mapped (VmSize; statm `size`).
    pub mapped: u64,
    /// Private anonymous pages holding data (RssAnon).
    pub resident_anon: u64,
    /// Filled pages of private file mappings (RssFile).
    pub resident_file: u64,
    /// Shared anonymous pages holding data (RssShmem).
    pub resident_shared: u64,
    /// Private writable mappings other than stacks (VmData).
    pub data: u64,
    /// Stack mappings (VmStk).
    pub stack: u64,
    /// Executable, non-writable mappings other than stacks (VmExe plus VmLib).
    pub exec: u64,
    /// mlock'ed mappings (VmLck).
    pub locked: u64,
}

impl MmStats {
    /// All resident pages (VmRSS; statm `resident`).
    pub fn resident(&self) -> u64 {
        self.resident_anon + self.resident_file + self.resident_shared
    }
}

impl MemoryManager {
    /// The address space's sizes. Costs a few host calls per mapping (finding the pages that
    /// hold data), so it is for /proc readers, not hot paths.
    pub fn stats(&self) -> MmStats {
        let state = self.state.lock();
        let mut stats = MmStats {
            locked: super::mlock::locked_bytes(&state),
            ..MmStats::default()
        };
        for vma in state.vmas.iter() {
            let len = vma.len();
            stats.mapped += len;
            if vma.grows_down {
                stats.stack += len;
            } else if vma.prot.write && !vma.shared {
                stats.data += len;
            } else if vma.prot.exec && !vma.prot.write {
                stats.exec += len;
            }
            if !vma.owns_memory() {
                // The file's pages placed here, whether or not they hold data; a private
                // mapping's own copies are anonymous memory.
                let placed = state.file_pages.count(vma.range.clone());
                if vma.shared {
                    stats.resident_shared += placed * PAGE_SIZE;
                } else {
                    let own = state.file_pages.own_count(vma.range.clone());
                    stats.resident_anon += own * PAGE_SIZE;
                    stats.resident_file += (placed - own) * PAGE_SIZE;
                }
                continue;
            }
            // Only filled chunks of a demand-paged mapping count: an unfilled one may still hold
            // bytes of a fill that failed to map.
            let filled = if vma.demand_paged() {
                state.populated.intersection(vma.memory_range())
            } else {
                vec![vma.memory_range()]
            };
            let mut resident = 0;
            for part in filled {
                match self.memory.data_runs(part) {
                    Ok(runs) => resident += runs.iter().map(|r| r.end - r.start).sum::<u64>(),
                    Err(e) => tracing::warn!("counting resident memory: {e}"),
                }
            }
            if vma.shared {
                stats.resident_shared += resident;
            } else if vma.demand_paged() {
                stats.resident_file += resident;
            } else {
                stats.resident_anon += resident;
            }
        }
        stats
    }
}
