//! The cost that dominates every syscall the Sentry serves: one round trip of a guest looping on
//! getpid (set the result, resume the stub, wait for its next syscall trap).
//!
//! `cargo bench -p platform-ptrace --bench switch`

use criterion::{criterion_group, criterion_main, Criterion};
use platform::Trap;

// The tests' guest set-up, shared so that the bench measures the guest the tests check. The
// bench uses only `Guest::new`; the rest of the module serves the tests.
#[allow(dead_code)]
#[path = "../tests/ptrace/common.rs"]
mod common;

use common::Guest;

/// `1: mov $39, %eax; syscall; jmp 1b`
const GETPID_LOOP: [u8; 9] = [0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7];

/// A guest running [`GETPID_LOOP`], stopped at its first syscall; `None` (with the reason
/// printed) where ptrace can't be used.
fn getpid_loop() -> Option<Guest> {
    let mut guest = Guest::new(&GETPID_LOOP)?;
    assert_eq!(guest.context.switch().expect("first switch"), Trap::Syscall);
    Some(guest)
}

fn switch(c: &mut Criterion) {
    let Some(mut guest) = getpid_loop() else {
        return;
    };
    let context = &mut guest.context;
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
