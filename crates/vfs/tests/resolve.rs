//! Path resolution rules, on tmpfs.

mod common;

use abi::Errno;
use common::{create, ino, tmpfs_vfs};
use vfs::LookupCtx;

#[test]
fn symlink_loops_end_in_eloop() {
    let (vfs, ctx) = tmpfs_vfs();
    vfs.symlink(&ctx, b"b", b"a").unwrap();
    vfs.symlink(&ctx, b"a", b"b").unwrap();
    assert_eq!(vfs.lookup(&ctx, b"a", true).err(), Some(Errno::ELOOP));
    assert_eq!(vfs.stat(&ctx, b"/a/x", false).err(), Some(Errno::ELOOP));
    // Without following, the link itself is found.
    assert!(vfs.lookup(&ctx, b"a", false).is_ok());
}

#[test]
fn forty_symlinks_resolve_and_forty_one_do_not() {
    let (vfs, ctx) = tmpfs_vfs();
    create(&vfs, &ctx, "/target", b"x");
    vfs.symlink(&ctx, b"/target", b"/l0").unwrap();
    for i in 1..=40 {
        vfs.symlink(
            &ctx,
            format!("/l{}", i - 1).as_bytes(),
            format!("/l{i}").as_bytes(),
        )
        .unwrap();
    }
    assert_eq!(ino(&vfs, &ctx, "/l39"), ino(&vfs, &ctx, "/target"));
    assert_eq!(vfs.lookup(&ctx, b"/l40", true).err(), Some(Errno::ELOOP));
}

#[test]
fn long_names_and_paths_are_enametoolong() {
    let (vfs, ctx) = tmpfs_vfs();
    let name_255 = "n".repeat(255);
    create(&vfs, &ctx, &format!("/{name_255}"), b"");
    assert!(vfs.lookup(&ctx, name_255.as_bytes(), true).is_ok());
    let name_256 = "n".repeat(256);
    assert_eq!(
        vfs.lookup(&ctx, name_256.as_bytes(), true).err(),
        Some(Errno::ENAMETOOLONG)
    );
    assert_eq!(
        vfs.mkdir(&ctx, name_256.as_bytes(), 0o755).err(),
        Some(Errno::ENAMETOOLONG)
    );
    let long_path = "/".repeat(4096);
    assert_eq!(
        vfs.lookup(&ctx, long_path.as_bytes(), true).err(),
        Some(Errno::ENAMETOOLONG)
    );
    let just_fits = "/".repeat(4095);
    assert!(vfs.lookup(&ctx, just_fits.as_bytes(), true).is_ok());
}

#[test]
fn empty_path_is_enoent() {
    let (vfs, ctx) = tmpfs_vfs();
    assert_eq!(vfs.lookup(&ctx, b"", true).err(), Some(Errno::ENOENT));
    assert_eq!(
        vfs.open(&ctx, b"", libc::O_RDONLY, 0).err(),
        Some(Errno::ENOENT)
    );
}

#[test]
fn dotdot_at_the_root_stays_there() {
    let (vfs, ctx) = tmpfs_vfs();
    let root_ino = ino(&vfs, &ctx, "/");
    assert_eq!(ino(&vfs, &ctx, "/.."), root_ino);
    assert_eq!(ino(&vfs, &ctx, "../../.."), root_ino);
    vfs.mkdir(&ctx, b"/d", 0o755).unwrap();
    assert_eq!(ino(&vfs, &ctx, "/d/../../.."), root_ino);
    assert!(vfs
        .lookup(&ctx, b"/d/../..", true)
        .unwrap()
        .same_as(&vfs.root()));
}

#[test]
fn sandbox_root_confines_dotdot_and_absolute_symlinks() {
    let (vfs, ctx) = tmpfs_vfs();
    vfs.mkdir(&ctx, b"/etc", 0o755).unwrap();
    vfs.mkdir(&ctx, b"/jail", 0o755).unwrap();
    vfs.mkdir(&ctx, b"/jail/etc", 0o755).unwrap();
    vfs.symlink(&ctx, b"/etc", b"/jail/link").unwrap();
    vfs.symlink(&ctx, b"../../../etc", b"/jail/up").unwrap();
    let jail = vfs.lookup(&ctx, b"/jail", true).unwrap();
    let jailed = LookupCtx {
        root: jail.clone(),
        start: jail,
        creds: vfs::Credentials::root(),
    };
    let inner_etc = ino(&vfs, &ctx, "/jail/etc");
    assert_ne!(inner_etc, ino(&vfs, &ctx, "/etc"));
    assert_eq!(ino(&vfs, &jailed, "link"), inner_etc);
    assert_eq!(ino(&vfs, &jailed, "/link"), inner_etc);
    assert_eq!(ino(&vfs, &jailed, "up"), inner_etc);
    assert_eq!(ino(&vfs, &jailed, "/../.."), ino(&vfs, &ctx, "/jail"));
}

