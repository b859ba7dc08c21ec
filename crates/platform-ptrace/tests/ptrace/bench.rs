//! The cost of one guest syscall round trip (trap, set the result, resume).
//!
//! `cargo test -p platform-ptrace --release -- --ignored --nocapture getpid_round_trip`

use std::time::Instant;

use crate::common::Guest;
use platform::Trap;

const ITERATIONS: u32 = 100_000;

#[test]
#[ignore = "a benchmark: run with --ignored --nocapture, preferably --release"]
fn getpid_round_trip() {
    // 1: mov $39, %eax; syscall; jmp 1b
    let code = [0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7];
    let Some(mut guest) = Guest::new(&code) else {
        return;
    };
    let ctx = &mut guest.context;
    assert_eq!(ctx.switch().expect("switch"), Trap::Syscall);
    let start = Instant::now();
    for i in 0..ITERATIONS {
        ctx.set_return(u64::from(i));
        assert_eq!(ctx.switch().expect("switch"), Trap::Syscall);
    }
    let elapsed = start.elapsed();
    assert_eq!(ctx.regs().orig_rax, 39);
    let ns = elapsed.as_nanos() / u128::from(ITERATIONS);
    println!("getpid round trip (switch + set_return): {ns} ns over {ITERATIONS} iterations");
}
