//! CPython's regression tests (Debian's libpython3.11-testsuite): each module listed in
//! conformance/cpython/modules.txt runs natively and sandboxed; it passes when it passes in
//! both. Modules in blocklist.txt are known to fail in the sandbox and are reported as skipped
//! with their reason, unless they unexpectedly pass.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::report::{Row, Suite, Verdict};
use super::runner::{ending, seconds, Job, Run, Runner};
use crate::process::describe;

/// Debian's interpreter, whose standard library has the test package; not a PATH lookup, which
/// may find another Python without it.
const PYTHON: &str = "/usr/bin/python3";

/// The shell that starts each module's python (see `run_module`).
const SHELL: &str = "/bin/sh";

/// The slowest listed module (test_subprocess) takes about 40s sandboxed on an idle machine and
/// up to 150s on a loaded 2-core one; the timeout leaves room for that and still bounds a hung
/// module, which CI pays in full.
const TIMEOUT: Duration = Duration::from_secs(240);

/// Python's tempfile module, and so regrtest's working directory, honour it.
const SCRATCH_VAR: &str = "TMPDIR";

pub fn run(root: &Path, runner: &Runner, filter: Option<&str>) -> Result<Suite> {
    let dir = root.join("conformance/cpython");
    let modules = read_list(&dir.join("modules.txt"))?;
    let blocklist = read_blocklist(&dir.join("blocklist.txt"))?;
    if let Some(stray) = blocklist.keys().find(|module| !modules.contains(module)) {
        bail!("blocklist.txt names {stray}, which modules.txt does not list");
    }
    let selected: Vec<&String> = modules
        .iter()
        .filter(|module| filter.is_none_or(|filter| module.contains(filter)))
        .collect();
    let missing = if selected.is_empty() {
        None
    } else {
        missing_suite()
    };
    let mut rows = Vec::new();
    for module in selected {
        let row = match &missing {
            Some(reason) => Row::skipped(module, reason.clone()),
            None => run_module(runner, module, blocklist.get(module))?,
        };
        eprintln!("xtask: cpython {module}: {}", row.verdict.word());
        rows.push(row);
    }
    Ok(Suite {
        title: format!("CPython regression tests ({PYTHON} -m test)"),
        rows,
    })
}

/// Why the suite cannot run here, if it cannot.
fn missing_suite() -> Option<String> {
    let has_suite = Command::new(PYTHON)
        .args(["-B", "-c", "import test.libregrtest, test.test_int"])
        .output()
        .is_ok_and(|output| output.status.success());
    (!has_suite).then(|| {
        format!("{PYTHON} or its test suite is missing (apt-get install python3 libpython3.11-testsuite)")
    })
}

/// Lines without comments ('#' to the end) or surrounding blanks, empty ones dropped.
fn entries(text: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    text.lines().filter_map(|line| {
        let (entry, comment) = match line.split_once('#') {
            Some((entry, comment)) => (entry.trim(), Some(comment.trim())),
            None => (line.trim(), None),
        };
        (!entry.is_empty()).then_some((entry, comment))
    })
}

fn read_list(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(entries(&text)
        .map(|(module, _)| module.to_owned())
        .collect())
}

/// `module  # reason` per line; every entry must give its reason.
fn read_blocklist(path: &Path) -> Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_blocklist(&text).with_context(|| format!("in {}", path.display()))
}

fn parse_blocklist(text: &str) -> Result<BTreeMap<String, String>> {
    let mut blocklist = BTreeMap::new();
    for (module, reason) in entries(text) {
        match reason {
            Some(reason) if !reason.is_empty() => {
                blocklist.insert(module.to_owned(), reason.to_owned());
            }
            _ => bail!("{module} has no reason (write `{module}  # why it fails`)"),
        }
    }
    Ok(blocklist)
}

/// What regrtest made of one module.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Passed,
    /// The module skipped itself ("test_epoll skipped -- kernel doesn't support epoll()").
    Skipped(String),
    Failed(String),
}

/// One module's regrtest run.
pub struct Module {
    name: String,
    /// Its scratch directory's name.
    job_name: String,
    args: [OsString; 7],
}

