//! The recently used dentries, held strongly so hot paths stay resolved.
//!
//! Dentries hold their children weakly, so without this a path nothing else refers to would be
//! forgotten after every use, and the next use would look every component up again (for the
//! Gofer fs: a walk and a getattr round trip each). gVisor keeps about a thousand such dentries
//! cached; so do we. Holding a dentry keeps its ancestors too (a dentry holds its parent).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;

use super::Dentry;

/// How many recently used dentries are kept, as gVisor's default `maxCachedDentries`.
pub const DENTRY_CACHE_CAPACITY: usize = 1000;

/// A bounded least-recently-used set of dentries.
pub(crate) struct RecentDentries {
    capacity: usize,
    state: Mutex<Recency>,
}

/// Each dentry (keyed by address, which cannot be reused while the entry holds it) with the
/// stamp of its last use, and the same entries ordered by stamp.
#[derive(Default)]
struct Recency {
    by_dentry: HashMap<usize, (u64, Arc<Dentry>)>,
    by_stamp: BTreeMap<u64, usize>,
    clock: u64,
}

fn key(dentry: &Arc<Dentry>) -> usize {
    Arc::as_ptr(dentry) as usize
}

impl RecentDentries {
    pub fn new(capacity: usize) -> RecentDentries {
        RecentDentries {
            capacity,
            state: Mutex::default(),
        }
    }

    /// Marks `dentry` as just used, evicting the least recently used one if that makes too
    /// many.
    pub fn touch(&self, dentry: &Arc<Dentry>) {
        let evicted = {
            let mut state = self.state.lock();
            let state = &mut *state;
            state.clock += 1;
            let now = state.clock;
            match state.by_dentry.get_mut(&key(dentry)) {
                Some((stamp, _)) => {
                    state.by_stamp.remove(stamp);
                    *stamp = now;
                    state.by_stamp.insert(now, key(dentry));
                    None
                }
                None => {
                    state.by_dentry.insert(key(dentry), (now, dentry.clone()));
                    state.by_stamp.insert(now, key(dentry));
                    if state.by_dentry.len() > self.capacity {
                        state
                            .by_stamp
                            .pop_first()
                            .and_then(|(_, oldest)| state.by_dentry.remove(&oldest))
                    } else {
                        None
                    }
                }
            }
        };
        // Dropped outside the lock: the last reference to a Gofer dentry clunks its fid, a
        // round trip other lookups should not wait behind.
        drop(evicted);
    }

    /// Lets go of `dentry` (its name was removed), so an unlinked file's data is not kept.
    pub fn forget(&self, dentry: &Arc<Dentry>) {
        let forgotten = {
            let mut state = self.state.lock();
            let forgotten = state.by_dentry.remove(&key(dentry));
            if let Some((stamp, _)) = &forgotten {
                state.by_stamp.remove(stamp);
            }
            forgotten
        };
        drop(forgotten);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.state.lock().by_dentry.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Weak;

    use super::*;
    use crate::tmpfs::TmpFs;
    use crate::FileSystem;

    fn dentry() -> Arc<Dentry> {
        let memory = mm::MemoryFile::new(1 << 20).expect("memory file");
        Dentry::new_root(TmpFs::new(0o755, memory).root())
    }

    #[test]
    fn keeps_a_used_dentry_alive() {
        let recent = RecentDentries::new(4);
        let used = dentry();
        let weak = Arc::downgrade(&used);
        recent.touch(&used);
        drop(used);
        assert!(weak.upgrade().is_some(), "held by the cache alone");
        recent.forget(&weak.upgrade().unwrap());
        assert!(weak.upgrade().is_none(), "forgotten, nothing holds it");
        assert_eq!(recent.len(), 0);
    }

    #[test]
    fn evicts_the_least_recently_used_beyond_capacity() {
        let recent = RecentDentries::new(3);
        let weaks: Vec<Weak<Dentry>> = (0..3)
            .map(|_| {
                let d = dentry();
                recent.touch(&d);
                Arc::downgrade(&d)
            })
            .collect();
        // Using the oldest again makes the second the least recently used.
        recent.touch(&weaks[0].upgrade().unwrap());
        let newest = dentry();
        recent.touch(&newest);
        assert_eq!(recent.len(), 3);
        assert!(weaks[1].upgrade().is_none(), "evicted");
        assert!(weaks[0].upgrade().is_some());
        assert!(weaks[2].upgrade().is_some());
        // Touching what is cached does not grow it.
        recent.touch(&newest);
        assert_eq!(recent.len(), 3);
    }
}
