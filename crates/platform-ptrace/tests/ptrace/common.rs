//! Shared set-up: a memory file holding a little guest code, mapped into a fresh context.

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::FileExt;

use nix::unistd::Pid;
use platform::{Context, Platform, Prot};
use platform_ptrace::PtracePlatform;

/// Where the tests map their guest page.
pub const CODE_ADDR: u64 = 0x40_0000;
/// Where data (a path for mkdir) goes, on the same page as the code.
pub const DATA_OFFSET: u64 = 0x800;
pub const PAGE: u64 = 4096;

/// A context running `code` at [`CODE_ADDR`] (one read/write/exec page of a memfd).
pub struct Guest {
    pub memory: File,
    pub context: Box<dyn Context>,
    /// The stub process, where `/proc/thread-self/children` tells it.
    pub stub: Option<Pid>,
}

/// The stub processes the calling thread traces: children of this process (stubs are forked by
/// the stub factory's thread, or by the calling thread) whose tracer is the calling thread.
pub fn own_children() -> Option<Vec<i32>> {
    let me = nix::unistd::gettid().to_string();
    let mut stubs = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let children = std::fs::read_to_string(task.ok()?.path().join("children")).ok()?;
        stubs.extend(
            children
                .split_whitespace()
                .filter_map(|pid| pid.parse::<i32>().ok()),
        );
    }
    stubs.retain(|pid| {
        std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("TracerPid:"))
                .is_some_and(|tracer| tracer.trim() == me)
        })
    });
    Some(stubs)
}

/// Waits until process `pid` is gone (killed and reaped): a killed stub is reaped in the
/// background. Panics after a hang guard.
pub fn expect_gone(pid: Pid) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while nix::sys::signal::kill(pid, None) != Err(nix::errno::Errno::ESRCH) {
        assert!(
            std::time::Instant::now() < deadline,
            "stub {pid} still exists after 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

impl Guest {
    /// `None` (with the reason printed) where ptrace can't be used.
    pub fn new(code: &[u8]) -> Option<Guest> {
        let memory = memfd::MemfdOptions::default()
            .create("guest")
            .expect("memfd_create")
            .into_file();
        memory.set_len(PAGE).expect("size the memfd");
        memory.write_all_at(code, 0).expect("write guest code");
        let platform = match PtracePlatform::new() {
            Ok(platform) => platform,
            Err(err) => {
                eprintln!("skipped: ptrace platform unavailable: {err}");
                return None;
            }
        };
        let before = own_children();
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
            .expect("map guest code");
        context.regs_mut().rip = CODE_ADDR;
        let stub = before.zip(own_children()).and_then(|(before, after)| {
            let mut new = after.into_iter().filter(|pid| !before.contains(pid));
            match (new.next(), new.next()) {
                (Some(pid), None) => Some(Pid::from_raw(pid)),
                _ => None,
            }
        });
        Some(Guest {
            memory,
            context,
            stub,
        })
    }
}
