//! `runsc do` leaves nothing running: not after the guest exits, and not when runsc itself is
//! killed (its children have PR_SET_PDEATHSIG).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{busybox, Run, Status, RUNSC};

/// A sandbox root holding busybox, whose path marks the processes of one sandbox: it is in the
/// Gofer's command line (`--root`) and, passed with `--env`, in the Sentry's.
fn marked_root(busybox: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(root.path().join("bin")).expect("mkdir bin");
    std::fs::copy(busybox, root.path().join("bin/busybox")).expect("copy busybox");
    std::fs::set_permissions(
        root.path().join("bin/busybox"),
        PermissionsExt::from_mode(0o755),
    )
    .expect("chmod busybox");
    root
}

fn runsc_flags(root: &Path) -> Vec<String> {
    let root = root.to_str().expect("utf-8 temp path").to_owned();
    vec![
        "--root".into(),
        root.clone(),
        "--cwd".into(),
        "/".into(),
        "--env".into(),
        format!("MARKER={root}"),
    ]
}

/// Pids of processes (other than us) whose command line mentions `marker`.
fn processes_marked(marker: &Path) -> Vec<u32> {
    let marker = marker.to_str().expect("utf-8 temp path").as_bytes();
    let ours = std::process::id();
    std::fs::read_dir("/proc")
        .expect("reading /proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != ours)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| cmdline.windows(marker.len()).any(|window| window == marker))
        })
        .collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn nothing_is_left_running_after_the_guest_exits() {
    let Some(busybox) = busybox() else { return };
    let root = marked_root(busybox);
    let outcome = Run::new("/bin/busybox")
        .args(["echo", "done"])
        .runsc_flags(runsc_flags(root.path()))
        .sandboxed();
    assert_eq!(
        (outcome.stdout.as_str(), outcome.status),
        ("done\n", Status::Exited(0))
    );
    let left = processes_marked(root.path());
    assert!(
        left.is_empty(),
        "still running after runsc do exited: {left:?}"
    );
}

#[test]
fn sandbox_dies_with_runsc() {
    let Some(busybox) = busybox() else { return };
    let root = marked_root(busybox);
    let mut runsc = Command::new(RUNSC)
        .arg("do")
        .args(runsc_flags(root.path()))
        .args(["/bin/busybox", "sleep", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("starting runsc do");
    // The Gofer and the Sentry (and the guest's stub, a child of the Sentry).
    wait_until("the gofer and the sentry run", || {
        processes_marked(root.path()).len() >= 2
    });
    runsc.kill().expect("killing runsc");
    runsc.wait().expect("reaping runsc");
    wait_until("the sandbox's processes are gone", || {
        processes_marked(root.path()).is_empty()
    });
}
