//! tmpfs operations and open-file behaviour.

mod common;

use abi::{Errno, Timespec};
use common::{create, ino, parse_dirents, read_all, tmpfs_vfs};
use vfs::tmpfs::TmpFs;

#[test]
fn read_write_seek_and_append() {
    let (vfs, ctx) = tmpfs_vfs();
    let file = create(&vfs, &ctx, "/f", b"hello world");
    assert_eq!(file.seek(0, libc::SEEK_CUR), Ok(11));
    assert_eq!(file.seek(-5, libc::SEEK_END), Ok(6));
    assert_eq!(read_all(&file), Ok(b"world".to_vec()));
    assert_eq!(file.seek(-1, libc::SEEK_SET), Err(Errno::EINVAL));
    assert_eq!(file.seek(0, 42), Err(Errno::EINVAL));
    // Writing past the end leaves a zero-filled hole.
    assert_eq!(file.pwrite(b"!", 13), Ok(1));
    let mut buf = [0xffu8; 4];
    assert_eq!(file.pread(&mut buf, 10), Ok(4));
    assert_eq!(&buf, b"d\0\0!");
    assert_eq!(file.stat().unwrap().st_size, 14);

    let appender = vfs
        .open(&ctx, b"/f", libc::O_WRONLY | libc::O_APPEND, 0)
        .unwrap();
    assert_eq!(appender.write(b"++"), Ok(2));
    assert_eq!(appender.seek(0, libc::SEEK_CUR), Ok(16));
    let mut buf = [0u8; 16];
    assert_eq!(file.pread(&mut buf, 0), Ok(16));
    assert_eq!(&buf[14..], b"++");
    // Access modes are enforced per open file.
    assert_eq!(appender.read(&mut buf), Err(Errno::EBADF));
    let reader = vfs.open(&ctx, b"/f", libc::O_RDONLY, 0).unwrap();
    assert_eq!(reader.write(b"x"), Err(Errno::EBADF));
    assert_eq!(reader.truncate(0), Err(Errno::EINVAL));
    // O_TRUNC empties the file.
    vfs.open(&ctx, b"/f", libc::O_WRONLY | libc::O_TRUNC, 0)
        .unwrap();
    assert_eq!(file.stat().unwrap().st_size, 0);
}

#[test]
fn status_flags_keep_the_access_mode() {
    let (vfs, ctx) = tmpfs_vfs();
    let file = create(&vfs, &ctx, "/f", b"");
    assert_eq!(file.status_flags() & libc::O_ACCMODE, libc::O_RDWR);
    assert_eq!(file.status_flags() & libc::O_CREAT, 0);
    file.set_status_flags(libc::O_APPEND | libc::O_NONBLOCK | libc::O_RDONLY);
    assert_eq!(file.status_flags() & libc::O_ACCMODE, libc::O_RDWR);
    assert_ne!(file.status_flags() & libc::O_APPEND, 0);
    assert_ne!(file.status_flags() & libc::O_NONBLOCK, 0);
    assert_eq!(
        file.ioctl(u32::try_from(libc::TCGETS).unwrap(), &mut [0; 64]),
        Err(Errno::ENOTTY)
    );
}

#[test]
fn directories_mkdir_rmdir_and_nlink() {
    let (vfs, ctx) = tmpfs_vfs();
    let root_links = vfs.stat(&ctx, b"/", true).unwrap().st_nlink;
    vfs.mkdir(&ctx, b"/d", 0o750).unwrap();
    let st = vfs.stat(&ctx, b"/d", true).unwrap();
    assert_eq!(st.st_mode, libc::S_IFDIR | 0o750);
    assert_eq!(st.st_nlink, 2);
    assert_eq!(vfs.stat(&ctx, b"/", true).unwrap().st_nlink, root_links + 1);
    assert_eq!(vfs.mkdir(&ctx, b"/d", 0o755), Err(Errno::EEXIST));
    assert_eq!(vfs.mkdir(&ctx, b"/d/.", 0o755), Err(Errno::EEXIST));
    create(&vfs, &ctx, "/d/f", b"");
    assert_eq!(vfs.rmdir(&ctx, b"/d"), Err(Errno::ENOTEMPTY));
    assert_eq!(vfs.rmdir(&ctx, b"/d/f"), Err(Errno::ENOTDIR));
    assert_eq!(vfs.rmdir(&ctx, b"/d/."), Err(Errno::EINVAL));
    assert_eq!(vfs.unlink(&ctx, b"/d"), Err(Errno::EISDIR));
    vfs.unlink(&ctx, b"/d/f").unwrap();
    assert_eq!(vfs.unlink(&ctx, b"/d/f"), Err(Errno::ENOENT));
    vfs.rmdir(&ctx, b"/d").unwrap();
    assert_eq!(vfs.stat(&ctx, b"/d", true).err(), Some(Errno::ENOENT));
    assert_eq!(vfs.stat(&ctx, b"/", true).unwrap().st_nlink, root_links);
}

