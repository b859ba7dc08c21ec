//! Mounts: crossing into them, ".." out of them, and their names.

mod common;

use abi::Errno;
use common::{create, ino, tmpfs_vfs};
use vfs::tmpfs::TmpFs;
use vfs::LookupCtx;

#[test]
fn a_mount_hides_the_directory_below_and_dotdot_leaves_it() {
    let (vfs, ctx) = tmpfs_vfs();
    vfs.mkdir(&ctx, b"/a", 0o755).unwrap();
    vfs.mkdir(&ctx, b"/a/mnt", 0o755).unwrap();
    create(&vfs, &ctx, "/a/mnt/hidden", b"");
    let covered_ino = ino(&vfs, &ctx, "/a/mnt");
    let mountpoint = vfs.lookup(&ctx, b"/a/mnt", true).unwrap();
    let mount = vfs
        .mount(&mountpoint, TmpFs::new(0o755, common::memory()))
        .unwrap();
    assert_eq!(
        vfs.stat(&ctx, b"/a/mnt/hidden", true).err(),
        Some(Errno::ENOENT)
    );
    let inside = vfs.stat(&ctx, b"/a/mnt", true).unwrap();
    assert_ne!(inside.st_ino, covered_ino);
    assert_ne!(inside.st_dev, vfs.stat(&ctx, b"/a", true).unwrap().st_dev);
    assert!(
        vfs.lookup(&ctx, b"/a/mnt", true)
            .unwrap()
            .dentry()
            .inode()
            .ino()
            == mount.root().inode().ino()
    );

    vfs.mkdir(&ctx, b"/a/mnt/sub", 0o755).unwrap();
    assert_eq!(ino(&vfs, &ctx, "/a/mnt/.."), ino(&vfs, &ctx, "/a"));
    assert_eq!(ino(&vfs, &ctx, "/a/mnt/sub/../.."), ino(&vfs, &ctx, "/a"));
    let sub = vfs.lookup(&ctx, b"/a/mnt/sub", true).unwrap();
    assert_eq!(vfs.path_of(&sub), b"/a/mnt/sub".to_vec());
    let in_sub = LookupCtx {
        root: vfs.root(),
        start: sub,
    };
    assert_eq!(ino(&vfs, &in_sub, "../../.."), ino(&vfs, &ctx, "/"));

    // The mountpoint is busy.
    assert_eq!(vfs.rmdir(&ctx, b"/a/mnt"), Err(Errno::EBUSY));
    assert_eq!(
        vfs.rename(&ctx, b"/a/mnt", &ctx, b"/a/moved", 0),
        Err(Errno::EBUSY)
    );
    assert_eq!(
        vfs.mount(&mountpoint, TmpFs::new(0o755, common::memory()))
            .err(),
        Some(Errno::EBUSY)
    );
}

#[test]
fn getdents_dotdot_of_a_mount_root_is_the_mountpoint_parent() {
    let (vfs, ctx) = tmpfs_vfs();
    vfs.mkdir(&ctx, b"/a", 0o755).unwrap();
    vfs.mkdir(&ctx, b"/a/mnt", 0o755).unwrap();
    let mountpoint = vfs.lookup(&ctx, b"/a/mnt", true).unwrap();
    vfs.mount(&mountpoint, TmpFs::new(0o755, common::memory()))
        .unwrap();
    let dir = vfs.open(&ctx, b"/a/mnt", libc::O_RDONLY, 0).unwrap();
    let dirents = common::parse_dirents(&dir.getdents64(4096).unwrap());
    assert_eq!(dirents[1].name, b"..");
    assert_eq!(dirents[1].ino, ino(&vfs, &ctx, "/a"));
}

#[test]
fn stacked_mounts_show_the_top_one() {
    let (vfs, ctx) = tmpfs_vfs();
    vfs.mkdir(&ctx, b"/m", 0o755).unwrap();
    let m = vfs.lookup(&ctx, b"/m", true).unwrap();
    vfs.mount(&m, TmpFs::new(0o755, common::memory())).unwrap();
    create(&vfs, &ctx, "/m/first", b"");
    let first_root = vfs.lookup(&ctx, b"/m", true).unwrap();
    vfs.mount(&first_root, TmpFs::new(0o755, common::memory()))
        .unwrap();
    assert_eq!(vfs.stat(&ctx, b"/m/first", true).err(), Some(Errno::ENOENT));
    assert_eq!(ino(&vfs, &ctx, "/m/.."), ino(&vfs, &ctx, "/"));
    let top = vfs.lookup(&ctx, b"/m", true).unwrap();
    assert_eq!(vfs.path_of(&top), b"/m".to_vec());
}

#[test]
fn mounting_needs_a_directory() {
    let (vfs, ctx) = tmpfs_vfs();
    create(&vfs, &ctx, "/f", b"");
    let f = vfs.lookup(&ctx, b"/f", true).unwrap();
    assert_eq!(
        vfs.mount(&f, TmpFs::new(0o755, common::memory())).err(),
        Some(Errno::ENOTDIR)
    );
    assert_eq!(vfs.path_of(&vfs.root()), b"/".to_vec());
}
