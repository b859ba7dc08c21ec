//! Permission checks through the VFS: a root context sets files up, a uid-1000 context without
//! capabilities meets search, sticky, set-group-ID and exec rules.

mod common;

use abi::Errno;
use vfs::{Credentials, LookupCtx, Vfs};

const USER: u32 = 1000;

fn user(root: &LookupCtx) -> LookupCtx {
    LookupCtx {
        creds: Credentials {
            fsuid: USER,
            fsgid: USER,
            groups: Vec::new(),
            caps: 0,
        },
        ..root.clone()
    }
}

fn mkdir(vfs: &Vfs, ctx: &LookupCtx, path: &str, mode: u32) {
    vfs.mkdir(ctx, path.as_bytes(), mode)
        .unwrap_or_else(|e| panic!("mkdir {path}: {e}"));
    // mkdir's mode takes no set-id bits: chmod sets them.
    vfs.chmod(ctx, path.as_bytes(), mode)
        .unwrap_or_else(|e| panic!("chmod {path}: {e}"));
}

fn file(vfs: &Vfs, ctx: &LookupCtx, path: &str, mode: u32) {
    common::create(vfs, ctx, path, b"data");
    vfs.chmod(ctx, path.as_bytes(), mode)
        .unwrap_or_else(|e| panic!("chmod {path}: {e}"));
}

#[test]
fn every_directory_walked_needs_search_permission() {
    let (vfs, root) = common::tmpfs_vfs();
    mkdir(&vfs, &root, "/closed", 0o700);
    file(&vfs, &root, "/closed/f", 0o644);
    mkdir(&vfs, &root, "/searchable", 0o711);
    file(&vfs, &root, "/searchable/f", 0o644);
    let user = user(&root);
    assert_eq!(
        vfs.stat(&user, b"/closed/f", true).err(),
        Some(Errno::EACCES)
    );
    assert_eq!(
        vfs.lookup(&user, b"/closed/../closed", true).err(),
        Some(Errno::EACCES)
    );
    assert!(vfs.stat(&user, b"/searchable/f", true).is_ok());
    assert_eq!(
        vfs.open(&user, b"/searchable", libc::O_RDONLY | libc::O_DIRECTORY, 0)
            .err(),
        Some(Errno::EACCES)
    );
    // The directory named itself is only looked up in its (searchable) parent.
    assert!(vfs.stat(&user, b"/closed", true).is_ok());
}

#[test]
fn sticky_directories_protect_other_users_files() {
    let (vfs, root) = common::tmpfs_vfs();
    mkdir(&vfs, &root, "/tmp", 0o1777);
    file(&vfs, &root, "/tmp/roots", 0o666);
    let user = user(&root);
    assert_eq!(vfs.unlink(&user, b"/tmp/roots").err(), Some(Errno::EPERM));
    let own = vfs
        .open(&user, b"/tmp/own", libc::O_CREAT | libc::O_WRONLY, 0o600)
        .expect("create in a world-writable directory");
    let stat = own.stat().expect("stat");
    assert_eq!((stat.st_uid, stat.st_gid), (USER, USER));
    vfs.unlink(&user, b"/tmp/own").expect("unlink own file");
    vfs.unlink(&root, b"/tmp/roots")
        .expect("root unlinks anything");
}

#[test]
fn setgid_directories_pass_their_group_to_new_files_and_subdirectories() {
    let (vfs, root) = common::tmpfs_vfs();
    mkdir(&vfs, &root, "/shared", 0o2777);
    let attr = vfs::SetAttr {
        gid: Some(50),
        ..vfs::SetAttr::default()
    };
    Vfs::set_attr(&vfs.lookup(&root, b"/shared", true).expect("lookup"), &attr).expect("chgrp");
    let user = user(&root);
    vfs.mkdir(&user, b"/shared/sub", 0o755).expect("mkdir");
    let stat = vfs.stat(&user, b"/shared/sub", true).expect("stat");
    assert_eq!(stat.st_gid, 50);
    assert_eq!(stat.st_mode & 0o7777, 0o2755);
}

#[test]
fn exec_needs_an_x_bit_but_not_read_permission() {
    let (vfs, root) = common::tmpfs_vfs();
    file(&vfs, &root, "/plain", 0o644);
    file(&vfs, &root, "/xonly", 0o711);
    let user = user(&root);
    assert_eq!(
        vfs.open_exec(&user, b"/plain", true).err(),
        Some(Errno::EACCES)
    );
    assert_eq!(
        vfs.open_exec(&root, b"/plain", true).err(),
        Some(Errno::EACCES)
    );
    assert!(vfs.open_exec(&user, b"/xonly", true).is_ok());
    assert_eq!(
        vfs.open(&user, b"/xonly", libc::O_RDONLY, 0).err(),
        Some(Errno::EACCES)
    );
    assert_eq!(vfs.open_exec(&root, b"/", true).err(), Some(Errno::EACCES));
}
