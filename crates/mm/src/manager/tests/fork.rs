//! fork: the child's copy of an address space, over a real memory file.

use std::time::{Duration, Instant};

use super::*;
use crate::error::SegvCode;
use crate::manager::ForkedMemory;
use platform::Access;

const CHUNK: u64 = 16 * PAGE;
const BASE: u64 = 0x4000_0000;

/// Forks `parent` into a child over a fresh recording space.
fn fork(parent: &MemoryManager) -> (MemoryManager, Arc<RecordingSpace>) {
    let forked: ForkedMemory = parent.fork().expect("fork");
    let space = Arc::new(RecordingSpace::default());
    let child = MemoryManager::from_fork(forked, space.clone()).expect("from_fork");
    (child, space)
}

fn read(mm: &MemoryManager, addr: u64, len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    mm.copy_in(addr, &mut bytes).expect("copy_in");
    bytes
}

fn shared_anon(len: u64) -> MmapRequest {
    MmapRequest {
        shared: true,
        ..anon(len, Prot::RW)
    }
}

#[test]
fn a_forked_address_space_can_move_to_the_childs_thread() {
    fn sendable<T: Send>() {}
    sendable::<ForkedMemory>();
}

#[test]
fn the_child_shares_the_parents_pages_until_either_writes() {
    let (parent, parent_space) = manager();
    parent
        .mmap(anon_at(BASE, 4 * PAGE, Prot::RW))
        .expect("mmap");
    parent
        .copy_out(BASE + PAGE + 7, b"before")
        .expect("copy_out");
    let parent_offset = match parent_space.take().as_slice() {
        [Call::Map { offset, .. }] => *offset,
        calls => panic!("expected one map call, got {calls:?}"),
    };

    let (child, child_space) = fork(&parent);
    assert_eq!(
        parent_space.take(),
        [Call::Protect {
            addr: BASE,
            len: 4 * PAGE,
            prot: Prot::READ
        }],
        "the parent's pages lose write permission"
    );
    assert_eq!(
        child_space.take(),
        [Call::Map {
            addr: BASE,
            len: 4 * PAGE,
            offset: parent_offset,
            prot: Prot::READ
        }],
        "the child maps the parent's pages read-only"
    );
    assert_eq!(read(&child, BASE + PAGE + 7, 6), b"before");

    // A write fault on a present page of a writable mapping breaks the sharing: the writer
    // gets its own copy, mapped writable.
    assert_eq!(
        parent.handle_fault(BASE + PAGE, Access::Read, parent.mappings_epoch()),
        Ok(())
    );
    let parent_copy = match parent_space.take().as_slice() {
        [Call::Map {
            addr: BASE,
            len,
            offset,
            prot: Prot::RW,
        }] if *len == 4 * PAGE && *offset != parent_offset => *offset,
        calls => panic!("expected the parent's copy mapped writable, got {calls:?}"),
    };
    parent
        .copy_out(BASE + PAGE + 7, b"parent")
        .expect("copy_out");
    assert_eq!(read(&child, BASE + PAGE + 7, 6), b"before");

    // The child is now the range's only owner: it keeps it and is only write-enabled.
    child.copy_out(BASE + 2 * PAGE, b"child").expect("copy_out");
    assert_eq!(
        child_space.take(),
        [Call::Protect {
            addr: BASE,
            len: 4 * PAGE,
            prot: Prot::RW
        }]
    );
    assert_ne!(parent_copy, parent_offset);
    assert_eq!(read(&child, BASE + PAGE + 7, 6), b"before");
    assert_eq!(read(&parent, BASE + 2 * PAGE, 5), [0; 5]);
    assert_eq!(read(&parent, BASE + PAGE + 7, 6), b"parent");
    assert_eq!(read(&child, BASE + 2 * PAGE, 5), b"child");
}

