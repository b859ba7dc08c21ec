//! The project's own suite: programs under conformance/tests/<family>/<name>.{c,sh,py}, one per
//! area. C programs (built with gcc -static) print "ok CHECK" or "FAIL CHECK: details" per check;
//! shell and Python scripts (run by bash and python3 from the sandbox's root, which is the host's)
//! exercise real programs — coreutils, bash job control, gcc, python's process and thread
//! modules — and print what they saw. A test passes when it exits 0 both natively and sandboxed
//! with identical output.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use super::report::{Row, Suite, Verdict};
use super::runner::{ending, seconds, Job, Run, Runner};
use crate::process::{describe, Captured};

/// Each program makes a few dozen system calls and sleeps for milliseconds.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Where the programs ask for their scratch directory (see conformance/tests/check.h).
const SCRATCH_VAR: &str = "TEST_TMPDIR";
/// A directory the host's /tmp doesn't have, so the test starts with it empty (check.h makes it).
const SANDBOX_SCRATCH: &str = "/tmp/rvisor-conformance-scratch";

pub fn run(root: &Path, runner: &Runner, filter: Option<&str>) -> Result<Suite> {
    let tests: Vec<(String, PathBuf)> = list_tests(&root.join("conformance/tests"))?
        .into_iter()
        .filter(|(name, _)| filter.is_none_or(|filter| name.contains(filter)))
        .collect();
    let gcc_missing = !tests.is_empty() && !gcc_available();
    let mut rows = Vec::new();
    for (name, source) in &tests {
        let row = match prepare(root, name, source, gcc_missing)? {
            Prepared::Ready(program) => run_test(runner, &program)?,
            Prepared::Unrunnable(row) => row,
        };
        eprintln!("xtask: conformance {name}: {}", row.verdict.word());
        rows.push(row);
    }
    Ok(Suite {
        title: "Conformance programs (conformance/tests)".to_owned(),
        rows,
    })
}

/// A test program built or staged where the sandbox can run it.
pub struct Program {
    pub name: String,
    pub path: PathBuf,
    pub args: Vec<OsString>,
}

impl Program {
    /// The job that runs it, natively or sandboxed.
    pub fn job(&self) -> Job<'_> {
        Job {
            name: &self.name,
            program: &self.path,
            args: &self.args,
            scratch_var: SCRATCH_VAR,
            sandbox_scratch: SANDBOX_SCRATCH,
            timeout: TIMEOUT,
        }
    }
}

/// A test ready to run, or the row that says why it can't.
enum Prepared {
    Ready(Program),
    Unrunnable(Row),
}

/// Builds (C) or stages (scripts) test `name` from `source`.
fn prepare(root: &Path, name: &str, source: &Path, gcc_missing: bool) -> Result<Prepared> {
    let bin_dir = crate::sandbox_visible_dir(root).join("conformance/bin");
    let ready = |path: PathBuf, args: Vec<OsString>| {
        Prepared::Ready(Program {
            name: name.to_owned(),
            path,
            args,
        })
    };
    Ok(match kind_of(source) {
        None => Prepared::Unrunnable(Row::skipped(name, "not a test source".to_owned())),
        Some(Kind::C) if gcc_missing => Prepared::Unrunnable(Row::skipped(
            name,
            "gcc not found (apt-get install gcc libc6-dev)".to_owned(),
        )),
        Some(Kind::C) => {
            let binary = bin_dir.join(name);
            match compile(source, &binary)? {
                Some(error) => Prepared::Unrunnable(Row {
                    native: "-".to_owned(),
                    sandboxed: "-".to_owned(),
                    verdict: Verdict::Fail(format!("does not compile: {error}")),
                    test: name.to_owned(),
                }),
                None => ready(binary, Vec::new()),
            }
        }
        Some(Kind::Script(interpreter)) if !Path::new(interpreter).exists() => {
            Prepared::Unrunnable(Row::skipped(name, format!("{interpreter} not found")))
        }
        Some(Kind::Script(interpreter)) => {
            // Staged beside the binaries, where the sandbox sees them.
            let script = bin_dir.join(format!("{name}.{}", extension(source)));
            stage(source, &script)?;
            ready(PathBuf::from(interpreter), vec![script.into_os_string()])
        }
    })
}

