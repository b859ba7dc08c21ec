//! What a user meets starting a sandbox: a working directory that doesn't exist, a command that
//! can't run, the caller's resource limits, and secrets in the environment kept off command
//! lines.

use crate::live::{all_pids, command_line, LiveSandbox};
use crate::support::{busybox, Run, Status, RUNSC};

/// runsc's exit code when it failed before the guest ran.
const RUNSC_FAILED: i32 = 125;

#[test]
fn a_working_directory_that_does_not_exist_fails_before_starting() {
    let Some(busybox) = busybox() else { return };
    let outcome = Run::new(busybox)
        .args(["echo", "ran"])
        .runsc_flags(["--cwd", "/nonexistent"])
        .sandboxed();
    assert_eq!(outcome.status, Status::Exited(RUNSC_FAILED));
    assert_eq!(outcome.stdout, "");
    assert!(
        outcome
            .stderr
            .contains("working directory /nonexistent: ENOENT"),
        "{}",
        outcome.stderr
    );
}

/// As a shell: 127 for a command not found, 126 for one that exists but can't be executed.
#[test]
fn commands_that_cannot_run_exit_as_in_a_shell() {
    let Some(busybox) = busybox() else { return };
    for (command, expected) in [
        ("no-such-command-anywhere", 127),
        ("/no/such/path", 127),
        ("/etc/passwd", 126),
    ] {
        let native = Run::new(busybox).args(["sh", "-c", command]).native();
        assert_eq!(native.status, Status::Exited(expected), "{command}");
        let sandboxed = Run::new(command).sandboxed();
        assert_eq!(sandboxed.status, Status::Exited(expected), "{command}");
        assert!(sandboxed.stderr.contains(command), "{}", sandboxed.stderr);
    }
}

/// The guest inherits the caller's limits, soft and hard, as a process does its parent's.
#[test]
fn the_guest_inherits_the_callers_resource_limits() {
    let Some(busybox) = busybox() else { return };
    let report = format!("{busybox} sh -c 'ulimit -n; ulimit -Hn; ulimit -s'");
    let limited = |command: String| {
        Run::new("/bin/sh")
            .args([
                "-c",
                &format!("ulimit -Sn 777 && ulimit -Hn 4321 && exec {command}"),
            ])
            .native()
    };
    let native = limited(report.clone());
    let sandboxed = limited(format!("{RUNSC} do {report}"));
    assert!(
        native.stdout.starts_with("777\n4321\n"),
        "{}",
        native.stdout
    );
    assert_eq!(sandboxed.stdout, native.stdout);
    assert_eq!(sandboxed.status, Status::Exited(0));
}

/// Any host user reads command lines (`ps`): the guest's environment must not be on one.
#[test]
fn the_environment_is_not_on_any_command_line() {
    let Some(_) = busybox() else { return };
    let secret = format!("hunter2-{}", std::process::id());
    let mut sandbox = LiveSandbox::start(
        &[
            "/bin/busybox",
            "sh",
            "-c",
            "echo \"$SECRET\"; exec /bin/busybox sleep 60",
        ],
        &[("SECRET", &secret)],
    );
    assert_eq!(
        sandbox.read_line(),
        secret,
        "the guest sees its environment"
    );
    let sentry = sandbox.child_running("boot").expect("the sentry runs");
    assert!(
        !command_line(sentry).iter().any(|arg| arg == "--env"),
        "{:?}",
        command_line(sentry)
    );
    for pid in all_pids() {
        let cmdline = command_line(pid).join(" ");
        assert!(!cmdline.contains(&secret), "pid {pid}: {cmdline}");
    }
}
