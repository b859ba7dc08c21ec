//! `runsc do --volume HOST:GUEST[:ro]`: what a guest does in a volume is on the host
//! afterwards, exactly as the same commands leave a host directory natively; a read-only volume
//! refuses changes with EROFS; symlinks in a volume are resolved by the Sentry inside the
//! sandbox, never by the Gofer on the host.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::support::{busybox, guest, shared_tempdir, Run, Status};

/// A few files for the guest to change, the same in every directory it is made in.
fn seed(dir: &Path) {
    fs::create_dir_all(dir.join("dir_gone")).expect("mkdir");
    for (name, content) in [
        ("keep.txt", "keep"),
        ("old.txt", "old"),
        ("gone.txt", "gone"),
    ] {
        fs::write(dir.join(name), content).expect("write seed");
    }
}

/// Every entry under `dir`: type, permission bits, link count, and contents or target.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(at) = pending.pop() {
        for entry in fs::read_dir(&at).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let what = if meta.is_dir() {
                pending.push(path.clone());
                "dir".to_owned()
            } else if meta.file_type().is_symlink() {
                format!(
                    "link -> {}",
                    fs::read_link(&path).expect("readlink").display()
                )
            } else if meta.is_file() {
                format!("file {:?}", fs::read_to_string(&path).expect("read"))
            } else {
                format!("other {:o}", meta.mode() & libc::S_IFMT)
            };
            let relative = path.strip_prefix(dir).expect("under dir").display();
            let mode = meta.permissions().mode() & 0o7777;
            let summary = format!("{what} mode {mode:o} nlink {}", meta.nlink());
            entries.insert(relative.to_string(), summary);
        }
    }
    entries
}

/// What the guest does in directory `$1`, printing what it reads back.
const CHANGES: &str = r#"
cd "$1" &&
echo written > new.txt && printf 'more\n' >> new.txt &&
mkdir -p sub/deeper && echo inner > sub/deeper/f &&
mv old.txt sub/renamed.txt &&
rm gone.txt && rmdir dir_gone &&
ln -s sub/renamed.txt link && ln keep.txt hard &&
chmod 600 keep.txt && chmod 750 sub &&
truncate -s 3 sub/deeper/f &&
touch -d '2001-02-03 04:05:06' keep.txt &&
echo synced | dd of=synced conv=fsync 2>/dev/null &&
mkfifo fifo &&
cat link new.txt sub/deeper/f && echo && ls -n keep.txt | cut -c1-10 && ls
"#;

#[test]
fn guest_changes_in_a_volume_are_on_the_host_afterwards() {
    let Some(busybox) = busybox() else { return };
    let base = shared_tempdir();
    let (native_dir, volume, mount_point) = (
        base.path().join("native"),
        base.path().join("volume"),
        base.path().join("mnt"),
    );
    seed(&native_dir);
    seed(&volume);
    fs::create_dir(&mount_point).expect("mkdir mount point");

    let native = Run::new(busybox)
        .args([
            OsString::from("sh"),
            "-c".into(),
            CHANGES.into(),
            "sh".into(),
        ])
        .args([&native_dir])
        .native();
    assert_eq!(native.status, Status::Exited(0), "{}", native.stderr);
    let sandboxed = Run::new(busybox)
        .args([
            OsString::from("sh"),
            "-c".into(),
            CHANGES.into(),
            "sh".into(),
        ])
        .args([&mount_point])
        .runsc_flags(volume_flags(&volume, &mount_point, false))
        .sandboxed();
    assert_eq!(sandboxed.status, Status::Exited(0), "{}", sandboxed.stderr);
    assert_eq!(sandboxed.stdout, native.stdout);

    // Checked here, on the host, after the sandbox is gone.
    assert_eq!(snapshot(&volume), snapshot(&native_dir));
    assert_eq!(
        fs::metadata(volume.join("keep.txt")).expect("stat").mtime(),
        fs::metadata(native_dir.join("keep.txt"))
            .expect("stat")
            .mtime()
    );
    assert_eq!(
        fs::read_dir(&mount_point).expect("read_dir").count(),
        0,
        "the mount point on the host is untouched"
    );
}

