//! What each subcommand does. Each returns the exit code runsc ends with.

mod boot;
mod do_sandbox;
mod gofer;

use anyhow::Result;

use crate::cli::{Cli, Command};

/// The shell's convention for a process killed by a signal: 128 + the signal number.
const SIGNALED_EXIT_BASE: i32 = 128;

pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Do(args) => do_sandbox::run(&cli.global, args),
        Command::Boot(args) => boot::run(&cli.global, args),
        Command::Gofer(args) => gofer::run(args),
    }
}

/// The exit code for a process that exited with `code` (only its low 8 bits reach a parent).
fn exit_code(code: i32) -> u8 {
    code.to_le_bytes()[0]
}

/// The exit code for a process killed by `signal`.
fn signaled_exit_code(signal: i32) -> u8 {
    exit_code(SIGNALED_EXIT_BASE + signal)
}