#[test]
fn an_unlinked_open_file_stays_readable() {
    let (vfs, ctx) = tmpfs_vfs();
    let file = create(&vfs, &ctx, "/f", b"still here");
    vfs.unlink(&ctx, b"/f").unwrap();
    assert_eq!(file.stat().unwrap().st_nlink, 0);
    assert_eq!(file.pread(&mut [0; 5], 0), Ok(5));
    assert_eq!(vfs.path_of(file.path().unwrap()), b"/f (deleted)".to_vec());
}

#[test]
fn hard_links_share_the_inode() {
    let (vfs, ctx) = tmpfs_vfs();
    create(&vfs, &ctx, "/a", b"shared");
    vfs.link(&ctx, b"/a", &ctx, b"/b", false).unwrap();
    assert_eq!(ino(&vfs, &ctx, "/a"), ino(&vfs, &ctx, "/b"));
    assert_eq!(vfs.stat(&ctx, b"/b", true).unwrap().st_nlink, 2);
    assert_eq!(
        vfs.link(&ctx, b"/a", &ctx, b"/b", false),
        Err(Errno::EEXIST)
    );
    vfs.mkdir(&ctx, b"/d", 0o755).unwrap();
    assert_eq!(
        vfs.link(&ctx, b"/d", &ctx, b"/d2", false),
        Err(Errno::EPERM)
    );
    vfs.unlink(&ctx, b"/a").unwrap();
    assert_eq!(vfs.stat(&ctx, b"/b", true).unwrap().st_nlink, 1);
    let b = vfs.open(&ctx, b"/b", libc::O_RDONLY, 0).unwrap();
    assert_eq!(read_all(&b), Ok(b"shared".to_vec()));
}

#[test]
fn symlinks_and_readlink() {
    let (vfs, ctx) = tmpfs_vfs();
    vfs.symlink(&ctx, b"some/where", b"/l").unwrap();
    assert_eq!(vfs.readlink(&ctx, b"/l"), Ok(b"some/where".to_vec()));
    let st = vfs.stat(&ctx, b"/l", false).unwrap();
    assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFLNK);
    assert_eq!(st.st_size, 10);
    assert_eq!(vfs.stat(&ctx, b"/l", true).err(), Some(Errno::ENOENT));
    assert_eq!(vfs.symlink(&ctx, b"x", b"/l"), Err(Errno::EEXIST));
    assert_eq!(vfs.symlink(&ctx, b"", b"/empty"), Err(Errno::ENOENT));
    create(&vfs, &ctx, "/f", b"");
    assert_eq!(vfs.readlink(&ctx, b"/f"), Err(Errno::EINVAL));
}

