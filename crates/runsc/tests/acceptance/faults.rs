//! Bad pointers and crashes: the guest gets EFAULT and goes on; a segfault ends it with SIGSEGV.

use crate::support::{guest, Run, Status};

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
