//! Collecting measurements and printing them: the median per row and runner, and ratios.

use std::collections::HashMap;
use std::fmt::Write;

use super::runner::Runner;

/// What a row measures: its samples are in ns, or in bytes for [`Unit::Megabytes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Time per operation of a case of the benchmark program.
    NsPerOp,
    /// Wall time of a whole run, shown in ms.
    WallMs,
    /// Memory, shown in MiB.
    Megabytes,
}

impl Unit {
    fn title(self) -> &'static str {
        match self {
            Unit::NsPerOp => "ns/op",
            Unit::WallMs => "ms",
            Unit::Megabytes => "MB",
        }
    }

    /// What a sample is multiplied by to be shown in this unit.
    fn scale(self) -> f64 {
        match self {
            Unit::NsPerOp => 1.0,
            Unit::WallMs => 1e-6,
            Unit::Megabytes => 1.0 / f64::from(1 << 20),
        }
    }
}

/// A sample (ns, or bytes for [`Unit::Megabytes`]), or why there is none.
pub type Measurement = Result<f64, String>;

pub struct Table {
    rows: Vec<(String, Unit)>,
    runners: Vec<Runner>,
    samples: HashMap<(String, Runner), Vec<Measurement>>,
}

impl Table {
    /// A table of `rows` (name and unit) by `runners`.
    pub fn new(rows: Vec<(String, Unit)>, runners: &[Runner]) -> Table {
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

    /// The median of a row's runs under `runner`: `None` where the row does not apply to the
    /// runner (nothing recorded), an error if any run failed.
    fn summary(&self, row: &str, runner: Runner) -> Option<Measurement> {
        let samples = self.samples.get(&(row.to_owned(), runner))?;
        let mut values = Vec::with_capacity(samples.len());
        for sample in samples {
            match sample {
                Ok(value) => values.push(*value),
                Err(reason) => return Some(Err(reason.clone())),
            }
        }
        median(&mut values).map(Ok)
    }

    pub fn render(&self) -> String {
        let ratios: Vec<(Runner, Runner)> = [
            (Runner::Ours, Runner::Native),
            (Runner::Ours, Runner::Gvisor),
        ]
        .into_iter()
        .filter(|(a, b)| self.runners.contains(a) && self.runners.contains(b))
        .collect();
        let mut header = vec!["case".to_owned(), "unit".to_owned()];
        header.extend(self.runners.iter().map(|runner| runner.title().to_owned()));
        header.extend(
            ratios
                .iter()
                .map(|(a, b)| format!("{}/{}", a.title(), b.title())),
        );

        let mut lines = vec![header];
        let mut reasons = Vec::new();
        for (row, unit) in &self.rows {
            let mut cells = vec![row.clone(), unit.title().to_owned()];
            for &runner in &self.runners {
                cells.push(match self.summary(row, runner) {
                    Some(Ok(value)) => format_value(value * unit.scale()),
                    Some(Err(reason)) => {
                        reasons.push(format!("{row} under {}: {reason}", runner.title()));
                        "n/a".to_owned()
                    }
                    None => NOT_APPLICABLE.to_owned(),
                });
            }
            for &(a, b) in &ratios {
                cells.push(match (self.summary(row, a), self.summary(row, b)) {
                    (Some(Ok(a)), Some(Ok(b))) if b > 0.0 => format_ratio(a / b),
                    (None, _) | (_, None) => NOT_APPLICABLE.to_owned(),
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
                // The row's name and unit to the left, numbers to the right.
                if col == 0 {
                    let _ = write!(out, "{cell:<width$}", width = widths[col]);
                } else if col == 1 {
                    let _ = write!(out, "  {cell:<width$}", width = widths[col]);
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

/// A cell whose row does not apply to its runner (no Sentry to weigh natively).
const NOT_APPLICABLE: &str = "-";

fn format_value(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// Two significant digits or more: a ratio of 0.04 is not 0.0.
fn format_ratio(ratio: f64) -> String {
    if ratio >= 10.0 {
        format!("{ratio:.0}x")
    } else if ratio >= 1.0 {
        format!("{ratio:.1}x")
    } else {
        format!("{ratio:.2}x")
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

    fn rows(names: &[(&str, Unit)]) -> Vec<(String, Unit)> {
        names
            .iter()
            .map(|&(name, unit)| (name.to_owned(), unit))
            .collect()
    }

    fn line<'a>(text: &'a str, row: &str) -> &'a str {
        text.lines()
            .find(|line| line.starts_with(row))
            .unwrap_or_else(|| panic!("no {row} row in\n{text}"))
    }

    #[test]
    fn a_failed_run_makes_the_cell_na_with_its_reason() {
        let mut table = Table::new(
            rows(&[("getpid", Unit::NsPerOp)]),
            &[Runner::Native, Runner::Ours],
        );
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
        let row = line(&text, "getpid");
        assert!(row.contains("150") && row.contains("n/a"), "{text}");
        assert!(
            text.contains("getpid under ours: exit code 1: fork: ENOSYS"),
            "{text}"
        );
    }

    #[test]
    fn rows_show_their_unit_and_ratios() {
        let mut table = Table::new(
            rows(&[("startup", Unit::WallMs), ("peak RSS", Unit::Megabytes)]),
            &[Runner::Native, Runner::Ours, Runner::Gvisor],
        );
        table.record("startup", Runner::Native, Ok(2e6));
        table.record("startup", Runner::Ours, Ok(50e6));
        table.record("startup", Runner::Gvisor, Ok(200e6));
        table.record("peak RSS", Runner::Ours, Ok(f64::from(12 << 20)));
        table.record("peak RSS", Runner::Gvisor, Ok(f64::from(48 << 20)));
        let text = table.render();
        let startup: Vec<&str> = line(&text, "startup").split_whitespace().collect();
        assert_eq!(
            startup,
            ["startup", "ms", "2.0", "50.0", "200", "25x", "0.25x"],
            "{text}"
        );
        // Nothing recorded natively: the row does not apply there, which is no failure.
        let memory: Vec<&str> = line(&text, "peak RSS").split_whitespace().collect();
        assert_eq!(
            memory,
            ["peak", "RSS", "MB", "-", "12.0", "48.0", "-", "0.25x"],
            "{text}"
        );
        assert!(!text.contains("n/a"), "{text}");
    }
}
