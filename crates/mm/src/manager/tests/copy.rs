//! copy_in/copy_out and the helpers built on them.

use super::*;

#[test]
fn copy_out_then_copy_in_returns_the_bytes_across_mappings() {
    let (mm, _) = manager();
    let base = 0x4000_0000;
    mm.mmap(anon_at(base, PAGE, Prot::RW)).expect("mmap");
    mm.mmap(anon_at(base + PAGE, 2 * PAGE, Prot::RWX))
        .expect("mmap");
    let data: Vec<u8> = (0..2 * PAGE)
        .map(|i| u8::try_from(i % 253).expect("byte"))
        .collect();
    mm.copy_out(base + 100, &data).expect("copy_out");
    let mut back = vec![0u8; data.len()];
    mm.copy_in(base + 100, &mut back).expect("copy_in");
    assert_eq!(back, data);
}

#[test]
fn copies_fault_on_holes_and_missing_permissions() {
    let (mm, _) = manager();
    let base = 0x4000_0000;
    mm.mmap(anon_at(base, PAGE, Prot::RW)).expect("mmap");
    mm.mmap(anon_at(base + 2 * PAGE, PAGE, Prot::RW))
        .expect("mmap");
    mm.mmap(anon_at(base + 3 * PAGE, PAGE, Prot::READ))
        .expect("mmap");
    mm.mmap(anon_at(base + 4 * PAGE, PAGE, Prot::NONE))
        .expect("mmap");
    let mut buf = vec![0u8; 2 * 4096];
    assert_eq!(
        mm.copy_in(base, &mut buf),
        Err(Errno::EFAULT),
        "a hole in the middle"
    );
    assert_eq!(
        mm.copy_out(base + 3 * PAGE, b"x"),
        Err(Errno::EFAULT),
        "read-only"
    );
    assert_eq!(mm.copy_in(base + 3 * PAGE, &mut buf[..1]), Ok(()));
    assert_eq!(
        mm.copy_in(base + 4 * PAGE, &mut buf[..1]),
        Err(Errno::EFAULT),
        "PROT_NONE"
    );
    assert_eq!(
        mm.copy_in(u64::MAX - 1, &mut buf[..4]),
        Err(Errno::EFAULT),
        "overflow"
    );
    assert_eq!(mm.copy_in(0, &mut buf[..1]), Err(Errno::EFAULT), "null");
    assert_eq!(mm.copy_in(0, &mut []), Ok(()), "nothing to copy");
    assert_eq!(mm.zero(base, u64::MAX), Err(Errno::EFAULT));
}

#[test]
fn write_only_pages_are_readable_as_on_amd64() {
    let (mm, _) = manager();
    let base = mm
        .mmap(anon(
            PAGE,
            Prot {
                write: true,
                ..Prot::NONE
            },
        ))
        .expect("mmap");
    mm.copy_out(base, b"w").expect("copy_out");
    let mut back = [0u8];
    mm.copy_in(base, &mut back).expect("copy_in");
    assert_eq!(&back, b"w");
}

#[test]
fn objects_and_zeroing() {
    let (mm, _) = manager();
    let base = mm.mmap(anon(PAGE, Prot::RW)).expect("mmap");
    let time = abi::Timespec {
        tv_sec: 12,
        tv_nsec: 34,
    };
    mm.write_obj(base + 8, &time).expect("write_obj");
    assert_eq!(mm.read_obj::<abi::Timespec>(base + 8), Ok(time));
    mm.zero(base + 8, 8).expect("zero");
    assert_eq!(
        mm.read_obj::<abi::Timespec>(base + 8),
        Ok(abi::Timespec {
            tv_sec: 0,
            tv_nsec: 34
        })
    );
    assert_eq!(mm.read_obj::<u64>(base + PAGE - 4), Err(Errno::EFAULT));
}

#[test]
fn read_cstring_spans_pages_and_stops_at_nul() {
    let (mm, _) = manager();
    let base = mm.mmap(anon(2 * PAGE, Prot::RW)).expect("mmap");
    let at = base + PAGE - 3;
    mm.copy_out(at, b"hello\0junk").expect("copy_out");
    assert_eq!(mm.read_cstring(at, 100), Ok(b"hello".to_vec()));
    assert_eq!(
        mm.read_cstring(at, 6),
        Ok(b"hello".to_vec()),
        "max counts the NUL"
    );
    assert_eq!(mm.read_cstring(at, 5), Err(Errno::ENAMETOOLONG));
    assert_eq!(mm.read_cstring(at + 5, 1), Ok(Vec::new()));
    assert_eq!(mm.read_cstring(at + 5, 0), Err(Errno::ENAMETOOLONG));
}

#[test]
fn read_cstring_faults_when_the_string_runs_into_unmapped_memory() {
    let (mm, _) = manager();
    let base = mm.mmap(anon(PAGE, Prot::RW)).expect("mmap");
    mm.munmap(base - PAGE, PAGE).expect("nothing there");
    let no_nul = vec![b'a'; 16];
    mm.copy_out(base + PAGE - 16, &no_nul).expect("copy_out");
    assert_eq!(mm.read_cstring(base + PAGE - 16, 4096), Err(Errno::EFAULT));
    assert_eq!(
        mm.read_cstring(base + PAGE - 16, 8),
        Err(Errno::ENAMETOOLONG),
        "limit first"
    );
    assert_eq!(mm.read_cstring(u64::MAX - 2, 4096), Err(Errno::EFAULT));
}
