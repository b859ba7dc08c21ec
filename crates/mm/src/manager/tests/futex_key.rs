//! Futex identities and atomic updates of futex words.

use super::*;

const BASE: u64 = 0x4000_0000;

fn shared_anon_at(addr: u64, len: u64) -> MmapRequest {
    MmapRequest {
        shared: true,
        ..anon_at(addr, len, Prot::RW)
    }
}

#[test]
fn a_shared_futex_is_keyed_by_its_memory_and_the_same_in_a_forked_child() {
    let (parent, _) = manager();
    parent
        .mmap(shared_anon_at(BASE, 2 * PAGE))
        .expect("mmap shared");
    parent
        .mmap(anon_at(BASE + 4 * PAGE, PAGE, Prot::RW))
        .expect("mmap private");
    let key = parent
        .shared_futex_key(BASE + PAGE + 8)
        .expect("mapped")
        .expect("shared");
    let forked = parent.fork().expect("fork");
    let child =
        MemoryManager::from_fork(forked, Arc::new(RecordingSpace::default())).expect("from_fork");
    assert_eq!(
        child.shared_futex_key(BASE + PAGE + 8),
        Ok(Some(key)),
        "the child's futex at the same place is the same futex"
    );
    assert_eq!(
        parent.shared_futex_key(BASE + 4 * PAGE),
        Ok(None),
        "private"
    );
    assert_eq!(
        parent.shared_futex_key(BASE + 3 * PAGE),
        Err(Errno::EFAULT),
        "unmapped"
    );
}

#[test]
fn a_futex_word_is_updated_in_place_or_left_alone() {
    let (mm, _) = manager();
    mm.mmap(anon_at(BASE, PAGE, Prot::RW)).expect("mmap");
    mm.write_obj(BASE + 4, &5u32).expect("write");
    assert_eq!(mm.fetch_update_u32(BASE + 4, |v| Some(v + 2)), Ok(Ok(5)));
    assert_eq!(mm.read_obj::<u32>(BASE + 4), Ok(7));
    assert_eq!(mm.fetch_update_u32(BASE + 4, |_| None), Ok(Err(7)));
    assert_eq!(mm.read_obj::<u32>(BASE + 4), Ok(7));
    assert_eq!(
        mm.fetch_update_u32(BASE + 2, Some),
        Err(Errno::EINVAL),
        "misaligned"
    );
    assert_eq!(
        mm.fetch_update_u32(BASE + PAGE, Some),
        Err(Errno::EFAULT),
        "unmapped"
    );
    mm.mmap(anon_at(BASE + PAGE, PAGE, Prot::READ))
        .expect("mmap");
    assert_eq!(
        mm.fetch_update_u32(BASE + PAGE, Some),
        Err(Errno::EFAULT),
        "read-only"
    );
}
