//! The VMAs of an address space, sorted by start address.

use std::collections::BTreeMap;
use std::ops::Range;

use super::Vma;

/// Disjoint VMAs keyed by start address.
#[derive(Clone, Default)]
pub(crate) struct VmaSet {
    vmas: BTreeMap<u64, Vma>,
}

impl VmaSet {
    pub(crate) fn new() -> VmaSet {
        VmaSet::default()
    }

    /// The VMA containing `addr`.
    pub(crate) fn find(&self, addr: u64) -> Option<&Vma> {
        self.vmas
            .range(..=addr)
            .next_back()
            .map(|(_, vma)| vma)
            .filter(|vma| addr < vma.range.end)
    }

    /// The VMAs overlapping `range`, in address order.
    pub(crate) fn overlapping(&self, range: Range<u64>) -> impl Iterator<Item = &Vma> + '_ {
        let first = self
            .vmas
            .range(..=range.start)
            .next_back()
            .filter(|(_, vma)| vma.range.end > range.start)
            .map_or(range.start, |(&start, _)| start);
        self.vmas.range(first..range.end).map(|(_, vma)| vma)
    }

    /// Whether any VMA overlaps `range`.
    pub(crate) fn overlaps(&self, range: Range<u64>) -> bool {
        !range.is_empty() && self.overlapping(range).next().is_some()
    }

    /// Whether VMAs cover every address of `range`.
    pub(crate) fn covers(&self, range: Range<u64>) -> bool {
        let mut cursor = range.start;
        for vma in self.overlapping(range.clone()) {
            if vma.range.start > cursor {
                return false;
            }
            cursor = vma.range.end;
        }
        cursor >= range.end
    }

    /// All VMAs in address order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Vma> + '_ {
        self.vmas.values()
    }

    /// Splits the VMA strictly containing `addr` so that a VMA starts at `addr`.
    pub(crate) fn split_at(&mut self, addr: u64) {
        let Some((_, vma)) = self.vmas.range_mut(..addr).next_back() else {
            return;
        };
        if vma.range.end > addr {
            let upper = vma.split_off(addr);
            self.vmas.insert(addr, upper);
        }
    }

    /// Removes and returns the VMAs covering `range`, cut to it.
    pub(crate) fn take(&mut self, range: Range<u64>) -> Vec<Vma> {
        self.split_at(range.start);
        self.split_at(range.end);
        let starts: Vec<u64> = self.vmas.range(range).map(|(&start, _)| start).collect();
        starts
            .into_iter()
            .filter_map(|start| self.vmas.remove(&start))
            .collect()
    }

    /// Changes the VMAs in `range` (cut to it) with `change`, then merges what became mergeable.
    pub(crate) fn update(&mut self, range: Range<u64>, mut change: impl FnMut(&mut Vma)) {
        self.split_at(range.start);
        self.split_at(range.end);
        for vma in self.vmas.range_mut(range.clone()).map(|(_, vma)| vma) {
            change(vma);
        }
        self.merge_from(range.start, range.end);
    }

    /// Adds `vma`, whose range must be free, merging it with its neighbours where possible.
    pub(crate) fn insert(&mut self, vma: Vma) {
        let range = vma.range.clone();
        debug_assert!(
            !self.overlaps(range.clone()),
            "inserting over a mapped range"
        );
        self.vmas.insert(range.start, vma);
        self.merge_from(range.start, range.end);
    }

    /// Merges mergeable neighbours among the VMAs starting in `[from, to]` and the one ending at
    /// `from`.
    fn merge_from(&mut self, from: u64, to: u64) {
        let mut cursor = self
            .vmas
            .range(..from)
            .next_back()
            .map_or(from, |(&start, _)| start);
        loop {
            let mut after = self.vmas.range(cursor..);
            let (Some((&start, vma)), Some((&next_start, next))) = (after.next(), after.next())
            else {
                return;
            };
            if start > to {
                return;
            }
            if vma.can_merge(next) {
                let end = next.range.end;
                self.vmas.remove(&next_start);
                if let Some(vma) = self.vmas.get_mut(&start) {
                    vma.range.end = end;
                }
            } else {
                cursor = next_start;
            }
        }
    }

    /// The highest `len`-byte free range inside `bounds`.
    pub(crate) fn gap_top_down(&self, bounds: Range<u64>, len: u64) -> Option<u64> {
        let mut gap_end = bounds.end;
        for vma in self.vmas.range(..bounds.end).rev().map(|(_, vma)| vma) {
            let gap_start = vma.range.end.max(bounds.start);
            if gap_end > gap_start && gap_end - gap_start >= len {
                return Some(gap_end - len);
            }
            gap_end = gap_end.min(vma.range.start);
            if gap_end <= bounds.start {
                return None;
            }
        }
        (gap_end > bounds.start && gap_end - bounds.start >= len).then(|| gap_end - len)
    }

    /// The end of the mapping (as Linux shows it: a run of VMAs that are one mapping) that
    /// contains `addr`.
    pub(crate) fn mapping_end(&self, addr: u64) -> Option<u64> {
        let mut vma = self.find(addr)?;
        for next in self.vmas.range(vma.range.end..).map(|(_, next)| next) {
            if !vma.same_mapping_as(next) {
                break;
            }
            vma = next;
        }
        Some(vma.range.end)
    }
}
