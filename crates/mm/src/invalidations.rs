//! Pages a file dropped that other address spaces still map.
//!
//! Truncating a file, or punching a hole in it, drops its pages; on Linux every mapping of them
//! goes at once, so a later touch past the new end is SIGBUS and a touch of a hole shows zeros.
//! Here an address space's platform mappings may only be changed by a thread owning one of its
//! contexts (ptrace: a thread tracing its stub), which the truncating thread usually is not. So
//! the file posts the dropped page range to an [`Invalidations`] queue of every address space
//! that maps it, and each address space's threads apply the queue (unmap and let go of the
//! pages) before they next run guest code or copy guest memory: at once for the truncating
//! process itself, at its next entry into the Sentry (system call, fault, signal) for another.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

/// One address space's queue of dropped file pages.
#[derive(Default)]
pub(crate) struct Invalidations {
    /// (the file's pages, by address; the page indices dropped).
    pending: Mutex<Vec<(usize, Range<u64>)>>,
    /// Whether `pending` may hold anything: checked without the lock before every entry.
    posted: AtomicBool,
}

impl Invalidations {
    /// Queues the pages `indices` that the file identified by `file` dropped.
    pub(crate) fn post(&self, file: usize, indices: Range<u64>) {
        self.pending.lock().push((file, indices));
        self.posted.store(true, Ordering::Release);
    }

    /// Takes what was posted since the last call.
    pub(crate) fn take(&self) -> Vec<(usize, Range<u64>)> {
        if !self.posted.swap(false, Ordering::Acquire) {
            return Vec::new();
        }
        std::mem::take(&mut *self.pending.lock())
    }
}

/// The address spaces mapping one file, to tell of dropped pages.
#[derive(Default)]
pub(crate) struct Mappers {
    queues: Mutex<Vec<Weak<Invalidations>>>,
}

impl Mappers {
    /// Adds `queue` (once), forgetting queues whose address space is gone.
    pub(crate) fn add(&self, queue: &Arc<Invalidations>) {
        let mut queues = self.queues.lock();
        queues.retain(|q| q.strong_count() > 0);
        if !queues
            .iter()
            .any(|q| std::ptr::eq(q.as_ptr(), Arc::as_ptr(queue)))
        {
            queues.push(Arc::downgrade(queue));
        }
    }

    /// Tells every mapper that the file `file` dropped the pages `indices`.
    pub(crate) fn post(&self, file: usize, indices: Range<u64>) {
        if indices.is_empty() {
            return;
        }
        for queue in self.queues.lock().iter().filter_map(Weak::upgrade) {
            queue.post(file, indices.clone());
        }
    }
}
