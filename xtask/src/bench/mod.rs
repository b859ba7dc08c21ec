//! `cargo xtask bench`: the microbenchmark (bench/bench.c) natively, under our runsc and under
//! gVisor's (when installed), interleaved, median of several runs; plus the wall time of
//! `runsc do /bin/true` and the peak memory of the Sentry and Gofer of a sandbox running `sleep`.

mod memory;
mod runner;
mod table;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::process::{describe, run_captured, run_checked};
use memory::SandboxMemoryWatch;
use runner::{columns, Runner};
use table::{Measurement, Table, Unit};

/// The row for the wall time of a whole run of /bin/true.
const STARTUP: &str = "runsc do /bin/true, wall";

/// The row for the peak memory of a sandbox's Sentry and Gofer while it runs [`SLEEPER`].
const MEMORY: &str = "Sentry+Gofer peak RSS, sleep 1";

/// What the sandbox whose memory is measured runs: idle, so that the figure is the fixed cost.
const SLEEPER: [&str; 2] = ["/bin/sleep", "1"];

/// Generous: a case takes well under a second natively, gVisor's fork+exec ~100× longer.
const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// Where gVisor's runsc from Debian (`apt-get install runsc`) is installed.
const GVISOR_RUNSC: &str = "/usr/bin/runsc";

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The platform our runsc runs the guest on.
    #[arg(long, default_value = "ptrace")]
    platform: String,
    /// Runs of each measurement per runner, interleaved; the table shows their median.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(3..))]
    rounds: u32,
}

pub fn run(root: &Path, args: &BenchArgs) -> Result<()> {
    let runsc = crate::build_runsc(root)?;
    let bench = build_bench(root)?;
    let gvisor = Path::new(GVISOR_RUNSC);
    if !gvisor.exists() {
        eprintln!("xtask: {GVISOR_RUNSC} not found (apt-get install runsc): no gVisor column");
    }
    let columns = columns(&runsc, &args.platform, gvisor.exists().then_some(gvisor));
    let cases = list_cases(&bench)?;
    let runners: Vec<Runner> = columns.iter().map(|column| column.runner).collect();
    let mut rows: Vec<(String, Unit)> = cases
        .iter()
        .map(|case| (case.clone(), Unit::NsPerOp))
        .collect();
    rows.push((STARTUP.to_owned(), Unit::WallMs));
    rows.push((MEMORY.to_owned(), Unit::Megabytes));
    let mut table = Table::new(rows, &runners);
    let (sleeper, sleeper_args) = (Path::new(SLEEPER[0]), &SLEEPER[1..]);
    // Interleaved (round, case, runner) so that drifting machine load spreads over all columns.
    for round in 1..=args.rounds {
        eprintln!("xtask: round {round} of {}", args.rounds);
        for case in &cases {
            for column in &columns {
                let measured = measure_case(&mut column.command(&bench, &[case]), case);
                table.record(case, column.runner, measured);
            }
        }
        for column in &columns {
            let startup = column.command(Path::new("/bin/true"), &[]);
            let measured = measure_case(&mut timed_by(&bench, &startup), "wall");
            table.record(STARTUP, column.runner, measured);
        }
        for column in columns
            .iter()
            .filter(|column| column.runner != Runner::Native)
        {
            let measured = measure_memory(&mut column.command(sleeper, sleeper_args));
            table.record(MEMORY, column.runner, measured);
        }
    }
    print!("{}", table.render());
    Ok(())
}

fn build_bench(root: &Path) -> Result<PathBuf> {
    let out_dir = crate::sandbox_visible_dir(root).join("bench");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let binary = out_dir.join("bench");
    run_checked(
        Command::new("gcc")
            .args(["-O2", "-static", "-Wall", "-o"])
            .arg(&binary)
            .arg(root.join("xtask/bench/bench.c")),
    )
    .context("building the benchmark (needs gcc and libc6-dev)")?;
    Ok(binary)
}

