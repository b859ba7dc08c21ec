//! In-process syscall fuzzing: the syscall table driven on a fake platform, no ptrace, so that
//! thousands of random calls run in seconds. The fake context's `switch` returns a syscall trap
//! with the next proptest-chosen number and arguments; guest memory is a real memory file, so
//! every copy-in and copy-out is the real one. The property: no handler panics, and every call
//! returns (a 5 ms SIGALRM with a handler interrupts the ones that block). See fuzz/README.md.

use std::collections::VecDeque;
use std::ops::Range;
use std::os::fd::BorrowedFd;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use abi::{FpState, UserRegs};
use parking_lot::Mutex;
use platform::{
    AddressSpace, Context, Interrupter, PendingThread, Platform, PlatformError, Prot, Trap,
};
use proptest::prelude::*;

use crate::fd_table::FdTable;
use crate::kernel::Kernel;
use crate::syscalls::table;
use crate::task::Task;

/// Guest memory of a case: sparse, small enough that many cases' files fit in the address space.
const MEMORY_FILE_CAPACITY: u64 = 1 << 30;
const USER_RANGE: Range<u64> = 0x1_0000..0x7e00_0000_0000;
/// The scratch mapping pointer arguments point into; its top is the stack signal frames go on.
const SCRATCH_SIZE: u64 = 1 << 20;
/// Paths the setup writes at these offsets of the scratch mapping, NUL-terminated.
const PATHS: [(u64, &[u8]); 6] = [
    (0x1000, b"/\0"),
    (0x1100, b"/f\0"),
    (0x1200, b"/d\0"),
    (0x1300, b"/d/g\0"),
    (0x1400, b".\0"),
    (0x1500, b"/nonexistent/x\0"),
];
/// A case that hasn't ended after this long hangs.
const CASE_TIMEOUT: Duration = Duration::from_secs(10);

/// Syscalls never made: they would end the case at once, or take away the SIGALRM that
/// interrupts blocking calls (handler, mask, timer) or stop the task for good (kill family).
const EXCLUDED: [u64; 13] = [
    13,  // rt_sigaction
    14,  // rt_sigprocmask
    37,  // alarm
    38,  // setitimer
    60,  // exit
    62,  // kill
    130, // rt_sigsuspend
    200, // tkill
    231, // exit_group
    234, // tgkill
    129, // rt_sigqueueinfo
    297, // rt_tgsigqueueinfo
    424, // pidfd_send_signal
];

/// Argument registers that are a signal mask to block during the call (ppoll, pselect6's
/// sigset pair, epoll_pwait, epoll_pwait2): zeroed, so SIGALRM still gets through.
fn sigmask_arg(nr: u64) -> Option<usize> {
    match nr {
        271 => Some(3),
        281 | 441 => Some(4),
        270 => Some(5),
        _ => None,
    }
}

/// One argument: a raw register value, or an offset into the scratch mapping.
#[derive(Clone, Copy, Debug)]
enum Arg {
    Raw(u64),
    Scratch(u64),
}

#[derive(Clone, Debug)]
struct Call {
    nr: u64,
    args: [Arg; 6],
}

/// What every context of a case shares: the calls left, and where the scratch mapping is.
struct Script {
    calls: VecDeque<Call>,
    scratch: u64,
    /// The call init made last, and its arguments: what a hang report names.
    last: Option<(u64, [u64; 6])>,
}

/// An address space with nothing behind it (guest memory is reached through the memory file
/// only); also what the futex tests map into.
pub(crate) struct FakeSpace;

impl AddressSpace for FakeSpace {
    // Guest memory is reached through the memory file only: there is no guest to map it for.
    fn map_file(&self, _: u64, _: u64, _: u64, _: Prot) -> Result<(), PlatformError> {
        Ok(())
    }
    fn unmap(&self, _: u64, _: u64) -> Result<(), PlatformError> {
        Ok(())
    }
    fn protect(&self, _: u64, _: u64, _: Prot) -> Result<(), PlatformError> {
        Ok(())
    }
}

struct NoInterrupt;

impl Interrupter for NoInterrupt {
    // `switch` never blocks, and signals are looked at before every switch.
    fn interrupt(&self) {}
}

/// A guest context whose "code" is the script. The first context (init) runs the script's
/// calls; contexts of forked children and new threads just exit.
struct FakeContext {
    regs: UserRegs,
    script: Option<Arc<Mutex<Script>>>,
    space: Arc<dyn AddressSpace>,
    /// What a context without script calls: exit_group, or exit for a thread.
    last_call: u64,
}

