//! Private file mappings, filled chunk by chunk on first touch.

use super::*;
use crate::error::SegvCode;
use platform::Access;

const CHUNK: u64 = 16 * PAGE;

#[test]
fn a_fault_fills_and_maps_one_chunk_from_the_file() {
    let (mm, space) = manager();
    // 5 chunks of mapping over a file of 1.5 chunks: the rest reads as zeros.
    let file = patterned_file(CHUNK + CHUNK / 2);
    let base = 0x4000_0000;
    mm.mmap(file_at(base, 5 * CHUNK, Prot::READ, file.clone(), 0))
        .expect("mmap");
    assert_eq!(space.take(), vec![], "nothing is mapped before a touch");

    assert_eq!(
        mm.handle_fault(base + CHUNK + 5, Access::Read, mm.mappings_epoch()),
        Ok(())
    );
    let calls = space.take();
    assert!(
        matches!(calls.as_slice(), [Call::Map { addr, len, prot: Prot::READ, .. }] if *addr == base + CHUNK && *len == CHUNK),
        "one chunk mapped: {calls:?}"
    );
    assert_eq!(
        mm.handle_fault(base + CHUNK + 5, Access::Read, mm.mappings_epoch()),
        Err(SegvCode::AccErr),
        "already there"
    );
    assert_eq!(
        mm.handle_fault(base + CHUNK, Access::Write, mm.mappings_epoch()),
        Err(SegvCode::AccErr),
        "read-only"
    );
    assert_eq!(
        mm.handle_fault(base - 1, Access::Read, mm.mappings_epoch()),
        Err(SegvCode::MapErr)
    );
    assert_eq!(SegvCode::MapErr.si_code(), 1);
    assert_eq!(SegvCode::AccErr.si_code(), 2);

    let mut back = vec![0u8; index(2 * CHUNK)];
    mm.copy_in(base, &mut back)
        .expect("copy_in fills the chunks it reads");
    let expected: Vec<u8> = file
        .0
        .iter()
        .copied()
        .chain(std::iter::repeat(0))
        .take(back.len())
        .collect();
    assert_eq!(back, expected);
    let calls = space.take();
    assert_eq!(
        calls.len(),
        1,
        "only the first chunk was still unfilled: {calls:?}"
    );
}

#[test]
fn the_file_offset_is_honoured_and_private_writes_stay_private() {
    let (mm, _) = manager();
    let file = patterned_file(4 * PAGE);
    let base = 0x4000_0000;
    mm.mmap(file_at(base, 2 * PAGE, Prot::RW, file.clone(), PAGE))
        .expect("mmap");
    let mut back = [0u8; 8];
    mm.copy_in(base + 10, &mut back).expect("copy_in");
    assert_eq!(&back[..], &file.0[index(PAGE + 10)..index(PAGE + 18)]);
    mm.copy_out(base, b"mine").expect("copy_out");
    let page = index(PAGE)..index(PAGE + 4);
    assert_eq!(
        file.0[page.clone()],
        patterned_file(4 * PAGE).0[page],
        "the file is unchanged"
    );
}

#[test]
fn mprotect_of_a_demand_paged_mapping_touches_only_filled_chunks() {
    let (mm, space) = manager();
    let base = 0x4000_0000;
    mm.mmap(file_at(
        base,
        4 * CHUNK,
        Prot::READ,
        patterned_file(PAGE),
        0,
    ))
    .expect("mmap");
    mm.handle_fault(base + 2 * CHUNK, Access::Read, mm.mappings_epoch())
        .expect("fault");
    space.take();
    mm.mprotect(base, 4 * CHUNK, Prot::RW).expect("mprotect");
    assert_eq!(
        space.take(),
        vec![Call::Protect {
            addr: base + 2 * CHUNK,
            len: CHUNK,
            prot: Prot::RW
        }]
    );
    assert_eq!(
        mm.handle_fault(base + 3 * CHUNK, Access::Write, mm.mappings_epoch()),
        Ok(())
    );
}

#[test]
fn dontneed_rereads_the_file() {
    let (mm, space) = manager();
    let file = patterned_file(PAGE);
    let base = 0x4000_0000;
    mm.mmap(file_at(base, PAGE, Prot::RW, file.clone(), 0))
        .expect("mmap");
    mm.copy_out(base, b"changed").expect("copy_out");
    space.take();
    mm.madvise(base, PAGE, libc::MADV_DONTNEED)
        .expect("madvise");
    assert_eq!(
        space.take(),
        vec![Call::Unmap {
            addr: base,
            len: PAGE
        }]
    );
    let mut back = [0u8; 7];
    mm.copy_in(base, &mut back).expect("copy_in");
    assert_eq!(&back[..], &file.0[..7]);
}

