//! What a conformance run reports: a verdict per test, a table per suite, and the totals.

use std::fmt;

/// Whether a test passed, and why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail(String),
    Skip(String),
}

impl Verdict {
    /// "pass", "FAIL" or "skip", for progress lines.
    pub fn word(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail(_) => "FAIL",
            Verdict::Skip(_) => "skip",
        }
    }
}

/// One test's line in its suite's table.
#[derive(Debug)]
pub struct Row {
    pub test: String,
    pub native: String,
    pub sandboxed: String,
    pub verdict: Verdict,
}

impl Row {
    /// A test that did not run (the cells say so).
    pub fn skipped(test: &str, reason: String) -> Row {
        Row {
            test: test.to_owned(),
            native: "-".to_owned(),
            sandboxed: "-".to_owned(),
            verdict: Verdict::Skip(reason),
        }
    }

    fn result(&self) -> String {
        match &self.verdict {
            Verdict::Pass => self.verdict.word().to_owned(),
            Verdict::Fail(reason) | Verdict::Skip(reason) => {
                format!("{}: {reason}", self.verdict.word())
            }
        }
    }
}

/// A suite's rows, in the order they ran.
#[derive(Debug)]
pub struct Suite {
    pub title: String,
    pub rows: Vec<Row>,
}

impl Suite {
    /// The suite as an aligned text table: test, native, sandboxed, result.
    pub fn render(&self) -> String {
        let header = ["test", "native", "sandboxed", "result"].map(str::to_owned);
        let lines: Vec<[String; 4]> = std::iter::once(header)
            .chain(self.rows.iter().map(|row| {
                [
                    row.test.clone(),
                    row.native.clone(),
                    row.sandboxed.clone(),
                    row.result(),
                ]
            }))
            .collect();
        let width = |column: usize| {
            lines
                .iter()
                .map(|line| line[column].chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths = [width(0), width(1), width(2)];
        let mut out = format!("\n{}\n\n", self.title);
        for line in &lines {
            for (cell, width) in line.iter().zip(widths) {
                out.push_str(&format!("{cell:<width$}  "));
            }
            out.push_str(&line[3]);
            out.push('\n');
        }
        out
    }
}

/// How many tests passed, failed and were skipped, over all suites.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Totals {
    pub fn of(suites: &[Suite]) -> Totals {
        let mut totals = Totals::default();
        for row in suites.iter().flat_map(|suite| &suite.rows) {
            match row.verdict {
                Verdict::Pass => totals.passed += 1,
                Verdict::Fail(_) => totals.failed += 1,
                Verdict::Skip(_) => totals.skipped += 1,
            }
        }
        totals
    }
}

impl fmt::Display for Totals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(test: &str, verdict: Verdict) -> Row {
        Row {
            test: test.to_owned(),
            native: "ok".to_owned(),
            sandboxed: "exit code 1".to_owned(),
            verdict,
        }
    }

    #[test]
    fn totals_count_every_suite_and_print_the_final_line() {
        let suites = [
            Suite {
                title: "a".to_owned(),
                rows: vec![
                    row("x", Verdict::Pass),
                    row("y", Verdict::Fail("z".to_owned())),
                ],
            },
            Suite {
                title: "b".to_owned(),
                rows: vec![row("p", Verdict::Pass), Row::skipped("q", "r".to_owned())],
            },
        ];
        let totals = Totals::of(&suites);
        assert_eq!(totals.to_string(), "2 passed, 1 failed, 1 skipped");
    }

    #[test]
    fn table_aligns_columns_and_leaves_the_result_unpadded() {
        let suite = Suite {
            title: "suite".to_owned(),
            rows: vec![
                row("fs/files", Verdict::Pass),
                row("t", Verdict::Fail("outputs differ".to_owned())),
            ],
        };
        let rendered = suite.render();
        let lines: Vec<&str> = rendered.lines().skip(3).collect();
        assert_eq!(
            lines,
            [
                "test      native  sandboxed    result",
                "fs/files  ok      exit code 1  pass",
                "t         ok      exit code 1  FAIL: outputs differ",
            ]
        );
    }
}