#[test]
fn a_read_only_volume_refuses_changes_with_erofs() {
    let Some(busybox) = busybox() else { return };
    let base = shared_tempdir();
    let (volume, mount_point) = (base.path().join("volume"), base.path().join("mnt"));
    seed(&volume);
    fs::create_dir(&mount_point).expect("mkdir mount point");
    let before = snapshot(&volume);
    let script = r#"
cd "$1" && cat keep.txt && echo &&
for change in 'echo x > new' 'mkdir d' 'rm keep.txt' 'chmod 600 keep.txt' \
              'mv keep.txt moved' 'ln -s x link' 'touch keep.txt' 'rmdir dir_gone'; do
    sh -c "$change" 2>&1 && echo "allowed: $change"
done
grep " $1 " /proc/mounts | cut -d' ' -f3-4 | cut -d, -f1
"#;
    let sandboxed = Run::new(busybox)
        .args([
            OsString::from("sh"),
            "-c".into(),
            script.into(),
            "sh".into(),
        ])
        .args([&mount_point])
        .runsc_flags(volume_flags(&volume, &mount_point, true))
        .sandboxed();
    assert_eq!(sandboxed.status, Status::Exited(0), "{}", sandboxed.stderr);
    let lines: Vec<&str> = sandboxed.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"keep"), "{}", sandboxed.stdout);
    assert_eq!(lines.last(), Some(&"9p ro"), "{}", sandboxed.stdout);
    let refused = lines
        .iter()
        .filter(|line| line.ends_with("Read-only file system"))
        .count();
    assert_eq!(refused, 8, "{}", sandboxed.stdout);
    assert_eq!(snapshot(&volume), before);
}

#[test]
fn symlinks_in_a_volume_resolve_inside_the_sandbox() {
    let Some(busybox) = busybox() else { return };
    let base = shared_tempdir();
    let (root, volume) = (base.path().join("root"), base.path().join("volume"));
    for dir in ["bin", "etc", "mnt"] {
        fs::create_dir_all(root.join(dir)).expect("mkdir");
    }
    fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
    fs::write(root.join("etc/marker"), "the sandbox's /etc").expect("write marker");
    fs::create_dir(&volume).expect("mkdir volume");
    std::os::unix::fs::symlink("/etc", volume.join("etc_link")).expect("symlink");
    std::os::unix::fs::symlink("../".repeat(12), volume.join("up")).expect("symlink");
    // Natively the link reaches the host's /etc: the escape the sandbox must stop is real.
    assert!(
        volume.join("etc_link/shadow").exists(),
        "the host has no /etc/shadow"
    );

    let script = r#"
busybox cat /mnt/etc_link/marker && echo
busybox cat /mnt/etc_link/shadow 2>&1
busybox cat /mnt/up/etc/shadow 2>&1
{ echo planted > /mnt/etc_link/planted; } 2>&1
{ echo planted2 > /mnt/up/etc/planted2; } 2>&1
busybox cat /etc/planted /etc/planted2
busybox ls /mnt/up
"#;
    let sandboxed = Run::new("/bin/busybox")
        .args(["sh", "-c", script])
        .env("PATH", "/bin")
        .runsc_flags([
            OsString::from("--root"),
            root.clone().into_os_string(),
            "--cwd".into(),
            "/".into(),
        ])
        .runsc_flags(volume_flags(&volume, Path::new("/mnt"), false))
        .sandboxed();
    assert_eq!(sandboxed.status, Status::Exited(0), "{}", sandboxed.stderr);
    let lines: Vec<&str> = sandboxed.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "the sandbox's /etc",
            "cat: can't open '/mnt/etc_link/shadow': No such file or directory",
            "cat: can't open '/mnt/up/etc/shadow': No such file or directory",
            // Writes through the links land in the sandbox's own (overlay) /etc.
            "planted",
            "planted2",
            "bin",
            "dev",
            "etc",
            "mnt",
            "proc",
        ],
        "{}",
        sandboxed.stdout
    );
    for planted in ["planted", "planted2"] {
        assert!(!Path::new("/etc").join(planted).exists());
        assert!(!root.join("etc").join(planted).exists());
    }
}

