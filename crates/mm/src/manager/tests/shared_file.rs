//! Shared file mappings: every mapper and the file itself see one copy of the file's pages.

use proptest::prelude::*;

use super::*;
use crate::error::SegvCode;
use crate::file_pages::{FilePages, PageQuota};
use platform::Access;

const BASE: u64 = 0x4000_0000;

/// No limit on a file's pages.
struct Unlimited;

impl PageQuota for Unlimited {
    fn charge(&self, _pages: u64) -> Result<(), Errno> {
        Ok(())
    }
    fn uncharge(&self, _pages: u64) {}
}

/// A file whose pages are in the memory file, opened for writing or not.
struct PagesFile {
    pages: Arc<FilePages>,
    writable: bool,
}

impl MappableFile for PagesFile {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.pages.read_at(offset, buf)
    }
    fn shared_pages(&self) -> Option<Arc<FilePages>> {
        Some(self.pages.clone())
    }
    fn writable(&self) -> bool {
        self.writable
    }
}

fn file_of(memory: &Arc<MemoryFile>, len: u64) -> Arc<PagesFile> {
    let pages = Arc::new(FilePages::new(memory.clone(), Arc::new(Unlimited)));
    pages.set_size(len);
    Arc::new(PagesFile {
        pages,
        writable: true,
    })
}

fn shared_at(addr: u64, len: u64, file: &Arc<PagesFile>, offset: u64) -> MmapRequest {
    let file: Arc<dyn MappableFile> = file.clone();
    MmapRequest {
        shared: true,
        file: Some((file, offset)),
        ..anon_at(addr, len, Prot::RW)
    }
}

fn over(memory: &Arc<MemoryFile>) -> MemoryManager {
    MemoryManager::new(memory.clone(), Arc::new(RecordingSpace::default()), USER)
}

fn read(mm: &MemoryManager, addr: u64, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    mm.copy_in(addr, &mut bytes).expect("copy_in");
    bytes
}

#[test]
fn two_address_spaces_and_the_file_see_one_copy() {
    let memory = MemoryFile::new(1 << 30).expect("memory file");
    let file = file_of(&memory, 4 * PAGE);
    let (a, b) = (over(&memory), over(&memory));
    a.mmap(shared_at(BASE, 4 * PAGE, &file, 0)).expect("mmap a");
    b.mmap(shared_at(BASE + 8 * PAGE, 2 * PAGE, &file, 2 * PAGE))
        .expect("mmap b");
    a.copy_out(BASE + 2 * PAGE + 5, b"from a")
        .expect("copy_out");
    assert_eq!(read(&b, BASE + 8 * PAGE + 5, 6), b"from a");
    file.pages.write_at(3 * PAGE, b"from write").expect("write");
    assert_eq!(read(&a, BASE + 3 * PAGE, 10), b"from write");
    assert_eq!(
        a.shared_futex_key(BASE + 2 * PAGE + 8),
        b.shared_futex_key(BASE + 8 * PAGE + 8)
    );

    let (child, _) = {
        let forked = a.fork().expect("fork");
        let space = Arc::new(RecordingSpace::default());
        (
            MemoryManager::from_fork(forked, space.clone()).expect("from_fork"),
            space,
        )
    };
    b.copy_out(BASE + 8 * PAGE + 5, b"from b")
        .expect("copy_out");
    assert_eq!(
        read(&child, BASE + 2 * PAGE + 5, 6),
        b"from b",
        "the child shares the pages"
    );

    drop((a, b, child));
    assert_eq!(memory.allocated(), file.pages.resident_pages() * PAGE);
    drop(file);
    assert_eq!(memory.allocated(), 0, "every page went back");
}

#[test]
fn past_the_end_of_the_file_is_sigbus_and_copies_fault() {
    let memory = MemoryFile::new(1 << 30).expect("memory file");
    let file = file_of(&memory, PAGE + 1);
    let mm = over(&memory);
    mm.mmap(shared_at(BASE, 4 * PAGE, &file, 0)).expect("mmap");
    let entered = mm.mappings_epoch();
    assert_eq!(
        mm.handle_fault(BASE + PAGE + 100, Access::Read, entered),
        Ok(())
    );
    assert_eq!(
        mm.handle_fault(BASE + 2 * PAGE, Access::Read, entered),
        Err(SegvCode::BusAdrErr)
    );
    assert_eq!(
        mm.copy_out(BASE + 2 * PAGE - 2, b"abcd"),
        Err(Errno::EFAULT)
    );
}

