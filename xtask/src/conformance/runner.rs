//! Running one test program natively and under our runsc, each with its own scratch directory.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::process::{describe, run_captured, Captured, TimedOut};

/// A program to run both ways.
pub struct Job<'a> {
    /// The test's name, also naming its native scratch directory (may contain '/').
    pub name: &'a str,
    pub program: &'a Path,
    pub args: &'a [OsString],
    /// The environment variable that tells the program where it may write.
    pub scratch_var: &'a str,
    /// Where it may write in the sandbox: a place under /tmp, which the overlay root shows as
    /// the host's with the sandbox's writes on top, fresh for every `runsc do`.
    pub sandbox_scratch: &'a str,
    pub timeout: Duration,
}

/// How a run ended: finished (any status), or never finished.
pub type Run = std::result::Result<Captured, Unfinished>;

/// Why a run never finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfinished {
    /// Still running at its timeout: killed.
    Hung(Duration),
    /// It could not be started or waited for.
    Broken(String),
}

impl fmt::Display for Unfinished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unfinished::Hung(timeout) => write!(f, "{}", TimedOut(*timeout)),
            Unfinished::Broken(reason) => f.write_str(reason),
        }
    }
}

/// Runs jobs natively and under our runsc on one platform.
pub struct Runner {
    runsc: PathBuf,
    platform: String,
    /// Native scratch directories live below this, one per test.
    scratch_root: PathBuf,
}

impl Runner {
    pub fn new(runsc: PathBuf, platform: &str, scratch_root: PathBuf) -> Runner {
        Runner {
            runsc,
            platform: platform.to_owned(),
            scratch_root,
        }
    }

    /// Runs the job on the host, with a fresh host scratch directory.
    pub fn native(&self, job: &Job) -> Result<Run> {
        let scratch = self.scratch_root.join(job.name);
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch)
                .with_context(|| format!("removing the old {}", scratch.display()))?;
        }
        std::fs::create_dir_all(&scratch)
            .with_context(|| format!("creating {}", scratch.display()))?;
        let mut command = Command::new(job.program);
        command.args(job.args).env(job.scratch_var, &scratch);
        Ok(run(&mut command, job.timeout))
    }

    /// Runs the job in a fresh sandbox, whose writes vanish with it.
    pub fn sandboxed(&self, job: &Job) -> Run {
        let mut command = Command::new(&self.runsc);
        command
            .args(["--platform", &self.platform, "do", "--env"])
            .arg(format!("{}={}", job.scratch_var, job.sandbox_scratch))
            .arg(job.program)
            .args(job.args);
        run(&mut command, job.timeout)
    }
}

/// Both ways start in `/`: a directory the sandbox has too, whatever its root.
fn run(command: &mut Command, timeout: Duration) -> Run {
    run_captured(command.current_dir("/"), timeout).map_err(|err| match err.downcast_ref() {
        Some(TimedOut(timeout)) => Unfinished::Hung(*timeout),
        None => Unfinished::Broken(format!("{err:#}")),
    })
}

/// "exit code 1", "timed out after 60s", ...: how a run ended, for a table cell.
pub fn ending(run: &Run) -> String {
    match run {
        Ok(captured) => describe(captured.status),
        Err(err) => err.to_string(),
    }
}

/// The wall time of a finished run, for a table cell ("0.12s").
pub fn seconds(captured: &Captured) -> String {
    format!("{:.2}s", captured.wall.as_secs_f64())
}
