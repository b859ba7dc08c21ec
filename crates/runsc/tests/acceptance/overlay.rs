//! The writable root: the guest writes, removes and renames the host's files through an
//! in-memory overlay, sees its changes, and the host's files stay as they were.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use crate::support::{busybox, shared_tempdir, Run, Status};

/// Everything about a host tree a write could change, per path: mode, owner, size, mtime,
/// inode and contents (or link target).
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let body = if meta.is_dir() {
                pending.push(path.clone());
                String::new()
            } else if meta.is_symlink() {
                fs::read_link(&path)
                    .expect("readlink")
                    .display()
                    .to_string()
            } else {
                String::from_utf8_lossy(&fs::read(&path).expect("read")).into_owned()
            };
            let key = path
                .strip_prefix(root)
                .expect("below root")
                .display()
                .to_string();
            let value = format!(
                "{:o} {}:{} {} {}.{} {} {body}",
                meta.mode(),
                meta.uid(),
                meta.gid(),
                meta.size(),
                meta.mtime(),
                meta.mtime_nsec(),
                meta.ino()
            );
            out.insert(key, value);
        }
    }
    out
}

/// The files the script below changes.
fn populate(dir: &Path) {
    fs::write(dir.join("f"), "host data\n").expect("write f");
    fs::write(dir.join("g"), "0123456789").expect("write g");
    fs::set_permissions(dir.join("g"), fs::Permissions::from_mode(0o644)).expect("chmod g");
    fs::write(dir.join("gone"), "x").expect("write gone");
    fs::write(dir.join("h"), "linked").expect("write h");
    fs::create_dir_all(dir.join("d/sub")).expect("mkdir d/sub");
    fs::write(dir.join("d/sub/c"), "deep\n").expect("write c");
    fs::write(dir.join("d/e"), "e").expect("write e");
    fs::create_dir_all(dir.join("rmd/inner")).expect("mkdir rmd");
    fs::write(dir.join("rmd/inner/old"), "old").expect("write old");
    symlink("f", dir.join("lnk")).expect("symlink");
}

/// Changes every kind of thing the overlay must copy up, white out or move, printing what it
/// sees after each step (paths relative to the directory, so both runs print the same). Files
/// are shown through a command substitution, which reads them whole at once: natively, busybox
/// cat splices page-cache pages into the pipe, and a later truncate would change them before
/// the test reads the pipe.
const SCRIPT: &str = r#"cd "$1" || exit 9
show() { echo "$(cat "$1")"; }
echo appended >> f; show f
chmod 600 g; stat -c '%a %s' g; show g
truncate -s 4 g; show g
rm gone; ls
mv d moved; ls moved moved/sub; show moved/sub/c
ln h h2; stat -c '%h' h h2
[ "$(stat -c %i h)" = "$(stat -c %i h2)" ] && echo one inode
echo via-link >> h2; show h
rm -r rmd; mkdir rmd; ls rmd | wc -l; mkdir rmd/inner; ls rmd/inner | wc -l
echo to-target > lnk; show f
mkdir -p new/dir; echo n > new/dir/file; show new/dir/file
touch -d 2001-02-03 moved/e; stat -c '%y' moved/e | cut -c1-10
ls
"#;

#[test]
fn changes_to_host_files_stay_in_the_sandbox_and_read_back_as_natively() {
    let Some(busybox) = busybox() else { return };
    let sandbox_dir = shared_tempdir();
    let native_dir = shared_tempdir();
    populate(sandbox_dir.path());
    populate(native_dir.path());
    let before = snapshot(sandbox_dir.path());

    let run_in = |dir: &Path| {
        Run::new(busybox)
            .args(["sh", "-c", SCRIPT, "sh"])
            .args([dir])
    };
    let native = run_in(native_dir.path()).native();
    let sandboxed = run_in(sandbox_dir.path()).sandboxed();
    assert_eq!(native.status, Status::Exited(0), "{}", native.stderr);
    assert!(native.stdout.contains("one inode"), "{}", native.stdout);
    assert_eq!(sandboxed.stdout, native.stdout);
    assert_eq!(sandboxed.status, Status::Exited(0), "{}", sandboxed.stderr);
    assert_eq!(
        snapshot(sandbox_dir.path()),
        before,
        "the host files changed"
    );
}

#[test]
fn echo_into_etc_motd_works_and_the_host_file_is_unchanged() {
    let Some(busybox) = busybox() else { return };
    let host_motd = fs::read("/etc/motd").ok();
    let sandboxed = Run::new(busybox)
        .args(["sh", "-c", "echo x > /etc/motd && cat /etc/motd"])
        .sandboxed();
    assert_eq!(sandboxed.stdout, "x\n", "{}", sandboxed.stderr);
    assert_eq!(sandboxed.status, Status::Exited(0));
    assert_eq!(fs::read("/etc/motd").ok(), host_motd);
}

#[test]
fn a_script_in_the_hosts_tmp_runs() {
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        eprintln!("SKIPPED: {} is missing", python.display());
        return;
    }
    let dir = tempfile::tempdir_in("/tmp").expect("tempdir in /tmp");
    let script = dir.path().join("script.py");
    fs::write(&script, "import sys\nprint('hello from', sys.argv[0])\n").expect("write");
    let run = Run::new(python).args([&script]);
    let native = run.native();
    let sandboxed = run.sandboxed();
    assert_eq!(native.status, Status::Exited(0), "{}", native.stderr);
    assert_eq!(sandboxed.stdout, native.stdout, "{}", sandboxed.stderr);
    assert_eq!(sandboxed.status, Status::Exited(0));
}

#[test]
fn read_only_keeps_the_root_read_only_with_a_private_tmp() {
    let Some(busybox) = busybox() else { return };
    let dir = shared_tempdir();
    fs::write(dir.path().join("f"), "host\n").expect("write");
    let before = snapshot(dir.path());
    let script = r#"echo x > "$1/f" || echo refused
rm "$1/f" || echo refused
ls /tmp | wc -l; echo y > /tmp/t && cat /tmp/t"#;
    let sandboxed = Run::new(busybox)
        .args(["sh", "-c", script, "sh"])
        .args([dir.path()])
        .runsc_flags(["--read-only"])
        .sandboxed();
    assert_eq!(sandboxed.stdout, "refused\nrefused\n0\ny\n");
    assert_eq!(
        sandboxed.stderr.matches("Read-only file system").count(),
        2,
        "{}",
        sandboxed.stderr
    );
    assert_eq!(snapshot(dir.path()), before);
}

#[test]
fn mount_points_missing_from_the_root_are_made_in_the_overlay() {
    let Some(busybox) = busybox() else { return };
    let root = tempfile::tempdir().expect("tempdir");
    fs::create_dir(root.path().join("bin")).expect("mkdir bin");
    fs::copy(busybox, root.path().join("bin/busybox")).expect("copy busybox");
    let before = snapshot(root.path());
    let sandboxed = Run::new("/bin/busybox")
        .args([
            "sh",
            "-c",
            "ls /dev/null && test -d /proc/self && echo proc",
        ])
        .runsc_flags([
            Path::new("--root"),
            root.path(),
            Path::new("--cwd"),
            Path::new("/"),
        ])
        .sandboxed();
    assert_eq!(
        sandboxed.stdout, "/dev/null\nproc\n",
        "{}",
        sandboxed.stderr
    );
    assert_eq!(sandboxed.status, Status::Exited(0));
    assert_eq!(snapshot(root.path()), before);
}
