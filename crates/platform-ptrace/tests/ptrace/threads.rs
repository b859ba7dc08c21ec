//! Threads of one address space: spawned by one OS thread, attached by another, interrupted from
//! a third, ended one by one.

use std::os::unix::fs::FileExt;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use platform::{Context, Prot, Trap};

use crate::common::{expect_gone, Guest, CODE_ADDR, DATA_OFFSET, PAGE};

/// `1: jmp 1b`: spins without system calls.
const SPIN: u64 = 0x00;
/// `1: mov $39, %eax; syscall; jmp 1b`: getpid forever.
const GETPID_LOOP: u64 = 0x10;
/// `movl $VALUE, (%rbx); mov $39, %eax; syscall`.
const WRITE_RBX: u64 = 0x20;
/// `mov (%rbx), %rdi; mov $60, %eax; syscall`: exit with what `rbx` points at.
const READ_RBX: u64 = 0x40;
/// `movq %xmm0, %rdi; mov $60, %eax; syscall`.
const READ_XMM0: u64 = 0x60;

const VALUE: u32 = 0x5eed_cafe;

/// Where the watchdog gives up on a switch and kills the stub (so a hang fails the test).
const PATIENCE: Duration = Duration::from_secs(20);

/// The guest code page: the snippets above at their offsets.
fn code() -> Vec<u8> {
    let mut code = vec![0xcc; 0x80];
    let mut put = |offset: u64, bytes: &[u8]| {
        let at = usize::try_from(offset).expect("small offset");
        code[at..at + bytes.len()].copy_from_slice(bytes);
    };
    put(SPIN, &[0xeb, 0xfe]);
    put(GETPID_LOOP, &[0xb8, 39, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7]);
    let value = VALUE.to_le_bytes();
    put(
        WRITE_RBX,
        &[
            0xc7, 0x03, value[0], value[1], value[2], value[3], // movl $VALUE, (%rbx)
            0xb8, 39, 0, 0, 0, // mov $39, %eax
            0x0f, 0x05, // syscall
        ],
    );
    put(READ_RBX, &[0x48, 0x8b, 0x3b, 0xb8, 60, 0, 0, 0, 0x0f, 0x05]);
    put(
        READ_XMM0,
        &[0x66, 0x48, 0x0f, 0x7e, 0xc7, 0xb8, 60, 0, 0, 0, 0x0f, 0x05],
    );
    code
}

/// A guest with the code page, and its stub's pid; `None` (reason printed) where either is
/// unavailable.
fn guest() -> Option<(Guest, Pid)> {
    let guest = Guest::new(&code())?;
    let Some(stub) = guest.stub else {
        eprintln!("skipped: /proc/PID/task/TID/children is not available to find the stub");
        return None;
    };
    Some((guest, stub))
}

/// The stub's threads that have not ended (zombies excluded).
fn live_threads(stub: Pid) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{stub}/task")) else {
        return 0;
    };
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            // The state follows the parenthesised command name.
            let state = stat.rsplit(')').next().unwrap_or_default().trim_start();
            !state.starts_with('Z')
        })
        .count()
}

/// Waits until the stub has `count` live threads: the first thread of a stub ends on its own
/// after its context is dropped (its tracer can't wait for it), not by the time the drop returns.
fn expect_live_threads(stub: Pid, count: usize) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while live_threads(stub) != count && std::time::Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(live_threads(stub), count);
}

fn stub_exists(stub: Pid) -> bool {
    kill(stub, None) != Err(Errno::ESRCH)
}

/// Runs `switch` with a watchdog that kills the stub if it doesn't return in time.
fn switch_or_kill(context: &mut dyn Context, stub: Pid) -> Trap {
    let (done, finished) = mpsc::channel::<()>();
    let watchdog = thread::spawn(move || {
        if finished.recv_timeout(PATIENCE) == Err(mpsc::RecvTimeoutError::Timeout) {
            let _ = kill(stub, Signal::SIGKILL);
        }
    });
    let trap = context.switch();
    drop(done);
    watchdog.join().expect("watchdog");
    trap.expect("switch")
}

fn expect_syscall(context: &mut dyn Context, stub: Pid, nr: u64) {
    assert_eq!(switch_or_kill(context, stub), Trap::Syscall);
    assert_eq!(context.regs().orig_rax, nr);
}

