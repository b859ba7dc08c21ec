//! `cargo xtask conformance`: the project's own conformance programs (conformance/tests) and
//! CPython's regression tests, each run natively and under our runsc; a table per suite, then
//! `N passed, M failed, K skipped`. `cargo xtask stress` repeats one of their tests.

mod cpython;
mod programs;
mod report;
mod runner;
mod stress;

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Result};

use report::Totals;
use runner::Runner;
pub use stress::{run as stress, StressArgs};

#[derive(clap::Args, Debug)]
pub struct ConformanceArgs {
    /// The platform our runsc runs the tests on.
    #[arg(long, default_value = "ptrace")]
    platform: String,

    /// Run only the tests whose name contains this (e.g. `fs/`, `test_int`).
    #[arg(long, value_name = "F")]
    filter: Option<String>,
}

pub fn run(root: &Path, args: &ConformanceArgs) -> Result<()> {
    let start = Instant::now();
    let runner = Runner::new(
        crate::build_runsc(root)?,
        &args.platform,
        crate::target_dir(root).join("conformance/scratch"),
    );
    let filter = args.filter.as_deref();
    let suites = [
        programs::run(root, &runner, filter)?,
        cpython::run(root, &runner, filter)?,
    ];
    for suite in suites.iter().filter(|suite| !suite.rows.is_empty()) {
        print!("{}", suite.render());
    }
    let totals = Totals::of(&suites);
    eprintln!("xtask: conformance took {:.0?}", start.elapsed());
    println!("\n{totals}");
    if totals.failed > 0 {
        bail!("{} conformance tests failed", totals.failed);
    }
    Ok(())
}
