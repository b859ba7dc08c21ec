//! The file descriptor table of a process.

use std::collections::BTreeMap;
use std::sync::Arc;

use abi::Errno;
use vfs::OpenFile;

/// The default RLIMIT_NOFILE soft limit, as Linux sets it.
pub(crate) const DEFAULT_NOFILE: usize = 1024;

/// The most descriptors a process may have (/proc/sys/fs/nr_open).
pub(crate) const NR_OPEN: u64 = 1 << 20;

#[derive(Clone)]
pub(crate) struct FdEntry {
    pub(crate) file: Arc<OpenFile>,
    pub(crate) cloexec: bool,
}

/// File descriptors of a process: the lowest free number is handed out first.
#[derive(Clone, Default)]
pub(crate) struct FdTable {
    entries: BTreeMap<usize, FdEntry>,
    /// Every descriptor below this one is in use: the search for a free one starts here, so a
    /// process opening thousands of files doesn't rescan them all on each open.
    lowest_free: usize,
}

impl FdTable {
    pub(crate) fn get(&self, fd: u64) -> Result<Arc<OpenFile>, Errno> {
        let fd = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        self.entries
            .get(&fd)
            .map(|e| Arc::clone(&e.file))
            .ok_or(Errno::EBADF)
    }

    pub(crate) fn entry_mut(&mut self, fd: u64) -> Result<&mut FdEntry, Errno> {
        let fd = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        self.entries.get_mut(&fd).ok_or(Errno::EBADF)
    }

    /// Installs `file` at the lowest free descriptor `>= min`.
    pub(crate) fn install(
        &mut self,
        file: Arc<OpenFile>,
        cloexec: bool,
        min: usize,
        limit: usize,
    ) -> Result<usize, Errno> {
        let start = min.max(self.lowest_free);
        let mut fd = start;
        for (&used, _) in self.entries.range(start..) {
            if used != fd {
                break;
            }
            fd += 1;
        }
        if fd >= limit {
            return Err(Errno::EMFILE);
        }
        self.entries.insert(fd, FdEntry { file, cloexec });
        if min <= self.lowest_free {
            self.lowest_free = fd + 1;
        }
        Ok(fd)
    }

    /// Installs `file` at exactly `fd`, returning what was there.
    pub(crate) fn install_at(
        &mut self,
        fd: usize,
        file: Arc<OpenFile>,
        cloexec: bool,
    ) -> Option<FdEntry> {
        self.entries.insert(fd, FdEntry { file, cloexec })
    }

    pub(crate) fn remove(&mut self, fd: u64) -> Result<FdEntry, Errno> {
        let fd = usize::try_from(fd).map_err(|_| Errno::EBADF)?;
        let entry = self.entries.remove(&fd).ok_or(Errno::EBADF)?;
        self.lowest_free = self.lowest_free.min(fd);
        Ok(entry)
    }

    /// The open descriptors in increasing order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &FdEntry)> {
        self.entries.iter().map(|(&fd, entry)| (fd, entry))
    }

    /// execve: closes the descriptors marked close-on-exec.
    pub(crate) fn remove_cloexec(&mut self) {
        self.entries.retain(|_, e| !e.cloexec);
        self.lowest_free = 0;
    }

    /// Closes every descriptor in `[first, last]`.
    pub(crate) fn remove_range(&mut self, first: usize, last: usize) {
        let doomed: Vec<usize> = self
            .entries
            .range(first..=last)
            .map(|(&fd, _)| fd)
            .collect();
        for fd in doomed {
            self.entries.remove(&fd);
        }
        self.lowest_free = self.lowest_free.min(first);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// /dev/null, opened through a VFS whose root is a devfs.
    fn dummy() -> Arc<OpenFile> {
        let memory = mm::MemoryFile::new(1 << 20).expect("memory file");
        let devfs = vfs::devfs::DevFs::new(memory.clone()).expect("devfs");
        let vfs = vfs::Vfs::new(devfs, memory);
        let ctx = vfs::LookupCtx {
            root: vfs.root(),
            start: vfs.root(),
        };
        vfs.open(&ctx, b"/null", libc::O_RDWR, 0)
            .expect("opening /null")
    }

    #[test]
    fn lowest_free_descriptor_first() {
        let mut t = FdTable::default();
        assert_eq!(t.install(dummy(), false, 0, 10), Ok(0));
        assert_eq!(t.install(dummy(), false, 0, 10), Ok(1));
        assert_eq!(t.install(dummy(), false, 0, 10), Ok(2));
        t.remove(1)
            .map(drop)
            .unwrap_or_else(|e| panic!("remove: {e}"));
        assert_eq!(t.install(dummy(), false, 0, 10), Ok(1));
        assert_eq!(t.install(dummy(), false, 5, 10), Ok(5));
        assert_eq!(t.install(dummy(), false, 0, 10), Ok(3));
    }

    #[test]
    fn the_lowest_free_descriptor_survives_every_way_of_closing() {
        let mut t = FdTable::default();
        for expected in 0..6 {
            assert_eq!(t.install(dummy(), expected % 2 == 0, 0, 100), Ok(expected));
        }
        t.remove_range(2, 3);
        assert_eq!(t.install(dummy(), false, 0, 100), Ok(2));
        assert_eq!(t.install(dummy(), false, 0, 100), Ok(3));
        assert_eq!(t.install(dummy(), false, 0, 100), Ok(6));
        // Close-on-exec were 0 and 4 (and not the ones installed since).
        t.remove_cloexec();
        assert_eq!(t.install(dummy(), false, 0, 100), Ok(0));
        assert_eq!(t.install(dummy(), false, 0, 100), Ok(4));
        t.install_at(7, dummy(), false);
        assert_eq!(t.install(dummy(), false, 0, 100), Ok(8));
        assert_eq!(t.install(dummy(), false, 20, 100), Ok(20));
        assert_eq!(t.install(dummy(), false, 0, 100), Ok(9));
    }

    #[test]
    fn limit_gives_emfile() {
        let mut t = FdTable::default();
        assert_eq!(t.install(dummy(), false, 0, 1), Ok(0));
        assert_eq!(t.install(dummy(), false, 0, 1), Err(Errno::EMFILE));
        assert_eq!(t.get(7).err(), Some(Errno::EBADF));
    }
}
