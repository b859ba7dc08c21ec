//! Running child processes: to completion with inherited output, or captured with a timeout.

use std::fmt;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Runs `command` with our stdio and fails unless it exits 0.
pub fn run_checked(command: &mut Command) -> Result<()> {
    eprintln!("xtask: running {command:?}");
    let status = command
        .status()
        .with_context(|| format!("starting {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {}", describe(status));
    }
    Ok(())
}

/// What a captured run gave.
pub struct Captured {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub wall: Duration,
}

/// The error of a captured run that was still running at its timeout (and was killed).
#[derive(Debug)]
pub struct TimedOut(pub Duration);

impl fmt::Display for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timed out after {:?}", self.0)
    }
}

impl std::error::Error for TimedOut {}

/// Runs `command` with its output captured, killing it after `timeout` ([`TimedOut`]).
pub fn run_captured(command: &mut Command, timeout: Duration) -> Result<Captured> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {command:?}"))?;
    let stdout = read_in_background(child.stdout.take());
    let stderr = read_in_background(child.stderr.take());
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for a child")? {
            break status;
        }
        if start.elapsed() > timeout {
            // Our runsc's children die with it; gVisor's runsc cleans up after SIGKILL too.
            child.kill().context("killing a child that timed out")?;
            child.wait().context("reaping a child that timed out")?;
            return Err(TimedOut(timeout).into());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let wall = start.elapsed();
    Ok(Captured {
        status,
        stdout: join(stdout)?,
        stderr: join(stderr)?,
        wall,
    })
}

/// "exit code N" or "killed by signal N".
pub fn describe(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (_, Some(signal)) => format!("killed by signal {signal}"),
        _ => format!("{status:?}"),
    }
}

fn read_in_background(
    pipe: Option<impl Read + Send + 'static>,
) -> JoinHandle<std::io::Result<String>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_end(&mut bytes)?;
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    })
}

fn join(reader: JoinHandle<std::io::Result<String>>) -> Result<String> {
    match reader.join() {
        Ok(output) => output.context("reading a child's output"),
        Err(_) => bail!("output reader thread panicked"),
    }
}
