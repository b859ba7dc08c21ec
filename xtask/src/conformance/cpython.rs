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

/// A module of the initial list takes seconds; this bounds a hung one (e.g. waiting for a
/// signal the sandbox cannot deliver yet).
const TIMEOUT: Duration = Duration::from_secs(120);

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
    let driver = dir.join("regrtest.py");
    let mut rows = Vec::new();
    for module in selected {
        let row = match &missing {
            Some(reason) => Row::skipped(module, reason.clone()),
            None => run_module(runner, &driver, module, blocklist.get(module))?,
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

/// A blocklisted module runs sandboxed first, and natively only if that passed: a known failure
/// costs one run, and an unexpected pass is still noticed.
fn run_module(
    runner: &Runner,
    driver: &Path,
    module: &str,
    blocked: Option<&String>,
) -> Result<Row> {
    let args: [OsString; 3] = ["-B".into(), driver.into(), module.into()];
    let job = Job {
        name: &format!("cpython/{module}"),
        program: Path::new(PYTHON),
        args: &args,
        scratch_var: SCRATCH_VAR,
        timeout: TIMEOUT,
    };
    let sandboxed = runner.sandboxed(&job);
    if let Some(reason) = blocked {
        if !passed(&sandboxed) {
            return Ok(Row {
                test: module.to_owned(),
                native: "-".to_owned(),
                sandboxed: cell(&sandboxed),
                verdict: Verdict::Skip(format!("blocklisted: {reason}")),
            });
        }
    }
    let native = runner.native(&job)?;
    let verdict = match (blocked, passed(&native), passed(&sandboxed)) {
        (Some(_), true, _) => {
            Verdict::Skip("blocklisted but passed — remove from blocklist".to_owned())
        }
        (Some(reason), false, _) => Verdict::Skip(format!("blocklisted: {reason}")),
        (None, true, true) => Verdict::Pass,
        (None, false, _) => Verdict::Fail(format!("native: {}", failure(&native))),
        (None, true, false) => Verdict::Fail(format!("sandboxed: {}", failure(&sandboxed))),
    };
    Ok(Row {
        test: module.to_owned(),
        native: cell(&native),
        sandboxed: cell(&sandboxed),
        verdict,
    })
}

fn passed(run: &Run) -> bool {
    run.as_ref().is_ok_and(|captured| captured.status.success())
}

/// "ok, 0.42s" or "exit code 2, 0.40s".
fn cell(run: &Run) -> String {
    match run {
        Ok(captured) if captured.status.success() => format!("ok, {}", seconds(captured)),
        Ok(captured) => format!("{}, {}", ending(run), seconds(captured)),
        Err(_) => ending(run),
    }
}

/// How a failed run ended, with regrtest's own account ("test test_x failed -- ...") or else
/// the last line it wrote.
fn failure(run: &Run) -> String {
    let Ok(captured) = run else {
        return ending(run);
    };
    let output = format!("{}\n{}", captured.stdout, captured.stderr);
    let lines: Vec<&str> = output
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let account = lines
        .iter()
        .find(|line| {
            line.starts_with("test ") && (line.contains(" failed") || line.contains(" crashed"))
        })
        .or_else(|| {
            lines.iter().rev().find(|line| {
                !line.starts_with("Tests result") && !line.starts_with("Total duration")
            })
        });
    match account {
        Some(line) => format!("{}: {line}", describe(captured.status)),
        None => describe(captured.status),
    }
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
}
