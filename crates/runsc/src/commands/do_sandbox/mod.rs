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
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use kernel::RootKind;
use nix::sys::signal::{kill, SigSet, Signal};
use nix::unistd::Pid;

use super::{exit_code, signaled_exit_code};
use crate::cli::{volume_aname, DoArgs, EnvVar, GlobalOptions, VolumeArg};
use crate::spec::{self, SandboxSpec};
use crate::sys::{self, SignalSource};
use children::KillOnDrop;

/// runsc re-executes itself for the Gofer and the Sentry.
const SELF_EXE: &str = "/proc/self/exe";

pub fn run(global: &GlobalOptions, args: DoArgs) -> Result<u8> {
    let root = args
        .root
        .canonicalize()
        .with_context(|| format!("resolving the sandbox root {}", args.root.display()))?;
    // Checked before anything starts: a bad volume is the caller's mistake, said plainly.
    let volumes = args
        .volumes
        .iter()
        .map(|text| {
            let volume = VolumeArg::parse(text).map_err(anyhow::Error::msg)?;
            let host = volume.resolve_host().map_err(anyhow::Error::msg)?;
            Ok((volume, host))
        })
        .collect::<Result<Vec<_>>>()?;
    let cwd_required = args.cwd.is_some();
    let cwd = match args.cwd {
        Some(cwd) => cwd,
        None => std::env::current_dir()
            .context("reading the working directory")?
            .into_os_string(),
    };
    let spec = SandboxSpec {
        argv: args
            .command
            .into_iter()
            .map(OsStringExt::into_vec)
            .collect(),
        env: guest_environment(args.env)
            .iter()
            .map(EnvVar::to_entry)
            .collect(),
        cwd: cwd.into_vec(),
        cwd_required,
        rlimits: spec::own_rlimits()?,
        limits: args.limits.resolve(),
        volumes: volumes
            .iter()
            .enumerate()
            .map(|(index, (volume, _))| kernel::Volume {
                aname: volume_aname(index),
                guest: volume.guest.clone(),
                read_only: volume.read_only,
            })
            .collect(),
        root: if args.read_only {
            RootKind::ReadOnly
        } else {
            RootKind::Overlay
        },
    }
    .to_memfd()?;

    // Signals for the sandbox are taken by a thread of ours and passed on to the Sentry (see
    // forward_signals); blocked here, before any other thread starts, so that none of them
    // ends runsc.
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
        .args(volumes.iter().flat_map(|(volume, host)| {
            let mut flag = OsString::from(if volume.read_only { "ro:" } else { "rw:" });
            flag.push(host);
            [OsString::from("--volume"), flag]
        }))
        .arg("--fd")
        .arg(fd_number(&gofer_end))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // Out of the terminal's foreground group: Ctrl-C is the guest's, not the Gofer's.
        .process_group(0);
    let gofer = KillOnDrop::spawn("gofer", &mut gofer, &[gofer_end.as_fd()])?;
    drop(gofer_end);

    let mut boot = Command::new(SELF_EXE);
    boot.args(child_global_flags(global))
        .arg("boot")
        .arg("--gofer-fd")
        .arg(fd_number(&sentry_end))
        .arg("--spec-fd")
        .arg(fd_number(&spec));
    let boot = KillOnDrop::spawn("sentry", &mut boot, &[sentry_end.as_fd(), spec.as_fd()])?;
    drop(sentry_end);
    drop(spec);
    let sandbox_killed = Arc::new(AtomicBool::new(false));
    if let Some(pid) = boot.pid().and_then(|pid| i32::try_from(pid).ok()) {
        forward_signals(forwarded, Pid::from_raw(pid), Arc::clone(&sandbox_killed))?;
    }

    let status = boot.wait().context("waiting for the sentry")?;
    drop(gofer);
    tracing::debug!(?status, "sentry exited");
    if sandbox_killed.load(Ordering::SeqCst) {
        return Ok(signaled_exit_code(libc::SIGTERM));
    }
    match (status.code(), status.signal()) {
        (Some(code), _) => Ok(exit_code(code)),
        (None, Some(signal)) => {
            // The Sentry reports a guest's death by a signal as an exit code: it was killed
            // itself (by the host's OOM killer, by someone's kill -9).
            eprintln!(
                "runsc: the sentry was killed by signal {signal} ({}); the sandbox is gone",
                Signal::try_from(signal).map_or("unknown", Signal::as_str)
            );
            Ok(signaled_exit_code(signal))
        }
        (None, None) => anyhow::bail!("sentry ended with an unknown status {status:?}"),
    }
}

/// The signals someone sends runsc (a supervisor's SIGTERM, `kill -INT`, a hang-up) that belong
/// to the sandbox: those the Sentry passes on to the guest.
fn forwarded_signals() -> SigSet {
    let mut set = SigSet::empty();
    for signal in kernel::FORWARDED_SIGNALS {
        set.add(signal);
    }
    set
}

/// Passes each signal in `set` that a process sends runsc on to the Sentry, which hands it to
/// the guest, as gVisor's runsc does. Those the kernel sends (the terminal's Ctrl-C, a window
/// resize) are not passed on: they went to the terminal's foreground group, the Sentry
/// included, and the guest must see them once. A second SIGTERM means the guest did not end
/// on the first: it kills the sandbox, and sets `sandbox_killed`.
fn forward_signals(set: SigSet, sentry: Pid, sandbox_killed: Arc<AtomicBool>) -> Result<()> {
    std::thread::Builder::new()
        .name("forward-signals".into())
        .spawn(move || {
            let mut terminating = false;
            while let Ok((signal, source)) = sys::wait_for_signal(&set) {
                if source == SignalSource::Kernel {
                    continue;
                }
                let signal = if signal == Signal::SIGTERM && terminating {
                    eprintln!("runsc: a second SIGTERM: killing the sandbox");
                    sandbox_killed.store(true, Ordering::SeqCst);
                    Signal::SIGKILL
                } else {
                    signal
                };
                terminating |= signal == Signal::SIGTERM;
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