#[test]
fn a_read_only_file_maps_shared_only_without_write() {
    let memory = MemoryFile::new(1 << 30).expect("memory file");
    let file = Arc::new(PagesFile {
        pages: Arc::new(FilePages::new(memory.clone(), Arc::new(Unlimited))),
        writable: false,
    });
    let mm = over(&memory);
    assert_eq!(mm.mmap(shared_at(BASE, PAGE, &file, 0)), Err(Errno::EACCES));
    let read_only = MmapRequest {
        prot: Prot::READ,
        ..shared_at(BASE, PAGE, &file, 0)
    };
    mm.mmap(read_only).expect("mmap");
    assert_eq!(mm.mprotect(BASE, PAGE, Prot::RW), Err(Errno::EACCES));
}

#[test]
fn a_file_of_another_memory_file_cannot_be_mapped_shared() {
    let memory = MemoryFile::new(1 << 30).expect("memory file");
    let other = MemoryFile::new(1 << 20).expect("memory file");
    let mm = over(&memory);
    let file = file_of(&other, PAGE);
    assert_eq!(mm.mmap(shared_at(BASE, PAGE, &file, 0)), Err(Errno::ENODEV));
}

proptest! {
    /// Whatever is mapped, moved, truncated, forked and unmapped, a mapped page is never freed
    /// (copies through every mapping agree with the file inside it) and every page goes back
    /// once the mappings and the file are gone.
    #[test]
    fn pages_are_never_freed_while_mapped_and_all_come_back(
        ops in proptest::collection::vec((0u8..5, 0u64..8, 1u64..4, any::<u8>()), 1..25)
    ) {
        let memory = MemoryFile::new(1 << 30).expect("memory file");
        let file = file_of(&memory, 8 * PAGE);
        let spaces = [over(&memory), over(&memory)];
        let mut children = Vec::new();
        for (op, page, pages, byte) in ops {
            let mm = &spaces[usize::from(byte % 2)];
            let addr = BASE + page * PAGE;
            match op {
                0 => {
                    mm.mmap(shared_at(addr, pages * PAGE, &file, page * PAGE)).expect("mmap");
                }
                1 => {
                    let _ = mm.copy_out(addr, &[byte; 64]);
                }
                2 => {
                    mm.munmap(addr, pages * PAGE).expect("munmap");
                }
                3 => file.pages.set_size(page * PAGE + u64::from(byte)),
                _ => {
                    let forked = mm.fork().expect("fork");
                    let child = MemoryManager::from_fork(forked, Arc::new(RecordingSpace::default()))
                        .expect("from_fork");
                    children.push(child);
                }
            }
            // Inside the file, a mapping that shows a page at the same file offset shows what
            // the file holds (pages dropped by truncation stay mapped until unmapped, as
            // stale copies, but are never reused while mapped).
            for mm in spaces.iter().chain(children.iter()) {
                for entry in mm.maps() {
                    for at in (entry.start..entry.end).step_by(index(PAGE)) {
                        let mut seen = [0u8; 8];
                        if mm.copy_in(at, &mut seen).is_ok() {
                            let mut owned = [0u8; 8];
                            let offset = entry.offset + (at - entry.start);
                            let n = file.pages.read_at(offset, &mut owned).expect("read");
                            if n == 8 && memory_is_files(mm, at, &file.pages, offset) {
                                prop_assert_eq!(seen, owned);
                            }
                        }
                    }
                }
            }
        }
        drop(spaces);
        drop(children);
        prop_assert_eq!(memory.allocated(), file.pages.resident_pages() * PAGE);
        drop(file);
        prop_assert_eq!(memory.allocated(), 0);
    }
}

/// Whether the page mapped at `addr` is the file's current page at `offset`.
fn memory_is_files(mm: &MemoryManager, addr: u64, pages: &FilePages, offset: u64) -> bool {
    let placed = mm.state.lock().file_pages.get(abi::page_floor(addr));
    let current = pages
        .backed_pages(offset / PAGE..offset / PAGE + 1)
        .first()
        .map(|&(_, memory)| memory);
    placed.is_some() && placed == current
}

