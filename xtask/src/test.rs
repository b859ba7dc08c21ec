//! `cargo xtask test`: build everything, then run the whole suite.

use std::path::Path;

use anyhow::Result;

use crate::process::run_checked;

pub fn run(root: &Path) -> Result<()> {
    run_checked(
        std::process::Command::new(crate::cargo())
            .current_dir(root)
            .args(["build", "--workspace"]),
    )?;
    run_checked(
        std::process::Command::new(crate::cargo())
            .current_dir(root)
            .args(["test", "--workspace"]),
    )
}
