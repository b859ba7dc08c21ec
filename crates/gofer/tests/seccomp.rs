//! The Gofer's seccomp allowlist, installed in a child process (a re-run of this test binary)
//! so the test process itself stays unfiltered: the calls serving needs still work, anything
//! else kills the process with `SIGSYS`.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

/// Printed by the confined child once the allowed calls have worked.
const ALLOWED_CALLS_WORKED: &str = "allowed calls worked under the filter";

#[test]
fn filter_allows_file_io_and_kills_on_a_socket() {
    let exe = std::env::current_exe().expect("locating the test binary");
    let output = Command::new(exe)
        .args(["confined_child", "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .output()
        .expect("running the confined child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stdout.contains(ALLOWED_CALLS_WORKED),
        "allowed calls failed under the filter; stdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGSYS),
        "socket(AF_INET) was not refused with SIGSYS: {:?}; stdout: {stdout}\nstderr: {stderr}",
        output.status
    );
}

#[test]
#[ignore = "the confined child of filter_allows_file_io_and_kills_on_a_socket, run by it"]
fn confined_child() {
    gofer::install_filter().expect("installing the gofer's filter");
    // openat, read, statx, close: what serving a file needs. The kernel reports the filter.
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    let mode = status
        .lines()
        .find_map(|line| line.strip_prefix("Seccomp:"))
        .map(str::trim);
    assert_eq!(mode, Some("2"), "seccomp mode is not filter");
    println!("{ALLOWED_CALLS_WORKED}");
    // socket(2) is not on the list: the process dies here.
    let bound = std::net::TcpListener::bind("127.0.0.1:0");
    println!("socket was allowed: {bound:?}");
}
