//! The Gofer's seccomp allowlist, installed in a child process (a re-run of this test binary)
//! so the test process itself stays unfiltered: the calls serving needs still work, anything
//! else kills the process with `SIGSYS`.

use std::os::unix::process::ExitStatusExt;
use std::process::Command;

/// Printed by the confined child once the allowed calls have worked.
const ALLOWED_CALLS_WORKED: &str = "allowed calls worked under the filter";

/// Runs the ignored test `child` of this binary in a process of its own.
fn run_child(child: &str) -> std::process::Output {
    let exe = std::env::current_exe().expect("locating the test binary");
    Command::new(exe)
        .args([child, "--exact", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .output()
        .expect("running the confined child")
}

#[test]
fn filter_allows_file_io_and_kills_on_a_socket() {
    let output = run_child("confined_child");
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

#[test]
fn filter_allows_a_fifo_and_kills_on_a_device_node() {
    let output = run_child("confined_mknod_child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(ALLOWED_CALLS_WORKED),
        "mknod of a FIFO failed under the filter; stdout: {stdout}"
    );
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGSYS),
        "mknod of a device was not refused with SIGSYS: {:?}; stdout: {stdout}",
        output.status
    );
}

#[test]
#[ignore = "the confined child of filter_allows_a_fifo_and_kills_on_a_device_node, run by it"]
fn confined_mknod_child() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fifo");
    let device = dir.path().join("null");
    gofer::install_filter().expect("installing the gofer's filter");
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o600);
    nix::sys::stat::mknod(&fifo, nix::sys::stat::SFlag::S_IFIFO, mode, 0).expect("mknod fifo");
    println!("{ALLOWED_CALLS_WORKED}");
    // A character device (/dev/null's numbers): the process dies here.
    let made = nix::sys::stat::mknod(
        &device,
        nix::sys::stat::SFlag::S_IFCHR,
        mode,
        nix::sys::stat::makedev(1, 3),
    );
    println!("mknod of a device was allowed: {made:?}");
}

#[test]
fn filter_allows_a_chown_of_a_descriptor_and_kills_on_one_by_name() {
    let output = run_child("confined_chown_child");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(ALLOWED_CALLS_WORKED),
        "chown of a descriptor failed under the filter; stdout: {stdout}"
    );
    assert_eq!(
        output.status.signal(),
        Some(libc::SIGSYS),
        "chown by name was not refused with SIGSYS: {:?}; stdout: {stdout}",
        output.status
    );
}

#[test]
#[ignore = "the confined child of filter_allows_a_chown_of_a_descriptor_and_kills_on_one_by_name"]
fn confined_chown_child() {
    use rustix::fs::{chownat, AtFlags, Gid, Uid, CWD};
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("file");
    std::fs::write(&file, "x").expect("write");
    let opened = std::fs::File::open(&file).expect("open");
    let ids = (Some(Uid::from_raw(1000)), Some(Gid::from_raw(1000)));
    gofer::install_filter().expect("installing the gofer's filter");
    let flags = AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW;
    chownat(&opened, "", ids.0, ids.1, flags).expect("chown of the descriptor");
    println!("{ALLOWED_CALLS_WORKED}");
    // By name, following symlinks: the process dies here.
    let chowned = chownat(CWD, &file, ids.0, ids.1, AtFlags::empty());
    println!("chown by name was allowed: {chowned:?}");
}
