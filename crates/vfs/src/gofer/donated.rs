//! A budget for the host descriptors the Gofer donates: each inode read through one holds it,
//! and a guest can keep far more files open than the Sentry may hold host descriptors. Past the
//! budget, the descriptors of the files read least recently are closed (CLOCK, an approximate
//! LRU that costs a read one relaxed store); such a file asks the Gofer again on its next read.

use std::collections::VecDeque;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::Node;

pub(super) struct DonatedFds {
    budget: usize,
    /// The nodes holding a descriptor, in the order they got it (or were last passed over).
    holders: Mutex<VecDeque<Weak<Node>>>,
}

impl DonatedFds {
    /// A budget of `budget` descriptors (at least one).
    pub(super) fn new(budget: usize) -> DonatedFds {
        DonatedFds {
            budget: budget.max(1),
            holders: Mutex::new(VecDeque::new()),
        }
    }

    /// Records that `node` now holds a descriptor, and closes others' until the budget holds:
    /// a node read since it was last passed over gets another round. Called without `node`'s
    /// own donation locked.
    pub(super) fn admit(&self, node: &Arc<Node>) {
        let mut holders = self.holders.lock();
        holders.push_back(Arc::downgrade(node));
        // Each node gets at most one more round; the newcomer is at the back and is never
        // closed.
        let mut passes = holders.len();
        while holders.len() > self.budget {
            let Some(oldest) = holders.pop_front() else {
                break;
            };
            let Some(holder) = oldest.upgrade() else {
                continue;
            };
            if Arc::ptr_eq(&holder, node) {
                holders.push_back(oldest);
                break;
            }
            if passes > 0 && holder.take_referenced() {
                passes -= 1;
                holders.push_back(oldest);
            } else {
                holder.close_donated();
            }
        }
    }
}
