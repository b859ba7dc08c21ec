//! `runsc gofer`: serves the sandbox root over 9P, read-only, and the volumes (`--volume`),
//! each writable or read-only, on the inherited socket: one process and one connection for all
//! of them, each tree chosen by its attach name. The Gofer may open host paths; the Sentry
//! never does.

use std::ffi::OsStr;
use std::fs::OpenOptions;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{Context, Result};

use crate::cli::{volume_aname, GoferArgs};
use crate::sys;

pub fn run(args: GoferArgs) -> Result<u8> {
    let stream = sys::take_inherited_fd(args.fd)
        .with_context(|| format!("taking the sentry socket (fd {})", args.fd))?;
    let mut trees = vec![gofer::Tree {
        aname: b"/".to_vec(),
        root: open_tree(&args.root)?,
        read_only: true,
    }];
    for (index, volume) in args.volumes.iter().enumerate() {
        let bytes = volume.as_bytes();
        let (read_only, dir) = match (bytes.strip_prefix(b"ro:"), bytes.strip_prefix(b"rw:")) {
            (Some(dir), _) => (true, dir),
            (None, Some(dir)) => (false, dir),
            (None, None) => anyhow::bail!("--volume {volume:?}: expected rw:DIR or ro:DIR"),
        };
        trees.push(gofer::Tree {
            aname: volume_aname(index),
            root: open_tree(Path::new(OsStr::from_bytes(dir)))?,
            read_only,
        });
    }
    tracing::debug!(root = %args.root.display(), volumes = ?args.volumes, "serving");
    let fd_budget = fid_fd_budget();
    // Last, once the root is open and logging is set up: from here on only the system calls
    // serving needs reach the host.
    gofer::install_filter().context("confining the gofer with seccomp")?;
    gofer::serve(trees, UnixStream::from(stream), fd_budget)
        .with_context(|| format!("serving {}", args.root.display()))?;
    Ok(0)
}

/// An `O_PATH` handle of a served directory: one to walk from, not to read; the Gofer opens
/// files relative to it.
fn open_tree(dir: &Path) -> Result<OwnedFd> {
    let root = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(dir)
        .with_context(|| format!("opening {}", dir.display()))?;
    Ok(OwnedFd::from(root))
}

/// How many host descriptors the Gofer's fids may hold at once: half of its RLIMIT_NOFILE,
/// leaving the rest for files opened through fids and walks in progress.
fn fid_fd_budget() -> usize {
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft);
    usize::try_from(soft / 2).unwrap_or(usize::MAX).max(16)
}
