//! The futex table over real address spaces (a memory file, no guest): keys, wakes across
//! processes, and the PI handover.

use std::sync::Arc;

use abi::Errno;
use mm::{MemoryFile, MemoryManager, MmapRequest};
use platform::Prot;
use waiter::Waiter;

use super::*;
use crate::syscall_fuzz::FakeSpace;

const WORD: u64 = 0x4000_0000;
const OWNER: i32 = 100;
const WAITER: i32 = 200;

/// An address space with one page at WORD, shared or private.
fn space(shared: bool) -> Arc<MemoryManager> {
    let memory = MemoryFile::new(1 << 24).expect("memory file");
    let mm = MemoryManager::new(memory, Arc::new(FakeSpace), 0x10000..0x7fff_ffff_f000);
    mm.mmap(MmapRequest {
        addr: WORD,
        len: abi::PAGE_SIZE,
        prot: Prot::RW,
        fixed: true,
        fixed_noreplace: false,
        shared,
        file: None,
        grows_down: false,
    })
    .expect("mmap");
    Arc::new(mm)
}

/// `mm` and a forked copy of it.
fn forked(mm: &Arc<MemoryManager>) -> Arc<MemoryManager> {
    let forked = mm.fork().expect("fork");
    Arc::new(MemoryManager::from_fork(forked, Arc::new(FakeSpace)).expect("from_fork"))
}

fn sleeper<'a>(tid: i32, mm: &'a Arc<MemoryManager>, waiter: &'a Arc<Waiter>) -> Sleeper<'a> {
    Sleeper { tid, mm, waiter }
}

fn word(mm: &MemoryManager) -> u32 {
    mm.read_obj(WORD).expect("read")
}

#[test]
fn a_shared_futex_is_one_futex_in_both_processes_unless_private() {
    let parent = space(true);
    let child = forked(&parent);
    let shared = |mm| FutexKey::of(mm, WORD, false).expect("key");
    assert_eq!(shared(&parent), shared(&child));
    let private = |mm| FutexKey::of(mm, WORD, true).expect("key");
    assert_ne!(private(&parent), private(&child), "FUTEX_PRIVATE_FLAG");

    let private_parent = space(false);
    let private_child = forked(&private_parent);
    assert_ne!(
        shared(&private_parent),
        shared(&private_child),
        "MAP_PRIVATE"
    );
    assert_eq!(
        FutexKey::of(&parent, WORD + 2 * abi::PAGE_SIZE, false),
        Err(Errno::EFAULT)
    );
}

#[test]
fn a_wake_in_one_process_reaches_a_waiter_in_the_other() {
    let table = FutexTable::default();
    let parent = space(true);
    let child = forked(&parent);
    let waiter = Waiter::new();
    let key = FutexKey::of(&child, WORD, false).expect("key");
    let wait = table
        .enqueue(
            &sleeper(WAITER, &child, &waiter),
            key,
            WORD,
            u32::MAX,
            || Ok::<_, Errno>(true),
        )
        .expect("enqueue")
        .expect("queued");
    let parent_key = FutexKey::of(&parent, WORD, false).expect("key");
    assert_eq!(table.wake(parent_key, 1, u32::MAX), Ok(1));
    assert!(wait.woken());
    assert_eq!(wait.leave(), None, "a woken wait keeps its wake");
}

#[test]
fn unlock_hands_a_pi_lock_to_its_waiter_and_only_its_owner_may() {
    let table = FutexTable::default();
    let mm = space(false);
    let key = FutexKey::of(&mm, WORD, true).expect("key");
    mm.write_obj(WORD, &OWNER.cast_unsigned()).expect("write");
    let waiter = Waiter::new();
    let alive = |tid| tid == OWNER;
    let wait = match table.lock_pi(&sleeper(WAITER, &mm, &waiter), key, WORD, false, &alive) {
        Ok(Locked::Queued(wait)) => wait,
        Ok(Locked::Now) => panic!("took an owned lock"),
        Err(e) => panic!("lock_pi: {e:?}"),
    };
    assert_eq!(word(&mm), OWNER.cast_unsigned() | FUTEX_WAITERS);
    assert_eq!(
        table.wake(key, 1, u32::MAX),
        Err(Errno::EINVAL),
        "plain wake of a PI futex"
    );
    assert_eq!(table.unlock_pi(&mm, key, WORD, WAITER), Err(Errno::EPERM));
    assert!(!wait.woken());
    assert_eq!(table.unlock_pi(&mm, key, WORD, OWNER), Ok(()));
    assert!(wait.woken());
    assert_eq!(word(&mm), WAITER.cast_unsigned() | FUTEX_WAITERS);
}

#[test]
fn an_owner_exit_hands_the_lock_on_marked_owner_died() {
    let table = FutexTable::default();
    let mm = space(false);
    let key = FutexKey::of(&mm, WORD, true).expect("key");
    mm.write_obj(WORD, &OWNER.cast_unsigned()).expect("write");
    let waiter = Waiter::new();
    let alive = |_| true;
    let Ok(Locked::Queued(wait)) =
        table.lock_pi(&sleeper(WAITER, &mm, &waiter), key, WORD, false, &alive)
    else {
        panic!("lock_pi did not queue");
    };
    table.owner_exited(WAITER + 1);
    assert!(!wait.woken(), "another thread's exit");
    table.owner_exited(OWNER);
    assert!(wait.woken());
    assert_eq!(
        word(&mm),
        WAITER.cast_unsigned() | FUTEX_WAITERS | FUTEX_OWNER_DIED
    );
}

#[test]
fn a_requeue_pi_gives_a_free_lock_to_the_first_waiter_and_queues_the_rest() {
    let table = FutexTable::default();
    let mm = space(false);
    let cond = FutexKey::of(&mm, WORD, true).expect("key");
    let lock_addr = WORD + 4;
    let lock = FutexKey::of(&mm, lock_addr, true).expect("key");
    let (first, second) = (Waiter::new(), Waiter::new());
    let queue = |tid, waiter| {
        table
            .enqueue_requeue_pi(
                &sleeper(tid, &mm, waiter),
                (cond, WORD),
                (lock, lock_addr),
                || Ok(true),
            )
            .expect("enqueue")
            .expect("queued")
    };
    let first_wait = queue(WAITER, &first);
    let second_wait = queue(WAITER + 1, &second);
    let alive = |_| true;
    // The lock is free: the first waiter gets it, the second is requeued behind it.
    let moved = table.cmp_requeue_pi(&mm, (cond, WORD), (lock, lock_addr), 1, 0, &alive);
    assert_eq!(moved, Ok(2));
    assert!(first_wait.woken());
    assert_eq!(
        mm.read_obj::<u32>(lock_addr),
        Ok(WAITER.cast_unsigned() | FUTEX_WAITERS)
    );
    assert!(!second_wait.woken());
    assert_eq!(table.unlock_pi(&mm, lock, lock_addr, WAITER), Ok(()));
    assert!(second_wait.woken());
    assert_eq!(
        mm.read_obj::<u32>(lock_addr),
        Ok((WAITER + 1).cast_unsigned() | FUTEX_WAITERS)
    );
}
