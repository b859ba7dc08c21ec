//! brk, mremap and madvise.

use super::*;

const MAYMOVE: u64 = 1;
const FIXED: u64 = 2;

#[test]
fn brk_grows_and_shrinks_the_heap_by_pages() {
    let (mm, _) = manager();
    let start = 0x1000_0000;
    mm.set_brk_start(start);
    assert_eq!(mm.brk(0), start, "brk(0) queries");
    assert_eq!(mm.brk(start + 10), start + 10);
    assert_eq!(layout(&mm), vec![(start, start + PAGE, Prot::RW)]);
    assert_eq!(mm.brk(start + 3 * PAGE), start + 3 * PAGE);
    assert_eq!(layout(&mm), vec![(start, start + 3 * PAGE, Prot::RW)]);
    assert_eq!(
        mm.state.lock().vmas.iter().count(),
        1,
        "growth merged into one VMA"
    );
    mm.copy_out(start + 2 * PAGE, b"heap")
        .expect("heap is writable");

    assert_eq!(mm.brk(start + PAGE + 1), start + PAGE + 1);
    assert_eq!(layout(&mm), vec![(start, start + 2 * PAGE, Prot::RW)]);
    assert_eq!(
        mm.brk(start - PAGE),
        start + PAGE + 1,
        "below the start fails"
    );
}

#[test]
fn brk_fails_into_another_mapping_and_keeps_the_old_break() {
    let (mm, _) = manager();
    let start = 0x1000_0000;
    mm.set_brk_start(start);
    mm.mmap(anon_at(start + 2 * PAGE, PAGE, Prot::READ))
        .expect("mmap");
    assert_eq!(mm.brk(start + 4 * PAGE), start);
    assert_eq!(mm.brk(u64::MAX), start);
    assert_eq!(mm.brk(start + 2 * PAGE), start + 2 * PAGE);
}

#[test]
fn mremap_shrinks_in_place() {
    let (mm, space) = manager();
    let base = mm.mmap(anon(4 * PAGE, Prot::RW)).expect("mmap");
    space.take();
    assert_eq!(mm.mremap(base, 4 * PAGE, PAGE, 0, 0), Ok(base));
    assert_eq!(
        space.take(),
        vec![Call::Unmap {
            addr: base + PAGE,
            len: 3 * PAGE
        }]
    );
    assert_eq!(layout(&mm), vec![(base, base + PAGE, Prot::RW)]);
}

#[test]
fn mremap_grows_in_place_when_the_next_pages_are_free() {
    let (mm, _) = manager();
    let base = 0x4000_0000;
    mm.mmap(anon_at(base, PAGE, Prot::RW)).expect("mmap");
    mm.copy_out(base, b"keep").expect("copy_out");
    assert_eq!(mm.mremap(base, PAGE, 3 * PAGE, 0, 0), Ok(base));
    assert_eq!(layout(&mm), vec![(base, base + 3 * PAGE, Prot::RW)]);
    let mut back = [0u8; 4];
    mm.copy_in(base, &mut back).expect("copy_in");
    assert_eq!(&back, b"keep");
    mm.copy_out(base + 2 * PAGE, b"new")
        .expect("the growth is usable");
}

#[test]
fn mremap_moves_without_copying_when_allowed() {
    let (mm, space) = manager();
    let base = 0x4000_0000;
    mm.mmap(anon_at(base, 2 * PAGE, Prot::RW)).expect("mmap");
    mm.mmap(anon_at(base + 2 * PAGE, PAGE, Prot::READ))
        .expect("a blocker");
    mm.copy_out(base + PAGE, b"moved").expect("copy_out");
    let memory_offset = match space.take().first() {
        Some(Call::Map { offset, .. }) => *offset,
        other => panic!("expected a map call, got {other:?}"),
    };
    assert_eq!(
        mm.mremap(base, 2 * PAGE, 4 * PAGE, 0, 0),
        Err(Errno::ENOMEM),
        "no room, no move"
    );

    let to = mm
        .mremap(base, 2 * PAGE, 4 * PAGE, MAYMOVE, 0)
        .expect("mremap");
    assert_ne!(to, base);
    let calls = space.take();
    assert!(
        calls.contains(&Call::Map {
            addr: to,
            len: 2 * PAGE,
            offset: memory_offset,
            prot: Prot::RW
        }),
        "the same memory is mapped at the new address: {calls:?}"
    );
    let mut back = [0u8; 5];
    mm.copy_in(to + PAGE, &mut back).expect("copy_in");
    assert_eq!(&back, b"moved");
    assert_eq!(
        mm.copy_in(base, &mut back),
        Err(Errno::EFAULT),
        "the old range is gone"
    );
    assert_eq!(
        layout(&mm)[0],
        (base + 2 * PAGE, base + 3 * PAGE, Prot::READ)
    );
    assert_eq!(layout(&mm)[1], (to, to + 4 * PAGE, Prot::RW));
}