/// The conformance program `name` ("process/pthreads"), ready to run; `Ok(None)` if there is no
/// such test, an error if it can't run here.
pub fn find(root: &Path, name: &str) -> Result<Option<Program>> {
    let Some((name, source)) = list_tests(&root.join("conformance/tests"))?
        .into_iter()
        .find(|(test, _)| test == name)
    else {
        return Ok(None);
    };
    let gcc_missing = kind_of(&source) == Some(Kind::C) && !gcc_available();
    match prepare(root, &name, &source, gcc_missing)? {
        Prepared::Ready(program) => Ok(Some(program)),
        Prepared::Unrunnable(row) => bail!("{name} can't run: {:?}", row.verdict),
    }
}

/// How a test's source becomes something to run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Compiled with gcc.
    C,
    /// Run by this interpreter.
    Script(&'static str),
}

fn kind_of(source: &Path) -> Option<Kind> {
    match source.extension()?.to_str()? {
        "c" => Some(Kind::C),
        "sh" => Some(Kind::Script("/bin/bash")),
        "py" => Some(Kind::Script("/usr/bin/python3")),
        _ => None,
    }
}

/// ("family/name", source) for every `family/name.{c,sh,py}`, sorted.
fn list_tests(sources: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut tests = Vec::new();
    for family in read_dir_sorted(sources)? {
        if !family.is_dir() {
            continue;
        }
        for source in read_dir_sorted(&family)? {
            if kind_of(&source).is_some() {
                let name = format!("{}/{}", file_name(&family), stem(&source));
                tests.push((name, source));
            }
        }
    }
    Ok(tests)
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|entry| entry.map(|entry| entry.path()))
        .collect::<std::io::Result<Vec<_>>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    paths.sort();
    Ok(paths)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned())
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(String::new, |stem| stem.to_string_lossy().into_owned())
}

