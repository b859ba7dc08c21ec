//! `runsc boot`: the Sentry. Runs the kernel on the chosen platform with the Gofer socket and
//! the caller's stdio, and exits with the guest's status.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use anyhow::{Context, Result};
use platform::Platform;
use platform_ptrace::PtracePlatform;

use super::{exit_code, signaled_exit_code};
use crate::cli::{BootArgs, GlobalOptions, PlatformKind};
use crate::sys;

pub fn run(global: &GlobalOptions, args: BootArgs) -> Result<u8> {
    sys::set_signal_dispositions(&kernel::FORWARDED_SIGNALS, false)
        .context("resetting signal dispositions")?;
    let gofer = sys::take_inherited_fd(args.gofer_fd)
        .with_context(|| format!("taking the gofer socket (fd {})", args.gofer_fd))?;
    let config = kernel::Config {
        argv: args
            .command
            .into_iter()
            .map(OsStringExt::into_vec)
            .collect(),
        envp: args.env.iter().map(|var| var.to_entry()).collect(),
        cwd: args.cwd.into_vec(),
        strace: global.strace,
        gofer: UnixStream::from(gofer),
        stdio: caller_stdio().context("duplicating stdio for the sandbox")?,
        limits: args.limits.resolve(),
    };
    let platform = new_platform(global.platform)?;
    tracing::debug!(
        platform = platform.name(),
        argv = ?config.argv.iter().map(|arg| String::from_utf8_lossy(arg)).collect::<Vec<_>>(),
        "booting the sandbox"
    );
    let status = kernel::run(platform, config).context("running the sandbox")?;
    tracing::debug!(?status, "the sandbox ended");
    Ok(match status {
        kernel::ExitStatus::Exited(code) => exit_code(code),
        kernel::ExitStatus::Signaled(signal) => signaled_exit_code(signal),
    })
}

fn new_platform(kind: PlatformKind) -> Result<Arc<dyn Platform>> {
    match kind {
        PlatformKind::Ptrace => {
            let platform = PtracePlatform::new().context("starting the ptrace platform")?;
            Ok(Arc::new(platform))
        }
    }
}

/// Our own stdin, stdout and stderr, duplicated: the sandbox's fds 0, 1 and 2.
fn caller_stdio() -> io::Result<[OwnedFd; 3]> {
    Ok([
        io::stdin().as_fd().try_clone_to_owned()?,
        io::stdout().as_fd().try_clone_to_owned()?,
        io::stderr().as_fd().try_clone_to_owned()?,
    ])
}
