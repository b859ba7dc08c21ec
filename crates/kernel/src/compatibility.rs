//! The syscall compatibility table (docs/compatibility.md), rendered from the syscall table so
//! the document can't drift from what the Sentry serves.

use std::fmt::Write as _;

use crate::syscalls::table::{lookup, Support};

/// The markdown document: counts, then one row per amd64 syscall.
pub fn compatibility_markdown() -> String {
    let rows: Vec<(i32, &'static str, Option<Support>)> = syscalls::Sysno::iter()
        .map(|sysno| {
            let entry = u64::try_from(sysno.id()).ok().and_then(lookup);
            (sysno.id(), sysno.name(), entry.map(|e| e.support))
        })
        .collect();
    let full = rows.iter().filter(|r| r.2 == Some(Support::Full)).count();
    let partial = rows
        .iter()
        .filter(|r| matches!(r.2, Some(Support::Partial(_))))
        .count();
    let missing = rows.len() - full - partial;

    let mut doc = String::new();
    let _ = writeln!(doc, "# Syscall compatibility (amd64)\n");
    let _ = writeln!(
        doc,
        "Generated from `crates/kernel/src/syscalls/table.rs` by `cargo xtask compat`; a test \
         fails when this file and the table disagree.\n"
    );
    let _ = writeln!(
        doc,
        "**{} syscalls: {full} full, {partial} partial, {missing} ENOSYS.**\n",
        rows.len()
    );
    let _ = writeln!(doc, "| nr | name | status | note |\n|---:|---|---|---|");
    for (nr, name, support) in rows {
        let (status, note) = match support {
            Some(Support::Full) => ("full", ""),
            Some(Support::Partial(note)) => ("partial", note),
            None => ("ENOSYS", ""),
        };
        let _ = writeln!(doc, "| {nr} | {name} | {status} | {note} |");
    }
    doc
}
