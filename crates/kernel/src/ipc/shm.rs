//! System V shared memory segments.
//!
//! A segment's memory is an unlinked memfd-like tmpfs file; shmat maps it as
//! `mmap(MAP_SHARED)` of that file does, so every attacher sees the same pages. The mappings
//! hold the segment's one mapping object: its reference count is the number of attachments
//! (fork, munmap and exit change it, as Linux's `shm_nattch`). After IPC_RMID with
//! attachments left, the segment only holds its file weakly, so the last detach frees the
//! memory, and the entry disappears once nothing maps it.

use std::sync::{Arc, Weak};

use abi::Errno;
use mm::MappableFile;
use vfs::OpenFile;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::{IpcObject, IpcPerm, IpcPermRaw};

/// shmget flags.
pub(crate) const SHM_HUGETLB: i32 = 0o4000;
/// shmat flags.
pub(crate) const SHM_RDONLY: i32 = 0o10000;
pub(crate) const SHM_RND: i32 = 0o20000;
pub(crate) const SHM_REMAP: i32 = 0o40000;
pub(crate) const SHM_EXEC: i32 = 0o100000;
/// Mode flags: removed, waiting for the last detach; locked in memory.
const SHM_DEST: u32 = 0o1000;
pub(crate) const SHM_LOCKED: u32 = 0o2000;

/// `struct shmid64_ds` on amd64.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct ShmidDs {
    pub(crate) perm: IpcPermRaw,
    pub(crate) segsz: u64,
    pub(crate) atime: i64,
    pub(crate) dtime: i64,
    pub(crate) ctime: i64,
    pub(crate) cpid: i32,
    pub(crate) lpid: i32,
    pub(crate) nattch: u64,
    unused: [u64; 2],
}

/// The segment's memory: held while the segment has an id, only through its mappings after
/// IPC_RMID.
enum Memory {
    Held(Arc<OpenFile>),
    Destroyed(Weak<OpenFile>),
}

/// One shared memory segment.
pub(crate) struct Segment {
    perm: IpcPerm,
    size: u64,
    memory: Memory,
    /// The object every attachment's mappings hold (see the module comment).
    mapping: Option<Weak<dyn MappableFile>>,
    /// The file's identity, to find its mappings for shmdt.
    pub(crate) device: u64,
    pub(crate) inode: u64,
    atime: i64,
    dtime: i64,
    ctime: i64,
    cpid: i32,
    lpid: i32,
}

impl IpcObject for Segment {
    fn perm(&self) -> &IpcPerm {
        &self.perm
    }
    fn perm_mut(&mut self) -> &mut IpcPerm {
        &mut self.perm
    }
}

impl Segment {
    pub(crate) fn new(
        perm: IpcPerm,
        size: u64,
        file: Arc<OpenFile>,
        pid: i32,
        now: i64,
    ) -> Result<Segment, Errno> {
        let stat = file.stat()?;
        Ok(Segment {
            perm,
            size,
            memory: Memory::Held(file),
            mapping: None,
            device: stat.st_dev,
            inode: stat.st_ino,
            atime: 0,
            dtime: 0,
            ctime: now,
            cpid: pid,
            lpid: 0,
        })
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// How many mappings hold the segment.
    pub(crate) fn attachments(&self) -> u64 {
        self.mapping
            .as_ref()
            .map_or(0, |m| Weak::strong_count(m) as u64)
    }

    /// Whether the segment still exists: not removed, or still mapped.
    pub(crate) fn alive(&self) -> bool {
        matches!(self.memory, Memory::Held(_)) || self.attachments() > 0
    }

    /// The object to map for a new attachment, made by `make` from the segment's file when no
    /// attachment exists.
    pub(crate) fn mapping(
        &mut self,
        make: impl FnOnce(Arc<OpenFile>) -> Arc<dyn MappableFile>,
    ) -> Result<Arc<dyn MappableFile>, Errno> {
        if let Some(mapping) = self.mapping.as_ref().and_then(Weak::upgrade) {
            return Ok(mapping);
        }
        let file = match &self.memory {
            Memory::Held(file) => Arc::clone(file),
            Memory::Destroyed(file) => file.upgrade().ok_or(Errno::EIDRM)?,
        };
        let mapping = make(file);
        self.mapping = Some(Arc::downgrade(&mapping));
        Ok(mapping)
    }

    /// shmat or shmdt by `pid` happened.
    pub(crate) fn attached(&mut self, pid: i32, now: i64) {
        self.lpid = pid;
        self.atime = now;
    }

    pub(crate) fn detached(&mut self, pid: i32, now: i64) {
        self.lpid = pid;
        self.dtime = now;
    }

    /// IPC_RMID: gone now if unattached (true), else marked SHM_DEST, its key freed and its
    /// memory left to the mappings.
    pub(crate) fn destroy(&mut self) -> bool {
        if self.attachments() == 0 {
            return true;
        }
        self.perm.mode |= SHM_DEST;
        self.perm.key = super::IPC_PRIVATE;
        if let Memory::Held(file) = &self.memory {
            self.memory = Memory::Destroyed(Arc::downgrade(file));
        }
        false
    }

    pub(crate) fn stat(&self) -> ShmidDs {
        ShmidDs {
            perm: self.perm.raw(),
            segsz: self.size,
            atime: self.atime,
            dtime: self.dtime,
            ctime: self.ctime,
            cpid: self.cpid,
            lpid: self.lpid,
            nattch: self.attachments(),
            ..ShmidDs::default()
        }
    }

    /// IPC_SET.
    pub(crate) fn set(&mut self, ds: &ShmidDs, now: i64) {
        self.perm.set(&ds.perm);
        self.ctime = now;
    }

    /// SHM_LOCK/SHM_UNLOCK: only recorded (nothing is swapped here).
    pub(crate) fn set_locked(&mut self, locked: bool) {
        if locked {
            self.perm.mode |= SHM_LOCKED;
        } else {
            self.perm.mode &= !SHM_LOCKED;
        }
    }
}
