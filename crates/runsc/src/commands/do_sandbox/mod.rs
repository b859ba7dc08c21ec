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
use nix::sys::signal::{kill, SigSet, Signal};
use nix::unistd::Pid;

use super::{exit_code, signaled_exit_code};
use crate::cli::{DoArgs, EnvVar, GlobalOptions};
use crate::sys;
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

    // The keyboard's signals reach the Sentry directly (it is in the terminal's foreground
    // group with us): runsc and, by inheritance, the Gofer ignore them. Signals sent to runsc
    // alone are passed on to the Sentry below.
    sys::set_signal_dispositions(&[Signal::SIGINT, Signal::SIGQUIT], true)
        .context("ignoring the terminal's signals")?;
    let forwarded = forwarded_signals();
    forwarded
        .thread_block()
        .context("blocking the signals passed to the sandbox")?;

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
    boot.args(args.limits.to_args());
    boot.arg("--").args(&args.command);
    let boot = KillOnDrop::spawn("sentry", &mut boot, sentry_end.as_fd())?;
    drop(sentry_end);
    if let Some(pid) = boot.pid().and_then(|pid| i32::try_from(pid).ok()) {
        forward_signals(forwarded, Pid::from_raw(pid))?;
    }

    let status = boot.wait().context("waiting for the sentry")?;
    drop(gofer);
    tracing::debug!(?status, "sentry exited");
    match (status.code(), status.signal()) {
        (Some(code), _) => Ok(exit_code(code)),
        (None, Some(signal)) => Ok(signaled_exit_code(signal)),
        (None, None) => anyhow::bail!("sentry ended with an unknown status {status:?}"),
    }
}

/// Signals someone sends runsc itself (a supervisor's SIGTERM, a hang-up) that belong to the
/// sandbox.
fn forwarded_signals() -> SigSet {
    let mut set = SigSet::empty();
    for signal in [
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        set.add(signal);
    }
    set
}

/// Passes each signal in `set` that runsc receives on to the Sentry, which hands it to the guest.
fn forward_signals(set: SigSet, sentry: Pid) -> Result<()> {
    std::thread::Builder::new()
        .name("forward-signals".into())
        .spawn(move || {
            while let Ok(signal) = set.wait() {
                if let Err(err) = kill(sentry, signal) {
                    tracing::debug!(%err, ?signal, "forwarding a signal to the sentry");
                }
            }
        })
        .context("starting the signal-forwarding thread")?;
    Ok(())
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
