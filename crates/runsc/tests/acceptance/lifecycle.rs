//! `runsc do` leaves nothing running: not after the guest exits, not when runsc or the Sentry is
//! killed; and signals sent to runsc reach the guest.

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::live::{is_gone, wait_until, LiveSandbox};
use crate::support::{busybox, Status};

/// A guest that says it runs, then sleeps for `seconds`.
fn sleeping_guest(seconds: u32) -> Vec<String> {
    vec![
        "/bin/busybox".into(),
        "sh".into(),
        "-c".into(),
        format!("echo up; exec /bin/busybox sleep {seconds}"),
    ]
}

fn start(args: &[String]) -> LiveSandbox {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    LiveSandbox::start(&args, &[])
}

/// The sandbox's processes once the guest runs: at least the Gofer, the Sentry and a stub.
fn running_processes(sandbox: &mut LiveSandbox) -> Vec<i32> {
    assert_eq!(sandbox.read_line(), "up");
    let processes = sandbox.processes();
    assert!(processes.len() >= 3, "gofer, sentry, stub: {processes:?}");
    processes
}

#[test]
fn nothing_is_left_running_after_the_guest_exits() {
    let Some(_) = busybox() else { return };
    let mut sandbox = start(&sleeping_guest(1));
    let processes = running_processes(&mut sandbox);
    let (status, _) = sandbox.wait();
    assert_eq!(status, Status::Exited(0));
    let left: Vec<i32> = processes.into_iter().filter(|&pid| !is_gone(pid)).collect();
    assert!(
        left.is_empty(),
        "still running after runsc do exited: {left:?}"
    );
}

#[test]
fn sandbox_dies_with_runsc() {
    let Some(_) = busybox() else { return };
    let mut sandbox = start(&sleeping_guest(60));
    let processes = running_processes(&mut sandbox);
    kill(Pid::from_raw(sandbox.runsc_pid()), Signal::SIGKILL).expect("killing runsc");
    wait_until("the sandbox's processes are gone", || {
        processes.iter().all(|&pid| is_gone(pid))
    });
}

#[test]
fn nothing_outlives_a_killed_sentry() {
    let Some(_) = busybox() else { return };
    let mut sandbox = start(&sleeping_guest(60));
    let processes = running_processes(&mut sandbox);
    let sentry = sandbox.child_running("boot").expect("the sentry runs");
    kill(Pid::from_raw(sentry), Signal::SIGKILL).expect("killing the sentry");
    let (status, stderr) = sandbox.wait();
    assert_eq!(status, Status::Exited(128 + libc::SIGKILL));
    assert!(stderr.contains("sentry was killed by signal 9"), "{stderr}");
    // The Gofer is killed by runsc, the stubs with their tracer (PTRACE_O_EXITKILL).
    wait_until("the sandbox's processes are gone", || {
        processes.iter().all(|&pid| is_gone(pid))
    });
}

/// The signals a supervisor or a user sends runsc reach the guest, as with gVisor's runsc.
#[test]
fn signals_sent_to_runsc_reach_the_guest() {
    let Some(_) = busybox() else { return };
    let forwarded = [
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGWINCH,
    ];
    let mut script = String::new();
    for signal in forwarded {
        let name = &signal.as_str()[3..];
        script.push_str(&format!("trap 'echo got {name}' {name}; "));
    }
    script.push_str("trap 'echo got TERM; exit 3' TERM; echo up; while :; do :; done");
    let mut sandbox = LiveSandbox::start(&["/bin/busybox", "sh", "-c", &script], &[]);
    assert_eq!(sandbox.read_line(), "up");
    let runsc = Pid::from_raw(sandbox.runsc_pid());
    for signal in forwarded.into_iter().chain([Signal::SIGTERM]) {
        kill(runsc, signal).expect("signalling runsc");
        assert_eq!(
            sandbox.read_line(),
            format!("got {}", &signal.as_str()[3..])
        );
    }
    let (status, _) = sandbox.wait();
    assert_eq!(status, Status::Exited(3));
}

/// A guest that ignores SIGTERM is ended by a second one.
#[test]
fn a_second_sigterm_ends_the_sandbox() {
    let Some(_) = busybox() else { return };
    let script = "trap 'echo got TERM' TERM; echo up; while :; do :; done";
    let mut sandbox = LiveSandbox::start(&["/bin/busybox", "sh", "-c", script], &[]);
    assert_eq!(sandbox.read_line(), "up");
    let processes = sandbox.processes();
    let runsc = Pid::from_raw(sandbox.runsc_pid());
    kill(runsc, Signal::SIGTERM).expect("signalling runsc");
    assert_eq!(sandbox.read_line(), "got TERM");
    kill(runsc, Signal::SIGTERM).expect("signalling runsc");
    let (status, stderr) = sandbox.wait();
    assert_eq!(status, Status::Exited(128 + libc::SIGTERM));
    assert!(stderr.contains("second SIGTERM"), "{stderr}");
    wait_until("the sandbox's processes are gone", || {
        processes.iter().all(|&pid| is_gone(pid))
    });
}
