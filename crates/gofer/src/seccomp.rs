//! The Gofer's host seccomp allowlist, in the manner of Firecracker: the Gofer is the one
//! sandbox process that touches the host filesystem, so it may make only the system calls that
//! serving 9P needs. Any other system call kills the process (`SIGSYS`) instead of reaching the
//! host kernel, so a Gofer subverted through a crafted 9P message cannot, for example, open a
//! socket, exec, or ptrace.
//!
//! The set was found by running the Gofer under the acceptance tests and the conformance suite
//! with a logging filter and collecting every system call it made.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::GoferError;

/// Why installing the filter failed.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("building the seccomp filter: {0}")]
    Build(#[from] seccompiler::BackendError),
    #[error("installing the seccomp filter: {0}")]
    Install(#[from] seccompiler::Error),
}

/// System calls the Gofer makes, each with why.
const ALLOWED: &[(i64, &str)] = &[
    // 9P transport on the inherited socket.
    (
        libc::SYS_recvfrom,
        "receiving 9P requests (std's socket read is recv)",
    ),
    (
        libc::SYS_sendto,
        "sending 9P replies (std's socket write is send)",
    ),
    (
        libc::SYS_recvmsg,
        "receiving 9P requests with ancillary data",
    ),
    (
        libc::SYS_sendmsg,
        "sending replies with SCM_RIGHTS for Tlopenfd",
    ),
    (libc::SYS_read, "socket reads and file reads"),
    (
        libc::SYS_write,
        "socket writes, file writes and log lines on stderr",
    ),
    (libc::SYS_writev, "log lines on stderr"),
    (libc::SYS_pread64, "Tread at an offset"),
    (libc::SYS_pwrite64, "Twrite at an offset"),
    // Walking and opening files relative to held descriptors.
    (
        libc::SYS_openat,
        "walks (O_PATH|O_NOFOLLOW) and reopening via /proc/self/fd",
    ),
    (libc::SYS_close, "clunked fids and temporary descriptors"),
    (libc::SYS_fstat, "Tgetattr and qids"),
    (
        libc::SYS_newfstatat,
        "stat of a child and of an O_PATH descriptor",
    ),
    (libc::SYS_statx, "std's metadata calls"),
    (libc::SYS_fstatfs, "Tstatfs and pseudo-filesystem detection"),
    (libc::SYS_getdents64, "Treaddir"),
    (libc::SYS_readlinkat, "Treadlink"),
    (libc::SYS_lseek, "rewinding a directory stream"),
    (
        libc::SYS_fcntl,
        "descriptor duplication (F_DUPFD_CLOEXEC) and flags",
    ),
    (libc::SYS_dup, "cloned fids"),
    (libc::SYS_fsync, "Tfsync"),
    (libc::SYS_fdatasync, "Tfsync with datasync"),
    // Changes to the tree; these fail with EROFS before reaching the host when read-only.
    (libc::SYS_mkdirat, "Tmkdir"),
    (libc::SYS_unlinkat, "Tunlinkat"),
    (libc::SYS_renameat, "Trenameat"),
    (libc::SYS_renameat2, "Trenameat through newer libc"),
    (libc::SYS_symlinkat, "Tsymlink"),
    (
        libc::SYS_linkat,
        "Tlink (through the file's /proc/self/fd link)",
    ),
    (
        libc::SYS_mknodat,
        "Tmknod (FIFOs, sockets and regular files only)",
    ),
    (
        libc::SYS_fchmodat,
        "Tsetattr's mode (through /proc/self/fd)",
    ),
    (
        libc::SYS_fchownat,
        "Tsetattr's owner and new files' owners (the descriptor itself, see argument_rules)",
    ),
    (
        libc::SYS_utimensat,
        "Tsetattr's times (AT_EMPTY_PATH on the fid's descriptor)",
    ),
    (libc::SYS_ftruncate, "Tsetattr's size"),
    (libc::SYS_getxattr, "Txattrwalk of a user.* attribute"),
    (
        libc::SYS_listxattr,
        "Txattrwalk listing the user.* attributes",
    ),
    (libc::SYS_setxattr, "Txattrcreate, at clunk"),
    (libc::SYS_removexattr, "Txattrcreate removing, at clunk"),
    // Memory.
    (libc::SYS_mmap, "allocator"),
    (libc::SYS_munmap, "allocator"),
    (libc::SYS_mremap, "allocator growing large buffers"),
    (libc::SYS_madvise, "allocator returning memory"),
    (libc::SYS_brk, "allocator"),
    // Runtime.
    (libc::SYS_futex, "locks in std and tracing"),
    (
        libc::SYS_sigaltstack,
        "std's stack-overflow handler at exit",
    ),
    (libc::SYS_rt_sigreturn, "returning from a signal handler"),
    (libc::SYS_rt_sigprocmask, "std and libc blocking signals"),
    (libc::SYS_sched_yield, "spin locks"),
    (
        libc::SYS_clock_gettime,
        "log timestamps when the vDSO is not used",
    ),
    (libc::SYS_getrandom, "hash map seeds"),
    (libc::SYS_exit, "thread exit"),
    (libc::SYS_exit_group, "process exit"),
];

/// The file types `mknodat` may make: FIFOs, sockets and regular files, never a device node
/// (which the Gofer refuses before asking, and the filter refuses should it ask anyway).
const MKNOD_TYPES: [u32; 3] = [libc::S_IFIFO, libc::S_IFSOCK, libc::S_IFREG];

/// The one way the Gofer changes an owner: `AT_EMPTY_PATH|AT_SYMLINK_NOFOLLOW`.
const CHOWN_FLAGS: u64 = (libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW) as u64;

/// Argument rules narrowing calls of [`ALLOWED`]: the call is allowed only if one rule
/// matches. Calls not here take any arguments.
fn argument_rules() -> Result<BTreeMap<i64, Vec<SeccompRule>>, SeccompError> {
    let mknod_rules = MKNOD_TYPES
        .iter()
        .map(|&file_type| {
            // mknodat(dirfd, path, mode, dev): the type bits of `mode`.
            let mode_type = SeccompCondition::new(
                2,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::MaskedEq(u64::from(libc::S_IFMT)),
                u64::from(file_type),
            )?;
            SeccompRule::new(vec![mode_type])
        })
        .collect::<Result<Vec<_>, _>>()?;
    // fchownat(fd, "", uid, gid, flags): only of the descriptor's own file, never a name
    // looked up from it and never through a symlink.
    let chown_flags =
        SeccompCondition::new(4, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, CHOWN_FLAGS)?;
    Ok(BTreeMap::from([
        (libc::SYS_mknodat, mknod_rules),
        (
            libc::SYS_fchownat,
            vec![SeccompRule::new(vec![chown_flags])?],
        ),
    ]))
}

/// The filter: the calls in [`ALLOWED`], narrowed by [`argument_rules`]; everything else kills
/// the process.
fn program() -> Result<BpfProgram, SeccompError> {
    let mut narrowed = argument_rules()?;
    let rules: BTreeMap<i64, Vec<SeccompRule>> = ALLOWED
        .iter()
        .map(|&(number, _)| (number, narrowed.remove(&number).unwrap_or_default()))
        .collect();
    let arch = TargetArch::try_from(std::env::consts::ARCH)?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::KillProcess,
        SeccompAction::Allow,
        arch,
    )?;
    Ok(filter.try_into()?)
}

/// Confines every thread of the calling process to the Gofer's system calls, after setting
/// `PR_SET_NO_NEW_PRIVS` (which seccomp requires of an unprivileged process and which also
/// keeps an exec, were one possible, from gaining privileges). Irreversible: call it once the
/// process has done everything else it needs, right before [`crate::serve`].
pub fn install_filter() -> Result<(), GoferError> {
    let program = program()?;
    seccompiler::apply_filter_all_threads(&program).map_err(SeccompError::from)?;
    Ok(())
}
