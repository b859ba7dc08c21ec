//! The mapping listing behind /proc/self/maps.

use platform::Prot;

use super::MemoryManager;
use crate::vma::{Backing, Vma};

/// One line of /proc/self/maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapsEntry {
    pub start: u64,
    pub end: u64,
    pub prot: Prot,
    pub shared: bool,
    /// The file offset of `start` (0 for anonymous memory).
    pub offset: u64,
    /// The file's name, `[heap]`, `[stack]`, or empty.
    pub name: Vec<u8>,
}

impl MemoryManager {
    /// The mappings in address order, as Linux lists them: adjacent pieces that are one mapping
    /// show as one line.
    pub fn maps(&self) -> Vec<MapsEntry> {
        let state = self.state.lock();
        let heap = state.brk.start..abi::page_ceil(state.brk.current).unwrap_or(u64::MAX);
        let mut entries: Vec<MapsEntry> = Vec::new();
        let mut previous: Option<&Vma> = None;
        for vma in state.vmas.iter() {
            match (previous, entries.last_mut()) {
                (Some(prev), Some(last)) if prev.same_mapping_as(vma) => last.end = vma.range.end,
                _ => entries.push(MapsEntry {
                    start: vma.range.start,
                    end: vma.range.end,
                    prot: vma.prot,
                    shared: vma.shared,
                    offset: vma.file_offset_at(vma.range.start).unwrap_or(0),
                    name: match &vma.backing {
                        Backing::File { file, .. } => file.name(),
                        Backing::Anonymous if vma.grows_down => b"[stack]".to_vec(),
                        Backing::Anonymous if heap.contains(&vma.range.start) => b"[heap]".to_vec(),
                        Backing::Anonymous => Vec::new(),
                    },
                }),
            }
            previous = Some(vma);
        }
        entries
    }
}
