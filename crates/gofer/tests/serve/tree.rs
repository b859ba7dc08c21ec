//! Temporary trees on one filesystem: confinement, reads, listings, writes.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use p9::QID_TYPE_SYMLINK;

use crate::*;

/// A temporary directory holding `root/` (served) beside `outside/` (must stay unreachable).
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("secret"), b"host secret").unwrap();
        fs::write(root.join("sub/hello.txt"), b"hello from the root\n").unwrap();
        fs::write(root.join("top.txt"), b"top").unwrap();
        std::os::unix::fs::symlink("../outside", root.join("out_rel")).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("out_abs")).unwrap();
        std::os::unix::fs::symlink("../outside/secret", root.join("secret_rel")).unwrap();
        Tree { dir }
    }

    fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("root")
    }
}

#[test]
fn symlinks_out_of_the_root_are_only_text() {
    let tree = Tree::new();
    let session = start(&tree.root(), true);
    let client = &session.client;
    for (name, target) in [
        (&b"out_rel"[..], b"../outside".to_vec()),
        (
            b"out_abs",
            tree.dir
                .path()
                .join("outside")
                .into_os_string()
                .into_encoded_bytes(),
        ),
        (b"secret_rel", b"../outside/secret".to_vec()),
    ] {
        let (link, qids) = client.walk(session.root, &[name]).unwrap();
        assert_eq!(qids[0].ty, QID_TYPE_SYMLINK);
        assert_eq!(client.readlink(link).unwrap(), target);
        assert_eq!(remote_errno(client.lopen(link, O_RDONLY)), ELOOP);
        assert_eq!(
            client.getattr(link, p9::GETATTR_BASIC).unwrap().mode & libc::S_IFMT,
            libc::S_IFLNK
        );
        client.clunk(link).unwrap();
        // Walking through the link would follow it: the walk stops there.
        assert_eq!(remote_errno(session.walk(&[name, b"secret"])), ENOENT);
    }
    session.finish();
}

#[test]
fn dotdot_never_leaves_the_root() {
    let tree = Tree::new();
    let session = start(&tree.root(), true);
    let client = &session.client;
    let root_qid = client.getattr(session.root, p9::GETATTR_BASIC).unwrap().qid;
    for names in [&[&b".."[..]][..], &[b"..", b".."], &[b"sub", b"..", b".."]] {
        let (fid, qids) = client.walk(session.root, names).unwrap();
        assert_eq!(*qids.last().unwrap(), root_qid, "walk {names:?}");
        client.lopen(fid, O_RDONLY).unwrap();
        assert!(session.list(fid, 4096).contains(b"top.txt".as_slice()));
        client.clunk(fid).unwrap();
    }
    assert_eq!(remote_errno(session.walk(&[b"..", b"outside"])), ENOENT);
    let (sub, _) = client.walk(session.root, &[b"sub"]).unwrap();
    let (parent, qids) = client.walk(sub, &[b"..", b"top.txt"]).unwrap();
    assert_eq!(qids[0], root_qid);
    client.lopen(parent, O_RDONLY).unwrap();
    assert_eq!(session.read_all(parent), b"top");
    session.finish();
}

#[test]
fn names_that_are_not_one_component_are_invalid() {
    let tree = Tree::new();
    let session = start(&tree.root(), true);
    for name in [&b"sub/hello.txt"[..], b".", b"", b"nul\0byte"] {
        assert_eq!(remote_errno(session.walk(&[name])), EINVAL, "{name:?}");
    }
    session.finish();
}

#[test]
fn reads_files_and_lists_directories() {
    let tree = Tree::new();
    let session = start(&tree.root(), true);
    let client = &session.client;
    let file = session.walk(&[b"sub", b"hello.txt"]).unwrap();
    let attr = client.getattr(file, p9::GETATTR_BASIC).unwrap();
    assert_eq!(attr.size, 20);
    assert_eq!(attr.mode & libc::S_IFMT, libc::S_IFREG);
    client.lopen(file, O_RDONLY).unwrap();
    assert_eq!(session.read_all(file), b"hello from the root\n");

    let root_dir = session.walk(&[]).unwrap();
    client.lopen(root_dir, O_RDONLY).unwrap();
    let expected: BTreeSet<Vec<u8>> = ["sub", "top.txt", "out_rel", "out_abs", "secret_rel"]
        .iter()
        .map(|name| name.as_bytes().to_vec())
        .collect();
    assert_eq!(session.list(root_dir, 4096), expected);
    // A count that fits one entry at a time still lists everything by resuming at offsets.
    assert_eq!(session.list(root_dir, 40), expected);
    assert_eq!(client.statfs(root_dir).unwrap().namelen, 255);
    session.finish();
}

