//! /dev devices on a devfs mounted at /dev.

mod common;

use std::sync::Arc;

use abi::Errno;
use common::tmpfs_vfs;
use vfs::devfs::DevFs;
use vfs::{LookupCtx, OpenFile, Vfs};

fn with_dev() -> (Arc<Vfs>, LookupCtx) {
    let (vfs, ctx) = tmpfs_vfs();
    vfs.mkdir(&ctx, b"/dev", 0o755).unwrap();
    let dev = vfs.lookup(&ctx, b"/dev", true).unwrap();
    vfs.mount(&dev, DevFs::new(common::memory()).unwrap())
        .unwrap();
    (vfs, ctx)
}

fn open(vfs: &Vfs, ctx: &LookupCtx, path: &str) -> Arc<OpenFile> {
    vfs.open(ctx, path.as_bytes(), libc::O_RDWR, 0)
        .unwrap_or_else(|e| panic!("open {path}: {e}"))
}

#[test]
fn null_swallows_writes_and_reads_nothing() {
    let (vfs, ctx) = with_dev();
    let null = open(&vfs, &ctx, "/dev/null");
    assert_eq!(null.write(b"gone"), Ok(4));
    assert_eq!(null.read(&mut [0; 8]), Ok(0));
    assert_eq!(null.seek(100, libc::SEEK_SET), Ok(0));
    let st = null.stat().unwrap();
    assert_eq!(st.st_mode, libc::S_IFCHR | 0o666);
    assert_eq!(st.st_rdev, libc::makedev(1, 3));
}

#[test]
fn zero_and_full() {
    let (vfs, ctx) = with_dev();
    let zero = open(&vfs, &ctx, "/dev/zero");
    let mut buf = [0xffu8; 100];
    assert_eq!(zero.read(&mut buf), Ok(100));
    assert!(buf.iter().all(|&b| b == 0));
    assert_eq!(zero.write(b"x"), Ok(1));
    let full = open(&vfs, &ctx, "/dev/full");
    assert_eq!(full.write(b"x"), Err(Errno::ENOSPC));
    let mut buf = [0xffu8; 10];
    assert_eq!(full.read(&mut buf), Ok(10));
    assert!(buf.iter().all(|&b| b == 0));
}

#[test]
fn urandom_and_random_give_random_bytes() {
    let (vfs, ctx) = with_dev();
    for path in ["/dev/urandom", "/dev/random"] {
        let file = open(&vfs, &ctx, path);
        let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
        assert_eq!(file.read(&mut a), Ok(64));
        assert_eq!(file.read(&mut b), Ok(64));
        assert_ne!(a, b, "{path} repeats itself");
        assert_ne!(a, [0; 64]);
    }
}

#[test]
fn tty_is_absent_and_stdio_links_point_into_proc() {
    let (vfs, ctx) = with_dev();
    assert_eq!(
        vfs.open(&ctx, b"/dev/tty", libc::O_RDWR, 0).err(),
        Some(Errno::ENXIO)
    );
    assert_eq!(
        vfs.readlink(&ctx, b"/dev/stdin"),
        Ok(b"/proc/self/fd/0".to_vec())
    );
    assert_eq!(
        vfs.readlink(&ctx, b"/dev/stdout"),
        Ok(b"/proc/self/fd/1".to_vec())
    );
    assert_eq!(
        vfs.readlink(&ctx, b"/dev/stderr"),
        Ok(b"/proc/self/fd/2".to_vec())
    );
    // No procfs yet: following them ends in ENOENT, inside the sandbox.
    assert_eq!(
        vfs.stat(&ctx, b"/dev/stdout", true).err(),
        Some(Errno::ENOENT)
    );
}

#[test]
fn dev_lists_its_devices_and_allows_shm_files() {
    let (vfs, ctx) = with_dev();
    let dir = vfs
        .open(&ctx, b"/dev", libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .unwrap();
    let names: Vec<Vec<u8>> = common::parse_dirents(&dir.getdents64(4096).unwrap())
        .into_iter()
        .map(|d| d.name)
        .collect();
    for expected in [
        "null", "zero", "full", "random", "urandom", "tty", "stdin", "shm",
    ] {
        assert!(
            names.contains(&expected.as_bytes().to_vec()),
            "/dev lacks {expected}"
        );
    }
    common::create(&vfs, &ctx, "/dev/shm/segment", b"shared");
}
