//! Sandbox-wide limits: what the guest may write, memory, tasks, and the host fds kept for the guest.
//! A guest that reaches one gets the error Linux gives (or is OOM-killed); the Sentry lives on.

use std::path::{Path, PathBuf};

use crate::live::{pids_with_env_entry, wait_until};
use crate::support::{guest, Run, Status, RUNSC};

/// --tmpfs-size bounds what the guest writes: the overlay root's upper layer, or with
/// --read-only the private tmpfs at /tmp.
#[test]
fn filling_tmp_gives_enospc_and_unlinking_frees_the_space() {
    let Some(program) = guest("fill_tmp") else {
        return;
    };
    for root_flags in [&[][..], &["--read-only"][..]] {
        let sandboxed = Run::new(&program)
            .runsc_flags(["--tmpfs-size", "8m"])
            .runsc_flags(root_flags)
            .sandboxed();
        assert_eq!(
            sandboxed.stdout,
            "free 8388608, available 8388608\n\
             first fill: No space left on device after 8388608 bytes, the size\n\
             free when full: 0 blocks\n\
             free after unlink: all\n\
             second fill: No space left on device, same size\n",
            "{root_flags:?}"
        );
        assert_eq!(sandboxed.status, Status::Exited(0), "{root_flags:?}");
    }
}

#[test]
fn a_fork_bomb_meets_eagain_at_the_task_limit_and_is_torn_down() {
    let Some(program) = guest("fork_bomb") else {
        return;
    };
    let marker = format!("RVISOR_FORK_BOMB_TEST={}", std::process::id());
    let (name, value) = marker.split_once('=').expect("NAME=VALUE");
    let sandboxed = Run::new(&program)
        .env(name, value)
        .runsc_flags(["--pids", "16"])
        .sandboxed();
    // Init is one of the 16 tasks.
    assert_eq!(
        sandboxed.stdout,
        "fork failed: Resource temporarily unavailable after 15 children\n\
         reaped 15, then wait: No child processes\n\
         fork after reaping: exit 7\n\
         init exits\n"
    );
    assert_eq!(sandboxed.status, Status::Exited(3));
    // runsc, the Gofer and the Sentry inherit the marker; stubs (whose environment is gone with
    // their address space) die with the Sentry by PR_SET_PDEATHSIG.
    wait_until("nothing of the sandbox is left running", || {
        pids_with_env_entry(&marker).is_empty()
    });
}

#[test]
fn a_process_touching_memory_past_the_limit_is_oom_killed_and_the_sandbox_lives() {
    let Some(program) = guest("oom") else {
        return;
    };
    let sandboxed = Run::new(&program)
        .runsc_flags(["--memory", "128m"])
        .sandboxed();
    assert_eq!(
        sandboxed.stdout,
        "child killed by signal 9\nnext child exited 5\n"
    );
    assert_eq!(sandboxed.status, Status::Exited(0));
}

#[test]
fn init_killed_for_memory_ends_the_sandbox_with_sigkill_status() {
    let Some(program) = guest("oom") else {
        return;
    };
    let sandboxed = Run::new(&program)
        .args(["self"])
        .runsc_flags(["--memory", "64m"])
        .sandboxed();
    assert_eq!(sandboxed.stdout, "");
    // runsc reports a guest killed by a signal as 128 + the signal, as a shell does.
    assert_eq!(sandboxed.status, Status::Exited(128 + libc::SIGKILL));
}

#[test]
fn holding_more_files_than_the_host_allows_leaves_exec_working() {
    let Some(program) = guest("many_files") else {
        return;
    };
    let sandboxed = Run::new(&program).sandboxed();
    // 25,100 descriptors in all: stdio, /bin/true, 25,000 and the rest until EMFILE.
    assert_eq!(
        sandboxed.stdout,
        "open: 12500 directories, 12500 files\n\
         read the first file: 1, 0x7f\n\
         /bin/true: exit 0\n\
         then 96 more until Too many open files\n"
    );
    assert_eq!(sandboxed.status, Status::Exited(0));
}

/// A pids cgroup of `max` tasks (v1's pids hierarchy), or None when this host has none we may
/// make. Removed on drop, which needs every process in it gone.
struct PidsCgroup {
    dir: PathBuf,
}

impl PidsCgroup {
    fn new(max: u32) -> Option<PidsCgroup> {
        let dir =
            Path::new("/sys/fs/cgroup/pids").join(format!("rvisor-test-{}", std::process::id()));
        if let Err(err) = std::fs::create_dir(&dir) {
            eprintln!(
                "SKIPPED: no pids cgroup to make at {}: {err}",
                dir.display()
            );
            return None;
        }
        let cgroup = PidsCgroup { dir };
        std::fs::write(cgroup.dir.join("pids.max"), max.to_string()).expect("setting pids.max");
        Some(cgroup)
    }

    fn procs(&self) -> String {
        std::fs::read_to_string(self.dir.join("cgroup.procs")).expect("reading cgroup.procs")
    }
}

impl Drop for PidsCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[test]
fn a_fork_the_host_refuses_fails_with_eagain_and_leaves_no_zombie() {
    let Some(program) = guest("fork_bomb") else {
        return;
    };
    // Far below --pids's default: the host's refusal (the Sentry's thread or the stub's
    // process) is what stops the forks.
    let Some(cgroup) = PidsCgroup::new(40) else {
        return;
    };
    let procs = cgroup.dir.join("cgroup.procs");
    let sandboxed = Run::new("/bin/sh")
        .args([
            "-c",
            &format!(
                "echo $$ > {} && exec {RUNSC} do {}",
                procs.display(),
                program.display()
            ),
        ])
        .native();
    let lines: Vec<&str> = sandboxed.stdout.lines().collect();
    let made = lines
        .first()
        .and_then(|line| line.strip_prefix("fork failed: Resource temporarily unavailable after "))
        .and_then(|rest| rest.strip_suffix(" children"))
        .and_then(|count| count.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("no EAGAIN from fork: {:?}", sandboxed.stdout));
    assert!(made > 0 && made < 40, "{made} children");
    // Every child the guest saw was reaped, and no other: the refused forks left nothing.
    assert_eq!(
        lines[1..],
        [
            format!("reaped {made}, then wait: No child processes").as_str(),
            "fork after reaping: exit 7",
            "init exits",
        ]
    );
    assert_eq!(sandboxed.status, Status::Exited(3));
    assert!(
        !sandboxed.stderr.contains("WARN") && !sandboxed.stderr.contains("ERROR"),
        "the guest's forks made the Sentry log: {}",
        sandboxed.stderr
    );
    wait_until("the pids cgroup is empty after runsc do exited", || {
        cgroup.procs().is_empty()
    });
}

#[test]
fn the_guest_sees_the_memory_limit_as_its_memory() {
    let Some(busybox) = crate::support::busybox() else {
        return;
    };
    let sandboxed = Run::new(busybox)
        .args(["sh", "-c", "head -n1 /proc/meminfo; free"])
        .runsc_flags(["--memory", "256m"])
        .sandboxed();
    let fields = |prefix: &str| -> Vec<String> {
        let line = sandboxed
            .stdout
            .lines()
            .find(|line| line.starts_with(prefix));
        line.unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    // /proc/meminfo and sysinfo (busybox free) both say 256 MiB.
    assert_eq!(fields("MemTotal:"), ["MemTotal:", "262144", "kB"]);
    assert_eq!(fields("Mem:").get(1).map(String::as_str), Some("262144"));
    assert_eq!(sandboxed.status, Status::Exited(0));
}