#[test]
fn bad_volumes_fail_before_the_sandbox_runs() {
    let Some(busybox) = busybox() else { return };
    let base = shared_tempdir();
    let host = base.path().to_str().expect("utf-8 temp path");
    let file = base.path().join("file");
    fs::write(&file, "not a directory").expect("write");
    for (volume, why) in [
        (format!("{host}/missing:/mnt"), "No such file or directory"),
        (format!("{}:/mnt", file.display()), "not a directory"),
        (format!("{host}:mnt"), "must be absolute"),
        (format!("{host}:/"), "root"),
        (host.to_owned(), "HOST:GUEST"),
        // A mount point a read-only root lacks can't be made (the overlay root makes it).
        (format!("{host}:/no/such/mount/point"), "read-only"),
    ] {
        let sandboxed = Run::new(busybox)
            .args(["echo", "ran"])
            .runsc_flags(["--read-only", "--volume", &volume])
            .sandboxed();
        assert_eq!(sandboxed.status, Status::Exited(125), "{volume}");
        assert!(
            sandboxed.stderr.contains(why),
            "{volume}: {}",
            sandboxed.stderr
        );
        assert_eq!(sandboxed.stdout, "", "{volume}");
    }
}

/// Sets, reads, lists and removes `user.*` attributes of files in directory `sys.argv[1]`.
const XATTRS: &str = r#"
import errno, os, sys
d = sys.argv[1]
for name in ("tagged", "untagged"):
    open(os.path.join(d, name), "w").close()
f = os.path.join(d, "tagged")
os.setxattr(f, "user.color", b"blue")
os.setxattr(f, "user.size", b"x" * 1000)
os.setxattr(f, "user.gone", b"soon")
os.removexattr(f, "user.gone")
print(os.getxattr(f, "user.color"), sorted(os.listxattr(f)))
for call in (lambda: os.setxattr(f, "user.color", b"red", os.XATTR_CREATE),
             lambda: os.getxattr(f, "user.gone"),
             lambda: os.removexattr(f, "user.gone"),
             lambda: os.setxattr(f, "user.new", b"v", os.XATTR_REPLACE)):
    try:
        call()
        print("allowed")
    except OSError as e:
        print(errno.errorcode[e.errno])
fd = os.open(f, os.O_RDONLY)
print(os.getxattr(fd, "user.color"), os.listxattr(os.path.join(d, "untagged")))
"#;

#[test]
fn user_xattrs_in_a_volume_are_the_host_files() {
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        eprintln!("SKIPPED: python3 is missing");
        return;
    }
    let base = shared_tempdir();
    let (native_dir, volume, mount_point) = (
        base.path().join("native"),
        base.path().join("volume"),
        base.path().join("mnt"),
    );
    for dir in [&native_dir, &volume, &mount_point] {
        fs::create_dir(dir).expect("mkdir");
    }
    same_python_output_natively_and_in_a_volume(python, XATTRS, &native_dir, &volume, &mount_point);

    // On the host, after the sandbox: the attributes are the file's own.
    let check = "import os, sys; print(os.getxattr(sys.argv[1], 'user.color'), \
                 sorted(os.listxattr(sys.argv[1])))";
    let on_host = Run::new(python)
        .args([OsString::from("-c"), check.into()])
        .args([volume.join("tagged")])
        .native();
    assert_eq!(on_host.status, Status::Exited(0), "{}", on_host.stderr);
    assert_eq!(on_host.stdout, "b'blue' ['user.color', 'user.size']\n");
}

