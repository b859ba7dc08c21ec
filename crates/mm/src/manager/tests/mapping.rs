//! mmap, munmap, mprotect and the VMA bookkeeping behind them.

use super::*;

#[test]
fn anonymous_mmap_maps_at_once_top_down_below_the_mmap_base() {
    let (mm, space) = manager();
    let first = mm.mmap(anon(3 * PAGE, Prot::RW)).expect("mmap");
    let second = mm.mmap(anon(PAGE, Prot::READ)).expect("mmap");
    assert_eq!(first, mm.mmap_base() - 3 * PAGE);
    assert_eq!(second, first - PAGE, "placement is top-down");
    let calls = space.take();
    assert_eq!(
        calls.len(),
        2,
        "one platform call per anonymous mmap: {calls:?}"
    );
    assert!(
        matches!(calls[0], Call::Map { addr, len, prot: Prot::RW, .. } if addr == first && len == 3 * PAGE)
    );
    assert_eq!(
        layout(&mm),
        vec![
            (second, first, Prot::READ),
            (first, first + 3 * PAGE, Prot::RW)
        ]
    );
}

#[test]
fn mmap_rounds_the_length_up_and_honours_a_free_hint() {
    let (mm, _) = manager();
    let hint = 0x4000_0000;
    let addr = mm
        .mmap(MmapRequest {
            addr: hint + 1,
            ..anon(10, Prot::RW)
        })
        .expect("mmap");
    assert_eq!(addr, hint + PAGE, "an unaligned hint is rounded up");
    assert_eq!(layout(&mm), vec![(addr, addr + PAGE, Prot::RW)]);
    let elsewhere = mm
        .mmap(MmapRequest {
            addr,
            ..anon(PAGE, Prot::RW)
        })
        .expect("mmap");
    assert_ne!(elsewhere, addr, "a taken hint is not used");
}

