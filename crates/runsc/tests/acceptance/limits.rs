//! Sandbox-wide limits: /tmp's size, memory, tasks, and the host fds kept for the guest.
//! A guest that reaches one gets the error Linux gives (or is OOM-killed); the Sentry lives on.

use crate::support::{guest, Run, Status};

#[test]
fn filling_tmp_gives_enospc_and_unlinking_frees_the_space() {
    let Some(program) = guest("fill_tmp") else {
        return;
    };
    let sandboxed = Run::new(&program)
        .runsc_flags(["--tmpfs-size", "8m"])
        .sandboxed();
    assert_eq!(
        sandboxed.stdout,
        "size 8388608 free 8388608\n\
         first fill: No space left on device after 8388608 bytes, the size\n\
         free when full: 0 blocks\n\
         free after unlink: all\n\
         second fill: No space left on device, same size\n"
    );
    assert_eq!(sandboxed.status, Status::Exited(0));
}