#[test]
fn shared_anonymous_memory_stays_shared_and_outlives_one_sides_munmap() {
    let (parent, _) = manager();
    let addr = parent.mmap(shared_anon(2 * PAGE)).expect("mmap");
    parent.copy_out(addr, b"from parent").expect("copy_out");
    let (child, _) = fork(&parent);
    assert_eq!(read(&child, addr, 11), b"from parent");

    child
        .copy_out(addr + PAGE, b"from child")
        .expect("copy_out");
    assert_eq!(read(&parent, addr + PAGE, 10), b"from child");
    parent.copy_out(addr, b"again").expect("copy_out");
    assert_eq!(read(&child, addr, 5), b"again");

    // The parent lets go of the whole mapping, the child of half; the child's half must keep
    // its contents (nothing punched out under it) and stay shared with nobody.
    parent.munmap(addr, 2 * PAGE).expect("munmap");
    child.munmap(addr, PAGE).expect("munmap");
    assert_eq!(read(&child, addr + PAGE, 10), b"from child");
    let memory = child.memory_file().clone();
    drop(parent);
    assert_eq!(memory.allocated(), PAGE, "only the child's page is left");
    drop(child);
    assert_eq!(memory.allocated(), 0);
}

#[test]
fn filled_chunks_are_copied_and_unfilled_ones_stay_demand_paged() {
    let (parent, _) = manager();
    let file = patterned_file(4 * CHUNK);
    parent
        .mmap(file_at(BASE, 4 * CHUNK, Prot::RW, file.clone(), 0))
        .expect("mmap");
    parent
        .handle_fault(BASE + CHUNK, Access::Write, parent.mappings_epoch())
        .expect("fault");
    parent.copy_out(BASE + CHUNK, b"written").expect("copy_out");

    let (child, child_space) = fork(&parent);
    let calls = child_space.take();
    assert!(
        matches!(calls.as_slice(), [Call::Map { addr, len, .. }] if *addr == BASE + CHUNK && *len == CHUNK),
        "only the filled chunk is mapped in the child: {calls:?}"
    );
    assert!(
        matches!(
            calls.as_slice(),
            [Call::Map {
                prot: Prot::READ,
                ..
            }]
        ),
        "copy-on-write: {calls:?}"
    );
    assert_eq!(
        child.handle_fault(BASE + CHUNK, Access::Write, child.mappings_epoch()),
        Ok(()),
        "the filled chunk is present in the child: the fault is a write, and copies"
    );
    assert!(
        matches!(child_space.take().as_slice(), [Call::Map { addr, len, prot: Prot::RW, .. }]
            if *addr == BASE + CHUNK && *len == CHUNK),
        "the copy is mapped writable"
    );
    assert_eq!(
        child.handle_fault(BASE + 2 * CHUNK, Access::Read, child.mappings_epoch()),
        Ok(())
    );
    assert_eq!(read(&child, BASE + CHUNK, 7), b"written");
    let rest = index(CHUNK + 7)..index(4 * CHUNK);
    assert_eq!(
        read(&child, BASE + CHUNK + 7, rest.len()),
        file.0[rest],
        "the rest of the filled chunk was copied, the others read from the file"
    );

    child.copy_out(BASE + CHUNK, b"CHILD").expect("copy_out");
    assert_eq!(read(&parent, BASE + CHUNK, 7), b"written");
}

#[test]
fn the_break_mmap_base_and_mapping_attributes_carry_over() {
    let (parent, _) = manager();
    let heap = 0x60_0000;
    parent.set_brk_start(heap);
    assert_eq!(parent.brk(heap + 2 * PAGE + 10), heap + 2 * PAGE + 10);
    parent.copy_out(heap + PAGE, b"heap").expect("copy_out");
    parent
        .mmap(file_at(BASE, PAGE, Prot::READ, patterned_file(PAGE), 0))
        .expect("mmap");
    parent
        .mmap(MmapRequest {
            grows_down: true,
            ..anon_at(BASE + 0x10_0000, 4 * PAGE, Prot::RW)
        })
        .expect("mmap");
    parent
        .mprotect(BASE + 0x10_0000, PAGE, Prot::NONE)
        .expect("mprotect");

    let (child, _) = fork(&parent);
    assert_eq!(child.maps(), parent.maps(), "same mappings, prot and names");
    assert_eq!(child.mmap_base(), parent.mmap_base());
    assert_eq!(child.user_range(), parent.user_range());
    assert_eq!(child.brk(0), heap + 2 * PAGE + 10);
    assert_eq!(read(&child, heap + PAGE, 4), b"heap");

    assert_eq!(
        child.brk(heap + 5 * PAGE),
        heap + 5 * PAGE,
        "the heap grows on"
    );
    child.copy_out(heap + 4 * PAGE, b"more").expect("copy_out");
    assert_eq!(read(&child, heap + PAGE, 4), b"heap");
    assert_eq!(parent.brk(0), heap + 2 * PAGE + 10, "not in the parent");
    assert_eq!(child.brk(heap), heap, "and shrinks back");
    assert_eq!(
        child.copy_in(heap, &mut [0u8; 1]),
        Err(Errno::EFAULT),
        "the heap is gone in the child"
    );
    assert_eq!(
        read(&parent, heap + PAGE, 4),
        b"heap",
        "but not in the parent"
    );
    let heap_line = child.maps().into_iter().find(|e| e.name == b"[heap]");
    assert!(heap_line.is_none(), "an empty heap is not listed");
}

