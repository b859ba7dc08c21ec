//! `runsc do`: runs a command in a fresh sandbox.
//!
//! Spawns `runsc gofer` and `runsc boot` (this same executable) joined by a socketpair, waits for
//! the Sentry, and exits with its code (the guest's, or 128 + signal). Both children die with
//! runsc, and the Gofer is killed once the Sentry is done: nothing is left running.

mod children;

use std::ffi::OsString;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};

use anyhow::{Context, Result};

use super::{exit_code, signaled_exit_code};
use crate::cli::{DoArgs, EnvVar, GlobalOptions};
use children::KillOnDrop;

/// runsc re-executes itself for the Gofer and the Sentry.
const SELF_EXE: &str = "/proc/self/exe";

pub fn run(global: &GlobalOptions, args: DoArgs) -> Result<u8> {
    let root = args
        .root
        .canonicalize()
        .with_context(|| format!("resolving the sandbox root {}", args.root.display()))?;
    let env = guest_environment(args.env);
    let cwd = match args.cwd {
        Some(cwd) => cwd,
        None => std::env::current_dir()
            .context("reading the working directory")?
            .into_os_string(),
    };

    let (sentry_end, gofer_end) = UnixStream::pair().context("creating the gofer socketpair")?;
    let mut gofer = Command::new(SELF_EXE);
    gofer
        .args(child_global_flags(global))
        .arg("gofer")
        .arg("--root")
        .arg(&root)
        .arg("--fd")
        .arg(fd_number(&gofer_end))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let gofer = KillOnDrop::spawn("gofer", &mut gofer, gofer_end.as_fd())?;
    drop(gofer_end);

    let mut boot = Command::new(SELF_EXE);
    boot.args(child_global_flags(global))
        .arg("boot")
        .arg("--gofer-fd")
        .arg(fd_number(&sentry_end))
        .arg("--cwd")
        .arg(cwd);
    for var in &env {
        boot.arg("--env").arg(var.to_os_string());
    }
    boot.arg("--").args(&args.command);
    let boot = KillOnDrop::spawn("sentry", &mut boot, sentry_end.as_fd())?;
    drop(sentry_end);

    let status = boot.wait().context("waiting for the sentry")?;
    drop(gofer);
    tracing::debug!(?status, "sentry exited");
    match (status.code(), status.signal()) {
        (Some(code), _) => Ok(exit_code(code)),
        (None, Some(signal)) => Ok(signaled_exit_code(signal)),
        (None, None) => anyhow::bail!("sentry ended with an unknown status {status:?}"),
    }
}

/// The caller's environment with `overrides` added or replacing same-named variables.
fn guest_environment(overrides: Vec<EnvVar>) -> Vec<EnvVar> {
    let mut env: Vec<EnvVar> = std::env::vars_os()
        .map(|(name, value)| EnvVar {
            name: name.into_vec(),
            value: value.into_vec(),
        })
        .collect();
    for var in overrides {
        match env.iter_mut().find(|existing| existing.name == var.name) {
            Some(existing) => existing.value = var.value,
            None => env.push(var),
        }
    }
    env
}

/// The global flags the children need from ours.
fn child_global_flags(global: &GlobalOptions) -> Vec<OsString> {
    let mut flags = vec![
        OsString::from("--platform"),
        global.platform.flag_value().into(),
    ];
    if global.debug {
        flags.push("--debug".into());
    }
    if global.strace {
        flags.push("--strace".into());
    }
    flags
}

/// A descriptor's number as a command-line argument.
fn fd_number(fd: &impl AsFd) -> OsString {
    OsString::from(fd.as_fd().as_raw_fd().to_string())
}
