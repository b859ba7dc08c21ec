//! Qid paths that stay unique across the host filesystems under the root.
//!
//! The Sentry tells files apart by qid path, but an inode number is unique only within one
//! filesystem (every fresh tmpfs numbers its files from 1 again), and the served root may span
//! several mounts. So a qid path stands for the pair (device, inode):
//!
//! - Usually it is the inode number with a small per-Gofer device index above it. There are
//!   few mounts, so the device table stays small, and a file keeps its path for the Gofer's
//!   whole life.
//! - An inode number too wide to pack (overlayfs with `xino` puts a layer index in the high
//!   bits; XFS and btrfs numbers can be large), or a device beyond the index space, gets a
//!   sequential number from a bounded table instead. The top bit marks these, so the two kinds
//!   never collide.

use std::collections::HashMap;

/// Inode numbers below `1 << INODE_BITS` are packed with their device index.
const INODE_BITS: u32 = 48;
/// Device indices fill the bits between the inode number and the top bit.
const DEVICE_INDICES: u64 = 1 << (63 - INODE_BITS);
/// The top bit marks a sequentially numbered path.
const SEQUENTIAL: u64 = 1 << 63;
/// How many sequentially numbered files are remembered before the table starts over.
const MAX_SEQUENTIAL_FILES: usize = 1 << 16;

#[derive(Default)]
pub struct QidPaths {
    /// Device index by `st_dev`, in order of first sight.
    devices: HashMap<u64, u64>,
    /// Sequential numbers by (`st_dev`, `st_ino`) for files that do not pack.
    sequential: HashMap<(u64, u64), u64>,
    next_sequential: u64,
}

impl QidPaths {
    /// The qid path of inode `ino` on device `dev`.
    pub fn path(&mut self, dev: u64, ino: u64) -> u64 {
        if ino < 1 << INODE_BITS {
            if let Some(device) = self.device_index(dev) {
                return device << INODE_BITS | ino;
            }
        }
        self.sequential_path(dev, ino)
    }

    fn device_index(&mut self, dev: u64) -> Option<u64> {
        if let Some(&index) = self.devices.get(&dev) {
            return Some(index);
        }
        let index = self.devices.len() as u64;
        if index >= DEVICE_INDICES {
            return None;
        }
        self.devices.insert(dev, index);
        Some(index)
    }

    fn sequential_path(&mut self, dev: u64, ino: u64) -> u64 {
        if let Some(&path) = self.sequential.get(&(dev, ino)) {
            return path;
        }
        if self.sequential.len() >= MAX_SEQUENTIAL_FILES {
            // Forgetting makes a file seen again look new to the Sentry, as after a remount;
            // numbers are never reused, since that would make two files look like one.
            self.sequential.clear();
        }
        // 2^63 numbers outlast any Gofer, so the counter never reaches the top bit.
        let path = SEQUENTIAL | self.next_sequential;
        self.next_sequential += 1;
        self.sequential.insert((dev, ino), path);
        path
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn same_inode_on_two_devices_gets_two_paths() {
        let mut paths = QidPaths::default();
        let first = paths.path(10, 2);
        let second = paths.path(20, 2);
        assert_ne!(first, second);
        assert_eq!(paths.path(10, 2), first);
        assert_eq!(paths.path(20, 2), second);
    }

    #[test]
    fn wide_inodes_are_numbered_apart_from_packed_ones() {
        let mut paths = QidPaths::default();
        let wide = u64::MAX;
        let packed = paths.path(1, wide & ((1 << INODE_BITS) - 1));
        let first = paths.path(1, wide);
        let second = paths.path(2, wide);
        assert_ne!(first, second);
        assert_ne!(first, packed);
        assert_ne!(second, packed);
        assert_eq!(paths.path(1, wide), first);
    }

    #[test]
    fn devices_beyond_the_index_space_are_numbered_sequentially() {
        let mut paths = QidPaths::default();
        for dev in 0..DEVICE_INDICES {
            paths.path(dev, 5);
        }
        let overflow = paths.path(DEVICE_INDICES, 5);
        assert_ne!(overflow & SEQUENTIAL, 0);
        assert_eq!(paths.path(DEVICE_INDICES, 5), overflow);
        assert_eq!(paths.path(0, 5), 5);
    }

    #[test]
    fn a_full_table_starts_over_without_reusing_numbers() {
        let mut paths = QidPaths::default();
        let wide = 1 << INODE_BITS;
        let given: HashSet<u64> = (0..=MAX_SEQUENTIAL_FILES as u64)
            .map(|ino| paths.path(0, wide + ino))
            .collect();
        assert_eq!(given.len(), MAX_SEQUENTIAL_FILES + 1);
        // The table started over at the last file; the first file is numbered afresh.
        assert!(!given.contains(&paths.path(0, wide)));
    }
}
