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

/// The children of the calling thread (the stubs it forked).
pub fn own_children() -> Option<Vec<i32>> {
    let text = std::fs::read_to_string("/proc/thread-self/children").ok()?;
    Some(
        text.split_whitespace()
            .filter_map(|pid| pid.parse().ok())
            .collect(),
    )
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