#[test]
fn moving_a_demand_paged_mapping_carries_only_the_filled_chunks() {
    let (mm, space) = manager();
    let file = patterned_file(2 * CHUNK);
    let base = 0x4000_0000;
    mm.mmap(file_at(base, 2 * CHUNK, Prot::READ, file.clone(), 0))
        .expect("mmap");
    mm.handle_fault(base, Access::Read, mm.mappings_epoch())
        .expect("fault");
    let filled_offset = match space.take().as_slice() {
        [Call::Map { offset, .. }] => *offset,
        calls => panic!("expected one map call, got {calls:?}"),
    };
    let to = 0x5000_0000;
    let maymove_fixed = u64::from((libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED).unsigned_abs());
    assert_eq!(
        mm.mremap(base, 2 * CHUNK, 2 * CHUNK, maymove_fixed, to),
        Ok(to)
    );
    let calls = space.take();
    assert!(
        calls.contains(&Call::Map {
            addr: to,
            len: CHUNK,
            offset: filled_offset,
            prot: Prot::READ
        }),
        "the filled chunk moves with its memory: {calls:?}"
    );
    assert!(
        !calls
            .iter()
            .any(|c| matches!(c, Call::Map { addr, .. } if *addr == to + CHUNK)),
        "the unfilled chunk stays unmapped: {calls:?}"
    );
    let mut back = vec![0u8; index(2 * CHUNK)];
    mm.copy_in(to, &mut back).expect("copy_in");
    assert_eq!(back, file.0);
}

#[test]
fn execute_faults_need_prot_exec() {
    let (mm, _) = manager();
    let base = 0x4000_0000;
    mm.mmap(file_at(base, PAGE, Prot::READ, patterned_file(PAGE), 0))
        .expect("mmap");
    assert_eq!(
        mm.handle_fault(base, Access::Exec, mm.mappings_epoch()),
        Err(SegvCode::AccErr)
    );
    mm.mprotect(
        base,
        PAGE,
        Prot {
            exec: true,
            ..Prot::READ
        },
    )
    .expect("mprotect");
    assert_eq!(
        mm.handle_fault(base, Access::Exec, mm.mappings_epoch()),
        Ok(())
    );
}

#[test]
fn a_fault_on_a_page_another_thread_filled_meanwhile_is_retried() {
    let (mm, _) = manager();
    let base = 0x4000_0000;
    mm.mmap(file_at(base, CHUNK, Prot::READ, patterned_file(CHUNK), 0))
        .expect("mmap");
    // Two threads enter the guest and touch the same unfilled chunk; the first fault fills it.
    let entered = mm.mappings_epoch();
    assert_eq!(
        mm.handle_fault(base, Access::Exec, entered),
        Err(SegvCode::AccErr)
    );
    assert_eq!(mm.handle_fault(base + 8, Access::Read, entered), Ok(()));
    assert_eq!(
        mm.handle_fault(base + PAGE, Access::Read, entered),
        Ok(()),
        "the second thread's fault predates the fill: retried, not SIGSEGV"
    );
    assert_eq!(
        mm.handle_fault(base + PAGE, Access::Read, mm.mappings_epoch()),
        Err(SegvCode::AccErr),
        "faulting again with nothing changed is a real fault (a write, reported as a read)"
    );
}

#[test]
fn a_fault_on_memory_another_thread_made_accessible_meanwhile_is_retried() {
    let (mm, _) = manager();
    let base = 0x4000_0000;
    mm.mmap(anon_at(base, PAGE, Prot::NONE)).expect("mmap");
    let entered = mm.mappings_epoch();
    mm.mprotect(base, PAGE, Prot::RW).expect("mprotect");
    assert_eq!(mm.handle_fault(base, Access::Write, entered), Ok(()));
    assert_eq!(
        mm.handle_fault(base, Access::Write, mm.mappings_epoch()),
        Err(SegvCode::AccErr)
    );
}

#[test]
fn the_manager_can_be_shared_between_task_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<MemoryManager>();
    shareable::<MemoryFile>();
}