/// A mount point missing from a writable filesystem (the sandbox's /tmp) is made, parents
/// and all; the host's /tmp is not touched.
#[test]
fn a_missing_mount_point_is_made_where_it_can_be() {
    let Some(busybox) = busybox() else { return };
    let base = shared_tempdir();
    fs::write(base.path().join("from_host"), "host").expect("write");
    let guest = format!("/tmp/rvisor-volume-{}/deep", std::process::id());
    let script = format!("cat {guest}/from_host && echo guest > {guest}/from_guest");
    let sandboxed = Run::new(busybox)
        .args(["sh", "-c", &script])
        .runsc_flags(volume_flags(base.path(), Path::new(&guest), false))
        .sandboxed();
    assert_eq!(sandboxed.status, Status::Exited(0), "{}", sandboxed.stderr);
    assert_eq!(sandboxed.stdout, "host");
    assert_eq!(
        fs::read_to_string(base.path().join("from_guest")).expect("read"),
        "guest\n"
    );
    assert!(!Path::new(&guest).exists());
}

/// What an unprivileged guest makes in directory `$1`: every kind of file, one with a
/// set-user-ID bit, some under a set-group-ID directory `shared` (group 50) made by the test;
/// it prints their owners and modes as it sees them.
const OWNED: &str = r#"
import os, sys
os.chdir(sys.argv[1])
os.setgroups([])
os.setgid(1000)
os.setuid(1000)
os.umask(0o022)
with open("file", "w") as f:
    f.write("x")
os.close(os.open("setuid", os.O_CREAT | os.O_WRONLY, 0o4755))
os.mkdir("dir", 0o750)
os.symlink("file", "link")
os.mkfifo("fifo", 0o640)
os.mkdir("shared/sub", 0o755)
os.close(os.open("shared/inner", os.O_CREAT | os.O_WRONLY, 0o644))
for name in ("file", "setuid", "dir", "link", "fifo", "shared/sub", "shared/inner"):
    st = os.lstat(name)
    print(name, st.st_uid, st.st_gid, oct(st.st_mode))
"#;

/// The names [`OWNED`] makes, with the host's view of each: uid, gid and whole mode.
fn owners(dir: &Path) -> Vec<(&'static str, u32, u32, u32)> {
    [
        "file",
        "setuid",
        "dir",
        "link",
        "fifo",
        "shared/sub",
        "shared/inner",
    ]
    .into_iter()
    .map(|name| {
        let meta = fs::symlink_metadata(dir.join(name)).expect("lstat");
        (name, meta.uid(), meta.gid(), meta.mode())
    })
    .collect()
}

