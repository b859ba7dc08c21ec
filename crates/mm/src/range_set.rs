//! A set of `u64` offsets kept as disjoint, coalesced half-open ranges.
//!
//! Used for the memory file's free list and for the memory-file pages that demand paging has
//! already filled.

use std::collections::BTreeMap;
use std::ops::Range;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RangeSet {
    /// start -> end; ranges are non-empty, disjoint and never adjacent (adjacent ones are merged).
    ranges: BTreeMap<u64, u64>,
}

impl RangeSet {
    pub(crate) fn new() -> RangeSet {
        RangeSet::default()
    }

    /// Adds `range`, merging it with the ranges it overlaps or touches.
    pub(crate) fn insert(&mut self, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        let (mut start, mut end) = (range.start, range.end);
        if let Some((&s, &e)) = self.ranges.range(..=start).next_back() {
            if e >= start {
                start = s;
                end = end.max(e);
            }
        }
        let absorbed: Vec<u64> = self.ranges.range(start..=end).map(|(&s, _)| s).collect();
        for s in absorbed {
            if let Some(e) = self.ranges.remove(&s) {
                end = end.max(e);
            }
        }
        self.ranges.insert(start, end);
    }

    /// Removes `range`, cutting the ranges it overlaps.
    pub(crate) fn remove(&mut self, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        for part in self.intersection(range.clone()) {
            let Some((&s, &e)) = self.ranges.range(..=part.start).next_back() else {
                continue;
            };
            self.ranges.remove(&s);
            if s < range.start {
                self.ranges.insert(s, range.start);
            }
            if e > range.end {
                self.ranges.insert(range.end, e);
            }
        }
    }

    /// The parts of `range` that are in the set, in order.
    pub(crate) fn intersection(&self, range: Range<u64>) -> Vec<Range<u64>> {
        let first = self
            .ranges
            .range(..=range.start)
            .next_back()
            .map_or(range.start, |(&s, _)| s);
        self.ranges
            .range(first..range.end)
            .filter_map(|(&s, &e)| {
                let part = s.max(range.start)..e.min(range.end);
                (!part.is_empty()).then_some(part)
            })
            .collect()
    }

    /// The parts of `range` that are not in the set, in order.
    pub(crate) fn gaps(&self, range: Range<u64>) -> Vec<Range<u64>> {
        let mut gaps = Vec::new();
        let mut cursor = range.start;
        for part in self.intersection(range.clone()) {
            if part.start > cursor {
                gaps.push(cursor..part.start);
            }
            cursor = part.end;
        }
        if cursor < range.end {
            gaps.push(cursor..range.end);
        }
        gaps
    }

    /// Whether `value` is in the set.
    pub(crate) fn contains(&self, value: u64) -> bool {
        self.ranges
            .range(..=value)
            .next_back()
            .is_some_and(|(_, &e)| value < e)
    }

    /// The start of the first (lowest) range holding at least `len` values.
    pub(crate) fn first_fit(&self, len: u64) -> Option<u64> {
        self.ranges
            .iter()
            .find(|(&s, &e)| e - s >= len)
            .map(|(&s, _)| s)
    }

    /// The ranges, in order.
    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.ranges.iter().map(|(&s, &e)| s..e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn insert_merges_touching_ranges() {
        let mut set = RangeSet::new();
        set.insert(0..10);
        set.insert(20..30);
        set.insert(10..20);
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0..30]);
    }

    #[test]
    fn remove_cuts_a_hole() {
        let mut set = RangeSet::new();
        set.insert(0..30);
        set.remove(10..20);
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0..10, 20..30]);
        assert_eq!(set.gaps(5..25), vec![10..20]);
        assert_eq!(set.intersection(5..25), vec![5..10, 20..25]);
        assert!(set.contains(9) && !set.contains(10) && set.contains(20));
    }

    proptest! {
        /// The set behaves like a set of individual values, and stays coalesced.
        #[test]
        fn matches_a_set_of_values(ops in proptest::collection::vec((any::<bool>(), 0u64..64, 0u64..16), 0..40)) {
            let mut set = RangeSet::new();
            let mut model = [false; 80];
            for (add, start, len) in ops {
                let range = start..start + len;
                if add { set.insert(range.clone()) } else { set.remove(range.clone()) }
                for v in range { model[usize::try_from(v).unwrap()] = add; }
            }
            for (v, &expected) in model.iter().enumerate() {
                prop_assert_eq!(set.contains(v as u64), expected);
            }
            let ranges: Vec<_> = set.iter().collect();
            for pair in ranges.windows(2) {
                prop_assert!(pair[0].end < pair[1].start, "not coalesced: {:?}", ranges);
            }
        }
    }
}