impl FakeContext {
    fn new(script: Option<Arc<Mutex<Script>>>, last_call: u64) -> FakeContext {
        FakeContext {
            regs: UserRegs::default(),
            script,
            space: Arc::new(FakeSpace),
            last_call,
        }
    }
}

impl Context for FakeContext {
    fn switch(&mut self) -> Result<Trap, PlatformError> {
        let next = self.script.as_ref().and_then(|script| {
            let mut script = script.lock();
            let call = script.calls.pop_front()?;
            Some((call, script.scratch))
        });
        let is_script = next.is_some();
        let (nr, args) = match next {
            Some((call, scratch)) => {
                let mut args = call.args.map(|arg| match arg {
                    Arg::Raw(value) => value,
                    Arg::Scratch(offset) => scratch + offset % SCRATCH_SIZE,
                });
                if let Some(index) = sigmask_arg(call.nr) {
                    args[index] = 0;
                }
                // Signal frames go at the top of the scratch mapping, whatever a call did.
                self.regs.rsp = scratch + SCRATCH_SIZE;
                (call.nr, args)
            }
            None => (self.last_call, [0; 6]),
        };
        if let Some(script) = self.script.as_ref() {
            script.lock().last = Some((nr, args)).filter(|_| is_script);
        }
        let regs = &mut self.regs;
        regs.orig_rax = nr;
        regs.rax = nr;
        [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9] = args;
        Ok(Trap::Syscall)
    }

    fn regs(&self) -> &UserRegs {
        &self.regs
    }

    fn regs_mut(&mut self) -> &mut UserRegs {
        &mut self.regs
    }

    fn set_return(&mut self, value: u64) {
        self.regs.rax = value;
    }

    fn fp_state(&mut self) -> Result<FpState, PlatformError> {
        // A legacy FXSAVE area and the XSAVE header, all zero.
        Ok(FpState(vec![0; 576]))
    }

    fn set_fp_state(&mut self, _: &FpState) -> Result<(), PlatformError> {
        Ok(())
    }

    fn address_space(&self) -> Arc<dyn AddressSpace> {
        Arc::clone(&self.space)
    }

    fn spawn_thread(&mut self) -> Result<Box<dyn PendingThread>, PlatformError> {
        Ok(Box::new(FakePending(Arc::clone(&self.space))))
    }

    fn interrupter(&self) -> Arc<dyn Interrupter> {
        Arc::new(NoInterrupt)
    }
}

struct FakePending(Arc<dyn AddressSpace>);

impl PendingThread for FakePending {
    fn attach(self: Box<Self>) -> Result<Box<dyn Context>, PlatformError> {
        let mut ctx = FakeContext::new(None, 60);
        ctx.space = self.0;
        Ok(Box::new(ctx))
    }
}

/// Hands the script to the first address space (init's); later ones are forked children.
struct FakePlatform {
    script: Mutex<Option<Arc<Mutex<Script>>>>,
}

impl Platform for FakePlatform {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn user_address_range(&self) -> Range<u64> {
        USER_RANGE
    }

    fn new_address_space(&self, _: BorrowedFd<'_>) -> Result<Box<dyn Context>, PlatformError> {
        Ok(Box::new(FakeContext::new(self.script.lock().take(), 231)))
    }
}

/// Serves one call outside the run loop (the setup), as if the guest had made it.
fn setup_call(task: &mut Task, nr: u64, args: [u64; 6]) -> u64 {
    let entry = table::lookup(nr).expect("setup calls are implemented");
    match (entry.handler)(task, &args) {
        Ok(value) => value,
        Err(errno) => panic!("setup call {}: {errno}", entry.name),
    }
}

