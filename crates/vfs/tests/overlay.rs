//! The overlay root: a tmpfs upper over a Gofer serving a temporary host tree read-only. Every
//! test ends by checking the host tree is exactly as it was.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use abi::Errno;
use common::{parse_dirents, read_all};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use vfs::gofer::GoferFs;
use vfs::overlay::OverlayFs;
use vfs::{LookupCtx, SetAttr, Vfs};

const MSIZE: u32 = 65536;
const FD_BUDGET: usize = 16;
const UPPER_SIZE: u64 = 1 << 20;
/// A lower file larger than the upper layer.
const HUGE: usize = 2 << 20;

struct Sandbox {
    vfs: Arc<Vfs>,
    ctx: LookupCtx,
    server: JoinHandle<Result<(), gofer::GoferError>>,
    host: tempfile::TempDir,
    /// The host tree as it was before the sandbox started.
    before: BTreeMap<String, String>,
}

/// Everything about the host tree a write could change: per path, type, mode, owner, size,
/// mtime and contents (or link target).
fn snapshot(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            let body = if meta.is_dir() {
                pending.push(path.clone());
                String::new()
            } else if meta.is_symlink() {
                fs::read_link(&path).unwrap().display().to_string()
            } else {
                String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned()
            };
            let key = path.strip_prefix(root).unwrap().display().to_string();
            let mtime = (meta.mtime(), meta.mtime_nsec());
            let value = format!(
                "{:o} {}:{} {} {mtime:?} {} {body}",
                meta.mode(),
                meta.uid(),
                meta.gid(),
                meta.size(),
                meta.ino()
            );
            out.insert(key, value);
        }
    }
    out
}