#[test]
fn dontfork_ranges_are_left_out_and_wipeonfork_ones_zeroed() {
    let (parent, _) = manager();
    parent
        .mmap(anon_at(BASE, 3 * PAGE, Prot::RW))
        .expect("mmap");
    parent.copy_out(BASE, &[1u8; 3 * 4096]).expect("copy_out");
    parent
        .madvise(BASE, PAGE, libc::MADV_DONTFORK)
        .expect("madvise");
    parent
        .madvise(BASE + PAGE, PAGE, libc::MADV_WIPEONFORK)
        .expect("madvise");
    let shared = parent.mmap(shared_anon(PAGE)).expect("mmap");
    assert_eq!(
        parent.madvise(shared, PAGE, libc::MADV_WIPEONFORK),
        Err(Errno::EINVAL),
        "only private anonymous memory can be wiped"
    );
    assert_eq!(
        layout(&parent)
            .iter()
            .filter(|(start, _, _)| (BASE..BASE + 3 * PAGE).contains(start))
            .count(),
        3,
        "the flags split the mapping, as Linux lists it"
    );

    let (child, _) = fork(&parent);
    assert_eq!(child.copy_in(BASE, &mut [0u8; 1]), Err(Errno::EFAULT));
    assert_eq!(read(&child, BASE + PAGE, 4096), vec![0u8; 4096]);
    assert_eq!(read(&child, BASE + 2 * PAGE, 4096), vec![1u8; 4096]);

    parent
        .madvise(BASE, 2 * PAGE, libc::MADV_DOFORK)
        .expect("madvise");
    parent
        .madvise(BASE, 2 * PAGE, libc::MADV_KEEPONFORK)
        .expect("madvise");
    let (second, _) = fork(&parent);
    assert_eq!(read(&second, BASE, 3 * 4096), vec![1u8; 3 * 4096]);
    let state = parent.state.lock();
    assert_eq!(
        state.vmas.overlapping(BASE..BASE + 3 * PAGE).count(),
        1,
        "back to one VMA once the flags agree"
    );
}

#[test]
fn all_memory_goes_back_whichever_side_ends_first() {
    for parent_first in [true, false] {
        let (parent, _) = manager();
        let memory = parent.memory_file().clone();
        parent.mmap(anon(8 * PAGE, Prot::RW)).expect("mmap");
        let shared = parent.mmap(shared_anon(4 * PAGE)).expect("mmap");
        parent.copy_out(shared, b"shared").expect("copy_out");
        parent
            .mmap(file_at(
                BASE,
                2 * CHUNK,
                Prot::READ,
                patterned_file(CHUNK),
                0,
            ))
            .expect("mmap");
        parent
            .handle_fault(BASE, Access::Read, parent.mappings_epoch())
            .expect("fault");
        parent.set_brk_start(0x60_0000);
        parent.brk(0x60_0000 + 3 * PAGE);

        let (child, _) = fork(&parent);
        let unforked = parent.fork().expect("fork");
        drop(unforked);
        if parent_first {
            drop(parent);
            assert_eq!(read(&child, shared, 6), b"shared");
            drop(child);
        } else {
            drop(child);
            assert_eq!(read(&parent, shared, 6), b"shared");
            drop(parent);
        }
        assert_eq!(memory.allocated(), 0, "parent first: {parent_first}");
    }
}

/// An address space whose every call fails, as one whose stub died would.
struct BrokenSpace;