impl Module {
    pub fn new(name: &str) -> Module {
        // -B: no .pyc writes (natively they would land in the host's tree). Sequential,
        // in-process: regrtest's -j runs each module in a child interpreter, which would test
        // process creation as well.
        // Python runs under a shell that stays its parent, both ways: in the sandbox the first
        // process is pid 1, which inherits orphans, and regrtest would count a test's orphaned
        // grandchild (test_posix's register_at_fork) as a leak; natively python isn't init either.
        let args = [
            "-c".into(),
            "\"$0\" \"$@\"; exit $?".into(),
            PYTHON.into(),
            "-B".into(),
            "-m".into(),
            "test".into(),
            name.into(),
        ];
        Module {
            name: name.to_owned(),
            job_name: format!("cpython/{name}"),
            args,
        }
    }

    /// The job that runs it, natively or sandboxed.
    pub fn job(&self) -> Job<'_> {
        Job {
            name: &self.job_name,
            program: Path::new(SHELL),
            args: &self.args,
            scratch_var: SCRATCH_VAR,
            // tempfile needs TMPDIR to exist; its names don't collide with the host's files.
            sandbox_scratch: "/tmp",
            timeout: TIMEOUT,
        }
    }

    /// What regrtest made of the module in `run`: a pass, a skip (the module skipped itself), or
    /// a failure with regrtest's account.
    pub fn verdict(&self, run: &Run) -> Verdict {
        match outcome(&self.name, run) {
            Outcome::Passed => Verdict::Pass,
            Outcome::Skipped(reason) => Verdict::Skip(reason),
            Outcome::Failed(reason) => Verdict::Fail(reason),
        }
    }
}

/// A blocklisted module runs sandboxed first, and natively only if that passed: a known failure
/// costs one run, and an unexpected pass is still noticed.
fn run_module(runner: &Runner, module: &str, blocked: Option<&String>) -> Result<Row> {
    let module_run = Module::new(module);
    let job = module_run.job();
    let sandboxed = runner.sandboxed(&job);
    let sandboxed_outcome = outcome(module, &sandboxed);
    if let Some(reason) = blocked {
        if sandboxed_outcome != Outcome::Passed {
            return Ok(Row {
                test: module.to_owned(),
                native: "-".to_owned(),
                sandboxed: cell(&sandboxed, &sandboxed_outcome),
                verdict: Verdict::Skip(format!("blocklisted: {reason}")),
            });
        }
    }
    let native = runner.native(&job)?;
    let native_outcome = outcome(module, &native);
    Ok(Row {
        test: module.to_owned(),
        native: cell(&native, &native_outcome),
        sandboxed: cell(&sandboxed, &sandboxed_outcome),
        verdict: verdict(blocked, native_outcome, sandboxed_outcome),
    })
}

fn verdict(blocked: Option<&String>, native: Outcome, sandboxed: Outcome) -> Verdict {
    match (blocked, native, sandboxed) {
        (Some(_), Outcome::Passed, Outcome::Passed) => {
            Verdict::Skip("blocklisted but passed — remove from blocklist".to_owned())
        }
        (Some(reason), _, _) => Verdict::Skip(format!("blocklisted: {reason}")),
        (None, Outcome::Skipped(reason), _) => Verdict::Skip(format!("natively: {reason}")),
        (None, Outcome::Failed(reason), _) => Verdict::Fail(format!("native: {reason}")),
        (None, Outcome::Passed, Outcome::Passed) => Verdict::Pass,
        (None, Outcome::Passed, Outcome::Skipped(reason) | Outcome::Failed(reason)) => {
            Verdict::Fail(format!("sandboxed: {reason}"))
        }
    }
}

/// Reads regrtest's report on `module` (it exits 0 for a module that skipped itself or ran no
/// tests, so the status alone does not tell).
fn outcome(module: &str, run: &Run) -> Outcome {
    let captured = match run {
        Ok(captured) => captured,
        Err(err) => return Outcome::Failed(err.to_string()),
    };
    let output = format!("{}\n{}", captured.stdout, captured.stderr);
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let skipped = format!("{module} skipped");
    if let Some(line) = lines.iter().find(|line| line.starts_with(&skipped)) {
        let reason = line
            .split_once(" -- ")
            .map_or("skipped", |(_, reason)| reason);
        return Outcome::Skipped(reason.to_owned());
    }
    if captured.status.success() && lines.contains(&"1 test OK.") {
        return Outcome::Passed;
    }
    // regrtest's own account ("test_x failed (2 errors)", "test_x ran no tests"), else the last
    // thing it wrote.
    let account = lines
        .iter()
        .find(|line| {
            line.strip_prefix(module).is_some_and(|rest| {
                [" failed", " crashed", " ran no tests"]
                    .iter()
                    .any(|word| rest.starts_with(word))
            })
        })
        .or_else(|| {
            lines.iter().rev().find(|line| {
                !line.starts_with("Tests result") && !line.starts_with("Total duration")
            })
        });
    Outcome::Failed(match account {
        Some(line) => format!("{}: {line}", describe(captured.status)),
        None => describe(captured.status),
    })
}

