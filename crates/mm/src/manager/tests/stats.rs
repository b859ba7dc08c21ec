//! The /proc views of an address space: maps lines and sizes.

use super::*;
use crate::manager::MapsEntry;
use platform::Access;

#[test]
fn maps_lines_are_formatted_as_linux_prints_them() {
    let entry = MapsEntry {
        start: 0x5600_0000_0000,
        end: 0x5600_0000_4000,
        prot: Prot {
            exec: true,
            ..Prot::READ
        },
        shared: false,
        offset: 0x4000,
        // makedev(0xfe, 0x01) as glibc encodes it.
        device: 0xfe01,
        inode: 247_264,
        name: b"/usr/bin/grep".to_vec(),
    };
    let line = String::from_utf8(entry.line()).expect("ascii");
    assert_eq!(
        line,
        "560000000000-560000004000 r-xp 00004000 fe:01 247264                     /usr/bin/grep\n"
    );
    assert_eq!(line.find('/'), Some(73), "the name column");

    let anonymous = MapsEntry {
        start: 0x1000,
        end: 0x2000,
        prot: Prot::RW,
        shared: true,
        offset: 0,
        device: 0,
        inode: 0,
        name: Vec::new(),
    };
    assert_eq!(
        anonymous.line(),
        b"00001000-00002000 rw-s 00000000 00:00 0 \n"
    );
}

#[test]
fn big_device_numbers_split_as_glibc_does() {
    // makedev(0x123, 0x45678): the high bits of both live above bit 32 / 20.
    let device = (0x45678 & 0xff) | ((0x123 & 0xfff) << 8) | ((0x45678 & !0xff) << 12);
    let entry = MapsEntry {
        start: 0,
        end: 0x1000,
        prot: Prot::NONE,
        shared: false,
        offset: 0,
        device,
        inode: 1,
        name: Vec::new(),
    };
    let line = String::from_utf8(entry.line()).expect("ascii");
    assert!(line.contains(" 123:45678 1 "), "{line}");
}

#[test]
fn stats_count_mapped_and_populated_bytes() {
    let (mm, _) = manager();
    let base = 0x4000_0000;
    mm.mmap(anon_at(base, 16 * PAGE, Prot::RW)).expect("mmap");
    mm.copy_out(base + 3 * PAGE, &[7u8; 2 * 4096])
        .expect("copy_out");
    mm.mmap(MmapRequest {
        shared: true,
        ..anon_at(base + 0x10_0000, 4 * PAGE, Prot::RW)
    })
    .expect("mmap");
    mm.copy_out(base + 0x10_0000, b"x").expect("copy_out");
    let chunk = 16 * PAGE;
    mm.mmap(file_at(
        base + 0x20_0000,
        3 * chunk,
        Prot {
            exec: true,
            ..Prot::READ
        },
        patterned_file(3 * chunk),
        0,
    ))
    .expect("mmap");
    mm.handle_fault(base + 0x20_0000 + chunk, Access::Read, mm.mappings_epoch())
        .expect("fault");
    mm.mmap(MmapRequest {
        grows_down: true,
        ..anon_at(base + 0x30_0000, 8 * PAGE, Prot::RW)
    })
    .expect("mmap");

    let stats = mm.stats();
    assert_eq!(stats.mapped, 16 * PAGE + 4 * PAGE + 3 * chunk + 8 * PAGE);
    assert_eq!(stats.resident_anon, 2 * PAGE, "the pages written");
    assert_eq!(stats.resident_shared, PAGE);
    assert_eq!(stats.resident_file, chunk, "one chunk filled");
    assert_eq!(stats.resident(), 3 * PAGE + chunk);
    assert_eq!(stats.data, 16 * PAGE);
    assert_eq!(stats.stack, 8 * PAGE);
    assert_eq!(stats.exec, 3 * chunk);

    mm.madvise(base, 16 * PAGE, libc::MADV_DONTNEED)
        .expect("madvise");
    assert_eq!(
        mm.stats().resident_anon,
        0,
        "dropped pages are not resident"
    );
}
