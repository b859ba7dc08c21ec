//! The ways of running a program that the benchmark compares: one column each.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runner {
    Native,
    Ours,
    Gvisor,
}

impl Runner {
    pub fn title(self) -> &'static str {
        match self {
            Runner::Native => "native",
            Runner::Ours => "ours",
            Runner::Gvisor => "gVisor",
        }
    }
}

/// A runner and the command line that precedes the program (none natively).
pub struct Column {
    pub runner: Runner,
    prefix: Vec<OsString>,
}

impl Column {
    /// The command that runs `program args` this column's way.
    pub fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut command = match self.prefix.split_first() {
            Some((sandbox, flags)) => {
                let mut command = Command::new(sandbox);
                command.args(flags).arg(program);
                command
            }
            None => Command::new(program),
        };
        // The same working directory everywhere, and one the sandboxes have (ours mounts its
        // own /tmp, so a workspace under /tmp would not be there).
        command.args(args).current_dir("/");
        command
    }
}

/// Native, our runsc on `platform`, and gVisor's runsc (ptrace platform) when installed.
pub fn columns(ours: &Path, platform: &str, gvisor: Option<&Path>) -> Vec<Column> {
    let mut columns = vec![
        Column {
            runner: Runner::Native,
            prefix: Vec::new(),
        },
        Column {
            runner: Runner::Ours,
            prefix: vec![
                ours.into(),
                "--platform".into(),
                platform.into(),
                "do".into(),
            ],
        },
    ];
    if let Some(gvisor) = gvisor {
        columns.push(Column {
            runner: Runner::Gvisor,
            prefix: vec![
                gvisor.into(),
                "--network=none".into(),
                "--platform=ptrace".into(),
                "do".into(),
            ],
        });
    }
    columns
}