#[test]
fn mmap_rejects_bad_requests_with_linux_errnos() {
    let (mm, _) = manager();
    let file = patterned_file(100);
    assert_eq!(mm.mmap(anon(0, Prot::RW)), Err(Errno::EINVAL));
    assert_eq!(
        mm.mmap(anon_at(0x4000_0001, PAGE, Prot::RW)),
        Err(Errno::EINVAL)
    );
    assert_eq!(mm.mmap(anon(u64::MAX, Prot::RW)), Err(Errno::ENOMEM));
    assert_eq!(
        mm.mmap(anon_at(USER.end - PAGE, 2 * PAGE, Prot::RW)),
        Err(Errno::ENOMEM)
    );
    assert_eq!(mm.mmap(anon_at(0, PAGE, Prot::RW)), Err(Errno::EPERM));
    assert_eq!(
        mm.mmap(file_at(0x4000_0000, PAGE, Prot::READ, file.clone(), 1)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        mm.mmap(file_at(
            0x4000_0000,
            2 * PAGE,
            Prot::READ,
            file.clone(),
            u64::MAX - PAGE + 1
        )),
        Err(Errno::EOVERFLOW)
    );
    let shared_file = MmapRequest {
        shared: true,
        ..file_at(0x4000_0000, PAGE, Prot::READ, file, 0)
    };
    assert_eq!(mm.mmap(shared_file), Err(Errno::ENODEV));
    assert!(mm.maps().is_empty(), "failed requests map nothing");
}

#[test]
fn parse_prot_accepts_only_linux_bits() {
    assert_eq!(super::super::parse_prot(7), Ok(Prot::RWX));
    assert_eq!(
        super::super::parse_prot(8),
        Ok(Prot::NONE),
        "PROT_SEM is accepted"
    );
    assert_eq!(super::super::parse_prot(0x10), Err(Errno::EINVAL));
}

#[test]
fn fixed_replaces_and_fixed_noreplace_refuses() {
    let (mm, _) = manager();
    let base = 0x4000_0000;
    mm.mmap(anon_at(base, 4 * PAGE, Prot::RW)).expect("mmap");
    mm.copy_out(base + PAGE, b"old").expect("copy_out");
    let noreplace = MmapRequest {
        fixed_noreplace: true,
        ..anon_at(base + PAGE, PAGE, Prot::READ)
    };
    assert_eq!(mm.mmap(noreplace), Err(Errno::EEXIST));

    assert_eq!(
        mm.mmap(anon_at(base + PAGE, PAGE, Prot::READ)),
        Ok(base + PAGE)
    );
    assert_eq!(
        layout(&mm),
        vec![
            (base, base + PAGE, Prot::RW),
            (base + PAGE, base + 2 * PAGE, Prot::READ),
            (base + 2 * PAGE, base + 4 * PAGE, Prot::RW),
        ]
    );
    let mut back = [1u8; 3];
    mm.copy_in(base + PAGE, &mut back).expect("copy_in");
    assert_eq!(back, [0; 3], "the replacement is fresh memory");
}

#[test]
fn placement_fails_with_enomem_when_the_range_is_full() {
    let (mm, _) = manager_over(0x10000..0x10000 + 4 * PAGE);
    mm.mmap(anon(3 * PAGE, Prot::RW)).expect("mmap");
    assert_eq!(mm.mmap(anon(2 * PAGE, Prot::RW)), Err(Errno::ENOMEM));
    assert_eq!(mm.mmap(anon(PAGE, Prot::RW)), Ok(0x10000));
}

#[test]
fn munmap_splits_a_mapping_and_frees_its_memory() {
    let (mm, space) = manager();
    let base = mm.mmap(anon(4 * PAGE, Prot::RW)).expect("mmap");
    space.take();
    mm.munmap(base + PAGE, 2 * PAGE).expect("munmap");
    assert_eq!(
        space.take(),
        vec![Call::Unmap {
            addr: base + PAGE,
            len: 2 * PAGE
        }]
    );
    assert_eq!(
        layout(&mm),
        vec![
            (base, base + PAGE, Prot::RW),
            (base + 3 * PAGE, base + 4 * PAGE, Prot::RW)
        ]
    );
    let mut byte = [0u8];
    assert_eq!(mm.copy_in(base + PAGE, &mut byte), Err(Errno::EFAULT));
    assert_eq!(
        mm.munmap(base + PAGE, PAGE),
        Ok(()),
        "unmapping a hole is fine"
    );
    assert_eq!(mm.munmap(base + 1, PAGE), Err(Errno::EINVAL));
    assert_eq!(mm.munmap(base, 0), Err(Errno::EINVAL));
    assert_eq!(mm.munmap(USER.end - PAGE, 2 * PAGE), Err(Errno::EINVAL));
    assert_eq!(mm.munmap(base, u64::MAX), Err(Errno::EINVAL));
}

#[test]
fn mprotect_splits_then_merges_back() {
    let (mm, space) = manager();
    let base = mm.mmap(anon(3 * PAGE, Prot::RW)).expect("mmap");
    space.take();
    mm.mprotect(base + PAGE, PAGE, Prot::READ)
        .expect("mprotect");
    assert_eq!(
        space.take(),
        vec![Call::Protect {
            addr: base + PAGE,
            len: PAGE,
            prot: Prot::READ
        }]
    );
    assert_eq!(
        layout(&mm),
        vec![
            (base, base + PAGE, Prot::RW),
            (base + PAGE, base + 2 * PAGE, Prot::READ),
            (base + 2 * PAGE, base + 3 * PAGE, Prot::RW),
        ]
    );
    assert_eq!(mm.copy_out(base + PAGE, b"x"), Err(Errno::EFAULT));
    mm.mprotect(base + PAGE, PAGE, Prot::RW).expect("mprotect");
    assert_eq!(layout(&mm), vec![(base, base + 3 * PAGE, Prot::RW)]);
    assert_eq!(
        mm.state.lock().vmas.iter().count(),
        1,
        "the pieces merged again"
    );
}

#[test]
fn mprotect_errnos() {
    let (mm, _) = manager();
    let base = mm.mmap(anon(2 * PAGE, Prot::RW)).expect("mmap");
    assert_eq!(mm.mprotect(base + 1, PAGE, Prot::READ), Err(Errno::EINVAL));
    assert_eq!(mm.mprotect(base, 3 * PAGE, Prot::READ), Err(Errno::ENOMEM));
    assert_eq!(
        layout(&mm),
        vec![(base, base + 2 * PAGE, Prot::RW)],
        "nothing changed"
    );
    assert_eq!(mm.mprotect(base, 0, Prot::READ), Ok(()));
    assert_eq!(mm.mprotect(base, u64::MAX, Prot::READ), Err(Errno::ENOMEM));
}

#[test]
fn adjacent_anonymous_mappings_list_as_one() {
    let (mm, _) = manager();
    let base = 0x4000_0000;
    mm.mmap(anon_at(base, PAGE, Prot::RW)).expect("mmap");
    mm.mmap(anon_at(base + PAGE, PAGE, Prot::RW)).expect("mmap");
    assert_eq!(layout(&mm), vec![(base, base + 2 * PAGE, Prot::RW)]);
}

#[test]
fn maps_names_files_heap_and_stack() {
    let (mm, _) = manager();
    let file = patterned_file(3 * PAGE);
    let at = 0x4000_0000;
    mm.mmap(file_at(at, PAGE, Prot::READ, file, 2 * PAGE))
        .expect("mmap");
    let stack = MmapRequest {
        grows_down: true,
        ..anon(PAGE, Prot::RW)
    };
    let stack_at = mm.mmap(stack).expect("mmap");
    mm.set_brk_start(0x1000_0000);
    mm.brk(0x1000_0000 + PAGE);
    let maps = mm.maps();
    let names: Vec<(u64, &[u8], u64)> = maps
        .iter()
        .map(|e| (e.start, e.name.as_slice(), e.offset))
        .collect();
    assert_eq!(
        names,
        vec![
            (0x1000_0000, b"[heap]".as_slice(), 0),
            (at, b"/bytes".as_slice(), 2 * PAGE),
            (stack_at, b"[stack]".as_slice(), 0),
        ]
    );
}