/// A fresh kernel with a tmpfs root, init set up (scratch mapping, SIGALRM handler and 5 ms
/// timer, some descriptors), then the calls run until the script is done or init ends.
fn run_case(script: Arc<Mutex<Script>>) {
    let platform = Arc::new(FakePlatform {
        script: Mutex::new(Some(Arc::clone(&script))),
    });
    let memory = mm::MemoryFile::new(MEMORY_FILE_CAPACITY).expect("memory file");
    let vfs = vfs::Vfs::new(
        vfs::tmpfs::TmpFs::new(0o755, memory.clone()),
        memory.clone(),
    );
    let limits = crate::Limits {
        tmpfs_size: 1 << 30,
        memory: u64::MAX,
        max_tasks: 1024,
    };
    let kernel = Kernel::new(platform, memory, vfs, false, &limits).expect("kernel");
    let mut task = Task::new_init(kernel, FdTable::default()).expect("init");

    let prot = u64::from((libc::PROT_READ | libc::PROT_WRITE).cast_unsigned());
    let flags = u64::from((libc::MAP_PRIVATE | libc::MAP_ANONYMOUS).cast_unsigned());
    let scratch = setup_call(&mut task, 9, [0, SCRATCH_SIZE, prot, flags, u64::MAX, 0]);
    script.lock().scratch = scratch;
    for (offset, path) in PATHS {
        task.mm.copy_out(scratch + offset, path).expect("scratch");
    }
    // SIGALRM: a handler (never run: the fake guest goes on with its script) with SA_NODEFER,
    // so that the signal stays unblocked after each delivery.
    const SA_RESTORER: u64 = 0x0400_0000;
    let sa_flags = u64::from(libc::SA_NODEFER.cast_unsigned()) | SA_RESTORER;
    let action = [scratch, sa_flags, scratch, 0];
    task.mm.write_obj(scratch, &action).expect("scratch");
    let sigalrm = u64::from(libc::SIGALRM.cast_unsigned());
    setup_call(&mut task, 13, [sigalrm, scratch, 0, 8, 0, 0]);
    let five_ms = [0_i64, 5000, 0, 5000];
    task.mm.write_obj(scratch + 64, &five_ms).expect("scratch");
    setup_call(&mut task, 38, [0, scratch + 64, 0, 0, 0, 0]);
    // Descriptors of a few kinds for the calls to find at 0..=6.
    let rdwr_creat = u64::from((libc::O_RDWR | libc::O_CREAT).cast_unsigned());
    setup_call(&mut task, 2, [scratch + 0x1100, rdwr_creat, 0o644, 0, 0, 0]);
    setup_call(&mut task, 83, [scratch + 0x1200, 0o755, 0, 0, 0, 0]);
    setup_call(&mut task, 293, [scratch + 128, 0, 0, 0, 0, 0]);
    setup_call(&mut task, 290, [0, 0, 0, 0, 0, 0]);
    setup_call(&mut task, 291, [0, 0, 0, 0, 0, 0]);

    let status = task.run();
    task.exit_thread(status);
}

fn arg() -> impl Strategy<Value = Arg> {
    prop_oneof![
        3 => prop::sample::select(vec![
            0,
            1,
            2,
            4096,
            u64::from(u32::MAX),
            i64::MAX.cast_unsigned(),
            u64::MAX,
            1 << 63,
            0xffff_8000_0000_0000,
            0x8000_0000_0000,
        ])
        .prop_map(Arg::Raw),
        2 => (0_u64..8).prop_map(Arg::Raw),
        1 => (0_u64..64).prop_map(|bit| Arg::Raw(1 << bit)),
        1 => any::<u64>().prop_map(Arg::Raw),
        1 => any::<u64>().prop_map(|v| Arg::Raw(v & v.rotate_left(17))),
        1 => prop::sample::select(PATHS.map(|(offset, _)| offset).to_vec()).prop_map(Arg::Scratch),
        2 => (0..SCRATCH_SIZE).prop_map(Arg::Scratch),
    ]
}

fn call() -> impl Strategy<Value = Call> {
    (
        (0_u64..=460).prop_filter("excluded", |nr| !EXCLUDED.contains(nr)),
        [arg(), arg(), arg(), arg(), arg(), arg()],
    )
        .prop_map(|(nr, args)| Call { nr, args })
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(64)
}

/// The cases `cargo test` runs are the same every time (CI fails on a finding, never on the
/// luck of a draw); `PROPTEST_RNG_SEED=N` (and `PROPTEST_CASES`) explore further.
fn config() -> ProptestConfig {
    let mut config = ProptestConfig::with_cases(cases());
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = proptest::test_runner::RngSeed::Fixed(1);
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn syscall_fuzz(calls in prop::collection::vec(call(), 1..48)) {
        // A thread per case, as every task has its own; a case that doesn't end is a hang.
        let script = Arc::new(Mutex::new(Script {
            calls: calls.into(),
            scratch: 0,
            last: None,
        }));
        let (done_tx, done_rx) = mpsc::channel();
        let case_script = Arc::clone(&script);
        let case = std::thread::spawn(move || {
            run_case(case_script);
            let _ = done_tx.send(());
        });
        match done_rx.recv_timeout(CASE_TIMEOUT) {
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                if let Err(panic) = case.join() {
                    std::panic::resume_unwind(panic);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let script = script.lock();
                panic!(
                    "a case hung in {:x?} (None: exiting), {} calls left",
                    script.last,
                    script.calls.len()
                );
            }
        }
    }
}