#[test]
fn spawned_thread_shares_memory_with_its_spawner() {
    let Some((mut guest, stub)) = guest() else {
        return;
    };
    let data = CODE_ADDR + DATA_OFFSET;
    guest.context.regs_mut().rbx = data;
    guest.context.regs_mut().rip = CODE_ADDR + READ_RBX;
    let pending = guest.context.spawn_thread().expect("spawn_thread");
    thread::spawn(move || {
        let mut context = pending.attach().expect("attach");
        assert_eq!(
            context.regs().rbx,
            data,
            "registers copied from the spawner"
        );
        assert_eq!(context.regs().rip, CODE_ADDR + READ_RBX);
        assert_eq!(live_threads(stub), 2, "one stub, two threads");
        context.regs_mut().rip = CODE_ADDR + WRITE_RBX;
        expect_syscall(context.as_mut(), stub, 39);
    })
    .join()
    .expect("writer thread");
    assert_eq!(
        live_threads(stub),
        1,
        "the writer's thread ended with its context"
    );

    expect_syscall(guest.context.as_mut(), stub, 60);
    assert_eq!(
        guest.context.regs().rdi,
        u64::from(VALUE),
        "the reader sees the write"
    );
    let mut written = [0; 4];
    guest
        .memory
        .read_exact_at(&mut written, DATA_OFFSET)
        .expect("read the memory file");
    assert_eq!(u32::from_le_bytes(written), VALUE);
}

/// Interrupts `context` from another OS thread while it spins, then resumes it elsewhere.
fn interrupt_spinning(context: &mut dyn Context, stub: Pid) {
    context.regs_mut().rip = CODE_ADDR + SPIN;
    let interrupter = context.interrupter();
    let interrupting = thread::spawn(move || {
        // Long enough for the guest to be spinning.
        thread::sleep(Duration::from_millis(50));
        interrupter.interrupt();
    });
    let trap = switch_or_kill(context, stub);
    interrupting.join().expect("interrupting thread");
    assert_eq!(trap, Trap::Interrupted);
    assert_eq!(context.regs().rip, CODE_ADDR + SPIN, "stopped in the loop");
    context.regs_mut().rip = CODE_ADDR + GETPID_LOOP;
    expect_syscall(context, stub, 39);
    expect_syscall(context, stub, 39);
}

#[test]
fn spinning_guest_is_interrupted_from_another_thread() {
    let Some((mut guest, stub)) = guest() else {
        return;
    };
    interrupt_spinning(guest.context.as_mut(), stub);
    let pending = guest.context.spawn_thread().expect("spawn_thread");
    thread::spawn(move || {
        let mut context = pending.attach().expect("attach");
        interrupt_spinning(context.as_mut(), stub);
    })
    .join()
    .expect("attached thread");
}

#[test]
fn interrupt_before_switch_interrupts_the_next_switch() {
    let Some((mut guest, stub)) = guest() else {
        return;
    };
    let context = guest.context.as_mut();
    context.regs_mut().rip = CODE_ADDR + GETPID_LOOP;
    context.interrupter().interrupt();
    assert_eq!(switch_or_kill(context, stub), Trap::Interrupted);
    assert_eq!(context.regs().rip, CODE_ADDR + GETPID_LOOP);
    // The request is answered: the guest runs again.
    expect_syscall(context, stub, 39);
    context.set_return(7);
    expect_syscall(context, stub, 39);
}

#[test]
fn address_space_outlives_the_thread_that_created_it() {
    // The first context lives on a thread that ends (as the Sentry thread of an exiting task
    // does); the stub must survive it.
    let (pending, memory, stub) = match thread::spawn(|| {
        let (mut guest, stub) = guest()?;
        let pending = guest.context.spawn_thread().expect("spawn_thread");
        Some((pending, guest.memory, stub))
    })
    .join()
    .expect("first thread")
    {
        Some(spawned) => spawned,
        None => return,
    };
    assert!(stub_exists(stub), "the stub died with its first thread");
    // Only the parked thread is left.
    expect_live_threads(stub, 1);

    let mut context = pending.attach().expect("attach");
    memory.set_len(2 * PAGE).expect("grow the memory file");
    memory
        .write_all_at(&VALUE.to_le_bytes(), PAGE)
        .expect("write the second page");
    let second = CODE_ADDR + 0x10_0000;
    context
        .address_space()
        .map_file(second, PAGE, PAGE, Prot::READ)
        .expect("map from the remaining thread");
    context.regs_mut().rbx = second;
    context.regs_mut().rip = CODE_ADDR + READ_RBX;
    expect_syscall(context.as_mut(), stub, 60);
    assert_eq!(context.regs().rdi, u64::from(VALUE));

    drop(context);
    expect_gone(stub);
}

