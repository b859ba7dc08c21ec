//! `cargo xtask`: the project's build, test and benchmark entry points.

mod bench;
mod conformance;
mod fuzz;
mod process;
mod test;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "cargo xtask", about = "build, test and benchmark rvisor")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Lint, build the workspace, then run the whole test suite (what CI runs).
    Test,
    /// rustfmt --check and clippy with the workspace lints, warnings as errors.
    Lint,
    /// Regenerate docs/compatibility.md from the syscall table.
    Compat,
    /// Run the microbenchmark natively, under our runsc and under gVisor's, and compare.
    Bench(bench::BenchArgs),
    /// Run the conformance suites (ours and CPython's) natively and sandboxed, and compare.
    Conformance(conformance::ConformanceArgs),
    /// Run the syscall fuzzer (fuzz/fuzz.c) under our runsc on fixed seeds, for a bounded time.
    Fuzz(fuzz::FuzzArgs),
    /// Run one conformance program or CPython module sandboxed N times: passed / failed / hung.
    Stress(conformance::StressArgs),
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Test => test::run(&workspace_root()),
        Command::Lint => test::lint(&workspace_root()),
        Command::Compat => test::compat(&workspace_root()),
        Command::Bench(args) => bench::run(&workspace_root(), &args),
        Command::Conformance(args) => conformance::run(&workspace_root(), &args),
        Command::Fuzz(args) => fuzz::run(&workspace_root(), &args),
        Command::Stress(args) => conformance::stress(&workspace_root(), &args),
    }
}

/// The workspace root: xtask lives one level below it.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Where cargo puts build outputs: `CARGO_TARGET_DIR`, else `target/` in the workspace.
fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from)
}

/// A directory for what the sandbox runs or reads (test binaries, staged scripts), at the same
/// path inside it as on the host: the target directory, unless that lies under the host's /tmp
/// (a clone under /tmp), which the sandbox's own tmpfs hides; then a directory of this target
/// directory's own under /var/tmp, which the sandbox shows like the rest of the host's root.
fn sandbox_visible_dir(root: &Path) -> PathBuf {
    let target = target_dir(root);
    let target = target.canonicalize().unwrap_or(target);
    if !target.starts_with("/tmp") {
        return target;
    }
    let mut hasher = std::hash::DefaultHasher::new();
    std::hash::Hash::hash(&target, &mut hasher);
    PathBuf::from(format!(
        "/var/tmp/rvisor-{:016x}",
        std::hash::Hasher::finish(&hasher)
    ))
}

/// Builds our runsc (release) and returns where it is.
fn build_runsc(root: &Path) -> Result<PathBuf> {
    process::run_checked(std::process::Command::new(cargo()).current_dir(root).args([
        "build",
        "--release",
        "-p",
        "runsc",
    ]))?;
    Ok(target_dir(root).join("release/runsc"))
}

/// The cargo that runs us (`cargo xtask`), so toolchain overrides carry over.
fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}
