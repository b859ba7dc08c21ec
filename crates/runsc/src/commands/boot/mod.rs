//! `runsc boot`: the Sentry. Runs the kernel on the chosen platform with the Gofer socket and
//! the caller's stdio, and exits with the guest's status.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use anyhow::{Context, Result};
use platform::Platform;
use platform_ptrace::PtracePlatform;

mod gofer_watch;

use super::{exit_code, signaled_exit_code};
use crate::cli::{BootArgs, GlobalOptions, PlatformKind};
use crate::exit_codes::{COMMAND_NOT_EXECUTABLE, COMMAND_NOT_FOUND};
use crate::spec::SandboxSpec;
use crate::sys;
use gofer_watch::GoferWatch;

pub fn run(global: &GlobalOptions, args: BootArgs) -> Result<u8> {
    sys::reset_signal_dispositions(&kernel::FORWARDED_SIGNALS)
        .context("resetting signal dispositions")?;
    let gofer = sys::take_inherited_fd(args.gofer_fd)
        .with_context(|| format!("taking the gofer socket (fd {})", args.gofer_fd))?;
    let spec = sys::take_inherited_fd(args.spec_fd)
        .with_context(|| format!("taking the spec memfd (fd {})", args.spec_fd))?;
    let spec = SandboxSpec::from_fd(spec)?;
    let gofer = UnixStream::from(gofer);
    let gofer_watch = GoferWatch::start(&gofer)?;
    let config = kernel::Config {
        argv: spec.argv,
        envp: spec.env,
        cwd: spec.cwd,
        cwd_required: spec.cwd_required,
        rlimits: spec.rlimits,
        strace: global.strace,
        gofer,
        volumes: spec.volumes,
        stdio: caller_stdio().context("duplicating stdio for the sandbox")?,
        limits: spec.limits,
        root: spec.root,
    };
    let platform = new_platform(global.platform)?;
    tracing::debug!(
        platform = platform.name(),
        argv = ?config.argv.iter().map(|arg| String::from_utf8_lossy(arg)).collect::<Vec<_>>(),
        "booting the sandbox"
    );
    let status = match kernel::run(platform, config) {
        Ok(status) => status,
        Err(kernel::KernelError::Exec { path, errno }) => {
            // As a shell reports a command it can't run.
            return Ok(if errno.0 == libc::ENOENT || errno.0 == libc::ENOTDIR {
                eprintln!("runsc: {path}: command not found ({errno})");
                COMMAND_NOT_FOUND
            } else {
                eprintln!("runsc: {path}: cannot execute ({errno})");
                COMMAND_NOT_EXECUTABLE
            });
        }
        Err(err) => return Err(err).context("running the sandbox"),
    };
    gofer_watch.end_sandbox_if_gone();
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
