//! Owner counts of memory-file pages that more than one mapping holds.
//!
//! An allocated page has one owner unless listed here: a MAP_SHARED mapping that fork carried into
//! a child adds one. Only the shared minority is kept, so the common case (private memory) costs
//! no bookkeeping, and a page goes back to the free list when its last owner lets go.

use std::collections::BTreeMap;
use std::ops::Range;

/// Ranges of allocated pages with two or more owners.
#[derive(Debug, Default)]
pub(crate) struct SharedOwners {
    /// start -> (end, owners); ranges are non-empty and disjoint, owners >= 2.
    ranges: BTreeMap<u64, (u64, u32)>,
}

impl SharedOwners {
    /// Adds an owner to every page of `range`, which must be allocated.
    pub(crate) fn acquire(&mut self, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        self.split_at(range.start);
        self.split_at(range.end);
        let mut counted = Vec::new();
        let mut cursor = range.start;
        for (&start, &(end, owners)) in self.ranges.range(range.clone()) {
            if start > cursor {
                counted.push((cursor, start, 2));
            }
            counted.push((start, end, owners.saturating_add(1)));
            cursor = end;
        }
        if cursor < range.end {
            counted.push((cursor, range.end, 2));
        }
        for (start, end, owners) in counted {
            self.ranges.insert(start, (end, owners));
        }
        self.coalesce(range);
    }

    /// Whether any page of `range` has more than one owner.
    pub(crate) fn any_shared(&self, range: Range<u64>) -> bool {
        let before = self
            .ranges
            .range(..range.start)
            .next_back()
            .is_some_and(|(_, &(end, _))| end > range.start);
        before || self.ranges.range(range).next().is_some()
    }

    /// Drops an owner from every page of `range`; returns the parts whose last owner that was,
    /// in order, for the caller to free.
    pub(crate) fn release(&mut self, range: Range<u64>) -> Vec<Range<u64>> {
        if range.is_empty() {
            return Vec::new();
        }
        self.split_at(range.start);
        self.split_at(range.end);
        let listed: Vec<(u64, u64, u32)> = self
            .ranges
            .range(range.clone())
            .map(|(&start, &(end, owners))| (start, end, owners))
            .collect();
        let mut ownerless = Vec::new();
        let mut cursor = range.start;
        for (start, end, owners) in listed {
            if start > cursor {
                ownerless.push(cursor..start);
            }
            if owners > 2 {
                self.ranges.insert(start, (end, owners - 1));
            } else {
                self.ranges.remove(&start);
            }
            cursor = end;
        }
        if cursor < range.end {
            ownerless.push(cursor..range.end);
        }
        self.coalesce(range);
        ownerless
    }

    /// Cuts the listed range strictly containing `at` so that one starts at `at`.
    fn split_at(&mut self, at: u64) {
        let Some((&start, &(end, owners))) = self.ranges.range(..at).next_back() else {
            return;
        };
        if end > at {
            self.ranges.insert(start, (at, owners));
            self.ranges.insert(at, (end, owners));
        }
    }

    /// Merges touching ranges with equal counts around and inside `range`, so repeated forks
    /// of the same mapping do not fragment the map.
    fn coalesce(&mut self, range: Range<u64>) {
        let mut cursor = self
            .ranges
            .range(..range.start)
            .next_back()
            .map_or(range.start, |(&start, _)| start);
        loop {
            let mut after = self.ranges.range(cursor..);
            let (Some((&start, &(end, owners))), Some((&next_start, &(next_end, next_owners)))) =
                (after.next(), after.next())
            else {
                return;
            };
            if start > range.end {
                return;
            }
            if end == next_start && owners == next_owners {
                self.ranges.remove(&next_start);
                self.ranges.insert(start, (next_end, owners));
            } else {
                cursor = next_start;
            }
        }
    }

    /// The listed ranges with their owner counts, in order.
    #[cfg(test)]
    fn iter(&self) -> impl Iterator<Item = (Range<u64>, u32)> + '_ {
        self.ranges
            .iter()
            .map(|(&start, &(end, owners))| (start..end, owners))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_last_owner_frees() {
        let mut owners = SharedOwners::default();
        owners.acquire(10..30);
        assert_eq!(
            owners.release(0..20),
            vec![0..10],
            "10..20 still has an owner"
        );
        assert_eq!(owners.release(10..30), vec![10..20]);
        assert_eq!(owners.iter().count(), 0);
    }

    proptest! {
        /// Owner counts behave like per-value counters starting at one, and the map stays
        /// coalesced and free of single-owner entries.
        #[test]
        fn matches_per_value_counters(ops in proptest::collection::vec((any::<bool>(), 0u64..48, 1u64..16), 0..40)) {
            let mut owners = SharedOwners::default();
            let mut model = [1u32; 64];
            for (acquire, start, len) in ops {
                let range = start..start + len;
                let slots = usize::try_from(start).unwrap()..usize::try_from(start + len).unwrap();
                // Only allocated pages (one owner or more) may gain or lose owners.
                if model[slots.clone()].contains(&0) {
                    continue;
                }
                if acquire {
                    owners.acquire(range);
                    model[slots].iter_mut().for_each(|n| *n += 1);
                } else {
                    let freed: Vec<u64> = owners.release(range).into_iter().flatten().collect();
                    let expected_freed: Vec<u64> = slots
                        .clone()
                        .filter(|&i| model[i] == 1)
                        .map(|i| i as u64)
                        .collect();
                    prop_assert_eq!(freed, expected_freed);
                    model[slots].iter_mut().for_each(|n| *n -= 1);
                }
            }
            let listed: Vec<(Range<u64>, u32)> = owners.iter().collect();
            for pair in listed.windows(2) {
                prop_assert!(pair[0].0.end < pair[1].0.start || pair[0].1 != pair[1].1, "not coalesced: {:?}", listed);
            }
            let mut seen = [1u32; 64];
            for (range, n) in listed {
                prop_assert!(n >= 2);
                for v in range {
                    seen[usize::try_from(v).unwrap()] = n;
                }
            }
            let model_listed: Vec<u32> = model.iter().map(|&n| if n == 0 { 1 } else { n }).collect();
            prop_assert_eq!(seen.to_vec(), model_listed);
        }
    }
}