#[test]
fn relative_paths_start_at_the_start_directory() {
    let (vfs, ctx) = tmpfs_vfs();
    vfs.mkdir(&ctx, b"/a", 0o755).unwrap();
    vfs.mkdir(&ctx, b"/a/b", 0o755).unwrap();
    create(&vfs, &ctx, "/a/b/f", b"");
    let start = vfs.lookup(&ctx, b"/a", true).unwrap();
    let in_a = LookupCtx {
        root: vfs.root(),
        start,
        creds: vfs::Credentials::root(),
    };
    assert_eq!(ino(&vfs, &in_a, "b/f"), ino(&vfs, &ctx, "/a/b/f"));
    assert_eq!(ino(&vfs, &in_a, "./b/../b/./f"), ino(&vfs, &ctx, "/a/b/f"));
    assert_eq!(vfs.lookup(&in_a, b"f", true).err(), Some(Errno::ENOENT));
    // A relative symlink is relative to the directory holding it.
    vfs.symlink(&ctx, b"b/f", b"/a/rel").unwrap();
    assert_eq!(ino(&vfs, &ctx, "/a/rel"), ino(&vfs, &ctx, "/a/b/f"));
}

#[test]
fn trailing_slash_requires_a_directory() {
    let (vfs, ctx) = tmpfs_vfs();
    create(&vfs, &ctx, "/file", b"");
    vfs.mkdir(&ctx, b"/dir", 0o755).unwrap();
    vfs.symlink(&ctx, b"dir", b"/dirlink").unwrap();
    vfs.symlink(&ctx, b"file", b"/filelink").unwrap();
    assert_eq!(
        vfs.lookup(&ctx, b"/file/", true).err(),
        Some(Errno::ENOTDIR)
    );
    assert_eq!(
        vfs.stat(&ctx, b"/filelink/", false).err(),
        Some(Errno::ENOTDIR)
    );
    assert!(vfs.lookup(&ctx, b"/dir/", true).is_ok());
    // A trailing slash follows a final symlink even when not asked to.
    let through = vfs.lookup(&ctx, b"/dirlink/", false).unwrap();
    assert!(through.is_dir());
    assert_eq!(
        vfs.open(&ctx, b"/file/", libc::O_RDONLY, 0).err(),
        Some(Errno::ENOTDIR)
    );
    assert_eq!(vfs.unlink(&ctx, b"/file/").err(), Some(Errno::ENOTDIR));
    assert_eq!(
        vfs.open(&ctx, b"/new/", libc::O_CREAT | libc::O_RDWR, 0o644)
            .err(),
        Some(Errno::EISDIR)
    );
}

#[test]
fn a_file_in_the_middle_is_enotdir() {
    let (vfs, ctx) = tmpfs_vfs();
    create(&vfs, &ctx, "/file", b"");
    assert_eq!(
        vfs.lookup(&ctx, b"/file/x", true).err(),
        Some(Errno::ENOTDIR)
    );
    assert_eq!(
        vfs.lookup(&ctx, b"/file/..", true).err(),
        Some(Errno::ENOTDIR)
    );
    assert_eq!(
        vfs.mkdir(&ctx, b"/file/x", 0o755).err(),
        Some(Errno::ENOTDIR)
    );
    assert_eq!(
        vfs.lookup(&ctx, b"/missing/x", true).err(),
        Some(Errno::ENOENT)
    );
}

