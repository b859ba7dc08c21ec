//! First-fit allocation of page ranges of the memory file.

use std::ops::Range;

use crate::range_set::RangeSet;

/// The free ranges of a file of fixed capacity.
#[derive(Debug)]
pub(crate) struct FileAllocator {
    free: RangeSet,
    free_bytes: u64,
}

impl FileAllocator {
    /// An allocator of `[0, capacity)`, all free.
    pub(crate) fn new(capacity: u64) -> FileAllocator {
        let mut free = RangeSet::new();
        free.insert(0..capacity);
        FileAllocator {
            free,
            free_bytes: capacity,
        }
    }

    /// Takes the lowest free range of `len` bytes.
    pub(crate) fn allocate(&mut self, len: u64) -> Option<Range<u64>> {
        let start = self.free.first_fit(len)?;
        let range = start..start + len;
        self.free.remove(range.clone());
        self.free_bytes -= len;
        Some(range)
    }

    /// Gives `range` back.
    pub(crate) fn free(&mut self, range: Range<u64>) {
        self.free_bytes += range.end - range.start;
        self.free.insert(range);
    }

    /// How many bytes are free.
    pub(crate) fn free_bytes(&self) -> u64 {
        self.free_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const PAGE: u64 = abi::PAGE_SIZE;

    /// The start of the lowest gap of at least `len` between the `live` ranges.
    fn lowest_gap(live: &[Range<u64>], capacity: u64, len: u64) -> Option<u64> {
        let mut sorted = live.to_vec();
        sorted.sort_by_key(|r| r.start);
        let mut cursor = 0;
        for r in sorted.iter().chain(std::iter::once(&(capacity..capacity))) {
            if r.start - cursor >= len {
                return Some(cursor);
            }
            cursor = r.end;
        }
        None
    }

    proptest! {
        /// Live allocations never overlap, stay inside the capacity, and freed space is reusable:
        /// once everything is freed, the whole capacity can be allocated again in one piece.
        #[test]
        fn allocations_are_disjoint_and_frees_reusable(
            ops in proptest::collection::vec((any::<bool>(), 1u64..8, any::<prop::sample::Index>()), 1..60)
        ) {
            let capacity = 64 * PAGE;
            let mut allocator = FileAllocator::new(capacity);
            let mut live: Vec<Range<u64>> = Vec::new();
            for (allocate, pages, pick) in ops {
                if allocate || live.is_empty() {
                    let len = pages * PAGE;
                    let lowest_fit = lowest_gap(&live, capacity, len);
                    let range = allocator.allocate(len);
                    prop_assert_eq!(range.as_ref().map(|r| r.start), lowest_fit, "not first fit");
                    if let Some(range) = range {
                        prop_assert!(live.iter().all(|r| r.end <= range.start || range.end <= r.start));
                        live.push(range);
                    }
                } else {
                    let range = live.swap_remove(pick.index(live.len()));
                    allocator.free(range);
                }
                let live_bytes: u64 = live.iter().map(|r| r.end - r.start).sum();
                prop_assert_eq!(allocator.free_bytes(), capacity - live_bytes);
            }
            for range in live.drain(..) {
                allocator.free(range);
            }
            prop_assert_eq!(allocator.free_bytes(), capacity);
            prop_assert_eq!(allocator.allocate(capacity), Some(0..capacity));
        }
    }
}
