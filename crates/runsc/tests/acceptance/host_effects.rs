//! Evidence that guest syscalls never run on the host: calls whose effects the host would
//! show (a directory, a file, a killed process) leave no trace there, an unknown syscall number
//! is ENOSYS and the guest goes on, and the guest is pid 1.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::support::{guest, shared_tempdir, Run, Status};

/// A host process for the guest to try to kill.
struct Bystander(Child);

impl Bystander {
    fn start() -> Bystander {
        let child = Command::new("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .spawn()
            .expect("sleep");
        Bystander(child)
    }

    fn pid(&self) -> String {
        self.0.id().to_string()
    }

    fn is_alive(&mut self) -> bool {
        self.0.try_wait().expect("try_wait").is_none()
    }
}

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_probe(program: &Path, base: &Path, sandboxed: bool) -> (String, bool) {
    let mut bystander = Bystander::start();
    let run = Run::new(program).args([
        base.join("made-dir").as_os_str(),
        base.join("made-file").as_os_str(),
        bystander.pid().as_ref(),
    ]);
    let outcome = if sandboxed {
        run.sandboxed()
    } else {
        run.native()
    };
    assert_eq!(outcome.status, Status::Exited(0), "{}", outcome.stderr);
    // Give a SIGKILL, had it been sent, time to land.
    std::thread::sleep(std::time::Duration::from_millis(50));
    (outcome.stdout, bystander.is_alive())
}

#[test]
fn guest_syscalls_leave_no_trace_on_the_host() {
    let Some(program) = guest("host_effects") else {
        return;
    };

    // Natively the probe's calls take effect: it is a real test of the host.
    let native_dir = tempfile::tempdir().expect("tempdir");
    let (stdout, bystander_alive) = run_probe(&program, native_dir.path(), false);
    assert!(
        stdout.starts_with("mkdir: ok\ncreat: ok\nkill: ok\n"),
        "{stdout}"
    );
    assert!(stdout.contains("syscall 1000: ENOSYS\n"), "{stdout}");
    assert!(
        native_dir.path().join("made-dir").is_dir() && native_dir.path().join("made-file").exists()
    );
    assert!(!bystander_alive);

    // Sandboxed nothing reaches the host (root "/", and a directory outside /tmp: it exists in
    // the guest's view too, so only the Sentry stands between the calls and the host).
    let sandbox_dir = shared_tempdir();
    let (stdout, bystander_alive) = run_probe(&program, sandbox_dir.path(), true);
    let leftovers: Vec<_> = std::fs::read_dir(sandbox_dir.path())
        .expect("read_dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert!(
        leftovers.is_empty(),
        "guest calls created {leftovers:?} on the host"
    );
    assert!(bystander_alive, "a guest kill() reached a host process");
    assert!(stdout.contains("syscall 1000: ENOSYS\n"), "{stdout}");
    assert!(stdout.ends_with("getpid: 1\n"), "{stdout}");
}