#[test]
fn open_flags_nofollow_directory_excl() {
    let (vfs, ctx) = tmpfs_vfs();
    create(&vfs, &ctx, "/file", b"data");
    vfs.symlink(&ctx, b"file", b"/link").unwrap();
    assert_eq!(
        vfs.open(&ctx, b"/link", libc::O_RDONLY | libc::O_NOFOLLOW, 0)
            .err(),
        Some(Errno::ELOOP)
    );
    assert!(vfs
        .open(&ctx, b"/link", libc::O_PATH | libc::O_NOFOLLOW, 0)
        .is_ok());
    assert_eq!(
        vfs.open(&ctx, b"/file", libc::O_RDONLY | libc::O_DIRECTORY, 0)
            .err(),
        Some(Errno::ENOTDIR)
    );
    let excl = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY;
    assert_eq!(
        vfs.open(&ctx, b"/file", excl, 0o644).err(),
        Some(Errno::EEXIST)
    );
    assert_eq!(
        vfs.open(&ctx, b"/link", excl, 0o644).err(),
        Some(Errno::EEXIST)
    );
    assert!(vfs.open(&ctx, b"/fresh", excl, 0o644).is_ok());
    // O_CREAT without O_EXCL opens what is there, through the symlink.
    let file = vfs
        .open(&ctx, b"/link", libc::O_CREAT | libc::O_RDONLY, 0o644)
        .unwrap();
    assert_eq!(common::read_all(&file), Ok(b"data".to_vec()));
    assert_eq!(
        vfs.open(&ctx, b"/", libc::O_RDWR, 0).err(),
        Some(Errno::EISDIR)
    );
}

#[test]
fn arbitrary_paths_give_errors_not_panics() {
    let (vfs, ctx) = tmpfs_vfs();
    vfs.mkdir(&ctx, b"/d", 0o755).unwrap();
    create(&vfs, &ctx, "/d/f", b"x");
    vfs.symlink(&ctx, b"/d", b"/s").unwrap();
    vfs.symlink(&ctx, b"..", b"/d/up").unwrap();
    let alphabet: &[&[u8]] = &[
        b"/", b".", b"..", b"d", b"f", b"s", b"up", b"x", b"\0", b"//",
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..5000 {
        let mut path = Vec::new();
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut bits = state;
        for _ in 0..(bits % 12) {
            bits /= 11;
            path.extend_from_slice(alphabet[usize::try_from(bits % 10).unwrap()]);
        }
        let _ = vfs.lookup(&ctx, &path, true);
        let _ = vfs.open(&ctx, &path, libc::O_RDONLY | libc::O_NOFOLLOW, 0);
        let _ = vfs.stat(&ctx, &path, false);
        let _ = vfs.readlink(&ctx, &path);
        let _ = vfs.access(&ctx, &path, libc::R_OK, true);
    }
    // The tree is unchanged by all that.
    assert_eq!(vfs.readlink(&ctx, b"/s"), Ok(b"/d".to_vec()));
    assert!(vfs.lookup(&ctx, b"/s/up/d/f", true).is_ok());
}

#[test]
fn openat2_scopes_keep_resolution_inside_the_start_directory() {
    use vfs::Resolve;
    let (vfs, ctx) = tmpfs_vfs();
    vfs.mkdir(&ctx, b"/jail", 0o755).unwrap();
    drop(create(&vfs, &ctx, "/jail/f", b""));
    drop(create(&vfs, &ctx, "/outside", b""));
    vfs.symlink(&ctx, b"/f", b"/jail/abs").unwrap();
    vfs.symlink(&ctx, b"f", b"/jail/rel").unwrap();
    let jail = LookupCtx {
        root: ctx.root.clone(),
        start: vfs.lookup(&ctx, b"/jail", true).unwrap(),
        creds: ctx.creds.clone(),
    };
    let open = |path: &[u8], resolve: Resolve| {
        vfs.open_resolve(&jail, path, libc::O_RDONLY, 0, resolve)
            .map(|_| ())
    };
    let beneath = Resolve {
        beneath: true,
        ..Resolve::default()
    };
    let in_root = Resolve {
        in_root: true,
        ..Resolve::default()
    };
    assert_eq!(open(b"../outside", beneath), Err(Errno::EXDEV));
    assert_eq!(open(b"abs", beneath), Err(Errno::EXDEV));
    assert_eq!(open(b"rel", beneath), Ok(()));
    assert_eq!(open(b"../../f", in_root), Ok(()));
    assert_eq!(open(b"abs", in_root), Ok(()));
    assert_eq!(open(b"../outside", in_root), Err(Errno::ENOENT));
    let no_symlinks = Resolve {
        no_symlinks: true,
        ..Resolve::default()
    };
    assert_eq!(open(b"rel", no_symlinks), Err(Errno::ELOOP));
}