#[test]
fn read_only_refuses_every_write() {
    let tree = Tree::new();
    let session = start(&tree.root(), true);
    let client = &session.client;
    let file = session.walk(&[b"top.txt"]).unwrap();
    for flags in [O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC] {
        assert_eq!(remote_errno(client.lopen(file, flags)), EROFS);
    }
    let dir = session.walk(&[b"sub"]).unwrap();
    assert_eq!(remote_errno(client.mkdir(dir, b"new", 0o755, 0)), EROFS);
    assert_eq!(
        remote_errno(client.lcreate(dir, b"new", O_WRONLY, 0o644, 0)),
        EROFS
    );
    assert_eq!(remote_errno(client.symlink(dir, b"new", b"x", 0)), EROFS);
    assert_eq!(remote_errno(client.unlinkat(dir, b"hello.txt", 0)), EROFS);
    assert_eq!(
        remote_errno(client.renameat(dir, b"hello.txt", dir, b"moved")),
        EROFS
    );
    let setattr = p9::Tsetattr {
        fid: file,
        valid: p9::SETATTR_SIZE,
        ..Default::default()
    };
    assert_eq!(remote_errno(client.setattr(&setattr)), EROFS);
    assert_eq!(
        fs::read(tree.root().join("sub/hello.txt")).unwrap(),
        b"hello from the root\n"
    );
    assert!(!tree.root().join("sub/new").exists());
    session.finish();
}

#[test]
fn writable_tree_creates_writes_and_removes() {
    let tree = Tree::new();
    let session = start(&tree.root(), false);
    let client = &session.client;
    let dir = session.walk(&[b"sub"]).unwrap();
    client.mkdir(dir, b"made", 0o755, 0).unwrap();
    assert!(tree.root().join("sub/made").is_dir());

    let created = client.walk(dir, &[]).unwrap().0;
    client
        .lcreate(created, b"new.txt", O_RDWR, 0o644, 0)
        .unwrap();
    assert_eq!(client.write(created, 0, b"written").unwrap(), 7);
    client.fsync(created, false).unwrap();
    assert_eq!(
        fs::read(tree.root().join("sub/new.txt")).unwrap(),
        b"written"
    );

    client
        .renameat(dir, b"new.txt", dir, b"renamed.txt")
        .unwrap();
    client.symlink(dir, b"link", b"renamed.txt", 0).unwrap();
    assert_eq!(
        fs::read_link(tree.root().join("sub/link")).unwrap(),
        Path::new("renamed.txt")
    );
    client.unlinkat(dir, b"renamed.txt", 0).unwrap();
    client
        .unlinkat(dir, b"made", libc::AT_REMOVEDIR as u32)
        .unwrap();
    assert!(!tree.root().join("sub/renamed.txt").exists());
    assert!(!tree.root().join("sub/made").exists());
    // Creation names are single components too.
    assert_eq!(
        remote_errno(client.mkdir(dir, b"../escape", 0o755, 0)),
        EINVAL
    );
    session.finish();
}

#[test]
fn fids_past_the_fd_budget_walk_again_and_follow_renames() {
    let tree = Tree::new();
    let session = start(&tree.root(), false);
    let client = &session.client;
    let hello = session.walk(&[b"sub", b"hello.txt"]).unwrap();
    let hello_qid = client.getattr(hello, p9::GETATTR_BASIC).unwrap().qid;
    // More fids than FD_BUDGET: hello's descriptor is closed.
    let others: Vec<Fid> = (0..4)
        .map(|_| session.walk(&[b"top.txt"]).unwrap())
        .collect();
    for &fid in &others {
        client.getattr(fid, p9::GETATTR_BASIC).unwrap();
    }
    let root_dir = session.walk(&[]).unwrap();
    client
        .renameat(root_dir, b"sub", root_dir, b"moved")
        .unwrap();
    // Walked again, through the new name, to the same file.
    assert_eq!(
        client.getattr(hello, p9::GETATTR_BASIC).unwrap().qid,
        hello_qid
    );
    client.lopen(hello, O_RDONLY).unwrap();
    assert_eq!(session.read_all(hello), b"hello from the root\n");
    // A different file at the path the fid walks is not the fid's file.
    let top = session.walk(&[b"top.txt"]).unwrap();
    for &fid in &others {
        client.getattr(fid, p9::GETATTR_BASIC).unwrap();
    }
    fs::rename(
        tree.root().join("moved/hello.txt"),
        tree.root().join("top.txt"),
    )
    .unwrap();
    assert_eq!(
        remote_errno(client.getattr(top, p9::GETATTR_BASIC)),
        libc::ESTALE as u32
    );
    session.finish();
}
