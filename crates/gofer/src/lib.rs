//! The Gofer: serves host directories (the sandbox root and its volumes, see [`Tree`]) over
//! 9P2000.L to the Sentry, each confined to itself.
//!
//! Confinement here is by construction: every fid holds an `O_PATH|O_NOFOLLOW` descriptor, walks
//! go one component at a time with `openat` relative to the parent's descriptor, symlinks are
//! never followed (the Sentry resolves them from `readlink`), and `..` is resolved by
//! re-walking the fid's own path from the root, so it never leaves the root. Changes are `*at`
//! calls on a fid's descriptor with one plain name, or go through the descriptor's
//! `/proc/self/fd` link (never for a symlink), so no write lands above a tree's root. Process-level
//! confinement (namespaces, pivot_root, and the seccomp allowlist of [`install_filter`]) is
//! applied by the caller before [`serve`].
//!
//! Two things make serving the host's "/" safe and coherent: files on the kernel's
//! pseudo-filesystems (procfs, sysfs, devtmpfs, ...) are opaque, reachable and stat-able but
//! not opened or walked through (see `pseudo_fs`), and qid paths combine device and inode so
//! files on different mounts never share one (see `qid_paths`).
#![forbid(unsafe_code)]

mod errno;
mod gofer;
mod host;
mod pseudo_fs;
mod qid_paths;
mod seccomp;

pub use gofer::Tree;
pub use seccomp::{install_filter, SeccompError};

use std::os::unix::net::UnixStream;

/// Why the Gofer stopped serving.
#[derive(Debug, thiserror::Error)]
pub enum GoferError {
    #[error("serving 9p: {0}")]
    Protocol(#[from] p9::Error),
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
}

/// Serves `trees` over 9P2000.L on `stream` until the client closes it; the first is the
/// sandbox root (attached with an empty `aname` or "/"), the others are chosen by their `aname`.
/// The fids hold at most `fd_budget` host descriptors at once.
pub fn serve(trees: Vec<Tree>, stream: UnixStream, fd_budget: usize) -> Result<(), GoferError> {
    let mut gofer = gofer::Gofer::new(trees, fd_budget);
    p9::serve(stream, &mut gofer)?;
    Ok(())
}
