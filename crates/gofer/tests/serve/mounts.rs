//! Trees holding mounts of their own, made in a private mount namespace so the host never
//! sees them: qids stay unique across filesystems, and a procfs or a `/dev`-like tmpfs inside
//! the tree is opaque.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::{makedev, mknod, SFlag};

use crate::*;

/// Runs `body` on a thread with a private mount namespace, given a temporary directory in which
/// it may mount. `None`, after saying why, when that needs privileges the test lacks.
fn with_private_mounts<T: Send>(body: impl FnOnce(&Path) -> T + Send) -> Option<T> {
    let dir = tempfile::tempdir().unwrap();
    let outcome = thread::scope(|scope| {
        scope
            .spawn(|| {
                // A thread may take a mount namespace of its own; threads it spawns (the
                // Gofer's) share it.
                unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("unshare: {e}"))?;
                mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None::<&str>,
                )
                .map_err(|e| format!("making mounts private: {e}"))?;
                Ok::<_, String>(body(dir.path()))
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    // The namespace, and its mounts, went with the thread: `dir` is plain directories again.
    match outcome {
        Ok(value) => Some(value),
        Err(why) => {
            eprintln!("skipping: no private mount namespace ({why})");
            None
        }
    }
}

/// Mounts a fresh tmpfs (or other filesystem `fs_type`) at new directory `dir/name`.
fn mount_at(dir: &Path, name: &str, fs_type: &str) -> PathBuf {
    let target = dir.join(name);
    fs::create_dir(&target).unwrap();
    mount(
        Some(fs_type),
        &target,
        Some(fs_type),
        MsFlags::empty(),
        None::<&str>,
    )
    .unwrap_or_else(|e| panic!("mounting {fs_type} at {}: {e}", target.display()));
    target
}

#[test]
fn same_inode_on_two_filesystems_gets_two_qid_paths() {
    with_private_mounts(|dir| {
        let (first, second) = (mount_at(dir, "a", "tmpfs"), mount_at(dir, "b", "tmpfs"));
        fs::write(first.join("f"), b"first").unwrap();
        fs::write(second.join("f"), b"second").unwrap();
        let (ino_first, ino_second) = (
            fs::metadata(first.join("f")).unwrap().ino(),
            fs::metadata(second.join("f")).unwrap().ino(),
        );
        if ino_first != ino_second {
            eprintln!("skipping: two fresh tmpfs numbered their first files apart");
            return;
        }
        let session = start(dir, true);
        let client = &session.client;
        let (a_file, a_qids) = client.walk(session.root, &[b"a", b"f"]).unwrap();
        let (b_file, b_qids) = client.walk(session.root, &[b"b", b"f"]).unwrap();
        // Both mount roots share an inode number as well.
        assert_ne!(a_qids[0].path, b_qids[0].path);
        assert_ne!(a_qids[1].path, b_qids[1].path);
        // A file keeps its path, whichever way it is reached.
        for (file, qids, content) in [
            (a_file, &a_qids, &b"first"[..]),
            (b_file, &b_qids, b"second"),
        ] {
            let again = client.walk(file, &[b"..", b"f"]).unwrap().1;
            assert_eq!(again[1], qids[1]);
            assert_eq!(
                client.getattr(file, p9::GETATTR_BASIC).unwrap().qid,
                qids[1]
            );
            client.lopen(file, O_RDONLY).unwrap();
            assert_eq!(session.read_all(file), content);
        }
        let (a_dir, _) = client.walk(session.root, &[b"a"]).unwrap();
        client.lopen(a_dir, O_RDONLY).unwrap();
        let listed = session.entries(a_dir, 4096);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].qid.path, a_qids[1].path);
        session.finish();
    });
}

#[test]
fn procfs_and_dev_like_tmpfs_in_the_tree_are_opaque() {
    with_private_mounts(|dir| {
        let proc = mount_at(dir, "proc", "proc");
        let dev = mount_at(dir, "dev", "tmpfs");
        mknod(
            &dev.join("null"),
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(1, 3),
        )
        .unwrap();
        fs::write(dev.join("plain"), b"not served").unwrap();
        let shm = mount_at(dir, "shm", "tmpfs");
        fs::write(shm.join("plain"), b"served").unwrap();
        assert!(proc.join("self").exists());

        // Writable, so that refusals come from opacity rather than from read-only serving.
        let session = start(dir, false);
        let client = &session.client;
        for (name, inside) in [(&b"proc"[..], &b"self"[..]), (b"dev", b"plain")] {
            let (fid, _) = client.walk(session.root, &[name]).unwrap();
            client.getattr(fid, p9::GETATTR_BASIC).unwrap();
            assert_eq!(remote_errno(client.walk(fid, &[inside])), EACCES);
            assert_eq!(remote_errno(client.mkdir(fid, b"new", 0o755, 0)), EACCES);
            assert_eq!(remote_errno(client.unlinkat(fid, inside, 0)), EACCES);
            assert_eq!(remote_errno(client.lopen(fid, O_RDONLY)), EACCES);
        }
        assert!(dev.join("plain").exists());
        // An ordinary tmpfs is served like any directory.
        let (plain, _) = client.walk(session.root, &[b"shm", b"plain"]).unwrap();
        client.lopen(plain, O_RDONLY).unwrap();
        assert_eq!(session.read_all(plain), b"served");
        session.finish();
    });
}