#[test]
fn rename_moves_replaces_and_refuses() {
    let (vfs, ctx) = tmpfs_vfs();
    create(&vfs, &ctx, "/a", b"A");
    create(&vfs, &ctx, "/b", b"B");
    let a_ino = ino(&vfs, &ctx, "/a");
    vfs.rename(&ctx, b"/a", &ctx, b"/b", 0).unwrap();
    assert_eq!(vfs.stat(&ctx, b"/a", true).err(), Some(Errno::ENOENT));
    assert_eq!(ino(&vfs, &ctx, "/b"), a_ino);
    let b = vfs.open(&ctx, b"/b", libc::O_RDONLY, 0).unwrap();
    assert_eq!(read_all(&b), Ok(b"A".to_vec()));

    vfs.mkdir(&ctx, b"/d", 0o755).unwrap();
    vfs.mkdir(&ctx, b"/d/sub", 0o755).unwrap();
    vfs.mkdir(&ctx, b"/e", 0o755).unwrap();
    assert_eq!(
        vfs.rename(&ctx, b"/d", &ctx, b"/d/sub/x", 0),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        vfs.rename(&ctx, b"/d", &ctx, b"/d/x", 0),
        Err(Errno::EINVAL)
    );
    assert_eq!(vfs.rename(&ctx, b"/b", &ctx, b"/d", 0), Err(Errno::EISDIR));
    assert_eq!(vfs.rename(&ctx, b"/d", &ctx, b"/b", 0), Err(Errno::ENOTDIR));
    assert_eq!(
        vfs.rename(&ctx, b"/e", &ctx, b"/d", 0),
        Err(Errno::ENOTEMPTY)
    );
    assert_eq!(
        vfs.rename(&ctx, b"/b", &ctx, b"/e/b", libc::RENAME_NOREPLACE),
        Ok(())
    );
    create(&vfs, &ctx, "/c", b"");
    assert_eq!(
        vfs.rename(&ctx, b"/c", &ctx, b"/e/b", libc::RENAME_NOREPLACE),
        Err(Errno::EEXIST)
    );

    // Moving a directory moves a link of ".." with it.
    let cwd = vfs.lookup(&ctx, b"/d/sub", true).unwrap();
    vfs.rename(&ctx, b"/d/sub", &ctx, b"/e/moved", 0).unwrap();
    assert_eq!(vfs.stat(&ctx, b"/d", true).unwrap().st_nlink, 2);
    assert_eq!(vfs.stat(&ctx, b"/e", true).unwrap().st_nlink, 3);
    assert_eq!(vfs.path_of(&cwd), b"/e/moved".to_vec());
    // Replacing an empty directory.
    vfs.rename(&ctx, b"/e/moved", &ctx, b"/d", 0).unwrap();
    assert_eq!(vfs.stat(&ctx, b"/e", true).unwrap().st_nlink, 2);
    assert_eq!(vfs.path_of(&cwd), b"/d".to_vec());
}

#[test]
fn rename_across_mounts_is_exdev() {
    let (vfs, ctx) = tmpfs_vfs();
    vfs.mkdir(&ctx, b"/mnt", 0o755).unwrap();
    let mnt = vfs.lookup(&ctx, b"/mnt", true).unwrap();
    vfs.mount(&mnt, TmpFs::new(0o755, common::memory()))
        .unwrap();
    create(&vfs, &ctx, "/f", b"");
    assert_eq!(
        vfs.rename(&ctx, b"/f", &ctx, b"/mnt/f", 0),
        Err(Errno::EXDEV)
    );
    assert_eq!(
        vfs.link(&ctx, b"/f", &ctx, b"/mnt/f", false),
        Err(Errno::EXDEV)
    );
}

#[test]
fn chmod_truncate_utimens() {
    let (vfs, ctx) = tmpfs_vfs();
    let file = create(&vfs, &ctx, "/f", b"0123456789");
    vfs.chmod(&ctx, b"/f", 0o4711).unwrap();
    assert_eq!(
        vfs.stat(&ctx, b"/f", true).unwrap().st_mode,
        libc::S_IFREG | 0o4711
    );
    assert_eq!(vfs.access(&ctx, b"/f", libc::X_OK, true), Ok(()));
    vfs.chmod(&ctx, b"/f", 0o644).unwrap();
    assert_eq!(
        vfs.access(&ctx, b"/f", libc::X_OK, true),
        Err(Errno::EACCES)
    );

    vfs.truncate(&ctx, b"/f", 4).unwrap();
    assert_eq!(
        read_all(&file),
        Ok(Vec::new()),
        "the offset stays past the new end"
    );
    assert_eq!(file.pread(&mut [0; 10], 0), Ok(4));
    file.truncate(6).unwrap();
    let mut buf = [0xffu8; 6];
    assert_eq!(file.pread(&mut buf, 0), Ok(6));
    assert_eq!(&buf, b"0123\0\0");
    vfs.mkdir(&ctx, b"/d", 0o755).unwrap();
    assert_eq!(vfs.truncate(&ctx, b"/d", 0), Err(Errno::EISDIR));

    let then = Timespec {
        tv_sec: 1_000_000,
        tv_nsec: 5,
    };
    let omit = Timespec {
        tv_sec: 0,
        tv_nsec: libc::UTIME_OMIT,
    };
    vfs.utimens(&ctx, b"/f", Some([then, omit]), true).unwrap();
    let st = vfs.stat(&ctx, b"/f", true).unwrap();
    assert_eq!(st.st_atime, then);
    assert_ne!(st.st_mtime, then);
    vfs.utimens(&ctx, b"/f", Some([omit, then]), true).unwrap();
    assert_eq!(vfs.stat(&ctx, b"/f", true).unwrap().st_mtime, then);
    let bad = Timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000_000,
    };
    assert_eq!(
        vfs.utimens(&ctx, b"/f", Some([bad, bad]), true),
        Err(Errno::EINVAL)
    );
    vfs.utimens(&ctx, b"/f", None, true).unwrap();
    assert!(vfs.stat(&ctx, b"/f", true).unwrap().st_mtime.tv_sec > then.tv_sec);
}

