//! Collecting measurements and printing them: ns/op per case and runner (median), and ratios.

use std::collections::HashMap;
use std::fmt::Write;

use super::runner::Runner;

/// The row for the wall time of a whole run of /bin/true (ms, not ns/op).
pub const STARTUP: &str = "runsc do /bin/true, wall ms";

/// ns per operation (for [`STARTUP`]: ns of the whole run), or why there is none.
pub type Measurement = Result<f64, String>;

pub struct Table {
    rows: Vec<String>,
    runners: Vec<Runner>,
    samples: HashMap<(String, Runner), Vec<Measurement>>,
}

impl Table {
    pub fn new(cases: &[String], runners: &[Runner]) -> Table {
        let mut rows = cases.to_vec();
        rows.push(STARTUP.to_owned());
        Table {
            rows,
            runners: runners.to_vec(),
            samples: HashMap::new(),
        }
    }

    pub fn record(&mut self, row: &str, runner: Runner, measurement: Measurement) {
        if let Err(reason) = &measurement {
            eprintln!("xtask: {row} under {}: {reason}", runner.title());
        }
        self.samples
            .entry((row.to_owned(), runner))
            .or_default()
            .push(measurement);
    }

    /// The median of a row's runs under `runner`; any failed run makes it n/a.
    fn summary(&self, row: &str, runner: Runner) -> Measurement {
        let samples = self
            .samples
            .get(&(row.to_owned(), runner))
            .map_or(&[][..], Vec::as_slice);
        let mut values = Vec::with_capacity(samples.len());
        for sample in samples {
            values.push(sample.clone()?);
        }
        median(&mut values).ok_or_else(|| "not measured".to_owned())
    }

    pub fn render(&self) -> String {
        let ratios: Vec<(Runner, Runner)> = [
            (Runner::Ours, Runner::Native),
            (Runner::Ours, Runner::Gvisor),
        ]
        .into_iter()
        .filter(|(a, b)| self.runners.contains(a) && self.runners.contains(b))
        .collect();
        let mut header = vec!["case (ns/op)".to_owned()];
        header.extend(self.runners.iter().map(|runner| runner.title().to_owned()));
        header.extend(
            ratios
                .iter()
                .map(|(a, b)| format!("{}/{}", a.title(), b.title())),
        );

        let mut lines = vec![header];
        let mut reasons = Vec::new();
        for row in &self.rows {
            let scale = if row == STARTUP { 1e-6 } else { 1.0 };
            let mut cells = vec![row.clone()];
            for &runner in &self.runners {
                cells.push(match self.summary(row, runner) {
                    Ok(value) => format_value(value * scale),
                    Err(reason) => {
                        reasons.push(format!("{row} under {}: {reason}", runner.title()));
                        "n/a".to_owned()
                    }
                });
            }
            for &(a, b) in &ratios {
                cells.push(match (self.summary(row, a), self.summary(row, b)) {
                    (Ok(a), Ok(b)) if b > 0.0 => format!("{:.1}x", a / b),
                    _ => "n/a".to_owned(),
                });
            }
            lines.push(cells);
        }

        let mut out = String::new();
        let widths: Vec<usize> = (0..lines[0].len())
            .map(|col| lines.iter().map(|line| line[col].len()).max().unwrap_or(0))
            .collect();
        for line in &lines {
            for (col, cell) in line.iter().enumerate() {
                if col == 0 {
                    let _ = write!(out, "{cell:<width$}", width = widths[col]);
                } else {
                    let _ = write!(out, "  {cell:>width$}", width = widths[col]);
                }
            }
            out.push('\n');
        }
        for reason in reasons {
            let _ = writeln!(out, "n/a: {reason}");
        }
        out
    }
}

fn format_value(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_three_is_the_middle_one() {
        assert_eq!(median(&mut [30.0, 10.0, 20.0]), Some(20.0));
        assert_eq!(median(&mut []), None);
    }

    #[test]
    fn a_failed_run_makes_the_cell_na_with_its_reason() {
        let cases = vec!["getpid".to_owned()];
        let mut table = Table::new(&cases, &[Runner::Native, Runner::Ours]);
        for ns in [150.0, 140.0, 160.0] {
            table.record("getpid", Runner::Native, Ok(ns));
        }
        table.record("getpid", Runner::Ours, Ok(15_000.0));
        table.record(
            "getpid",
            Runner::Ours,
            Err("exit code 1: fork: ENOSYS".to_owned()),
        );
        let text = table.render();
        let row = text
            .lines()
            .find(|line| line.starts_with("getpid"))
            .expect("getpid row");
        assert!(row.contains("150") && row.contains("n/a"), "{text}");
        assert!(
            text.contains("getpid under ours: exit code 1: fork: ENOSYS"),
            "{text}"
        );
    }
}
