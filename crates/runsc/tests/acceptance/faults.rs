//! Bad pointers and crashes: the guest gets EFAULT and goes on; a segfault ends it with SIGSEGV.
//! Faults of the sandbox itself (a dead Gofer or stub, a panicking Sentry) end it at once,
//! saying why, with an exit code of runsc's own, and leave nothing running.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::live::{is_gone, wait_until, LiveSandbox};
use crate::support::{busybox, guest, Run, Status};

/// runsc's exit code when the Gofer died (EX_UNAVAILABLE).
const GOFER_LOST: i32 = 69;

/// runsc's exit code when a thread of the Sentry panicked (EX_SOFTWARE).
#[cfg(debug_assertions)]
const SENTRY_PANICKED: i32 = 70;

#[test]
fn bad_pointers_give_efault_and_the_guest_goes_on() {
    let Some(program) = guest("bad_pointer") else {
        return;
    };
    let run = Run::new(&program);
    let native = run.native();
    let sandboxed = run.sandboxed();
    for call in ["write", "read", "open", "stat", "fstat", "uname"] {
        assert!(
            native.stdout.contains(&format!("{call}: EFAULT\n")),
            "{}",
            native.stdout
        );
    }
    assert!(native.stdout.ends_with("still running\n"));
    assert_eq!(sandboxed.stdout, native.stdout);
    assert_eq!(sandboxed.status, Status::Exited(0));
}

#[test]
fn segfault_ends_with_sigsegv() {
    let Some(program) = guest("segv") else { return };
    let run = Run::new(&program);
    let native = run.native();
    let sandboxed = run.sandboxed();
    assert_eq!(native.status, Status::Signaled(libc::SIGSEGV));
    // runsc reports a guest killed by a signal as 128 + the signal, as a shell does.
    assert_eq!(sandboxed.status, Status::Exited(128 + libc::SIGSEGV));
    assert_eq!(native.stdout, "before\n");
    assert_eq!(sandboxed.stdout, native.stdout);
}

/// The Gofer killed while the guest reads files: the sandbox ends at once, saying why.
#[test]
fn a_dead_gofer_ends_the_sandbox() {
    let Some(_) = busybox() else { return };
    let script = "echo up; while :; do read line < /etc/passwd; done";
    let mut sandbox = LiveSandbox::start(&["/bin/busybox", "sh", "-c", script], &[]);
    assert_eq!(sandbox.read_line(), "up");
    let processes = sandbox.processes();
    let gofer = sandbox.child_running("gofer").expect("the gofer runs");
    kill(Pid::from_raw(gofer), Signal::SIGKILL).expect("killing the gofer");
    let (status, stderr) = sandbox.wait();
    assert_eq!(status, Status::Exited(GOFER_LOST));
    assert!(
        stderr.contains("the gofer serving the sandbox's files died"),
        "{stderr}"
    );
    wait_until("the sandbox's processes are gone", || {
        processes.iter().all(|&pid| is_gone(pid))
    });
}

/// A stub killed from the host while the guest runs: its process is killed (SIGKILL), and
/// init's death ends the sandbox.
#[test]
fn a_dead_stub_ends_its_process() {
    let Some(_) = busybox() else { return };
    let mut sandbox = LiveSandbox::start(
        &["/bin/busybox", "sh", "-c", "echo up; while :; do :; done"],
        &[],
    );
    assert_eq!(sandbox.read_line(), "up");
    let processes = sandbox.processes();
    let stubs = sandbox.stubs();
    assert_eq!(stubs.len(), 1, "one guest process, one stub: {stubs:?}");
    kill(Pid::from_raw(stubs[0]), Signal::SIGKILL).expect("killing the stub");
    let (status, _) = sandbox.wait();
    assert_eq!(status, Status::Exited(128 + libc::SIGKILL));
    wait_until("the sandbox's processes are gone", || {
        processes.iter().all(|&pid| is_gone(pid))
    });
}

/// A panic in a Sentry task thread (injected by a hook of debug builds when the guest calls
/// sync(2)) ends the whole sandbox with one line naming what panicked, and exit code 70.
#[cfg(debug_assertions)]
#[test]
fn a_panic_in_the_sentry_ends_the_sandbox() {
    let Some(_) = busybox() else { return };
    // /bin/busybox by path: the applet runs in a child process, on another task thread.
    let script = "echo up; /bin/busybox sync; echo 'still running'";
    let mut sandbox = LiveSandbox::start(
        &["/bin/busybox", "sh", "-c", script],
        &[("RVISOR_TEST_PANIC_ON_SYSCALL", &libc::SYS_sync.to_string())],
    );
    assert_eq!(sandbox.read_line(), "up");
    let processes = sandbox.processes();
    let (status, stderr) = sandbox.wait();
    assert_eq!(status, Status::Exited(SENTRY_PANICKED));
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("runsc: sentry panicked in thread 'task-")
            && lines[0].contains("injected_panic.rs")
            && lines[0].contains("injected panic on system call 162"),
        "{stderr}"
    );
    wait_until("the sandbox's processes are gone", || {
        processes.iter().all(|&pid| is_gone(pid))
    });
}
