//! Debian's static busybox behaves in the sandbox as it does natively, except where a sandbox
//! must differ (pid 1, its own kernel release).

use crate::support::{busybox, shared_tempdir, Run, Status};

fn same_as_native(args: &[&str]) {
    let Some(busybox) = busybox() else { return };
    let run = Run::new(busybox).args(args);
    let native = run.native();
    let sandboxed = run.sandboxed();
    assert_eq!(
        native.status,
        Status::Exited(0),
        "{args:?}: {}",
        native.stderr
    );
    assert_eq!(sandboxed.stdout, native.stdout, "{args:?}");
    assert_eq!(sandboxed.status, native.status, "{args:?}");
}

#[test]
fn echo() {
    same_as_native(&["echo", "hello", "from", "busybox"]);
}

#[test]
fn cat_os_release() {
    same_as_native(&["cat", "/etc/os-release"]);
}

#[test]
fn wc_on_a_file() {
    let dir = shared_tempdir();
    let file = dir.path().join("words");
    std::fs::write(&file, "one two\nthree\n\nfour five six\n").expect("write");
    same_as_native(&["wc", file.to_str().expect("utf-8 temp path")]);
}

/// `ls -l /` lists the same names with the same file types. The rest of each line may differ
/// legitimately: the sandbox has its own /dev and /proc (different sizes, times and link
/// counts), and ownership and link counts of host directories are the Gofer's view.
#[test]
fn ls_l_root_lists_the_same_names_and_types() {
    let Some(busybox) = busybox() else { return };
    let run = Run::new(busybox).args(["ls", "-l", "/"]);
    let native = run.native();
    let sandboxed = run.sandboxed();
    assert_eq!(native.status, Status::Exited(0));
    assert_eq!(sandboxed.status, Status::Exited(0), "{}", sandboxed.stderr);
    let native_entries = names_and_types(&native.stdout);
    assert!(
        native_entries.iter().any(|(_, name)| name == "etc"),
        "{native_entries:?}"
    );
    assert_eq!(names_and_types(&sandboxed.stdout), native_entries);
}

/// (type character, name) of each entry of `ls -l` output; a symlink's name without "-> target".
fn names_and_types(listing: &str) -> Vec<(char, String)> {
    let mut entries: Vec<(char, String)> = listing
        .lines()
        .filter(|line| !line.starts_with("total"))
        .filter_map(|line| {
            let kind = line.chars().next()?;
            // mode links owner group size month day time-or-year name...
            let name = line.split_whitespace().nth(8)?;
            Some((kind, name.to_owned()))
        })
        .collect();
    entries.sort();
    entries
}

#[test]
fn shell_is_pid_1() {
    let Some(busybox) = busybox() else { return };
    let sandboxed = Run::new(busybox).args(["sh", "-c", "echo $$"]).sandboxed();
    assert_eq!(sandboxed.stdout, "1\n", "{}", sandboxed.stderr);
    assert_eq!(sandboxed.status, Status::Exited(0));
}

#[test]
fn kernel_release_is_the_sandboxes_own() {
    let Some(busybox) = busybox() else { return };
    let run = Run::new(busybox).args(["uname", "-r"]);
    let native = run.native();
    let sandboxed = run.sandboxed();
    assert_eq!(sandboxed.status, Status::Exited(0), "{}", sandboxed.stderr);
    assert!(!sandboxed.stdout.trim().is_empty());
    assert_ne!(
        sandboxed.stdout, native.stdout,
        "the host's release leaked into the sandbox"
    );
}

#[test]
fn shell_exit_code_comes_through() {
    let Some(busybox) = busybox() else { return };
    let run = Run::new(busybox).args(["sh", "-c", "exit 7"]);
    assert_eq!(run.native().status, Status::Exited(7));
    assert_eq!(run.sandboxed().status, Status::Exited(7));
}
