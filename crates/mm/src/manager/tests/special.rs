//! The Sentry's special pages: shared, read-only to the guest, kept across fork, never freed by
//! the guest.

use super::*;
use crate::manager::SpecialPages;

const PAGE: u64 = PAGE_SIZE;

const READ_EXEC: Prot = Prot {
    read: true,
    write: false,
    exec: true,
};

/// A data page and a code page the "Sentry" owns, mapped into a fresh address space.
fn mapped() -> (MemoryManager, Range<u64>, u64) {
    let (mm, _space) = manager();
    let memory = mm.memory_file().allocate(2 * PAGE).expect("allocate");
    mm.memory_file()
        .write(memory.start + PAGE, b"code")
        .expect("write");
    let base = mm
        .map_special(&[
            SpecialPages {
                name: b"[vvar]",
                memory: memory.start..memory.start + PAGE,
                prot: Prot::READ,
            },
            SpecialPages {
                name: b"[vdso]",
                memory: memory.start + PAGE..memory.end,
                prot: READ_EXEC,
            },
        ])
        .expect("map_special");
    (mm, memory, base)
}

#[test]
fn listed_by_name_and_read_only_to_the_guest() {
    let (mm, _memory, base) = mapped();
    let names: Vec<Vec<u8>> = mm.maps().into_iter().map(|e| e.name).collect();
    assert_eq!(names, [b"[vvar]".to_vec(), b"[vdso]".to_vec()]);
    let mut code = [0u8; 4];
    mm.copy_in(base + PAGE, &mut code).expect("copy_in");
    assert_eq!(&code, b"code");
    assert_eq!(mm.copy_out(base, b"x"), Err(Errno::EFAULT));
    assert_eq!(mm.mprotect(base, PAGE, Prot::RW), Err(Errno::EACCES));
    assert_eq!(mm.mremap(base, PAGE, 2 * PAGE, 1, 0), Err(Errno::EFAULT));
    assert_eq!(
        mm.map_special(&[SpecialPages {
            name: b"[bad]",
            memory: 0..PAGE,
            prot: Prot::RW,
        }]),
        Err(Errno::EINVAL),
        "writable special pages"
    );
}

#[test]
fn the_sentrys_writes_reach_every_process_and_outlive_them() {
    let (mm, memory, base) = mapped();
    let child = MemoryManager::from_fork(
        mm.fork().expect("fork"),
        Arc::new(RecordingSpace::default()),
    )
    .expect("from_fork");
    mm.madvise(base, 2 * PAGE, libc::MADV_DONTNEED)
        .expect("madvise");
    mm.memory_file()
        .write(memory.start, b"tick")
        .expect("write");
    let mut seen = [0u8; 4];
    child.copy_in(base, &mut seen).expect("copy_in");
    assert_eq!(&seen, b"tick", "the child shares the page");
    drop(child);
    mm.munmap(base, 2 * PAGE).expect("munmap");
    let mut kept = [0u8; 4];
    mm.memory_file()
        .read(memory.start + PAGE, &mut kept)
        .expect("read");
    assert_eq!(&kept, b"code", "the Sentry still owns its pages");
}