#[test]
fn writes_update_mtime_and_size_counts_blocks() {
    let (vfs, ctx) = tmpfs_vfs();
    let file = create(&vfs, &ctx, "/f", b"");
    let old = Timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    vfs.utimens(&ctx, b"/f", Some([old, old]), true).unwrap();
    file.write(&[7u8; 1000]).unwrap();
    let st = file.stat().unwrap();
    assert!(st.st_mtime.tv_sec > 1);
    assert_eq!(st.st_size, 1000);
    // One page holds the data, as Linux's tmpfs counts it: 8 blocks of 512 bytes.
    assert_eq!(st.st_blocks, 8);
    assert_eq!(st.st_dev, vfs.stat(&ctx, b"/", true).unwrap().st_dev);
}

#[test]
fn getdents64_encodes_linux_dirent64_records() {
    let (vfs, ctx) = tmpfs_vfs();
    vfs.mkdir(&ctx, b"/d", 0o755).unwrap();
    create(&vfs, &ctx, "/d/file", b"");
    vfs.mkdir(&ctx, b"/d/sub", 0o755).unwrap();
    vfs.symlink(&ctx, b"file", b"/d/a-much-longer-link-name")
        .unwrap();
    let dir = vfs
        .open(&ctx, b"/d", libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .unwrap();
    let records = dir.getdents64(4096).unwrap();
    let dirents = parse_dirents(&records);
    let names: Vec<&[u8]> = dirents.iter().map(|d| d.name.as_slice()).collect();
    assert_eq!(names[..2], [&b"."[..], b".."]);
    let mut rest = names[2..].to_vec();
    rest.sort();
    assert_eq!(rest, [&b"a-much-longer-link-name"[..], b"file", b"sub"]);
    for d in &dirents {
        assert_eq!(usize::from(d.reclen) % 8, 0);
        assert!(
            usize::from(d.reclen) > 19 + d.name.len(),
            "room for the name and its NUL"
        );
        let expected_type = match d.name.as_slice() {
            b"file" => libc::DT_REG,
            b"a-much-longer-link-name" => libc::DT_LNK,
            _ => libc::DT_DIR,
        };
        assert_eq!(d.ty, expected_type, "type of {:?}", d.name);
    }
    assert_eq!(dirents[0].ino, ino(&vfs, &ctx, "/d"));
    assert_eq!(dirents[1].ino, ino(&vfs, &ctx, "/"));
    let file_entry = dirents.iter().find(|d| d.name == b"file").unwrap();
    assert_eq!(file_entry.ino, ino(&vfs, &ctx, "/d/file"));
    // d_off strictly increases; the listing ends with an empty read.
    assert!(dirents.windows(2).all(|w| w[0].off < w[1].off));
    assert_eq!(dir.getdents64(4096), Ok(Vec::new()));
    // Rewinding starts over.
    dir.seek(0, libc::SEEK_SET).unwrap();
    assert_eq!(dir.getdents64(4096), Ok(records));
}

#[test]
fn getdents64_resumes_and_rejects_a_too_small_buffer() {
    let (vfs, ctx) = tmpfs_vfs();
    for i in 0..10 {
        create(&vfs, &ctx, &format!("/entry{i}"), b"");
    }
    let dir = vfs.open(&ctx, b"/", libc::O_RDONLY, 0).unwrap();
    assert_eq!(dir.getdents64(10), Err(Errno::EINVAL));
    let mut names = Vec::new();
    loop {
        let records = dir.getdents64(64).unwrap();
        if records.is_empty() {
            break;
        }
        assert!(records.len() <= 64);
        names.extend(parse_dirents(&records).into_iter().map(|d| d.name));
    }
    assert_eq!(names.len(), 12);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 12, "no entry is returned twice");
    let mut buf = [0u8; 1];
    assert_eq!(dir.read(&mut buf), Err(Errno::EISDIR));
    let file = vfs.open(&ctx, b"/entry0", libc::O_RDONLY, 0).unwrap();
    assert_eq!(file.getdents64(4096), Err(Errno::ENOTDIR));
}

#[test]
fn statfs_reports_tmpfs() {
    let (vfs, ctx) = tmpfs_vfs();
    let st = vfs.statfs(&ctx, b"/").unwrap();
    assert_eq!(st.f_type, 0x0102_1994);
    assert_eq!(st.f_namelen, 255);
}
