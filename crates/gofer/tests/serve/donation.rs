//! The fd-donation extension: read-only opens of regular files come back as host descriptors.

use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

use crate::*;

#[test]
fn read_only_regular_files_are_donated() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    fs::write(dir.path().join("sub/data"), b"donated bytes\n").unwrap();
    let session = start(dir.path(), true);
    let client = &session.client;

    let file = session.walk(&[b"sub", b"data"]).unwrap();
    let (qid, _, fd) = client.lopenfd(file, O_RDONLY).unwrap();
    assert_eq!(qid, client.getattr(file, p9::GETATTR_BASIC).unwrap().qid);
    client.clunk(file).unwrap();
    // The descriptor outlives the fid and reads the host file.
    let mut content = Vec::new();
    File::from(fd).read_to_end(&mut content).unwrap();
    assert_eq!(content, b"donated bytes\n");
    session.finish();
}

#[test]
fn writes_are_donated_only_on_a_writable_tree_and_directories_never() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    fs::write(dir.path().join("sub/data"), b"x").unwrap();
    for read_only in [true, false] {
        let session = start(dir.path(), read_only);
        let client = &session.client;
        let file = session.walk(&[b"sub", b"data"]).unwrap();
        if read_only {
            for flags in [O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC] {
                assert_eq!(remote_errno(client.lopenfd(file, flags)), EOPNOTSUPP);
            }
        } else {
            let (_, _, fd) = client.lopenfd(file, O_RDWR).unwrap();
            std::os::unix::fs::FileExt::write_at(&std::fs::File::from(fd), b"y", 0).unwrap();
        }
        let sub = session.walk(&[b"sub"]).unwrap();
        assert_eq!(remote_errno(client.lopenfd(sub, O_RDONLY)), EOPNOTSUPP);
        // Declining leaves the fid usable the plain way.
        client.lopen(file, O_RDONLY).unwrap();
        let expected: &[u8] = if read_only { b"x" } else { b"y" };
        assert_eq!(session.read_all(file), expected);
        session.finish();
    }
    assert_eq!(fs::read(dir.path().join("sub/data")).unwrap(), b"y");
}

#[test]
fn opaque_files_are_not_donated() {
    let proc = Path::new("/proc");
    if !proc.join("self").exists() {
        eprintln!("skipping: /proc is not mounted");
        return;
    }
    let session = start(Path::new("/"), true);
    let (proc_fid, _) = session.client.walk(session.root, &[b"proc"]).unwrap();
    assert_eq!(
        remote_errno(session.client.lopenfd(proc_fid, O_RDONLY)),
        EACCES
    );
    session.finish();
}
