//! Virtual memory areas: what is mapped at which guest addresses.

mod set;

use std::ops::Range;
use std::sync::Arc;

use platform::Prot;

use crate::file_pages::FilePages;
use crate::manager::MappableFile;
pub(crate) use set::VmaSet;

/// Where a VMA's contents come from. The pages live in the VMA's memory-file range, except for
/// a shared file mapping's.
#[derive(Clone)]
pub(crate) enum Backing {
    /// Zero-filled memory, mapped in full when created.
    Anonymous,
    /// A private copy of a file, filled in chunks on first touch (demand paging).
    File {
        file: Arc<dyn MappableFile>,
        offset: u64,
    },
    /// A shared mapping of a file: the pages are the file's own (see [`FilePages`]), found
    /// page by page in the address space's mapped file pages, never in the VMA's memory-file
    /// range (it has none).
    SharedFile {
        file: Arc<dyn MappableFile>,
        pages: Arc<FilePages>,
        offset: u64,
    },
    /// Pages the Sentry owns and every address space shows (the vDSO and its data page):
    /// mapped in full, shared with every other mapping of them (fork included), never
    /// discarded, and listed in /proc/[pid]/maps under `name`.
    Special { name: &'static [u8] },
}

/// What fork does with a VMA besides the default (copy a private one, share a shared one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ForkFlags {
    /// MADV_DONTFORK: the child does not get the mapping at all.
    pub(crate) skip: bool,
    /// MADV_WIPEONFORK (private anonymous only): the child gets the mapping zero-filled.
    pub(crate) wipe: bool,
}

/// One guest mapping: `[range)` shows the memory-file bytes starting at `memory_offset`.
#[derive(Clone)]
pub(crate) struct Vma {
    pub(crate) range: Range<u64>,
    pub(crate) prot: Prot,
    /// The most `mprotect` may grant (a shared mapping of a read-only file, later).
    pub(crate) max_prot: Prot,
    pub(crate) shared: bool,
    pub(crate) grows_down: bool,
    pub(crate) memory_offset: u64,
    pub(crate) backing: Backing,
    pub(crate) on_fork: ForkFlags,
    /// Copy-on-write: the memory-file range is shared with another address space (by fork)
    /// and mapped without write permission; the first write gives this VMA a copy of its own.
    pub(crate) cow: bool,
    /// mlock'ed (VM_LOCKED): counted in VmLck, nothing more.
    pub(crate) locked: bool,
}

impl Vma {
    pub(crate) fn len(&self) -> u64 {
        self.range.end - self.range.start
    }

    /// The memory-file offset that backs guest address `addr` (inside the VMA).
    pub(crate) fn memory_at(&self, addr: u64) -> u64 {
        self.memory_offset + (addr - self.range.start)
    }

    /// The memory-file range backing `range` (inside the VMA).
    pub(crate) fn memory_for(&self, range: &Range<u64>) -> Range<u64> {
        self.memory_at(range.start)..self.memory_at(range.end)
    }

    /// The memory-file range backing the whole VMA.
    pub(crate) fn memory_range(&self) -> Range<u64> {
        self.memory_for(&self.range.clone())
    }

    /// The file offset that backs guest address `addr`, for a file-backed VMA.
    pub(crate) fn file_offset_at(&self, addr: u64) -> Option<u64> {
        match &self.backing {
            Backing::Anonymous | Backing::Special { .. } => None,
            Backing::File { offset, .. } | Backing::SharedFile { offset, .. } => {
                Some(offset + (addr - self.range.start))
            }
        }
    }

    /// The file pages of a shared file mapping.
    pub(crate) fn shared_file(&self) -> Option<&Arc<FilePages>> {
        match &self.backing {
            Backing::SharedFile { pages, .. } => Some(pages),
            _ => None,
        }
    }

    /// The protection the platform maps the VMA's pages with: its own, without write while they
    /// are copy-on-write.
    pub(crate) fn mapped_prot(&self) -> Prot {
        Prot {
            write: self.prot.write && !self.cow,
            ..self.prot
        }
    }

    /// The protection a placed file page is mapped with: the VMA's, without write for a page
    /// of a private mapping that is not the address space's own copy yet.
    pub(crate) fn file_page_prot(&self, own: bool) -> Prot {
        Prot {
            write: self.prot.write && (self.shared || own),
            ..self.prot
        }
    }

    /// Whether the VMA has a memory-file range of its own (all but shared file mappings).
    pub(crate) fn owns_memory(&self) -> bool {
        !matches!(self.backing, Backing::SharedFile { .. })
    }

    /// Whether the pages are filled on demand rather than mapped at creation.
    pub(crate) fn demand_paged(&self) -> bool {
        matches!(self.backing, Backing::File { .. })
    }

    /// Whether the VMA shows the Sentry's own pages (see [`Backing::Special`]).
    pub(crate) fn special(&self) -> bool {
        matches!(self.backing, Backing::Special { .. })
    }

    /// Cuts the VMA at `addr` (strictly inside it): `self` keeps the lower part, the upper part
    /// is returned.
    pub(crate) fn split_off(&mut self, addr: u64) -> Vma {
        let mut upper = self.clone();
        upper.range.start = addr;
        upper.memory_offset = self.memory_at(addr);
        if let Backing::File { offset, .. } | Backing::SharedFile { offset, .. } =
            &mut upper.backing
        {
            *offset += addr - self.range.start;
        }
        self.range.end = addr;
        upper
    }

    /// Whether `next`, starting where `self` ends, is the same mapping as Linux would show it:
    /// same attributes and, for files, the same file continuing at the next offset.
    pub(crate) fn same_mapping_as(&self, next: &Vma) -> bool {
        let backing_continues = match (&self.backing, &next.backing) {
            (Backing::Anonymous, Backing::Anonymous) => true,
            (Backing::Special { name: a }, Backing::Special { name: b }) => a == b,
            (Backing::File { file: a, .. }, Backing::File { file: b, offset }) => {
                Arc::ptr_eq(a, b) && self.file_offset_at(self.range.end) == Some(*offset)
            }
            (
                Backing::SharedFile { pages: a, .. },
                Backing::SharedFile {
                    pages: b, offset, ..
                },
            ) => Arc::ptr_eq(a, b) && self.file_offset_at(self.range.end) == Some(*offset),
            _ => false,
        };
        self.range.end == next.range.start
            && self.prot == next.prot
            && self.max_prot == next.max_prot
            && self.shared == next.shared
            && self.grows_down == next.grows_down
            && self.on_fork == next.on_fork
            && self.locked == next.locked
            && backing_continues
    }

    /// Whether `next` can be folded into `self`: the same mapping, backed by the memory-file
    /// bytes that follow `self`'s.
    pub(crate) fn can_merge(&self, next: &Vma) -> bool {
        self.same_mapping_as(next)
            && self.cow == next.cow
            && (!self.owns_memory() || self.memory_at(self.range.end) == next.memory_offset)
    }
}
