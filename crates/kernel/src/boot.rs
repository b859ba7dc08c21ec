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
    /// The connection to the Gofer serving the root filesystem and the volumes.
    pub gofer: UnixStream,
    /// Host directories the Gofer serves besides the root, mounted in the sandbox.
    pub volumes: Vec<Volume>,
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

/// A volume: a tree the Gofer serves under `aname`, mounted at `guest` (an absolute path).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub aname: Vec<u8>,
    pub guest: Vec<u8>,
    pub read_only: bool,
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
    let mounts = build_mounts(
        config.gofer,
        config.root,
        &config.limits,
        &config.volumes,
        &memory,
    )?;
    let kernel = Kernel::new(platform, memory, mounts.vfs, config.strace, &config.limits)?;
    let mut records = mounts.records;
    kernel.ptys.attach(&kernel);
    // Filesystems that live in the kernel, mounted once it exists.
    let kernel_mounts: [(&[u8], Arc<dyn vfs::FileSystem>); 2] = [
        (b"/dev/mqueue", Arc::clone(&kernel.ipc.mqueue) as _),
        (
            b"/dev/pts",
            crate::tty::devpts::DevPts::new(Arc::clone(&kernel.ptys)),
        ),
    ];
    for (path, fs) in kernel_mounts {
        mount_in_kernel(&kernel, path, fs, &mut records)?;
    }
    mounts.procfs.attach(&kernel, records);

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

/// Mounts `fs`, a filesystem of the kernel's own (the IPC namespace's mqueue fs, devpts), at
/// `path` where Linux systems have it; a root without that directory goes without the mount.
fn mount_in_kernel(
    kernel: &Kernel,
    path: &[u8],
    fs: Arc<dyn vfs::FileSystem>,
    records: &mut Vec<MountRecord>,
) -> Result<(), KernelError> {
    let ctx = LookupCtx {
        root: kernel.vfs.root(),
        start: kernel.vfs.root(),
        creds: vfs::Credentials::root(),
    };
    let at = match kernel.vfs.lookup(&ctx, path, true) {
        Ok(at) => at,
        Err(errno) => {
            tracing::warn!("not mounting {}: {errno}", String::from_utf8_lossy(path));
            return Ok(());
        }
    };
    records.push(MountRecord {
        path: path.to_vec(),
        fs_type: fs.name(),
        read_only: false,
    });
    kernel.vfs.mount(&at, fs).map_err(KernelError::Mount)?;
    Ok(())
}

/// What `build_mounts` made.
struct MountTree {
    vfs: Arc<Vfs>,
    procfs: Arc<ProcFs>,
    records: Vec<MountRecord>,
}

/// The mount tree: the Gofer's root at `/` (under an overlay, or read-only with a tmpfs at
/// `/tmp`), devfs at `/dev`, tmpfs at `/dev/shm` (POSIX shared memory), procfs at `/proc`
/// (covering the host's, which the Sentry never shows), then the volumes. Tmpfs files keep
/// their data in `memory`, so they can be mapped shared. Returns the procfs, to be attached to
/// the kernel once it exists, and the mounts made, for /proc/mounts.
fn build_mounts(
    gofer: UnixStream,
    root: RootKind,
    limits: &Limits,
    volumes: &[Volume],
    memory: &Arc<MemoryFile>,
) -> Result<MountTree, KernelError> {
    let client = Arc::new(p9::Client::new(gofer, GOFER_MSIZE)?);
    // The root and each volume share the budget of donated descriptors.
    let fd_budget = donated_fd_budget() / (1 + volumes.len());
    let gofer_fs = vfs::gofer::GoferFs::new(
        Arc::clone(&client),
        b"/",
        fd_budget,
        false,
        Arc::clone(memory),
    )
    .map_err(KernelError::Mount)?;
    // /tmp and /dev/shm are world-writable with the sticky bit, as on any Linux system.
    let sticky_tmpfs =
        || vfs::tmpfs::TmpFs::with_size(0o1777, limits.tmpfs_size, Arc::clone(memory));
    let (root_fs, tmp): (Arc<dyn vfs::FileSystem>, _) = match root {
        RootKind::Overlay => (
            vfs::overlay::OverlayFs::new(gofer_fs, limits.tmpfs_size, Arc::clone(memory))
                .map_err(KernelError::Mount)?,
            None,
        ),
        RootKind::ReadOnly => (gofer_fs, Some(sticky_tmpfs())),
    };
    let root_writable = !root_fs.read_only();
    let mut mounts = vec![MountRecord {
        path: b"/".to_vec(),
        fs_type: root_fs.name(),
        read_only: !root_writable,
    }];
    let vfs = Vfs::new(root_fs, Arc::clone(memory));
    let ctx = LookupCtx {
        root: vfs.root(),
        start: vfs.root(),
        creds: vfs::Credentials::root(),
    };
    let devfs = vfs::devfs::DevFs::new(Arc::clone(memory)).map_err(KernelError::Mount)?;
    let procfs = ProcFs::new();
    let mut sentry_mounts: Vec<(&[u8], Arc<dyn vfs::FileSystem>)> = vec![
        (b"/dev", devfs),
        (b"/dev/shm", sticky_tmpfs()),
        (b"/proc", Arc::clone(&procfs) as Arc<dyn vfs::FileSystem>),
    ];
    if let Some(tmp) = tmp {
        sentry_mounts.insert(2, (b"/tmp", tmp));
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
    for volume in volumes {
        let failed = |reason: String| KernelError::Volume {
            path: String::from_utf8_lossy(&volume.guest).into_owned(),
            reason,
        };
        let fs = vfs::gofer::GoferFs::new(
            Arc::clone(&client),
            &volume.aname,
            fd_budget,
            !volume.read_only,
            Arc::clone(memory),
        )
        .map_err(|errno| failed(format!("attaching to the gofer: {errno}")))?;
        let at = volume_mount_point(&vfs, &ctx, &volume.guest).map_err(failed)?;
        vfs.mount(&at, fs).map_err(KernelError::Mount)?;
        mounts.push(MountRecord {
            path: volume.guest.clone(),
            fs_type: "9p",
            read_only: volume.read_only,
        });
    }
    Ok(MountTree {
        vfs,
        procfs,
        records: mounts,
    })
}

/// The directory a volume is mounted on: `path`, made (with its missing parents) if it is
/// missing and the filesystem it would be in is writable.
fn volume_mount_point(vfs: &Vfs, ctx: &LookupCtx, path: &[u8]) -> Result<vfs::VfsPath, String> {
    match vfs.lookup(ctx, path, true) {
        Ok(at) if at.file_type() == vfs::FileType::Directory => return Ok(at),
        Ok(_) => return Err("not a directory in the sandbox".to_owned()),
        Err(abi::Errno::ENOENT) => {}
        Err(errno) => return Err(errno.to_string()),
    }
    let mut prefix = Vec::with_capacity(path.len());
    for component in path.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        prefix.push(b'/');
        prefix.extend_from_slice(component);
        match vfs.mkdir(ctx, &prefix, 0o755) {
            Ok(()) | Err(abi::Errno::EEXIST) => {}
            Err(abi::Errno::EROFS) => {
                return Err(format!(
                    "missing in the sandbox, and {} is on a read-only filesystem where it \
                     can't be made",
                    String::from_utf8_lossy(&prefix)
                ))
            }
            Err(errno) => {
                return Err(format!(
                    "making {}: {errno}",
                    String::from_utf8_lossy(&prefix)
                ))
            }
        }
    }
    vfs.lookup(ctx, path, true)
        .map_err(|errno| errno.to_string())
}
