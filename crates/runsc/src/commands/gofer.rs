//! `runsc gofer`: serves the sandbox root over 9P, read-only, on the inherited socket. The Gofer
//! may open host paths; the Sentry never does.

use std::fs::OpenOptions;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;

use anyhow::{Context, Result};

use crate::cli::GoferArgs;
use crate::sys;

pub fn run(args: GoferArgs) -> Result<u8> {
    let stream = sys::take_inherited_fd(args.fd)
        .with_context(|| format!("taking the sentry socket (fd {})", args.fd))?;
    // O_PATH: a handle to walk from, not to read; the gofer opens files relative to it.
    let root = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open(&args.root)
        .with_context(|| format!("opening the sandbox root {}", args.root.display()))?;
    tracing::debug!(root = %args.root.display(), "serving");
    let fd_budget = fid_fd_budget();
    // Last, once the root is open and logging is set up: from here on only the system calls
    // serving needs reach the host.
    gofer::install_filter().context("confining the gofer with seccomp")?;
    gofer::serve(
        OwnedFd::from(root),
        UnixStream::from(stream),
        true,
        fd_budget,
    )
    .with_context(|| format!("serving {}", args.root.display()))?;
    Ok(0)
}

/// How many host descriptors the Gofer's fids may hold at once: half of its RLIMIT_NOFILE,
/// leaving the rest for files opened through fids and walks in progress.
fn fid_fd_budget() -> usize {
    let soft = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map_or(1024, |(soft, _)| soft);
    usize::try_from(soft / 2).unwrap_or(usize::MAX).max(16)
}
