//! A static C program sees the same argv and environment, and exits the same, in the sandbox.

use crate::support::{guest, Run, Status};

#[test]
fn argv_env_and_exit_code_match_native() {
    let Some(hello) = guest("hello") else { return };
    let run = Run::new(&hello)
        .args(["3", "two words", "", "--strace"])
        .env("GREETING", "hello from the caller")
        .env("OVERRIDE", "caller's");
    let native = run.native();
    let sandboxed = run.sandboxed();
    assert_eq!(native.status, Status::Exited(3));
    assert!(
        native.stdout.contains("argv[2]=[two words]"),
        "{}",
        native.stdout
    );
    assert_eq!(sandboxed.stdout, native.stdout);
    assert_eq!(sandboxed.status, native.status);
}

#[test]
fn env_flags_add_and_override_the_callers_environment() {
    let Some(hello) = guest("hello") else { return };
    let expected = Run::new(&hello)
        .args(["0"])
        .env("GREETING", "kept")
        .env("OVERRIDE", "from --env")
        .env("ADDED", "a=b")
        .native();
    let sandboxed = Run::new(&hello)
        .args(["0"])
        .env("GREETING", "kept")
        .env("OVERRIDE", "caller's")
        .runsc_flags(["--env", "OVERRIDE=from --env", "--env", "ADDED=a=b"])
        .sandboxed();
    assert!(
        expected.stdout.contains("ADDED=[a=b]"),
        "{}",
        expected.stdout
    );
    assert_eq!(sandboxed.stdout, expected.stdout);
    assert_eq!(sandboxed.status, Status::Exited(0));
}