fn gcc_available() -> bool {
    Command::new("gcc")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Builds `source` into `binary`; `Some(first error line)` when gcc refuses it.
fn compile(source: &Path, binary: &Path) -> Result<Option<String>> {
    if let Some(dir) = binary.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let output = Command::new("gcc")
        .args(["-O2", "-static", "-Wall", "-o"])
        .arg(binary)
        .arg(source)
        .output()
        .with_context(|| format!("running gcc on {}", source.display()))?;
    if output.status.success() {
        return Ok(None);
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let error = stderr
        .lines()
        .find(|line| line.contains("error"))
        .map_or_else(|| describe(output.status), str::to_owned);
    Ok(Some(error))
}

fn extension(path: &Path) -> String {
    path.extension()
        .map_or_else(String::new, |ext| ext.to_string_lossy().into_owned())
}

/// Copies a script to where the sandbox can read it.
fn stage(source: &Path, staged: &Path) -> Result<()> {
    if let Some(dir) = staged.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::copy(source, staged)
        .with_context(|| format!("copying {} to {}", source.display(), staged.display()))?;
    Ok(())
}

fn run_test(runner: &Runner, program: &Program) -> Result<Row> {
    let job = program.job();
    let native = runner.native(&job)?;
    let sandboxed = runner.sandboxed(&job);
    Ok(Row {
        test: program.name.clone(),
        native: cell(&native),
        sandboxed: cell(&sandboxed),
        verdict: verdict(&native, &sandboxed),
    })
}

/// "28 ok, 0.01s" (or "12 lines, 0.3s" for a script without check lines) or
/// "exit code 1: 16/17 ok".
fn cell(run: &Run) -> String {
    match run {
        Ok(captured) => {
            let (ok, total) = count_checks(&captured.stdout);
            if captured.status.success() && total == 0 {
                format!(
                    "{} lines, {}",
                    captured.stdout.lines().count(),
                    seconds(captured)
                )
            } else if captured.status.success() {
                format!("{ok} ok, {}", seconds(captured))
            } else {
                format!("{}: {ok}/{total} ok", describe(captured.status))
            }
        }
        Err(_) => ending(run),
    }
}

/// (checks that passed, all checks) in a program's output.
fn count_checks(stdout: &str) -> (usize, usize) {
    let ok = stdout
        .lines()
        .filter(|line| line.starts_with("ok "))
        .count();
    let failed = stdout
        .lines()
        .filter(|line| line.starts_with("FAIL "))
        .count();
    (ok, ok + failed)
}

/// A pass needs both runs to exit 0 with the same output.
pub fn verdict(native: &Run, sandboxed: &Run) -> Verdict {
    let (native, sandboxed) = match (native, sandboxed) {
        (Ok(native), Ok(sandboxed)) => (native, sandboxed),
        (Err(err), _) => return Verdict::Fail(format!("native: {err}")),
        (_, Err(err)) => return Verdict::Fail(format!("sandboxed: {err}")),
    };
    if !native.status.success() {
        return Verdict::Fail(format!("native: {}", failure(native)));
    }
    if !sandboxed.status.success() {
        return Verdict::Fail(format!("sandboxed: {}", failure(sandboxed)));
    }
    match first_difference(&native.stdout, &sandboxed.stdout) {
        Some(difference) => Verdict::Fail(difference),
        None => Verdict::Pass,
    }
}

/// The first failed check, else the last line of stderr, else how the program ended.
fn failure(captured: &Captured) -> String {
    captured
        .stdout
        .lines()
        .find(|line| line.starts_with("FAIL "))
        .or_else(|| {
            captured
                .stderr
                .lines()
                .rev()
                .find(|line| !line.trim().is_empty())
        })
        .map_or_else(|| describe(captured.status), str::to_owned)
}

fn first_difference(native: &str, sandboxed: &str) -> Option<String> {
    let mut native_lines = native.lines();
    let mut sandboxed_lines = sandboxed.lines();
    for line in 1.. {
        match (native_lines.next(), sandboxed_lines.next()) {
            (None, None) => return None,
            (a, b) if a == b => continue,
            (a, b) => {
                return Some(format!(
                    "outputs differ at line {line}: native {:?}, sandboxed {:?}",
                    a.unwrap_or("<end>"),
                    b.unwrap_or("<end>")
                ))
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_outputs_do_not_differ() {
        assert_eq!(first_difference("ok a\nok b\n", "ok a\nok b\n"), None);
    }

    #[test]
    fn first_difference_names_the_line_and_both_sides() {
        assert_eq!(
            first_difference("ok a\nok b\n", "ok a\nok c\nok d\n").as_deref(),
            Some(r#"outputs differ at line 2: native "ok b", sandboxed "ok c""#)
        );
        assert_eq!(
            first_difference("ok a\n", "ok a\nok b\n").as_deref(),
            Some(r#"outputs differ at line 2: native "<end>", sandboxed "ok b""#)
        );
    }

    #[test]
    fn checks_are_counted_from_their_lines() {
        assert_eq!(count_checks("ok a\nFAIL b: why\nnoise\nok c\n"), (2, 3));
    }

    #[test]
    fn the_suite_lists_every_family_s_programs() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance/tests");
        let names: Vec<String> = list_tests(&root)
            .expect("listing conformance/tests")
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        for family in ["fs/", "mm/", "process/", "time/", "signal/", "errors/"] {
            assert!(
                names.iter().any(|name| name.starts_with(family)),
                "no {family} test in {names:?}"
            );
        }
    }
}
