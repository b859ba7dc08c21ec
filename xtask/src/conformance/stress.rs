//! `cargo xtask stress`: one conformance program or CPython module run sandboxed again and
//! again, to catch what fails only sometimes (a lost wake-up, a race with pid reuse); counts of
//! passed, failed and hung runs.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Result};

use super::cpython::Module;
use super::programs;
use super::report::Verdict;
use super::runner::{seconds, Job, Run, Runner, Unfinished};

#[derive(clap::Args, Debug)]
pub struct StressArgs {
    /// How many times to run the test.
    #[arg(long, default_value_t = 20, value_name = "N")]
    runs: u32,

    /// The platform our runsc runs the test on.
    #[arg(long, default_value = "ptrace")]
    platform: String,

    /// Seconds a run may take before it counts as hung (default: its suite's timeout).
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,

    /// A conformance program (`process/pthreads`) or a CPython test module (`test_subprocess`).
    #[arg(default_value = "test_subprocess")]
    test: String,
}

/// How one run went.
enum Ending {
    Passed,
    Failed(String),
    Hung,
}

/// The test under stress and how a run of it is judged.
enum Target {
    /// Judged against its native output, taken once.
    Program(programs::Program, Run),
    Module(Module),
}

impl Target {
    fn job(&self) -> Job<'_> {
        match self {
            Target::Program(program, _) => program.job(),
            Target::Module(module) => module.job(),
        }
    }

    fn judge(&self, run: &Run) -> Ending {
        if let Err(Unfinished::Hung(_)) = run {
            return Ending::Hung;
        }
        let verdict = match self {
            Target::Program(_, native) => programs::verdict(native, run),
            Target::Module(module) => module.verdict(run),
        };
        match verdict {
            Verdict::Pass => Ending::Passed,
            Verdict::Fail(reason) => Ending::Failed(reason),
            Verdict::Skip(reason) => Ending::Failed(format!("did not run: {reason}")),
        }
    }
}

pub fn run(root: &Path, args: &StressArgs) -> Result<()> {
    let runner = Runner::new(
        crate::build_runsc(root)?,
        &args.platform,
        crate::target_dir(root).join("conformance/scratch"),
    );
    let target = match programs::find(root, &args.test)? {
        Some(program) => {
            let native = runner.native(&program.job())?;
            if let Verdict::Fail(reason) = programs::verdict(&native, &native) {
                bail!("{} fails natively: {reason}", args.test);
            }
            Target::Program(program, native)
        }
        None if args.test.starts_with("test_") => Target::Module(Module::new(&args.test)),
        None => bail!(
            "no conformance program or CPython module named {} (e.g. process/pthreads, test_subprocess)",
            args.test
        ),
    };
    let mut job = target.job();
    if let Some(secs) = args.timeout {
        job.timeout = Duration::from_secs(secs);
    }
    let (mut passed, mut failed, mut hung) = (0, 0, 0);
    for n in 1..=args.runs {
        let run = runner.sandboxed(&job);
        let took = run.as_ref().map_or_else(|err| err.to_string(), seconds);
        let word = match target.judge(&run) {
            Ending::Passed => {
                passed += 1;
                "pass".to_owned()
            }
            Ending::Failed(reason) => {
                failed += 1;
                format!("FAIL: {reason}")
            }
            Ending::Hung => {
                hung += 1;
                "HANG".to_owned()
            }
        };
        eprintln!(
            "xtask: stress {} run {n}/{}: {word} ({took})",
            args.test, args.runs
        );
    }
    println!(
        "{}: {} runs: {passed} passed, {failed} failed, {hung} hung",
        args.test, args.runs
    );
    if failed + hung > 0 {
        bail!(
            "{} of {} runs of {} failed or hung",
            failed + hung,
            args.runs,
            args.test
        );
    }
    Ok(())
}