#[test]
fn dropping_a_context_leaves_the_other_threads_running() {
    let Some((mut guest, stub)) = guest() else {
        return;
    };
    let pending = guest.context.spawn_thread().expect("spawn_thread");
    let (to_main, from_worker) = mpsc::channel();
    let (to_worker, from_main) = mpsc::channel::<()>();
    let worker = thread::spawn(move || {
        let mut context = pending.attach().expect("attach");
        context.regs_mut().rip = CODE_ADDR + GETPID_LOOP;
        expect_syscall(context.as_mut(), stub, 39);
        to_main.send(()).expect("report");
        from_main.recv().expect("wait for the drop");
        expect_syscall(context.as_mut(), stub, 39);
        context
            .address_space()
            .protect(CODE_ADDR, PAGE, Prot::RWX)
            .expect("protect from the remaining thread");
        expect_syscall(context.as_mut(), stub, 39);
    });
    from_worker.recv().expect("worker attached");
    // The first thread of the stub ends; the stub goes on.
    drop(guest.context);
    assert!(stub_exists(stub));
    expect_live_threads(stub, 1);
    to_worker.send(()).expect("resume the worker");
    worker.join().expect("worker");
    expect_gone(stub);
}

#[test]
fn many_threads_come_and_go_without_leaking() {
    let Some((mut guest, stub)) = guest() else {
        return;
    };
    guest.context.regs_mut().rip = CODE_ADDR + GETPID_LOOP;
    let pendings: Vec<_> = (0..16)
        .map(|_| guest.context.spawn_thread().expect("spawn_thread"))
        .collect();
    assert_eq!(live_threads(stub), 17);
    let workers: Vec<_> = pendings
        .into_iter()
        .map(|pending| {
            thread::spawn(move || {
                let mut context = pending.attach().expect("attach");
                expect_syscall(context.as_mut(), stub, 39);
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("worker");
    }
    expect_syscall(guest.context.as_mut(), stub, 39);
    let all_tasks = std::fs::read_dir(format!("/proc/{stub}/task"))
        .expect("task directory")
        .count();
    assert_eq!(
        all_tasks, 1,
        "ended threads are reaped, not left as zombies"
    );

    // A thread never attached ends when dropped.
    drop(guest.context.spawn_thread().expect("spawn_thread"));
    assert_eq!(live_threads(stub), 1);
    expect_syscall(guest.context.as_mut(), stub, 39);

    drop(guest);
    expect_gone(stub);
}

/// Offset of xmm0 in the XSAVE area (the legacy FXSAVE layout).
const XMM0: usize = 160;
/// Offset of XSTATE_BV in the XSAVE header, and the SSE component's bit in it.
const XSTATE_BV: usize = 512;
const XFEATURE_SSE: u8 = 1 << 1;

fn xmm0_low(state: &platform::FpState) -> u64 {
    u64::from_le_bytes(state.0[XMM0..XMM0 + 8].try_into().expect("8 bytes"))
}

#[test]
fn spawned_thread_starts_with_the_spawners_fp_state() {
    let Some((mut guest, stub)) = guest() else {
        return;
    };
    let mut state = guest.context.fp_state().expect("fp_state");
    state.0[XMM0..XMM0 + 8].copy_from_slice(&0x1111_2222_3333_4444u64.to_le_bytes());
    state.0[XSTATE_BV] |= XFEATURE_SSE;
    guest.context.set_fp_state(&state).expect("set_fp_state");
    guest.context.regs_mut().rip = CODE_ADDR + READ_XMM0;
    let pending = guest.context.spawn_thread().expect("spawn_thread");
    thread::spawn(move || {
        let mut context = pending.attach().expect("attach");
        let mut state = context.fp_state().expect("fp_state of a fresh thread");
        assert_eq!(xmm0_low(&state), 0x1111_2222_3333_4444, "inherited");
        state.0[XMM0..XMM0 + 8].copy_from_slice(&0x5555_6666_7777_8888u64.to_le_bytes());
        context
            .set_fp_state(&state)
            .expect("set_fp_state of a fresh thread");
        expect_syscall(context.as_mut(), stub, 60);
        assert_eq!(context.regs().rdi, 0x5555_6666_7777_8888);
    })
    .join()
    .expect("attached thread");
    expect_syscall(guest.context.as_mut(), stub, 60);
    assert_eq!(
        guest.context.regs().rdi,
        0x1111_2222_3333_4444,
        "the spawner's is its own"
    );
}

#[test]
fn stop_signal_to_a_stub_with_a_parked_thread_wedges_nothing() {
    let Some((mut guest, stub)) = guest() else {
        return;
    };
    guest.context.regs_mut().rip = CODE_ADDR + GETPID_LOOP;
    let pending = guest.context.spawn_thread().expect("spawn_thread");
    // The parked thread can't block SIGSTOP: it may take it and stop the whole group.
    kill(stub, Signal::SIGSTOP).expect("SIGSTOP the stub");
    thread::sleep(Duration::from_millis(20));
    expect_syscall(guest.context.as_mut(), stub, 39);
    thread::spawn(move || {
        let mut context = pending.attach().expect("attach");
        expect_syscall(context.as_mut(), stub, 39);
        expect_syscall(context.as_mut(), stub, 39);
    })
    .join()
    .expect("attached thread");
    expect_syscall(guest.context.as_mut(), stub, 39);
}
