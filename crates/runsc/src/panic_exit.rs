//! A panic in any thread of a runsc process ends that process at once, with one line on stderr
//! saying what panicked and where, and exit code [`PANICKED`].
//!
//! Unwinding would end only the panicking thread: a Sentry task thread that dies leaves its
//! task unfinished, and the sandbox waiting for it forever. Exiting the whole process instead
//! ends everything the sandbox holds: the stubs are killed with their tracer (PTRACE_O_EXITKILL,
//! PR_SET_PDEATHSIG), the guest's stdio closes with the process, and `runsc do` kills the Gofer
//! when the Sentry is gone (or the Sentry, when the Gofer is).

use std::panic::PanicHookInfo;

use crate::exit_codes::PANICKED;

/// Installs the hook; `role` names the process in the message ("sentry", "gofer", "runsc").
pub fn install(role: &'static str) {
    std::panic::set_hook(Box::new(move |info| {
        eprintln!("runsc: {}", describe(role, info));
        std::process::exit(i32::from(PANICKED));
    }));
}

/// "sentry panicked in thread 'task-3' at src/x.rs:1:2: message", on one line.
fn describe(role: &str, info: &PanicHookInfo<'_>) -> String {
    let thread = std::thread::current();
    let thread = thread.name().unwrap_or("<unnamed>");
    let location = info
        .location()
        .map_or_else(|| "an unknown place".to_owned(), ToString::to_string);
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    format!("{role} panicked in thread '{thread}' at {location}: {message}")
}