#[test]
fn files_a_guest_user_makes_in_a_volume_are_that_users_on_the_host() {
    let python = Path::new("/usr/bin/python3");
    if !python.exists() {
        eprintln!("SKIPPED: python3 is missing");
        return;
    }
    let base = shared_tempdir();
    // uid 1000 searches its way to the directories, natively and in the sandbox.
    fs::set_permissions(base.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
    let (native_dir, volume, mount_point) = (
        base.path().join("native"),
        base.path().join("volume"),
        base.path().join("mnt"),
    );
    fs::create_dir(&mount_point).expect("mkdir mount point");
    for dir in [&native_dir, &volume] {
        fs::create_dir_all(dir.join("shared")).expect("mkdir");
        fs::set_permissions(dir, fs::Permissions::from_mode(0o777)).expect("chmod");
        std::os::unix::fs::chown(dir.join("shared"), None, Some(50)).expect("chgrp");
        fs::set_permissions(dir.join("shared"), fs::Permissions::from_mode(0o2777)).expect("chmod");
    }
    same_python_output_natively_and_in_a_volume(python, OWNED, &native_dir, &volume, &mount_point);

    // On the host, after the sandbox: owned by the guest's user, as natively.
    let on_host = owners(&volume);
    assert_eq!(on_host, owners(&native_dir));
    let file = fs::metadata(volume.join("file")).expect("stat");
    assert_eq!((file.uid(), file.gid()), (1000, 1000));
    let dir = fs::metadata(volume.join("dir")).expect("stat");
    assert_eq!(
        (dir.uid(), dir.gid(), dir.mode() & 0o7777),
        (1000, 1000, 0o750)
    );
    let setuid = fs::metadata(volume.join("setuid")).expect("stat");
    assert_eq!(setuid.mode() & 0o7777, 0o4755);
    let sub = fs::metadata(volume.join("shared/sub")).expect("stat");
    assert_eq!(
        (sub.uid(), sub.gid(), sub.mode() & 0o7777),
        (1000, 50, 0o2755)
    );
}

/// A read-only volume reports errors in the order Linux does on a read-only mount: the same
/// calls on a read-only bind mount of a directory like it, natively, fail with the same
/// errnos (EROFS before ENOENT, EISDIR and ENOTDIR; EEXIST and "." before EROFS).
#[test]
fn a_read_only_volume_orders_errors_as_a_read_only_mount() {
    let Some(program) = guest("read_only_errors") else {
        return;
    };
    if !Path::new("/usr/bin/unshare").exists() {
        eprintln!("SKIPPED: unshare is missing (apt-get install util-linux)");
        return;
    }
    let base = shared_tempdir();
    let (native_dir, volume, mount_point) = (
        base.path().join("native"),
        base.path().join("volume"),
        base.path().join("mnt"),
    );
    for dir in [&native_dir, &volume] {
        fs::create_dir_all(dir.join("dir")).expect("mkdir");
        fs::create_dir_all(dir.join("full")).expect("mkdir");
        fs::write(dir.join("file"), "file").expect("write");
        fs::write(dir.join("full/x"), "x").expect("write");
    }
    fs::create_dir(&mount_point).expect("mkdir mount point");
    // Natively: a read-only bind mount of the directory over itself, in a mount namespace of
    // its own, so nothing outlives the run.
    let mount_read_only =
        r#"mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && exec "$2" "$1""#;
    let native = Run::new("/usr/bin/unshare")
        .args([
            OsString::from("-m"),
            "sh".into(),
            "-c".into(),
            mount_read_only.into(),
            "sh".into(),
        ])
        .args([native_dir.as_os_str(), program.as_os_str()])
        .native();
    assert_eq!(native.status, Status::Exited(0), "{}", native.stderr);
    let before = snapshot(&volume);
    let sandboxed = Run::new(&program)
        .args([&mount_point])
        .runsc_flags(volume_flags(&volume, &mount_point, true))
        .sandboxed();
    assert_eq!(sandboxed.status, Status::Exited(0), "{}", sandboxed.stderr);
    assert_eq!(sandboxed.stdout, native.stdout);
    assert!(sandboxed.stdout.contains("EROFS"), "{}", sandboxed.stdout);
    assert_eq!(snapshot(&volume), before);
}

/// Runs python `script` on `native_dir` natively, then sandboxed on `mount_point` where
/// `volume` is mounted; both must succeed with the same output.
fn same_python_output_natively_and_in_a_volume(
    python: &Path,
    script: &str,
    native_dir: &Path,
    volume: &Path,
    mount_point: &Path,
) {
    let native = Run::new(python)
        .args([OsString::from("-c"), script.into()])
        .args([native_dir])
        .native();
    assert_eq!(native.status, Status::Exited(0), "{}", native.stderr);
    let sandboxed = Run::new(python)
        .args([OsString::from("-c"), script.into()])
        .args([mount_point])
        .runsc_flags(volume_flags(volume, mount_point, false))
        .sandboxed();
    assert_eq!(sandboxed.status, Status::Exited(0), "{}", sandboxed.stderr);
    assert_eq!(sandboxed.stdout, native.stdout);
}

/// runsc's flags mounting host directory `host` at `guest` (read-only if `read_only`).
fn volume_flags(host: &Path, guest: &Path, read_only: bool) -> [OsString; 2] {
    let mut volume = host.as_os_str().to_owned();
    volume.push(":");
    volume.push(guest);
    if read_only {
        volume.push(":ro");
    }
    [OsString::from("--volume"), volume]
}
