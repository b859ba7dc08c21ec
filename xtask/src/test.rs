//! `cargo xtask test`, `lint` and `compat`: the checks CI runs, and regenerating what they check.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::process::run_checked;

/// `cargo <args>` in the workspace root.
fn cargo(root: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(crate::cargo());
    command.current_dir(root).args(args);
    command
}

/// Lints, builds everything, runs the whole suite, then the syscall fuzzer for about a minute.
pub fn run(root: &Path) -> Result<()> {
    lint(root)?;
    run_checked(&mut cargo(root, &["build", "--workspace"]))?;
    run_checked(&mut cargo(root, &["test", "--workspace"]))?;
    crate::fuzz::run(root, &crate::fuzz::FuzzArgs::default())
}

/// rustfmt and the workspace's clippy lints, with warnings as errors.
pub fn lint(root: &Path) -> Result<()> {
    run_checked(&mut cargo(root, &["fmt", "--all", "--check"]))?;
    run_checked(&mut cargo(
        root,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    ))
}

/// Rewrites docs/compatibility.md from the syscall table (the test that checks it, blessed).
pub fn compat(root: &Path) -> Result<()> {
    run_checked(
        cargo(root, &["test", "-p", "kernel", "--test", "compatibility"]).env("RVISOR_BLESS", "1"),
    )
}
