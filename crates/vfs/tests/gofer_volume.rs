//! The Gofer fs in its writable mode (a volume): mounted on a tmpfs root from a Gofer that
//! serves it beside a read-only root tree, changed through the VFS, checked on the host.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use abi::Errno;
use common::{read_all, tmpfs_vfs};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use vfs::gofer::GoferFs;
use vfs::{FileSystem, LookupCtx, Vfs};

/// Fewer descriptors than the test's files open for writing: some write through fids.
const FD_BUDGET: usize = 2;

struct Volumes {
    vfs: Arc<Vfs>,
    ctx: LookupCtx,
    server: JoinHandle<Result<(), gofer::GoferError>>,
    host: tempfile::TempDir,
}

fn tree(aname: &[u8], dir: &Path, read_only: bool) -> gofer::Tree {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    gofer::Tree {
        aname: aname.to_vec(),
        root: open(dir, flags, Mode::empty()).unwrap(),
        read_only,
    }
}

/// `host/rw` mounted writable at /rw and `host/ro` read-only at /ro, from one Gofer.
fn start() -> Volumes {
    let host = tempfile::tempdir().unwrap();
    for dir in ["root", "rw", "ro"] {
        fs::create_dir(host.path().join(dir)).unwrap();
    }
    fs::write(host.path().join("rw/existing"), b"0123456789").unwrap();
    fs::write(host.path().join("ro/existing"), b"read only").unwrap();
    let trees = vec![
        tree(b"/", &host.path().join("root"), true),
        tree(b"volume/0", &host.path().join("rw"), false),
        tree(b"volume/1", &host.path().join("ro"), true),
    ];
    let (sentry_end, gofer_end) = UnixStream::pair().unwrap();
    let server = thread::spawn(move || gofer::serve(trees, gofer_end, FD_BUDGET));
    let client = Arc::new(p9::Client::new(sentry_end, 8192).unwrap());
    let (vfs, ctx) = tmpfs_vfs();
    for (at, aname, writable) in [
        (&b"/rw"[..], &b"volume/0"[..], true),
        (b"/ro", b"volume/1", false),
    ] {
        vfs.mkdir(&ctx, at, 0o755).unwrap();
        let fs = GoferFs::new(
            Arc::clone(&client),
            aname,
            FD_BUDGET,
            writable,
            common::memory(),
        )
        .unwrap();
        assert_eq!(fs.read_only(), !writable);
        vfs.mount(&vfs.lookup(&ctx, at, true).unwrap(), fs).unwrap();
    }
    Volumes {
        vfs,
        ctx,
        server,
        host,
    }
}

impl Volumes {
    fn host(&self, path: &str) -> std::path::PathBuf {
        self.host.path().join(path)
    }

    fn finish(self) {
        let Volumes {
            vfs,
            ctx,
            server,
            host,
        } = self;
        drop(ctx);
        drop(vfs);
        server.join().unwrap().unwrap();
        drop(host);
    }
}

#[test]
fn writes_are_on_the_host_when_the_call_returns_and_stat_follows_them() {
    let volumes = start();
    let (vfs, ctx) = (&volumes.vfs, &volumes.ctx);
    // More files open for writing than the budget: the later ones write through fids.
    let files: Vec<_> = (0..4)
        .map(|i| {
            let path = format!("/rw/file{i}");
            let flags = libc::O_CREAT | libc::O_RDWR;
            vfs.open(ctx, path.as_bytes(), flags, 0o640).unwrap()
        })
        .collect();
    for (i, file) in files.iter().enumerate() {
        let text = format!("file {i}");
        assert_eq!(file.write(text.as_bytes()), Ok(text.len()));
        assert_eq!(
            fs::read_to_string(volumes.host(&format!("rw/file{i}"))).unwrap(),
            text
        );
        assert_eq!(
            file.stat().unwrap().st_size,
            i64::try_from(text.len()).unwrap()
        );
        file.fsync().unwrap();
    }
    let meta = volumes.host("rw/file0").metadata().unwrap();
    assert_eq!(meta.mode() & 0o777, 0o640);

    let append = vfs
        .open(ctx, b"/rw/existing", libc::O_WRONLY | libc::O_APPEND, 0)
        .unwrap();
    assert_eq!(append.write(b"ab"), Ok(2));
    append.truncate(4).unwrap();
    assert_eq!(append.write(b"cd"), Ok(2));
    assert_eq!(fs::read(volumes.host("rw/existing")).unwrap(), b"0123cd");
    assert_eq!(vfs.stat(ctx, b"/rw/existing", true).unwrap().st_size, 6);
    // A change on the host shows in the next stat of a writable volume.
    fs::write(volumes.host("rw/existing"), b"changed on the host").unwrap();
    assert_eq!(vfs.stat(ctx, b"/rw/existing", true).unwrap().st_size, 19);
    let reader = vfs.open(ctx, b"/rw/existing", libc::O_RDONLY, 0).unwrap();
    assert_eq!(read_all(&reader), Ok(b"changed on the host".to_vec()));
    drop((files, append, reader));
    volumes.finish();
}

#[test]
fn a_read_only_volume_is_erofs_in_the_sentry() {
    let volumes = start();
    let (vfs, ctx) = (&volumes.vfs, &volumes.ctx);
    assert_eq!(
        vfs.open(ctx, b"/ro/existing", libc::O_WRONLY, 0).err(),
        Some(Errno::EROFS)
    );
    assert_eq!(
        vfs.open(ctx, b"/ro/new", libc::O_CREAT | libc::O_WRONLY, 0o644)
            .err(),
        Some(Errno::EROFS)
    );
    assert_eq!(vfs.mkdir(ctx, b"/ro/dir", 0o755), Err(Errno::EROFS));
    assert_eq!(vfs.unlink(ctx, b"/ro/existing"), Err(Errno::EROFS));
    assert_eq!(vfs.chmod(ctx, b"/ro/existing", 0o777), Err(Errno::EROFS));
    let file = vfs.open(ctx, b"/ro/existing", libc::O_RDONLY, 0).unwrap();
    assert_eq!(read_all(&file), Ok(b"read only".to_vec()));
    assert_eq!(fs::read(volumes.host("ro/existing")).unwrap(), b"read only");
    drop(file);
    volumes.finish();
}

#[test]
fn renames_across_volumes_are_exdev() {
    let volumes = start();
    let (vfs, ctx) = (&volumes.vfs, &volumes.ctx);
    assert_eq!(
        vfs.rename(ctx, b"/rw/existing", ctx, b"/ro/moved", 0),
        Err(Errno::EXDEV)
    );
    vfs.mkdir(ctx, b"/rw/sub", 0o755).unwrap();
    vfs.rename(ctx, b"/rw/existing", ctx, b"/rw/sub/moved", 0)
        .unwrap();
    assert_eq!(
        fs::read(volumes.host("rw/sub/moved")).unwrap(),
        b"0123456789"
    );
    assert!(!volumes.host("rw/existing").exists());
    volumes.finish();
}
