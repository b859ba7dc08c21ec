//! FPU state round trips; host signals never reach the guest; a dropped context leaves no stub.

use crate::common::{expect_gone, own_children, Guest};
use nix::sys::signal::Signal;
use platform::Trap;

/// Offset of xmm0 in the XSAVE area (the legacy FXSAVE layout).
const XMM0: usize = 160;
/// Offset of XSTATE_BV in the XSAVE header: which components the area holds.
const XSTATE_BV: usize = 512;
/// The SSE component's bit in XSTATE_BV.
const XFEATURE_SSE: u8 = 1 << 1;

#[test]
fn fp_state_round_trips_and_reaches_the_guest() {
    // movq %xmm0, %rdi; mov $60, %eax; syscall
    let code = [0x66, 0x48, 0x0f, 0x7e, 0xc7, 0xb8, 60, 0, 0, 0, 0x0f, 0x05];
    let Some(mut guest) = Guest::new(&code) else {
        return;
    };
    let ctx = &mut guest.context;
    let mut state = ctx.fp_state().expect("fp_state");
    assert!(
        state.0.len() > XSTATE_BV + 8,
        "xsave area of {} bytes",
        state.0.len()
    );
    let pattern: [u8; 16] = *b"rvisor xmm0 test";
    state.0[XMM0..XMM0 + 16].copy_from_slice(&pattern);
    // Without the SSE bit the kernel would load xmm registers in their initial state.
    state.0[XSTATE_BV] |= XFEATURE_SSE;
    ctx.set_fp_state(&state).expect("set_fp_state");

    let read_back = ctx.fp_state().expect("fp_state");
    assert_eq!(read_back.0[XMM0..XMM0 + 16], pattern);

    assert_eq!(ctx.switch().expect("switch"), Trap::Syscall);
    assert_eq!(ctx.regs().orig_rax, 60);
    let low: [u8; 8] = pattern[..8].try_into().expect("8 bytes");
    assert_eq!(
        ctx.regs().rdi,
        u64::from_le_bytes(low),
        "the guest sees xmm0"
    );
}

#[test]
fn dropping_the_context_ends_the_stub() {
    let Some(before) = own_children() else {
        eprintln!("skipped: /proc/PID/task/TID/children is not available");
        return;
    };
    let Some(guest) = Guest::new(&[]) else { return };
    let after = own_children().expect("children");
    let stubs: Vec<i32> = after
        .into_iter()
        .filter(|pid| !before.contains(pid))
        .collect();
    assert_eq!(stubs.len(), 1, "one stub forked");
    let stub = nix::unistd::Pid::from_raw(stubs[0]);
    drop(guest);
    expect_gone(stub);
}

#[test]
fn address_space_outlives_the_context() {
    let Some(guest) = Guest::new(&[]) else { return };
    let space = guest.context.address_space();
    drop(guest);
    // The last context took the stub with it; nothing can inject calls any more.
    assert!(space
        .unmap(crate::common::CODE_ADDR, crate::common::PAGE)
        .is_err());
}

#[test]
fn host_signals_to_the_stub_are_suppressed() {
    let Some(before) = own_children() else {
        eprintln!("skipped: /proc/PID/task/TID/children is not available");
        return;
    };
    // Spin a while (the signals are pending when the stub resumes), then getpid.
    let code = [
        0xba, 0x00, 0x00, 0x10, 0x00, // mov $0x100000, %edx
        0xff, 0xca, // 1: dec %edx
        0x75, 0xfc, // jnz 1b
        0xb8, 39, 0, 0, 0, // mov $39, %eax
        0x0f, 0x05, // syscall
    ];
    let Some(mut guest) = Guest::new(&code) else {
        return;
    };
    let stub = own_children()
        .expect("children")
        .into_iter()
        .find(|pid| !before.contains(pid))
        .expect("the stub");
    let stub = nix::unistd::Pid::from_raw(stub);
    // A fake "fault" sent by a process must not pass for a real one either.
    for signal in [
        Signal::SIGWINCH,
        Signal::SIGINT,
        Signal::SIGSEGV,
        Signal::SIGSTOP,
    ] {
        nix::sys::signal::kill(stub, signal).expect("signal the stub");
    }
    assert_eq!(guest.context.switch().expect("switch"), Trap::Syscall);
    assert_eq!(guest.context.regs().orig_rax, 39);
    assert_eq!(guest.context.regs().rdx, 0, "the loop ran to its end");
}
