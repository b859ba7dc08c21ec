//! `cargo xtask fuzz`: the syscall fuzzer (fuzz/fuzz.c) under our runsc, for a bounded time on
//! fixed seeds. A run fails on a Sentry panic or error log, a hang, a nonzero exit, a file the
//! guest left in the host directory it ran in, or a process of the sandbox that outlived it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::process::{describe, run_captured, run_checked};

/// What CI runs: about a minute, on seeds that stay the same from run to run.
const CI_SECONDS: u64 = 60;
const CI_SEEDS: [u64; 3] = [1, 2, 3];

#[derive(clap::Args, Debug)]
pub struct FuzzArgs {
    /// Time for all seeds together; each seed gets an equal share.
    #[arg(long, default_value_t = CI_SECONDS)]
    seconds: u64,

    /// The seeds to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = CI_SEEDS)]
    seeds: Vec<u64>,
}

impl Default for FuzzArgs {
    fn default() -> FuzzArgs {
        FuzzArgs {
            seconds: CI_SECONDS,
            seeds: CI_SEEDS.to_vec(),
        }
    }
}

/// Calls per seed at most; the time share is what usually ends a seed.
const MAX_CALLS: u64 = 10_000_000;

/// How long past its time share a seed may run (the last batch, teardown) before it is a hang.
const GRACE: Duration = Duration::from_secs(30);

/// Set on runsc, inherited by every process of the sandbox: finds the ones left behind.
const MARK_VAR: &str = "RVISOR_FUZZ_RUN";

pub fn run(root: &Path, args: &FuzzArgs) -> Result<()> {
    if args.seeds.is_empty() {
        bail!("no seeds given");
    }
    let runsc = crate::build_runsc(root)?;
    let work = crate::sandbox_visible_dir(root).join("fuzz");
    let fuzzer = build_fuzzer(root, &work)?;
    let share = args.seconds / args.seeds.len() as u64;
    let mut failures = Vec::new();
    for &seed in &args.seeds {
        match run_seed(&runsc, &fuzzer, &work, seed, share.max(1)) {
            Ok(summary) => println!("{summary}"),
            Err(err) => {
                println!("seed {seed}: FAILED: {err:#}");
                failures.push(seed);
            }
        }
    }
    if !failures.is_empty() {
        bail!("the fuzzer failed on seeds {failures:?}");
    }
    Ok(())
}

/// fuzz/fuzz.c, built static (the sandbox has no loader of its own to find).
fn build_fuzzer(root: &Path, work: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    let binary = work.join("fuzz");
    run_checked(
        Command::new("gcc")
            .args(["-O2", "-static", "-Wall", "-Wextra", "-Werror", "-o"])
            .arg(&binary)
            .arg(root.join("fuzz/fuzz.c")),
    )?;
    Ok(binary)
}

/// One seed in a fresh sandbox, from a fresh, empty host directory.
fn run_seed(runsc: &Path, fuzzer: &Path, work: &Path, seed: u64, seconds: u64) -> Result<String> {
    let cwd = work.join(format!("run-{seed}"));
    if cwd.exists() {
        std::fs::remove_dir_all(&cwd).with_context(|| format!("removing {}", cwd.display()))?;
    }
    std::fs::create_dir_all(&cwd).with_context(|| format!("creating {}", cwd.display()))?;
    let mark = format!("{}-{seed}", std::process::id());
    let start = Instant::now();
    let run = run_captured(
        Command::new(runsc)
            .current_dir(&cwd)
            .env(MARK_VAR, &mark)
            .arg("do")
            .arg(fuzzer)
            .args([&seed.to_string(), &MAX_CALLS.to_string(), "--seconds"])
            .arg(seconds.to_string()),
        Duration::from_secs(seconds) + GRACE,
    )
    .context("hang: the sandbox did not end")?;
    let mut problems = Vec::new();
    let sentry_errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.contains("panic") || line.contains(" ERROR "))
        .collect();
    if !sentry_errors.is_empty() {
        problems.push(format!("the Sentry logged:\n{}", sentry_errors.join("\n")));
    }
    if !run.status.success() {
        problems.push(format!(
            "runsc ended with {}: {}{}",
            describe(run.status),
            run.stdout.trim(),
            run.stderr.trim()
        ));
    }
    let left_files = host_entries(&cwd)?;
    if !left_files.is_empty() {
        problems.push(format!("files left on the host: {left_files:?}"));
    }
    let survivors = processes_marked(&mark);
    if !survivors.is_empty() {
        problems.push(format!("processes outlived the sandbox: {survivors:?}"));
    }
    let summary = run
        .stdout
        .lines()
        .find(|line| line.starts_with("fuzz: seed"));
    if !problems.is_empty() {
        // What the fuzzer got through (or its HANG report) helps as much as what went wrong.
        bail!(
            "{}\n{}",
            problems.join("\n"),
            summary.unwrap_or(&run.stdout)
        );
    }
    let summary = summary.context("the fuzzer printed no summary")?;
    Ok(format!("{summary} [{:.0?} with runsc]", start.elapsed()))
}

fn host_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|entry| Ok(entry?.path()))
        .collect()
}

/// Pids whose environment carries `MARK_VAR=mark`, after giving the sandbox a second to go.
fn processes_marked(mark: &str) -> Vec<u32> {
    let needle = format!("{MARK_VAR}={mark}\0");
    let mut found = Vec::new();
    for _ in 0..10 {
        found = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/environ"))
                    .is_ok_and(|env| env.windows(needle.len()).any(|w| w == needle.as_bytes()))
            })
            .collect();
        if found.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    found
}