#[test]
fn mremap_fixed_moves_to_the_given_address() {
    let (mm, _) = manager();
    let base = 0x4000_0000;
    let dest = 0x5000_0000;
    mm.mmap(anon_at(base, 2 * PAGE, Prot::RW)).expect("mmap");
    mm.mmap(anon_at(dest, 4 * PAGE, Prot::READ))
        .expect("replaced by the move");
    mm.copy_out(base, b"fixed").expect("copy_out");
    assert_eq!(
        mm.mremap(base, 2 * PAGE, PAGE, MAYMOVE | FIXED, dest),
        Ok(dest)
    );
    assert_eq!(
        layout(&mm),
        vec![
            (dest, dest + PAGE, Prot::RW),
            (dest + PAGE, dest + 4 * PAGE, Prot::READ)
        ]
    );
    let mut back = [0u8; 5];
    mm.copy_in(dest, &mut back).expect("copy_in");
    assert_eq!(&back, b"fixed");
}

#[test]
fn mremap_errnos() {
    let (mm, _) = manager();
    let base = mm.mmap(anon(2 * PAGE, Prot::RW)).expect("mmap");
    assert_eq!(
        mm.mremap(base, PAGE, PAGE, FIXED, 0x5000_0000),
        Err(Errno::EINVAL),
        "FIXED needs MAYMOVE"
    );
    assert_eq!(mm.mremap(base, PAGE, PAGE, 0x80, 0), Err(Errno::EINVAL));
    assert_eq!(mm.mremap(base + 1, PAGE, PAGE, 0, 0), Err(Errno::EINVAL));
    assert_eq!(mm.mremap(base, PAGE, 0, 0, 0), Err(Errno::EINVAL));
    assert_eq!(mm.mremap(base, 0, PAGE, MAYMOVE, 0), Err(Errno::EINVAL));
    assert_eq!(
        mm.mremap(base, 3 * PAGE, 4 * PAGE, MAYMOVE, 0),
        Err(Errno::EFAULT),
        "past the mapping"
    );
    assert_eq!(
        mm.mremap(0x2000_0000, PAGE, 2 * PAGE, MAYMOVE, 0),
        Err(Errno::EFAULT),
        "unmapped"
    );
    assert_eq!(
        mm.mremap(base, 2 * PAGE, PAGE, MAYMOVE | FIXED, base + PAGE),
        Err(Errno::EINVAL),
        "overlap"
    );
    assert_eq!(
        mm.mremap(base, PAGE, PAGE, MAYMOVE | FIXED, 0x5000_0001),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        layout(&mm),
        vec![(base, base + 2 * PAGE, Prot::RW)],
        "nothing changed"
    );
}

#[test]
fn madvise_dontneed_zeroes_private_anonymous_memory() {
    let (mm, space) = manager();
    let base = mm.mmap(anon(2 * PAGE, Prot::RW)).expect("mmap");
    mm.copy_out(base, b"gone").expect("copy_out");
    mm.copy_out(base + PAGE, b"kept").expect("copy_out");
    space.take();
    mm.madvise(base, PAGE, libc::MADV_DONTNEED)
        .expect("madvise");
    assert_eq!(
        space.take(),
        vec![],
        "punching the memory file needs no re-map"
    );
    let mut back = [0u8; 4];
    mm.copy_in(base, &mut back).expect("copy_in");
    assert_eq!(back, [0; 4]);
    mm.copy_in(base + PAGE, &mut back).expect("copy_in");
    assert_eq!(&back, b"kept");
}

#[test]
fn madvise_errnos_and_ignored_advice() {
    let (mm, _) = manager();
    let base = mm.mmap(anon(PAGE, Prot::RW)).expect("mmap");
    mm.copy_out(base, b"stay").expect("copy_out");
    assert_eq!(mm.madvise(base, PAGE, libc::MADV_WILLNEED), Ok(()));
    assert_eq!(mm.madvise(base, PAGE, 9999), Err(Errno::EINVAL));
    assert_eq!(
        mm.madvise(base + 1, PAGE, libc::MADV_NORMAL),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        mm.madvise(base, 2 * PAGE, libc::MADV_NORMAL),
        Err(Errno::ENOMEM)
    );
    assert_eq!(
        mm.madvise(base, PAGE, libc::MADV_REMOVE),
        Err(Errno::EINVAL),
        "private"
    );
    assert_eq!(mm.madvise(base, 0, libc::MADV_DONTNEED), Ok(()));
    let mut back = [0u8; 4];
    mm.copy_in(base, &mut back).expect("copy_in");
    assert_eq!(&back, b"stay");
}

#[test]
fn mremap_refuses_to_grow_a_file_mapping_past_the_largest_offset() {
    let (mm, _) = manager();
    let base = 0x4000_0000;
    let offset = u64::MAX - 2 * PAGE + 1;
    mm.mmap(file_at(
        base,
        PAGE,
        Prot::READ,
        patterned_file(PAGE),
        offset,
    ))
    .expect("mmap");
    assert_eq!(
        mm.mremap(base, PAGE, 3 * PAGE, MAYMOVE, 0),
        Err(Errno::EINVAL)
    );
}

#[test]
fn dropping_a_manager_gives_its_memory_back() {
    let memory = MemoryFile::new(16 * PAGE).expect("memory file");
    for _ in 0..2 {
        let mm = MemoryManager::new(memory.clone(), Arc::new(RecordingSpace::default()), USER);
        mm.mmap(anon(16 * PAGE, Prot::RW))
            .expect("the whole memory file is free again");
    }
}
