//! A budget for the host descriptors the Gofer donates: each inode read through one holds it,
//! and a guest can keep far more files open than the Sentry may hold host descriptors. Past the
//! budget, the descriptors of the files read least recently are closed (CLOCK, an approximate
//! LRU that costs a read one relaxed store); such a file asks the Gofer again on its next read.
//!
//! Descriptors donated for writing (files of a writable volume open for writing) belong to one
//! open file each and can't be closed under it: past the same budget, such files are written
//! through fids instead.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::Node;

pub(super) struct DonatedFds {
    budget: usize,
    /// The nodes holding a descriptor, in the order they got it (or were last passed over).
    holders: Mutex<VecDeque<Weak<Node>>>,
    /// Descriptors donated for writing now held by open files.
    writable_held: AtomicUsize,
}

/// A place in the budget for a descriptor donated for writing, given back when dropped.
pub(super) struct WritableSlot(Arc<DonatedFds>);

impl Drop for WritableSlot {
    fn drop(&mut self) {
        self.0.writable_held.fetch_sub(1, Ordering::Relaxed);
    }
}

impl DonatedFds {
    /// A budget of `budget` descriptors (at least one).
    pub(super) fn new(budget: usize) -> DonatedFds {
        DonatedFds {
            budget: budget.max(1),
            holders: Mutex::new(VecDeque::new()),
            writable_held: AtomicUsize::new(0),
        }
    }

    /// A place for one more descriptor donated for writing, if the budget has one.
    pub(super) fn hold_writable(self: &Arc<Self>) -> Option<WritableSlot> {
        let held = self.writable_held.fetch_add(1, Ordering::Relaxed);
        let slot = WritableSlot(Arc::clone(self));
        (held < self.budget).then_some(slot)
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