impl AddressSpace for BrokenSpace {
    fn map_file(&self, _: u64, _: u64, _: u64, _: Prot) -> Result<(), PlatformError> {
        Err(PlatformError::Unavailable("broken on purpose".into()))
    }

    fn unmap(&self, _: u64, _: u64) -> Result<(), PlatformError> {
        Err(PlatformError::Unavailable("broken on purpose".into()))
    }

    fn protect(&self, _: u64, _: u64, _: Prot) -> Result<(), PlatformError> {
        Err(PlatformError::Unavailable("broken on purpose".into()))
    }
}

#[test]
fn a_child_that_cannot_be_mapped_gives_its_share_back() {
    let (parent, _) = manager();
    parent.mmap(anon(4 * PAGE, Prot::RW)).expect("mmap");
    let memory = parent.memory_file().clone();
    let before = memory.allocated();
    let forked = parent.fork().expect("fork");
    assert_eq!(memory.allocated(), before, "fork copies nothing");
    assert!(matches!(
        MemoryManager::from_fork(forked, Arc::new(BrokenSpace)),
        Err(Errno::ENOMEM)
    ));
    assert_eq!(memory.allocated(), before);
}

#[test]
fn a_copy_that_does_not_fit_fails_the_write_and_leaks_nothing() {
    let memory = MemoryFile::new(8 * PAGE).expect("memory file");
    let parent = MemoryManager::new(memory.clone(), Arc::new(RecordingSpace::default()), USER);
    let small = parent.mmap(anon(PAGE, Prot::RW)).expect("mmap");
    let big = parent.mmap(anon(5 * PAGE, Prot::RW)).expect("mmap");
    let (child, _) = fork(&parent);
    assert_eq!(memory.allocated(), 6 * PAGE);
    assert_eq!(child.copy_out(big, b"x"), Err(Errno::EFAULT));
    assert_eq!(
        child.handle_fault(big, Access::Write, child.mappings_epoch()),
        Err(SegvCode::BusAdrErr)
    );
    child.copy_out(small, b"fits").expect("copy_out");
    assert_eq!(memory.allocated(), 7 * PAGE);
    drop(child);
    assert_eq!(memory.allocated(), 6 * PAGE);
}

/// Forks of a sparse address space copy only what holds data: 1 MiB touched in 64 MiB.
#[test]
fn forking_a_sparse_address_space_copies_only_the_touched_pages() {
    const MAPPED: u64 = 64 << 20;
    const TOUCHED: u64 = 1 << 20;
    let (parent, _) = manager();
    let addr = parent.mmap(anon(MAPPED, Prot::RW)).expect("mmap");
    let pattern: Vec<u8> = (0..TOUCHED)
        .map(|i| u8::try_from(i % 249).expect("byte"))
        .collect();
    // The touched megabyte in four pieces spread over the mapping, as heap and stack would be.
    let pieces = 4;
    let piece = TOUCHED / pieces;
    for i in 0..pieces {
        let at = addr + i * (MAPPED / pieces);
        let bytes = &pattern[index(i * piece)..index((i + 1) * piece)];
        parent.copy_out(at, bytes).expect("copy_out");
    }

    // Timed apart: the parent's half (the copy), the child's half, and the child's exit.
    let rounds = 20;
    let mut timings = [Duration::ZERO; 3];
    for _ in 0..rounds {
        let started = Instant::now();
        let forked = parent.fork().expect("fork");
        let copied = Instant::now();
        let child = MemoryManager::from_fork(forked, Arc::new(RecordingSpace::default()))
            .expect("from_fork");
        let built = Instant::now();
        drop(child);
        let ended = Instant::now();
        timings[0] += copied - started;
        timings[1] += built - copied;
        timings[2] += ended - built;
    }
    let [copy, build, exit] = timings.map(|total| total / rounds);
    eprintln!(
        "fork of {MAPPED:#x} mapped, {TOUCHED:#x} touched: fork {copy:?}, from_fork {build:?}, \
         drop {exit:?}"
    );

    let (child, _) = fork(&parent);
    assert_eq!(
        child.stats().resident_anon,
        TOUCHED,
        "only the data was copied"
    );
    for i in 0..pieces {
        let at = addr + i * (MAPPED / pieces);
        assert_eq!(
            read(&child, at, index(piece)),
            &pattern[index(i * piece)..index((i + 1) * piece)]
        );
    }
}
