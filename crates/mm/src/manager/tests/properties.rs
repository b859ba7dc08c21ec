//! Random sequences of mapping calls keep the VMA set consistent.

use proptest::prelude::*;

use super::*;

/// Pages of the small address space the sequences play in.
const PAGES: u64 = 32;
const BASE: u64 = 0x10000;

#[derive(Clone, Debug)]
enum Op {
    Map {
        page: u64,
        pages: u64,
        fixed: bool,
        read_only: bool,
    },
    Unmap {
        page: u64,
        pages: u64,
    },
    Protect {
        page: u64,
        pages: u64,
        read_only: bool,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..PAGES, 1..6u64, any::<bool>(), any::<bool>()).prop_map(
            |(page, pages, fixed, read_only)| Op::Map {
                page,
                pages,
                fixed,
                read_only
            }
        ),
        (0..PAGES, 1..6u64).prop_map(|(page, pages)| Op::Unmap { page, pages }),
        (0..PAGES, 1..6u64, any::<bool>()).prop_map(|(page, pages, read_only)| Op::Protect {
            page,
            pages,
            read_only
        }),
    ]
}

proptest! {
    /// After any sequence, VMAs are sorted, disjoint and non-empty, their memory-file ranges
    /// never overlap, and which pages are mapped with which protection matches a page model.
    #[test]
    fn vmas_stay_disjoint_sorted_and_match_a_page_model(ops in proptest::collection::vec(op(), 1..40)) {
        let (mm, _) = manager_over(BASE..BASE + PAGES * PAGE);
        let mut model: Vec<Option<Prot>> = vec![None; index(PAGES)];
        let page_index = |addr: u64| usize::try_from((addr - BASE) / PAGE).expect("index");
        for op in ops {
            match op {
                Op::Map { page, pages, fixed, read_only } => {
                    let prot = if read_only { Prot::READ } else { Prot::RW };
                    let request = MmapRequest { addr: BASE + page * PAGE, fixed, ..anon(pages * PAGE, prot) };
                    if let Ok(addr) = mm.mmap(request) {
                        prop_assert!(addr >= BASE && addr + pages * PAGE <= BASE + PAGES * PAGE);
                        for slot in &mut model[page_index(addr)..page_index(addr) + index(pages)] {
                            prop_assert!(fixed || slot.is_none(), "placed over a mapping");
                            *slot = Some(prot);
                        }
                    }
                }
                Op::Unmap { page, pages } => {
                    let addr = BASE + page * PAGE;
                    let end = (page + pages).min(PAGES);
                    if mm.munmap(addr, (end - page) * PAGE).is_ok() {
                        model[index(page)..index(end)].fill(None);
                    }
                }
                Op::Protect { page, pages, read_only } => {
                    let prot = if read_only { Prot::READ } else { Prot::RW };
                    let end = (page + pages).min(PAGES);
                    let range = index(page)..index(end);
                    let result = mm.mprotect(BASE + page * PAGE, (end - page) * PAGE, prot);
                    prop_assert_eq!(result.is_ok(), model[range.clone()].iter().all(Option::is_some));
                    if result.is_ok() {
                        model[range].fill(Some(prot));
                    }
                }
            }
        }

        let state = mm.state.lock();
        let vmas: Vec<_> = state.vmas.iter().collect();
        for pair in vmas.windows(2) {
            prop_assert!(pair[0].range.end <= pair[1].range.start, "overlap or disorder");
            prop_assert!(!pair[0].can_merge(pair[1]), "mergeable neighbours left apart");
        }
        let mut memory: Vec<_> = vmas.iter().map(|vma| vma.memory_range()).collect();
        memory.sort_by_key(|r| r.start);
        for pair in memory.windows(2) {
            prop_assert!(pair[0].end <= pair[1].start, "two VMAs share memory");
        }
        let mut seen: Vec<Option<Prot>> = vec![None; index(PAGES)];
        for vma in &vmas {
            prop_assert!(!vma.range.is_empty());
            for addr in (vma.range.start..vma.range.end).step_by(index(PAGE)) {
                seen[page_index(addr)] = Some(vma.prot);
            }
        }
        prop_assert_eq!(seen, model);
    }
}
