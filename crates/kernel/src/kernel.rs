use std::sync::Arc;
use std::time::Instant;

use mm::MemoryFile;
use platform::Platform;
use vfs::Vfs;

/// The identity the sandbox reports through uname(2): its own kernel, not the host's.
pub(crate) const UNAME_SYSNAME: &str = "Linux";
pub(crate) const UNAME_RELEASE: &str = "5.15.0-rvisor";
pub(crate) const UNAME_VERSION: &str = "#1 SMP rvisor";
pub(crate) const UNAME_MACHINE: &str = "x86_64";

/// Sandbox-wide state shared by all tasks.
pub struct Kernel {
    pub(crate) platform: Arc<dyn Platform>,
    pub(crate) memory: Arc<MemoryFile>,
    pub(crate) vfs: Arc<Vfs>,
    pub(crate) strace: bool,
    pub(crate) hostname: Vec<u8>,
    /// CLOCK_MONOTONIC and uptime count from here.
    pub(crate) boot_time: Instant,
}

impl Kernel {
    pub(crate) fn new(
        platform: Arc<dyn Platform>,
        memory: Arc<MemoryFile>,
        vfs: Arc<Vfs>,
        strace: bool,
    ) -> Arc<Kernel> {
        Arc::new(Kernel {
            platform,
            memory,
            vfs,
            strace,
            hostname: b"rvisor".to_vec(),
            boot_time: Instant::now(),
        })
    }
}