fn start() -> Sandbox {
    let host = tempfile::tempdir().unwrap();
    let root = host.path();
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/motd"), b"host motd\n").unwrap();
    fs::set_permissions(root.join("etc/motd"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::create_dir_all(root.join("dir/sub")).unwrap();
    fs::write(root.join("dir/a"), b"a").unwrap();
    fs::write(root.join("dir/b"), b"bb").unwrap();
    fs::write(root.join("dir/sub/c"), b"ccc").unwrap();
    std::os::unix::fs::symlink("etc/motd", root.join("link")).unwrap();
    fs::write(root.join("huge"), vec![7u8; HUGE]).unwrap();
    let before = snapshot(root);

    let root_fd = open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let (sentry_end, gofer_end) = UnixStream::pair().unwrap();
    let tree = gofer::Tree {
        aname: b"/".to_vec(),
        root: root_fd,
        read_only: true,
    };
    let server = thread::spawn(move || gofer::serve(vec![tree], gofer_end, FD_BUDGET));
    let client = Arc::new(p9::Client::new(sentry_end, MSIZE).unwrap());
    let memory = common::memory();
    let lower = GoferFs::new(client, b"", FD_BUDGET, false, Arc::clone(&memory)).unwrap();
    let vfs = Vfs::new(
        OverlayFs::new(lower, UPPER_SIZE, Arc::clone(&memory)).unwrap(),
        memory,
    );
    let ctx = LookupCtx {
        root: vfs.root(),
        start: vfs.root(),
        creds: vfs::Credentials::root(),
    };
    Sandbox {
        vfs,
        ctx,
        server,
        host,
        before,
    }
}

impl Sandbox {
    fn read(&self, path: &str) -> Result<Vec<u8>, Errno> {
        let file = self
            .vfs
            .open(&self.ctx, path.as_bytes(), libc::O_RDONLY, 0)?;
        read_all(&file)
    }

    fn write(&self, path: &str, flags: i32, data: &[u8]) {
        let file = self
            .vfs
            .open(&self.ctx, path.as_bytes(), libc::O_WRONLY | flags, 0o644)
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
        assert_eq!(file.write(data), Ok(data.len()));
    }

    fn stat(&self, path: &str) -> Result<abi::Stat, Errno> {
        self.vfs.stat(&self.ctx, path.as_bytes(), false)
    }

    /// The names getdents64 lists in `path`, "." and ".." left out, sorted.
    fn list(&self, path: &str) -> Vec<String> {
        let dir = self
            .vfs
            .open(
                &self.ctx,
                path.as_bytes(),
                libc::O_RDONLY | libc::O_DIRECTORY,
                0,
            )
            .unwrap();
        let mut names = Vec::new();
        loop {
            let batch = dir.getdents64(65536).unwrap();
            if batch.is_empty() {
                break;
            }
            names.extend(
                parse_dirents(&batch)
                    .into_iter()
                    .map(|d| String::from_utf8(d.name).unwrap())
                    .filter(|name| name != "." && name != ".."),
            );
        }
        names.sort();
        names
    }

    /// Ends the sandbox, and checks the Gofer ended cleanly and the host tree is untouched.
    fn finish(self) {
        let Sandbox {
            vfs,
            ctx,
            server,
            host,
            before,
        } = self;
        drop(ctx);
        drop(vfs);
        server.join().unwrap().unwrap();
        assert_eq!(snapshot(host.path()), before, "the host tree changed");
    }
}

#[test]
fn writing_a_lower_file_copies_it_up_keeping_its_number() {
    let sandbox = start();
    let lower_ino = fs::metadata(sandbox.host.path().join("etc/motd"))
        .unwrap()
        .ino();
    let before = sandbox.stat("/etc/motd").unwrap();
    assert_eq!(before.st_ino, lower_ino);
    let reader = sandbox
        .vfs
        .open(&sandbox.ctx, b"/etc/motd", libc::O_RDONLY, 0)
        .unwrap();
    sandbox.write("/etc/motd", libc::O_APPEND, b"more\n");
    assert_eq!(sandbox.read("/etc/motd"), Ok(b"host motd\nmore\n".to_vec()));
    let after = sandbox.stat("/etc/motd").unwrap();
    assert_eq!((after.st_dev, after.st_ino), (before.st_dev, before.st_ino));
    assert_eq!(after.st_mode, before.st_mode, "mode copied up");
    assert_eq!((after.st_uid, after.st_gid), (before.st_uid, before.st_gid));
    assert_eq!(after.st_size, 15);
    // A file open for reading before the copy-up reads the copy since, as on Linux.
    assert_eq!(reader.stat().unwrap().st_ino, before.st_ino);
    assert_eq!(reader.stat().unwrap().st_size, 15);
    assert_eq!(read_all(&reader), Ok(b"host motd\nmore\n".to_vec()));
    drop(reader);
    // O_TRUNC empties the upper copy.
    sandbox.write("/etc/motd", libc::O_TRUNC, b"x\n");
    assert_eq!(sandbox.read("/etc/motd"), Ok(b"x\n".to_vec()));
    let root_st = sandbox.stat("/").unwrap();
    assert_eq!(root_st.st_dev, after.st_dev, "one device for the overlay");
    sandbox.finish();
}

#[test]
fn attribute_changes_copy_up_with_data_and_times() {
    let sandbox = start();
    let before = sandbox.stat("/dir/b").unwrap();
    sandbox.vfs.chmod(&sandbox.ctx, b"/dir/b", 0o600).unwrap();
    let after = sandbox.stat("/dir/b").unwrap();
    assert_eq!(after.st_mode & 0o7777, 0o600);
    assert_eq!(after.st_mtime, before.st_mtime, "mtime copied up");
    assert_eq!(sandbox.read("/dir/b"), Ok(b"bb".to_vec()));
    // utimes of a symlink itself copies the symlink up.
    let when = abi::Timespec {
        tv_sec: 1_000_000,
        tv_nsec: 5,
    };
    sandbox
        .vfs
        .utimens(&sandbox.ctx, b"/link", Some([when, when]), false)
        .unwrap();
    assert_eq!(sandbox.stat("/link").unwrap().st_mtime, when);
    assert_eq!(
        sandbox.vfs.readlink(&sandbox.ctx, b"/link"),
        Ok(b"etc/motd".to_vec())
    );
    assert_eq!(sandbox.read("/link"), Ok(b"host motd\n".to_vec()));
    // truncate and chown of a file in a lower directory copy the directory up too.
    sandbox
        .vfs
        .truncate(&sandbox.ctx, b"/dir/sub/c", 1)
        .unwrap();
    assert_eq!(sandbox.read("/dir/sub/c"), Ok(b"c".to_vec()));
    let path = sandbox.vfs.lookup(&sandbox.ctx, b"/dir/a", true).unwrap();
    Vfs::set_attr(
        &path,
        &SetAttr {
            uid: Some(1000),
            gid: Some(1000),
            ..SetAttr::default()
        },
    )
    .unwrap();
    drop(path);
    let a = sandbox.stat("/dir/a").unwrap();
    assert_eq!((a.st_uid, a.st_gid), (1000, 1000));
    assert_eq!(sandbox.list("/dir"), ["a", "b", "sub"]);
    // A merged directory's link count is 1 (unknown), as on Linux; a lower-only one keeps its.
    assert_eq!(sandbox.stat("/dir").unwrap().st_nlink, 1);
    assert_eq!(sandbox.stat("/etc").unwrap().st_nlink, 2);
    sandbox.finish();
}

#[test]
fn removing_lower_entries_leaves_whiteouts_and_a_new_directory_is_opaque() {
    let sandbox = start();
    let (vfs, ctx) = (&sandbox.vfs, &sandbox.ctx);
    vfs.unlink(ctx, b"/dir/a").unwrap();
    assert_eq!(sandbox.stat("/dir/a").map(|_| ()), Err(Errno::ENOENT));
    assert_eq!(sandbox.list("/dir"), ["b", "sub"]);
    assert_eq!(vfs.rmdir(ctx, b"/dir/sub"), Err(Errno::ENOTEMPTY));
    vfs.unlink(ctx, b"/dir/sub/c").unwrap();
    vfs.rmdir(ctx, b"/dir/sub").unwrap();
    assert_eq!(sandbox.list("/dir"), ["b"]);
    // Made again, the directory doesn't show the lower one's files; nor does a file made
    // again show the lower data.
    vfs.mkdir(ctx, b"/dir/sub", 0o700).unwrap();
    assert!(sandbox.list("/dir/sub").is_empty());
    assert_eq!(sandbox.stat("/dir/sub/c").map(|_| ()), Err(Errno::ENOENT));
    sandbox.write("/dir/a", libc::O_CREAT | libc::O_EXCL, b"new");
    assert_eq!(sandbox.read("/dir/a"), Ok(b"new".to_vec()));
    assert_eq!(sandbox.list("/dir"), ["a", "b", "sub"]);
    // Removing it again keeps the lower file hidden.
    vfs.unlink(ctx, b"/dir/a").unwrap();
    assert_eq!(sandbox.list("/dir"), ["b", "sub"]);
    sandbox.finish();
}

#[test]
fn renaming_lower_files_and_directories_moves_them_whole() {
    let sandbox = start();
    let (vfs, ctx) = (&sandbox.vfs, &sandbox.ctx);
    let b_ino = sandbox.stat("/dir/b").unwrap().st_ino;
    vfs.rename(ctx, b"/dir/b", ctx, b"/etc/b2", 0).unwrap();
    assert_eq!(sandbox.read("/etc/b2"), Ok(b"bb".to_vec()));
    assert_eq!(sandbox.stat("/etc/b2").unwrap().st_ino, b_ino);
    assert_eq!(sandbox.list("/etc"), ["b2", "motd"]);
    // A lower directory, with a removal in it, renamed: its tree comes along, the removed
    // file stays removed, and the old name is gone.
    vfs.unlink(ctx, b"/dir/a").unwrap();
    let sub = vfs.open(ctx, b"/dir/sub", libc::O_RDONLY, 0).unwrap();
    vfs.rename(ctx, b"/dir", ctx, b"/moved", 0).unwrap();
    assert_eq!(sandbox.stat("/dir").map(|_| ()), Err(Errno::ENOENT));
    assert_eq!(sandbox.list("/"), ["etc", "huge", "link", "moved"]);
    assert_eq!(sandbox.list("/moved"), ["sub"]);
    assert_eq!(sandbox.read("/moved/sub/c"), Ok(b"ccc".to_vec()));
    assert_eq!(vfs.path_of(sub.path().unwrap()), b"/moved/sub");
    drop(sub);
    // A file made where the directory was is a plain new file.
    sandbox.write("/dir", libc::O_CREAT | libc::O_EXCL, b"file now");
    assert_eq!(sandbox.read("/dir"), Ok(b"file now".to_vec()));
    // A directory with files is never replaced, whichever layer holds them.
    vfs.mkdir(ctx, b"/empty", 0o755).unwrap();
    assert_eq!(
        vfs.rename(ctx, b"/empty", ctx, b"/etc", 0),
        Err(Errno::ENOTEMPTY)
    );
    assert_eq!(
        vfs.rename(ctx, b"/empty", ctx, b"/moved/sub", 0),
        Err(Errno::ENOTEMPTY)
    );
    // Renaming over a lower file replaces it.
    vfs.rename(ctx, b"/moved/sub/c", ctx, b"/etc/motd", 0)
        .unwrap();
    assert_eq!(sandbox.read("/etc/motd"), Ok(b"ccc".to_vec()));
    assert_eq!(sandbox.list("/etc"), ["b2", "motd"]);
    sandbox.finish();
}

#[test]
fn a_hard_link_to_a_lower_file_is_one_upper_file() {
    let sandbox = start();
    let (vfs, ctx) = (&sandbox.vfs, &sandbox.ctx);
    let ino = sandbox.stat("/etc/motd").unwrap().st_ino;
    vfs.link(ctx, b"/etc/motd", ctx, b"/dir/motd2", true)
        .unwrap();
    let (one, two) = (
        sandbox.stat("/etc/motd").unwrap(),
        sandbox.stat("/dir/motd2").unwrap(),
    );
    assert_eq!((one.st_ino, two.st_ino), (ino, ino));
    assert_eq!((one.st_nlink, two.st_nlink), (2, 2));
    sandbox.write("/dir/motd2", libc::O_TRUNC, b"shared");
    assert_eq!(sandbox.read("/etc/motd"), Ok(b"shared".to_vec()));
    vfs.unlink(ctx, b"/etc/motd").unwrap();
    assert_eq!(sandbox.stat("/dir/motd2").unwrap().st_nlink, 1);
    sandbox.finish();
}

#[test]
fn readdir_merges_layers_without_duplicates_and_keeps_numbers() {
    let sandbox = start();
    sandbox.write("/dir/a", libc::O_APPEND, b"!");
    sandbox.write("/dir/new", libc::O_CREAT, b"n");
    sandbox
        .vfs
        .mkdir(&sandbox.ctx, b"/dir/newdir", 0o755)
        .unwrap();
    let dir = sandbox
        .vfs
        .open(&sandbox.ctx, b"/dir", libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .unwrap();
    let entries = parse_dirents(&dir.getdents64(65536).unwrap());
    let mut names: Vec<_> = entries
        .iter()
        .map(|e| String::from_utf8(e.name.clone()).unwrap())
        .collect();
    names.sort();
    assert_eq!(names, [".", "..", "a", "b", "new", "newdir", "sub"]);
    for entry in entries.iter().filter(|e| e.name != b"." && e.name != b"..") {
        let path = format!("/dir/{}", String::from_utf8_lossy(&entry.name));
        assert_eq!(entry.ino, sandbox.stat(&path).unwrap().st_ino, "{path}");
    }
    drop(dir);
    let new_ino = sandbox.stat("/dir/new").unwrap().st_ino;
    let lower_inos: Vec<u64> = ["dir/a", "dir/b", "dir/sub"]
        .iter()
        .map(|p| fs::metadata(sandbox.host.path().join(p)).unwrap().ino())
        .collect();
    assert!(!lower_inos.contains(&new_ino));
    sandbox.finish();
}

#[test]
fn the_upper_size_bounds_what_the_sandbox_writes() {
    let sandbox = start();
    let statfs = sandbox.vfs.root().mount().fs().statfs().unwrap();
    assert_eq!(statfs.f_bavail * statfs.f_bsize.cast_unsigned(), UPPER_SIZE);
    assert!(
        statfs.f_blocks > statfs.f_bfree,
        "the lower files count as used"
    );
    let file = sandbox
        .vfs
        .open(&sandbox.ctx, b"/big", libc::O_CREAT | libc::O_WRONLY, 0o644)
        .unwrap();
    let chunk = vec![1u8; 64 << 10];
    let mut written = 0;
    let errno = loop {
        match file.write(&chunk) {
            Ok(n) => written += n,
            Err(errno) => break errno,
        }
    };
    assert_eq!((errno, written as u64), (Errno::ENOSPC, UPPER_SIZE));
    drop(file);
    sandbox.vfs.unlink(&sandbox.ctx, b"/big").unwrap();
    sandbox.write("/etc/motd", libc::O_APPEND, b"fits again");
    // A lower file larger than the upper layer can't be copied up, but can be emptied.
    let huge = sandbox
        .vfs
        .open(&sandbox.ctx, b"/huge", libc::O_WRONLY | libc::O_APPEND, 0)
        .map(|_| ());
    assert_eq!(huge, Err(Errno::ENOSPC));
    assert_eq!(
        sandbox.stat("/huge").unwrap().st_size,
        i64::try_from(HUGE).unwrap()
    );
    sandbox.write("/huge", libc::O_TRUNC, b"small now");
    assert_eq!(sandbox.read("/huge"), Ok(b"small now".to_vec()));
    sandbox.finish();
}

#[test]
fn renaming_a_large_lower_directory_is_exdev_and_changes_nothing() {
    let sandbox = start();
    let many = sandbox.host.path().join("many");
    fs::create_dir(&many).unwrap();
    for i in 0..10_001 {
        fs::write(many.join(i.to_string()), b"").unwrap();
    }
    let sandbox = Sandbox {
        before: snapshot(sandbox.host.path()),
        ..sandbox
    };
    let (vfs, ctx) = (&sandbox.vfs, &sandbox.ctx);
    assert_eq!(
        vfs.rename(ctx, b"/many", ctx, b"/renamed", 0),
        Err(Errno::EXDEV)
    );
    assert_eq!(sandbox.stat("/renamed").map(|_| ()), Err(Errno::ENOENT));
    assert_eq!(sandbox.list("/many").len(), 10_001);
    let statfs = vfs.root().mount().fs().statfs().unwrap();
    assert_eq!(statfs.f_bavail * statfs.f_bsize.cast_unsigned(), UPPER_SIZE);
    sandbox.finish();
}
