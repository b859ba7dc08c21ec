//! Starting the sandbox: memory file, mounts, and the first task (pid 1).

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use abi::Errno;
use mm::MemoryFile;
use nix::sys::signal::{SigSet, Signal};
use platform::Platform;
use serde::{Deserialize, Serialize};
use vfs::{LookupCtx, OpenFile, Vfs};

use crate::fd_table::FdTable;
use crate::kernel::Kernel;
use crate::procfs::{MountRecord, ProcFs};
use crate::task::{ExitStatus, Task};
use crate::KernelError;

/// Capacity of the memory file: sparse, so it costs nothing until guest pages are touched.
const MEMORY_FILE_CAPACITY: u64 = 64 << 30;

/// The largest 9P message the Sentry negotiates with the Gofer.
const GOFER_MSIZE: u32 = 1 << 20;

/// What the sandbox runs, and with what.
pub struct Config {
    /// argv of the first process; argv[0] is looked up in PATH (from `envp`) if it has no '/'.
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    /// Working directory inside the sandbox.
    pub cwd: Vec<u8>,
    /// Whether a `cwd` that is not a directory in the sandbox fails the start (the user named
    /// it) rather than leaving init in `/` (it is only the caller's directory).
    pub cwd_required: bool,
    /// The first process's resource limits (the caller's); resources not listed keep Linux's
    /// defaults for init.
    pub rlimits: Vec<ResourceLimit>,
    /// Log every syscall with decoded arguments and result.
    pub strace: bool,
    /// The connection to the Gofer serving the root filesystem.
    pub gofer: UnixStream,
    /// The sandbox's stdin, stdout and stderr: host fds handed to the Sentry.
    pub stdio: [OwnedFd; 3],
    /// What the sandbox as a whole may use.
    pub limits: Limits,
    /// What the guest's root filesystem is.
    pub root: RootKind,
}

/// The guest's root: the Gofer's read-only tree, writable or not.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum RootKind {
    /// An overlay with an in-memory upper layer of `Limits::tmpfs_size` bytes over the Gofer's
    /// tree: writable, the writes vanish with the sandbox. /tmp is the host's, seen through
    /// the overlay too.
    #[default]
    Overlay,
    /// The Gofer's tree as it is, read-only (EROFS), with a private tmpfs of
    /// `Limits::tmpfs_size` bytes at /tmp.
    ReadOnly,
}

/// Sandbox-wide resource limits: what keeps a guest from exhausting its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Size in bytes of what the guest may write to its filesystem (the overlay's upper layer,
    /// or /tmp under a read-only root): file data never takes more (ENOSPC).
    pub tmpfs_size: u64,
    /// Bytes of memory-file pages the guest may hold; past it a process is OOM-killed.
    pub memory: u64,
    /// Most tasks at once; past it fork and clone fail with EAGAIN.
    pub max_tasks: u32,
}

/// One resource limit: `resource` is an RLIMIT_* number; `u64::MAX` is RLIM_INFINITY.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceLimit {
    pub resource: u32,
    pub soft: u64,
    pub hard: u64,
}

/// Runs the sandbox until its first process exits, and returns how it ended.
pub fn run(platform: Arc<dyn Platform>, config: Config) -> Result<ExitStatus, KernelError> {
    crate::syscalls::learn_host_cpus();
    let memory = MemoryFile::new(MEMORY_FILE_CAPACITY)?;
    let mounts = build_mounts(config.gofer, config.root, &config.limits)?;
    let kernel = Kernel::new(platform, memory, mounts.vfs, config.strace, &config.limits)?;
    mounts.procfs.attach(&kernel, mounts.records);

    let mut fds = FdTable::default();
    for (fd, host) in config.stdio.into_iter().enumerate() {
        let file = OpenFile::host(host).map_err(KernelError::Stdio)?;
        kernel.terminal.adopt_if_tty(&file);
        fds.install_at(fd, file, false);
    }
    forward_host_signals(&kernel)?;
    crate::oom::start_oom_killer(&kernel)?;
    let Config {
        argv,
        envp,
        cwd,
        cwd_required,
        rlimits,
        ..
    } = config;

    // Init runs on a thread of its own, like every task: the platform binds a context to the
    // OS thread that creates it.
    let init_kernel = Arc::clone(&kernel);
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("task-1".into())
        .stack_size(crate::task::TASK_STACK_SIZE)
        .spawn(move || {
            let task = Task::new_init(init_kernel, fds).and_then(|mut task| {
                task.inherit_rlimits(&rlimits);
                if let Err(errno) = task.set_cwd(&cwd) {
                    if cwd_required {
                        return Err(KernelError::Cwd {
                            path: String::from_utf8_lossy(&cwd).into_owned(),
                            errno,
                        });
                    }
                    tracing::warn!(
                        "working directory {}: {errno} in the sandbox; starting in /",
                        String::from_utf8_lossy(&cwd)
                    );
                }
                task.exec_init(&argv, &envp)?;
                Ok(task)
            });
            match task {
                Ok(mut task) => {
                    let _ = started_tx.send(Ok(()));
                    let status = task.run();
                    task.exit_thread(status);
                }
                Err(e) => {
                    let _ = started_tx.send(Err(e));
                }
            }
        })
        .map_err(KernelError::Thread)?;
    started_rx.recv().map_err(|_| KernelError::TaskPanicked)??;
    Ok(kernel.wait_finished())
}

