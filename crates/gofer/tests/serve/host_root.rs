//! The host's "/" served as `runsc do` serves it: its pseudo-filesystems are reachable but
//! opaque.

use std::path::Path;

use nix::sys::statfs::{statfs, FsType, PROC_SUPER_MAGIC, SYSFS_MAGIC};

use crate::*;

/// Whether host directory `dir` holds a filesystem of type `magic`; says why not otherwise.
fn is_mounted(dir: &str, magic: FsType) -> bool {
    match statfs(dir) {
        Ok(fs) if fs.filesystem_type() == magic => true,
        Ok(fs) => {
            eprintln!("skipping {dir}: not the expected filesystem ({fs:?})");
            false
        }
        Err(error) => {
            eprintln!("skipping {dir}: {error}");
            false
        }
    }
}

#[test]
fn host_proc_and_sys_are_reachable_but_opaque() {
    let session = start(Path::new("/"), true);
    let client = &session.client;
    let root_qid = client.getattr(session.root, p9::GETATTR_BASIC).unwrap().qid;
    let root_dir = session.walk(&[]).unwrap();
    client.lopen(root_dir, O_RDONLY).unwrap();
    let listed = session.list(root_dir, 4096);
    let mut checked = 0;
    for (dir, magic, inside) in [
        ("proc", PROC_SUPER_MAGIC, &[&b"self"[..], b"environ"][..]),
        ("sys", SYSFS_MAGIC, &[b"fs", b"cgroup"]),
    ] {
        if !is_mounted(&format!("/{dir}"), magic) {
            continue;
        }
        checked += 1;
        assert!(listed.contains(dir.as_bytes()), "/ lists {dir}");
        // The Sentry mounts over it, so it must reach and stat it.
        let (fid, qids) = client.walk(session.root, &[dir.as_bytes()]).unwrap();
        assert_eq!(qids[0].ty, QID_TYPE_DIR);
        let attr = client.getattr(fid, p9::GETATTR_BASIC).unwrap();
        assert_eq!(attr.mode & libc::S_IFMT, libc::S_IFDIR);
        assert_eq!(attr.qid, qids[0]);
        // Nothing in it is served.
        assert_eq!(remote_errno(client.walk(fid, &inside[..1])), EACCES);
        assert_eq!(remote_errno(client.walk(fid, inside)), EACCES);
        let mut through = vec![dir.as_bytes()];
        through.extend(inside);
        assert!(session.walk(&through).is_err(), "walk /{dir}/...");
        assert_eq!(remote_errno(client.lopen(fid, O_RDONLY)), EACCES);
        assert!(client.readdir(fid, 0, 4096).is_err(), "readdir /{dir}");
        // Going back up leads out of it.
        let (_, qids) = client.walk(fid, &[b".."]).unwrap();
        assert_eq!(qids[0], root_qid);
    }
    if checked == 0 {
        eprintln!("skipping: neither /proc nor /sys is mounted as expected");
    }
    session.finish();
}

#[test]
fn host_dev_is_opaque_when_it_is_a_devtmpfs() {
    let is_devtmpfs = is_mounted("/dev", nix::sys::statfs::TMPFS_MAGIC)
        && std::fs::symlink_metadata("/dev/null").is_ok_and(|null| {
            use std::os::unix::fs::FileTypeExt;
            null.file_type().is_char_device()
        });
    if !is_devtmpfs {
        eprintln!("skipping: /dev is not a devtmpfs holding null");
        return;
    }
    let session = start(Path::new("/"), true);
    let client = &session.client;
    let (dev, _) = client.walk(session.root, &[b"dev"]).unwrap();
    client.getattr(dev, p9::GETATTR_BASIC).unwrap();
    assert_eq!(remote_errno(client.walk(dev, &[b"null"])), EACCES);
    assert_eq!(remote_errno(client.lopen(dev, O_RDONLY)), EACCES);
    session.finish();
}
