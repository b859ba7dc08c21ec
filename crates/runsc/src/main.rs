//! `runsc`: the rvisor front end.
//!
//! One executable plays three roles: `runsc do` (what a user runs) spawns `runsc gofer` (serves
//! the sandbox root over 9P) and `runsc boot` (the Sentry) as children of itself, joined by a
//! socketpair. See docs/architecture.md.
#![deny(unsafe_code)]

mod cli;
mod commands;
mod logging;
#[allow(unsafe_code)]
mod sys;

use std::process::ExitCode;

use clap::Parser;

/// The exit code when runsc itself fails (not the guest), as runc and docker use it, so that it
/// stands apart from the codes programs commonly exit with.
const RUNSC_FAILED: u8 = 125;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    logging::init(cli.global.debug);
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprintln!("runsc: {err:#}");
            ExitCode::from(RUNSC_FAILED)
        }
    }
}