#[test]
fn a_private_mapping_shows_the_file_until_it_writes_a_page() {
    let memory = MemoryFile::new(1 << 30).expect("memory file");
    let file = file_of(&memory, 2 * PAGE);
    file.pages.write_at(0, b"file").expect("write");
    let mm = over(&memory);
    let private = MmapRequest {
        shared: false,
        ..shared_at(BASE, 2 * PAGE, &file, 0)
    };
    mm.mmap(private).expect("mmap");
    assert_eq!(read(&mm, BASE, 4), b"file");
    file.pages.write_at(0, b"FILE").expect("write");
    file.pages.write_at(PAGE, b"next").expect("write");
    assert_eq!(
        read(&mm, BASE, 4),
        b"FILE",
        "not written yet: the file's page"
    );

    mm.copy_out(BASE + 1, b"ow").expect("copy_out");
    assert_eq!(read(&mm, BASE, 4), b"FowE");
    let mut in_file = [0u8; 4];
    file.pages.read_at(0, &mut in_file).expect("read");
    assert_eq!(&in_file, b"FILE", "the write stayed private");
    file.pages.write_at(0, b"late").expect("write");
    assert_eq!(
        read(&mm, BASE, 4),
        b"FowE",
        "a written page is the mapping's own"
    );
    assert_eq!(read(&mm, BASE + PAGE, 4), b"next");

    let (child, _) = {
        let forked = mm.fork().expect("fork");
        let space = Arc::new(RecordingSpace::default());
        (
            MemoryManager::from_fork(forked, space.clone()).expect("from_fork"),
            space,
        )
    };
    child.copy_out(BASE, b"C").expect("copy_out");
    assert_eq!(read(&mm, BASE, 4), b"FowE", "the child's write is its own");
    assert_eq!(read(&child, BASE, 4), b"CowE");
    mm.madvise(BASE, PAGE, libc::MADV_DONTNEED)
        .expect("madvise");
    assert_eq!(read(&mm, BASE, 4), b"late", "dropped: the file again");

    drop((mm, child));
    assert_eq!(memory.allocated(), file.pages.resident_pages() * PAGE);
    drop(file);
    assert_eq!(memory.allocated(), 0);
}

#[test]
fn truncation_unmaps_the_dropped_pages_in_every_mapper() {
    let memory = MemoryFile::new(1 << 30).expect("memory file");
    let file = file_of(&memory, 4 * PAGE);
    let space = Arc::new(RecordingSpace::default());
    let mm = MemoryManager::new(memory.clone(), space.clone(), USER);
    mm.mmap(shared_at(BASE, 4 * PAGE, &file, 0)).expect("mmap");
    let other = over(&memory);
    let private = MmapRequest {
        shared: false,
        ..shared_at(BASE, 4 * PAGE, &file, 0)
    };
    other.mmap(private).expect("mmap");
    mm.copy_out(BASE, &vec![1u8; index(4 * PAGE)])
        .expect("copy_out");
    other.copy_out(BASE + 3 * PAGE, b"own").expect("copy_out");
    space.take();

    file.pages.set_size(PAGE + 10);
    mm.apply_invalidations();
    assert_eq!(
        space.take(),
        [Call::Unmap {
            addr: BASE + 2 * PAGE,
            len: 2 * PAGE
        }],
        "the pages wholly past the new end are unmapped"
    );
    let entered = mm.mappings_epoch();
    assert_eq!(
        mm.handle_fault(BASE + 2 * PAGE, Access::Read, entered),
        Err(SegvCode::BusAdrErr)
    );
    assert_eq!(
        read(&mm, BASE + PAGE + 9, 2),
        [1, 0],
        "the tail of the last page is zeroed"
    );
    assert_eq!(
        other.handle_fault(BASE + 3 * PAGE, Access::Read, other.mappings_epoch()),
        Err(SegvCode::BusAdrErr),
        "a private copy past the end goes too, as on Linux"
    );

    file.pages.write_at(0, &[2u8; 16]).expect("write");
    file.pages.punch(0, PAGE);
    assert_eq!(read(&mm, BASE, 2), [0, 0], "a punched page reads as zeros");
    drop((mm, other));
    assert_eq!(memory.allocated(), file.pages.resident_pages() * PAGE);
}
