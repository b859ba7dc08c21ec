//! The cost that dominates every syscall the Sentry serves: one round trip of a guest looping on
//! getpid (set the result, resume the stub, wait for its next syscall trap).
//!
//! `cargo bench -p platform-ptrace --bench switch`

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;

use criterion::{criterion_group, criterion_main, Criterion};
use platform::{Context, Platform, Prot, Trap};
use platform_ptrace::PtracePlatform;

/// Where the guest code is mapped.
const CODE_ADDR: u64 = 0x40_0000;
const PAGE: u64 = 4096;

/// `1: mov $39, %eax; syscall; jmp 1b`
const GETPID_LOOP: [u8; 9] = [0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7];

/// A context running [`GETPID_LOOP`], stopped at its first syscall, and the memory file it runs
/// from; `None` (with the reason printed) where ptrace can't be used.
fn getpid_loop() -> Option<(File, Box<dyn Context>)> {
    let memory = memfd::MemfdOptions::default()
        .create("guest")
        .expect("memfd_create")
        .into_file();
    memory.set_len(PAGE).expect("size the guest memory");
    memory
        .write_all_at(&GETPID_LOOP, 0)
        .expect("write the guest code");
    let platform = match PtracePlatform::new() {
        Ok(platform) => platform,
        Err(err) => {
            eprintln!("skipped: ptrace platform unavailable: {err}");
            return None;
        }
    };
    let mut context = match platform.new_address_space(memory.as_fd()) {
        Ok(context) => context,
        Err(err) => {
            eprintln!("skipped: can't create a stub: {err}");
            return None;
        }
    };
    context
        .address_space()
        .map_file(CODE_ADDR, PAGE, 0, Prot::RWX)
        .expect("map the guest code");
    context.regs_mut().rip = CODE_ADDR;
    assert_eq!(context.switch().expect("first switch"), Trap::Syscall);
    Some((memory, context))
}

fn switch(c: &mut Criterion) {
    let Some((_memory, mut context)) = getpid_loop() else {
        return;
    };
    c.bench_function("getpid round trip (set_return + switch)", |b| {
        b.iter(|| {
            context.set_return(1);
            let trap = context.switch().expect("switch");
            assert_eq!(trap, Trap::Syscall);
        });
    });
    assert_eq!(context.regs().orig_rax, 39, "the guest is still on getpid");
}

criterion_group!(benches, switch);
criterion_main!(benches);