/// "ok, 0.42s", "skipped, 0.05s", "exit code 2, 0.40s" or why it never finished.
fn cell(run: &Run, outcome: &Outcome) -> String {
    let Ok(captured) = run else {
        return ending(run);
    };
    let how = match outcome {
        Outcome::Passed => "ok".to_owned(),
        Outcome::Skipped(_) => "skipped".to_owned(),
        Outcome::Failed(_) => ending(run),
    };
    format!("{how}, {}", seconds(captured))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_drop_comments_and_blank_lines() {
        let modules: Vec<_> = entries("# header\n\ntest_int\n  test_list  # trailing\n")
            .map(|(module, _)| module)
            .collect();
        assert_eq!(modules, ["test_int", "test_list"]);
    }

    #[test]
    fn blocklist_entries_carry_their_reason() {
        let blocklist =
            parse_blocklist("# why\ntest_signal  # no signal delivery\n").expect("parses");
        assert_eq!(
            blocklist.get("test_signal").map(String::as_str),
            Some("no signal delivery")
        );
    }

    #[test]
    fn blocklist_entries_without_a_reason_are_refused() {
        assert!(parse_blocklist("test_signal\n").is_err());
        assert!(parse_blocklist("test_signal  #\n").is_err());
    }

    fn finished(code: i32, stdout: &str) -> Run {
        use std::os::unix::process::ExitStatusExt;
        Ok(crate::process::Captured {
            status: std::process::ExitStatus::from_raw(code << 8),
            stdout: stdout.to_owned(),
            stderr: String::new(),
            wall: Duration::from_millis(10),
        })
    }

    #[test]
    fn a_module_passes_only_when_regrtest_says_it_ran_ok() {
        let ok = "[1/1] test_int\n\n== Tests result: SUCCESS ==\n\n1 test OK.\n";
        assert_eq!(outcome("test_int", &finished(0, ok)), Outcome::Passed);
        let no_tests = "test_subprocess ran no tests\n\n== Tests result: NO TEST RUN ==\n";
        assert_eq!(
            outcome("test_subprocess", &finished(0, no_tests)),
            Outcome::Failed("exit code 0: test_subprocess ran no tests".to_owned())
        );
    }

    #[test]
    fn a_module_that_skips_itself_is_skipped_with_its_reason() {
        let skipped = "test_epoll skipped -- kernel doesn't support epoll()\ntest_epoll skipped\n";
        assert_eq!(
            outcome("test_epoll", &finished(0, skipped)),
            Outcome::Skipped("kernel doesn't support epoll()".to_owned())
        );
    }

    #[test]
    fn a_failed_module_reports_regrtest_s_account() {
        let failed = "test test_bytes failed -- multiple errors\ntest_bytes failed (2 errors)\n\nTests result: FAILURE\n";
        assert_eq!(
            outcome("test_bytes", &finished(2, failed)),
            Outcome::Failed("exit code 2: test_bytes failed (2 errors)".to_owned())
        );
    }

    #[test]
    fn blocklisted_modules_are_skipped_unless_they_pass_both_ways() {
        let reason = "needs fork".to_owned();
        let failed = || Outcome::Failed("x".to_owned());
        assert_eq!(
            verdict(Some(&reason), Outcome::Passed, failed()),
            Verdict::Skip("blocklisted: needs fork".to_owned())
        );
        assert_eq!(
            verdict(Some(&reason), Outcome::Passed, Outcome::Passed),
            Verdict::Skip("blocklisted but passed — remove from blocklist".to_owned())
        );
        assert_eq!(
            verdict(
                None,
                Outcome::Passed,
                Outcome::Skipped("no epoll".to_owned())
            ),
            Verdict::Fail("sandboxed: no epoll".to_owned())
        );
    }
}
