//! Copy-on-write fork against a model: every address space sees only its own writes.

use proptest::prelude::*;

use super::*;
use crate::manager::ForkedMemory;
use platform::Access;

const BASE: u64 = 0x4000_0000;
const PAGES: u64 = 8;

#[derive(Clone, Debug)]
enum Op {
    Write { space: usize, page: u64, byte: u8 },
    WriteFault { space: usize, page: u64 },
    Fork { space: usize },
    Exit { space: usize },
    DontNeed { space: usize, page: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..8, 0..PAGES, 1u8..).prop_map(|(space, page, byte)| Op::Write { space, page, byte }),
        2 => (0usize..8, 0..PAGES).prop_map(|(space, page)| Op::WriteFault { space, page }),
        2 => (0usize..8).prop_map(|space| Op::Fork { space }),
        1 => (0usize..8).prop_map(|space| Op::Exit { space }),
        1 => (0usize..8, 0..PAGES).prop_map(|(space, page)| Op::DontNeed { space, page }),
    ]
}

fn forked(parent: &MemoryManager) -> MemoryManager {
    let forked: ForkedMemory = parent.fork().expect("fork");
    MemoryManager::from_fork(forked, Arc::new(RecordingSpace::default())).expect("from_fork")
}

proptest! {
    /// Parents and children (and their children) write, fault, discard and exit in any order:
    /// each sees exactly its own writes and what it inherited, and every page goes back to the
    /// memory file at the end (reference counts return to zero).
    #[test]
    fn every_address_space_sees_only_its_own_writes(ops in proptest::collection::vec(op(), 1..40)) {
        let memory = MemoryFile::new(1 << 30).expect("memory file");
        let root = MemoryManager::new(memory.clone(), Arc::new(RecordingSpace::default()), USER);
        root.mmap(anon_at(BASE, PAGES * PAGE, Prot::RW)).expect("mmap");
        let mut spaces: Vec<(MemoryManager, [u8; 8])> = vec![(root, [0; 8])];
        for op in ops {
            match op {
                Op::Write { space, page, byte } => {
                    let count = spaces.len();
                    let (mm, model) = &mut spaces[space % count];
                    mm.copy_out(BASE + page * PAGE + 9, &[byte]).expect("copy_out");
                    model[index(page)] = byte;
                }
                Op::WriteFault { space, page } => {
                    let (mm, _) = &spaces[space % spaces.len()];
                    // Reported as a read, as the platform does: it breaks any sharing (Ok, retry)
                    // or, on a page that is already the space's own, is a real protection fault.
                    let result = mm.handle_fault(BASE + page * PAGE, Access::Read, mm.mappings_epoch());
                    prop_assert!(matches!(result, Ok(()) | Err(crate::error::SegvCode::AccErr)), "{:?}", result);
                }
                Op::Fork { space } => {
                    let (mm, model) = &spaces[space % spaces.len()];
                    let child = (forked(mm), *model);
                    spaces.push(child);
                }
                Op::Exit { space } => {
                    if spaces.len() > 1 {
                        spaces.remove(space % spaces.len());
                    }
                }
                Op::DontNeed { space, page } => {
                    let count = spaces.len();
                    let (mm, model) = &mut spaces[space % count];
                    mm.madvise(BASE + page * PAGE, PAGE, libc::MADV_DONTNEED).expect("madvise");
                    model[index(page)] = 0;
                }
            }
            for (mm, model) in &spaces {
                for page in 0..PAGES {
                    let mut seen = [0u8];
                    mm.copy_in(BASE + page * PAGE + 9, &mut seen).expect("copy_in");
                    prop_assert_eq!(seen[0], model[index(page)], "page {}", page);
                }
            }
        }
        drop(spaces);
        prop_assert_eq!(memory.allocated(), 0);
    }
}