/// Host signals the sandbox as a whole receives (Ctrl-C at its terminal, `kill` of the
/// runsc process) and passes on to the guest. The Sentry's process must not ignore them.
pub const FORWARDED_SIGNALS: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];

/// Blocks the forwarded signals in this thread (every thread started later inherits the
/// mask) and starts a thread that takes them with sigwait and hands them to the guest.
fn forward_host_signals(kernel: &Arc<Kernel>) -> Result<(), KernelError> {
    let mut set = SigSet::empty();
    for signal in FORWARDED_SIGNALS {
        set.add(signal);
    }
    set.thread_block()
        .map_err(|e| KernelError::Thread(e.into()))?;
    let kernel = Arc::clone(kernel);
    std::thread::Builder::new()
        .name("host-signals".into())
        .spawn(move || {
            while let Ok(signal) = set.wait() {
                kernel.forward_host_signal(signal as i32);
            }
        })
        .map_err(KernelError::Thread)?;
    Ok(())
}

/// How many host descriptors the Gofer donates the Sentry may hold at once: a quarter of its
/// own limit, leaving the rest for stdio, the memory file, stubs and host-backed files.
fn donated_fd_budget() -> usize {
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft);
    usize::try_from(soft / 4).unwrap_or(usize::MAX).max(16)
}

/// What `build_mounts` made.
struct MountTree {
    vfs: Arc<Vfs>,
    procfs: Arc<ProcFs>,
    records: Vec<MountRecord>,
}

/// The mount tree: the Gofer's root at `/` (under an overlay, or read-only with a tmpfs at
/// `/tmp`), devfs at `/dev`, procfs at `/proc` (covering the host's, which the Sentry never
/// shows). Returns the procfs, to be attached to the kernel once it exists, and the mounts
/// made, for /proc/mounts.
fn build_mounts(
    gofer: UnixStream,
    root: RootKind,
    limits: &Limits,
) -> Result<MountTree, KernelError> {
    let client = Arc::new(p9::Client::new(gofer, GOFER_MSIZE)?);
    let gofer_fs =
        vfs::gofer::GoferFs::new(client, b"/", donated_fd_budget()).map_err(KernelError::Mount)?;
    let (root_fs, tmp): (Arc<dyn vfs::FileSystem>, _) = match root {
        RootKind::Overlay => (
            vfs::overlay::OverlayFs::new(gofer_fs, limits.tmpfs_size)
                .map_err(KernelError::Mount)?,
            None,
        ),
        // /tmp is world-writable with the sticky bit, as on any Linux system.
        RootKind::ReadOnly => (
            gofer_fs,
            Some(vfs::tmpfs::TmpFs::with_size(0o1777, limits.tmpfs_size)),
        ),
    };
    let root_writable = !root_fs.read_only();
    let mut mounts = vec![MountRecord {
        path: b"/".to_vec(),
        fs_type: root_fs.name(),
        read_only: !root_writable,
    }];
    let vfs = Vfs::new(root_fs);
    let ctx = LookupCtx {
        root: vfs.root(),
        start: vfs.root(),
    };
    let devfs = vfs::devfs::DevFs::new().map_err(KernelError::Mount)?;
    let procfs = ProcFs::new();
    let mut sentry_mounts: Vec<(&[u8], Arc<dyn vfs::FileSystem>)> = vec![
        (b"/dev", devfs),
        (b"/proc", Arc::clone(&procfs) as Arc<dyn vfs::FileSystem>),
    ];
    if let Some(tmp) = tmp {
        sentry_mounts.insert(1, (b"/tmp", tmp));
    }
    for (path, fs) in sentry_mounts {
        // A mount point missing from the root is made in the overlay, as gVisor does; a
        // read-only root can't have it made, and the sandbox runs without that mount rather
        // than not at all.
        let at = match vfs.lookup(&ctx, path, true) {
            Err(Errno::ENOENT) if root_writable => vfs
                .mkdir(&ctx, path, 0o755)
                .and_then(|()| vfs.lookup(&ctx, path, true)),
            found => found,
        };
        match at {
            Ok(at) => {
                mounts.push(MountRecord {
                    path: path.to_vec(),
                    fs_type: fs.name(),
                    read_only: fs.read_only(),
                });
                vfs.mount(&at, fs).map_err(KernelError::Mount)?;
            }
            Err(errno) => tracing::warn!(
                "not mounting {}: {errno} in the root filesystem",
                String::from_utf8_lossy(path)
            ),
        }
    }
    Ok(MountTree {
        vfs,
        procfs,
        records: mounts,
    })
}
