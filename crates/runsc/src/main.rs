//! `runsc`: the rvisor front end.
//!
//! One executable plays three roles: `runsc do` (what a user runs) spawns `runsc gofer` (serves
//! the sandbox root over 9P) and `runsc boot` (the Sentry) as children of itself, joined by a
//! socketpair. See docs/architecture.md.
#![deny(unsafe_code)]

mod cli;
mod commands;
mod exit_codes;
mod logging;
mod panic_exit;
mod spec;
#[allow(unsafe_code)]
mod sys;

use std::process::ExitCode;

use clap::Parser;

use exit_codes::RUNSC_FAILED;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    panic_exit::install(cli.command.role());
    logging::init(cli.global.debug);
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("runsc: {err:#}");
            ExitCode::from(RUNSC_FAILED)
        }
    }
}