fn list_cases(bench: &Path) -> Result<Vec<String>> {
    let listed = run_captured(Command::new(bench).arg("--list"), CASE_TIMEOUT)?;
    if !listed.status.success() {
        bail!("{} --list: {}", bench.display(), describe(listed.status));
    }
    Ok(listed.stdout.lines().map(str::to_owned).collect())
}

/// Runs one case; the program prints "CASE NS_PER_OP".
fn measure_case(command: &mut Command, case: &str) -> Measurement {
    let run = run_captured(command, CASE_TIMEOUT).map_err(|err| format!("{err:#}"))?;
    let reported = run
        .stdout
        .lines()
        .find_map(|line| line.strip_prefix(case)?.trim().parse::<f64>().ok());
    match reported {
        Some(ns) if run.status.success() => Ok(ns),
        _ => Err(failure_reason(run.status, &run.stderr)),
    }
}

/// `command` run by `bench --wall`, which prints its wall time ("wall NS"): timed from spawn to
/// reaping by a blocking wait, which our polling for a timeout is too coarse for.
fn timed_by(bench: &Path, command: &Command) -> Command {
    let mut timed = Command::new(bench);
    timed
        .arg("--wall")
        .arg(command.get_program())
        .args(command.get_args());
    if let Some(dir) = command.get_current_dir() {
        timed.current_dir(dir);
    }
    timed
}

/// Peak memory in bytes of the Sentry and Gofer of the sandbox that `command` runs.
fn measure_memory(command: &mut Command) -> Measurement {
    let watch = SandboxMemoryWatch::start();
    let run = run_captured(command, CASE_TIMEOUT);
    let peak = watch.finish();
    let run = run.map_err(|err| format!("{err:#}"))?;
    if !run.status.success() {
        return Err(failure_reason(run.status, &run.stderr));
    }
    peak.map(|bytes| bytes as f64)
}

/// How a run ended and why: the benchmark program's own message ("bench: ..."), else the last
/// line that is not a log record (a sandbox's error, such as a program it could not start).
fn failure_reason(status: std::process::ExitStatus, stderr: &str) -> String {
    let lines = || {
        stderr
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
    };
    let reason = lines()
        .find_map(|line| line.strip_prefix("bench: "))
        .or_else(|| lines().rev().find(|line| !is_log_record(line)));
    match reason {
        Some(reason) => format!("{}: {reason}", describe(status)),
        None => describe(status),
    }
}

/// A line of our runsc's tracing log ("TIMESTAMP  LEVEL target: message") or of gVisor's glog
/// ("W1123 02:52:31.123456 ...").
fn is_log_record(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let first = words.next().unwrap_or_default();
    let tracing = words
        .next()
        .is_some_and(|level| ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&level));
    let glog = first.len() == 5
        && first.starts_with(['D', 'I', 'W', 'E', 'F'])
        && first[1..].bytes().all(|byte| byte.is_ascii_digit());
    tracing || glog
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    use super::failure_reason;

    #[test]
    fn the_benchmark_programs_message_is_the_reason() {
        let stderr = "bench: fork: Function not implemented\n\
                      2026-11-23T02:52:31.123456Z  WARN kernel: task exited\n";
        assert_eq!(
            failure_reason(ExitStatus::from_raw(1 << 8), stderr),
            "exit code 1: fork: Function not implemented"
        );
    }

    #[test]
    fn log_records_are_passed_over() {
        let stderr = "runsc: running the sandbox: starting /bench: ENOENT\n\
                      2026-11-23T02:52:31.123456Z  INFO runsc: sandbox gone\n\
                      W1123 02:52:31.123456   1234 util.go:64] FATAL ERROR\n";
        assert_eq!(
            failure_reason(ExitStatus::from_raw(125 << 8), stderr),
            "exit code 125: runsc: running the sandbox: starting /bench: ENOENT"
        );
        assert_eq!(
            failure_reason(ExitStatus::from_raw(11), ""),
            "killed by signal 11"
        );
    }
}
