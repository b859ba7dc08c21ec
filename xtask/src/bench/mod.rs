//! `cargo xtask bench`: the microbenchmark (bench/bench.c) natively, under our runsc and under
//! gVisor's (when installed), interleaved, median of three runs; plus `runsc do /bin/true`.

mod runner;
mod table;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::process::{describe, run_captured, run_checked};
use runner::{columns, Runner};
use table::{Measurement, Table};

/// Runs of each case per runner; the table shows their median.
const ROUNDS: usize = 3;

/// Generous: a case takes well under a second natively, gVisor's fork+exec ~100× longer.
const CASE_TIMEOUT: Duration = Duration::from_secs(120);

/// Where gVisor's runsc from Debian (`apt-get install runsc`) is installed.
const GVISOR_RUNSC: &str = "/usr/bin/runsc";

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The platform our runsc runs the guest on.
    #[arg(long, default_value = "ptrace")]
    platform: String,
}

pub fn run(root: &Path, args: &BenchArgs) -> Result<()> {
    run_checked(Command::new(crate::cargo()).current_dir(root).args([
        "build",
        "--release",
        "-p",
        "runsc",
    ]))?;
    let bench = build_bench(root)?;
    let gvisor = Path::new(GVISOR_RUNSC);
    if !gvisor.exists() {
        eprintln!("xtask: {GVISOR_RUNSC} not found (apt-get install runsc): no gVisor column");
    }
    let columns = columns(
        &crate::target_dir(root).join("release/runsc"),
        &args.platform,
        gvisor.exists().then_some(gvisor),
    );
    let cases = list_cases(&bench)?;
    let runners: Vec<Runner> = columns.iter().map(|column| column.runner).collect();
    let mut table = Table::new(&cases, &runners);
    // Interleaved (round, case, runner) so that drifting machine load spreads over all columns.
    for round in 1..=ROUNDS {
        eprintln!("xtask: round {round} of {ROUNDS}");
        for case in &cases {
            for column in &columns {
                let measured = measure_case(&mut column.command(&bench, &[case]), case);
                table.record(case, column.runner, measured);
            }
        }
        for column in &columns {
            let measured = measure_startup(&mut column.command(Path::new("/bin/true"), &[]));
            table.record(table::STARTUP, column.runner, measured);
        }
    }
    print!("{}", table.render());
    Ok(())
}

fn build_bench(root: &Path) -> Result<PathBuf> {
    let out_dir = crate::target_dir(root).join("bench");
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

/// Wall time of one whole run of `command`, in ns.
fn measure_startup(command: &mut Command) -> Measurement {
    let run = run_captured(command, CASE_TIMEOUT).map_err(|err| format!("{err:#}"))?;
    if !run.status.success() {
        return Err(failure_reason(run.status, &run.stderr));
    }
    Ok(run.wall.as_secs_f64() * 1e9)
}

fn failure_reason(status: std::process::ExitStatus, stderr: &str) -> String {
    match stderr.lines().rev().find(|line| !line.trim().is_empty()) {
        Some(last) => format!("{}: {}", describe(status), last.trim()),
        None => describe(status),
    }
}
