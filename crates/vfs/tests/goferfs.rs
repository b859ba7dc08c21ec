//! The Gofer-backed filesystem, against a Gofer serving a temporary tree on a thread.

mod common;

use std::fs;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

use abi::Errno;
use common::{parse_dirents, read_all};
use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use vfs::gofer::GoferFs;
use vfs::tmpfs::TmpFs;
use vfs::{LookupCtx, Vfs};

/// A small msize, so reads of the big file need several requests.
const MSIZE: u32 = 8192;

/// Fewer donated descriptors than the tests' open files, so some are closed and asked for again.
const DONATED_FD_BUDGET: usize = 2;

/// Byte `i` of the big file: a pattern that doesn't repeat at power-of-two strides.
fn pattern(i: usize) -> u8 {
    u8::try_from(i % 251).expect("below 251")
}

struct Sandbox {
    vfs: Arc<Vfs>,
    ctx: LookupCtx,
    server: JoinHandle<Result<(), gofer::GoferError>>,
    relay: Option<Relay>,
    host: tempfile::TempDir,
}

/// Stands between the client and the Gofer like a Gofer without the fd-donation extension:
/// answers Tlopenfd itself with EOPNOTSUPP and forwards every other frame, recording the type
/// of each request.
struct Relay {
    thread: JoinHandle<()>,
    requests: Arc<Mutex<Vec<u8>>>,
}

impl Relay {
    fn start(mut client: UnixStream, mut gofer: UnixStream) -> Relay {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let tlopenfd = p9::Message::from(p9::Tlopenfd::default()).type_number();
        let thread = thread::spawn(move || {
            while let Some(request) = p9::read_frame(&mut client, MSIZE).unwrap() {
                let (ty, tag) = (request[4], u16::from_le_bytes([request[5], request[6]]));
                seen.lock().unwrap().push(ty);
                let reply = if ty == tlopenfd {
                    let declined = p9::Rlerror {
                        ecode: libc::EOPNOTSUPP as u32,
                    };
                    p9::Frame {
                        tag,
                        message: declined.into(),
                    }
                    .encode(MSIZE)
                    .unwrap()
                } else {
                    gofer.write_all(&request).unwrap();
                    p9::read_frame(&mut gofer, MSIZE).unwrap().unwrap()
                };
                client.write_all(&reply).unwrap();
            }
        });
        Relay { thread, requests }
    }

    /// How many requests of the type of `message` went by.
    fn count(&self, message: impl Into<p9::Message>) -> usize {
        let ty = message.into().type_number();
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|&&t| t == ty)
            .count()
    }

    fn total(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

/// Serves `root/` of a fresh temporary tree (with `outside/` beside it) and mounts it as the
/// VFS root.
fn start() -> Sandbox {
    start_with(false)
}

/// [`start`], with the Gofer behind a [`Relay`] if `relayed`.
fn start_with(relayed: bool) -> Sandbox {
    let host = tempfile::tempdir().unwrap();
    let root = host.path().join("root");
    let outside = host.path().join("outside");
    fs::create_dir_all(root.join("etc/deep")).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), b"host secret").unwrap();
    fs::write(root.join("etc/hostname"), b"sandbox\n").unwrap();
    fs::write(root.join("etc/deep/file"), b"deep").unwrap();
    fs::create_dir(root.join("mnt")).unwrap();
    let big: Vec<u8> = (0..100_000).map(pattern).collect();
    fs::write(root.join("big"), &big).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", root.join("abs_link")).unwrap();
    std::os::unix::fs::symlink("etc/deep", root.join("rel_link")).unwrap();
    std::os::unix::fs::symlink(&outside, root.join("host_abs")).unwrap();
    std::os::unix::fs::symlink("../outside/secret", root.join("escape")).unwrap();

    let root_fd = open(
        &root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let (mut sentry_end, gofer_end) = UnixStream::pair().unwrap();
    let tree = gofer::Tree {
        aname: b"/".to_vec(),
        root: root_fd,
        read_only: true,
    };
    let server = thread::spawn(move || gofer::serve(vec![tree], gofer_end, DONATED_FD_BUDGET));
    let relay = relayed.then(|| {
        let (client_end, relay_end) = UnixStream::pair().unwrap();
        Relay::start(relay_end, std::mem::replace(&mut sentry_end, client_end))
    });
    let client = Arc::new(p9::Client::new(sentry_end, MSIZE).unwrap());
    let vfs = Vfs::new(
        GoferFs::new(client, b"", DONATED_FD_BUDGET, false, common::memory()).unwrap(),
        common::memory(),
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
        relay,
        host,
    }
}

impl Sandbox {
    /// Drops the VFS (clunking every fid, closing the connection) and checks the Gofer ended
    /// cleanly.
    fn finish(self) {
        let Sandbox {
            vfs,
            ctx,
            server,
            relay,
            host,
        } = self;
        drop(ctx);
        drop(vfs);
        if let Some(relay) = relay {
            relay.thread.join().unwrap();
        }
        server.join().unwrap().unwrap();
        drop(host);
    }
}

#[test]
fn reads_files_and_stats_them_from_the_host() {
    let sandbox = start();
    let (vfs, ctx) = (&sandbox.vfs, &sandbox.ctx);
    let file = vfs.open(ctx, b"/etc/hostname", libc::O_RDONLY, 0).unwrap();
    assert_eq!(read_all(&file), Ok(b"sandbox\n".to_vec()));
    let st = vfs.stat(ctx, b"/etc/hostname", true).unwrap();
    let host_meta = fs::metadata(sandbox.host.path().join("root/etc/hostname")).unwrap();
    assert_eq!(st.st_size, 8);
    assert_eq!(st.st_ino, std::os::unix::fs::MetadataExt::ino(&host_meta));
    assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFREG);
    assert_eq!(file.stat().unwrap().st_ino, st.st_ino);
    // The inode number is stable across lookups.
    assert_eq!(
        vfs.stat(ctx, b"/etc/../etc/hostname", true).unwrap().st_ino,
        st.st_ino
    );
    drop(file);
    sandbox.finish();
}

#[test]
fn files_past_the_donated_fd_budget_are_still_read() {
    let sandbox = start();
    let (vfs, ctx) = (&sandbox.vfs, &sandbox.ctx);
    let paths: [&[u8]; 3] = [b"/etc/hostname", b"/etc/deep/file", b"/big"];
    let files: Vec<_> = paths
        .iter()
        .map(|path| vfs.open(ctx, path, libc::O_RDONLY, 0).unwrap())
        .collect();
    // Each read may close another file's descriptor; each file asks again when it needs one.
    for _ in 0..2 {
        for file in &files {
            let mut head = [0u8; 4];
            assert_eq!(file.pread(&mut head, 0), Ok(4));
        }
    }
    let mut head = [0u8; 4];
    assert_eq!(files[1].pread(&mut head, 0), Ok(4));
    assert_eq!(&head, b"deep");
    drop(files);
    sandbox.finish();
}

#[test]
fn big_reads_span_several_requests() {
    let sandbox = start();
    let file = sandbox
        .vfs
        .open(&sandbox.ctx, b"/big", libc::O_RDONLY, 0)
        .unwrap();
    let mut buf = vec![0u8; 100_000];
    assert_eq!(file.pread(&mut buf, 0), Ok(100_000));
    assert!(buf.iter().enumerate().all(|(i, &b)| b == pattern(i)));
    let mut tail = [0u8; 10];
    assert_eq!(file.pread(&mut tail, 99_995), Ok(5));
    assert_eq!(file.seek(0, libc::SEEK_END), Ok(100_000));
    drop(file);
    sandbox.finish();
}

#[test]
fn symlinks_are_resolved_inside_the_sandbox() {
    let sandbox = start();
    let (vfs, ctx) = (&sandbox.vfs, &sandbox.ctx);
    assert_eq!(
        vfs.readlink(ctx, b"/abs_link"),
        Ok(b"/etc/hostname".to_vec())
    );
    let file = vfs.open(ctx, b"/abs_link", libc::O_RDONLY, 0).unwrap();
    assert_eq!(read_all(&file), Ok(b"sandbox\n".to_vec()));
    assert_eq!(
        vfs.stat(ctx, b"/rel_link/file", true).unwrap().st_ino,
        vfs.stat(ctx, b"/etc/deep/file", true).unwrap().st_ino
    );
    // A host-absolute target is looked up in the sandbox, where it does not exist.
    assert_eq!(vfs.stat(ctx, b"/host_abs", true).err(), Some(Errno::ENOENT));
    // ".." past the root stays at the root: ../outside is /outside, which does not exist.
    assert_eq!(
        vfs.open(ctx, b"/escape", libc::O_RDONLY, 0).err(),
        Some(Errno::ENOENT)
    );
    assert_eq!(
        vfs.stat(ctx, b"/..", true).unwrap().st_ino,
        vfs.stat(ctx, b"/", true).unwrap().st_ino
    );
    drop(file);
    sandbox.finish();
}

#[test]
fn lists_directories() {
    let sandbox = start();
    let (vfs, ctx) = (&sandbox.vfs, &sandbox.ctx);
    let dir = vfs
        .open(ctx, b"/etc", libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .unwrap();
    let dirents = parse_dirents(&dir.getdents64(4096).unwrap());
    let mut names: Vec<&[u8]> = dirents.iter().map(|d| d.name.as_slice()).collect();
    names.sort();
    assert_eq!(names, [&b"."[..], b"..", b"deep", b"hostname"]);
    let deep = dirents.iter().find(|d| d.name == b"deep").unwrap();
    assert_eq!(deep.ty, libc::DT_DIR);
    assert_eq!(deep.ino, vfs.stat(ctx, b"/etc/deep", true).unwrap().st_ino);
    assert_eq!(dir.getdents64(4096), Ok(Vec::new()));
    drop(dir);
    sandbox.finish();
}

#[test]
fn the_root_is_read_only() {
    let sandbox = start();
    let (vfs, ctx) = (&sandbox.vfs, &sandbox.ctx);
    assert_eq!(
        vfs.open(ctx, b"/etc/hostname", libc::O_RDWR, 0).err(),
        Some(Errno::EROFS)
    );
    assert_eq!(
        vfs.open(ctx, b"/new", libc::O_CREAT | libc::O_WRONLY, 0o644)
            .err(),
        Some(Errno::EROFS)
    );
    assert_eq!(vfs.mkdir(ctx, b"/etc/x", 0o755), Err(Errno::EROFS));
    assert_eq!(vfs.mkdir(ctx, b"/etc", 0o755), Err(Errno::EEXIST));
    assert_eq!(vfs.unlink(ctx, b"/etc/hostname"), Err(Errno::EROFS));
    assert_eq!(
        vfs.rename(ctx, b"/big", ctx, b"/big2", 0),
        Err(Errno::EROFS)
    );
    assert_eq!(vfs.chmod(ctx, b"/big", 0o600), Err(Errno::EROFS));
    assert_eq!(
        vfs.access(ctx, b"/big", libc::W_OK, true),
        Err(Errno::EROFS)
    );
    assert_eq!(vfs.access(ctx, b"/big", libc::R_OK, true), Ok(()));
    assert_ne!(
        vfs.statfs(ctx, b"/").unwrap().f_flags & i64::try_from(libc::ST_RDONLY).unwrap(),
        0
    );
    sandbox.finish();
}

#[test]
fn a_tmpfs_mounted_on_the_gofer_root_is_writable() {
    let sandbox = start();
    let (vfs, ctx) = (&sandbox.vfs, &sandbox.ctx);
    let mnt = vfs.lookup(ctx, b"/mnt", true).unwrap();
    vfs.mount(&mnt, TmpFs::new(0o1777, common::memory()))
        .unwrap();
    let file = common::create(vfs, ctx, "/mnt/scratch", b"written");
    assert_eq!(file.pread(&mut [0; 7], 0), Ok(7));
    assert_eq!(
        vfs.stat(ctx, b"/mnt/..", true).unwrap().st_ino,
        vfs.stat(ctx, b"/", true).unwrap().st_ino
    );
    assert!(
        !sandbox.host.path().join("root/mnt/scratch").exists(),
        "tmpfs stays in memory"
    );
    drop(file);
    drop(mnt);
    sandbox.finish();
}

#[test]
fn without_fd_donation_files_are_read_through_9p() {
    let sandbox = start_with(true);
    let relay = sandbox.relay.as_ref().unwrap();
    let file = sandbox
        .vfs
        .open(&sandbox.ctx, b"/big", libc::O_RDONLY, 0)
        .unwrap();
    let mut buf = vec![0u8; 100_000];
    assert_eq!(file.pread(&mut buf, 0), Ok(100_000));
    assert!(buf.iter().enumerate().all(|(i, &b)| b == pattern(i)));
    assert_eq!(relay.count(p9::Tlopenfd::default()), 1);
    assert!(
        relay.count(p9::Tread::default()) > 1,
        "read in msize chunks"
    );
    // The decline is remembered: a second open asks no more.
    drop(file);
    let again = sandbox
        .vfs
        .open(&sandbox.ctx, b"/big", libc::O_RDONLY, 0)
        .unwrap();
    assert_eq!(again.pread(&mut buf[..4], 99_996), Ok(4));
    assert_eq!(buf[..4], [99_996, 99_997, 99_998, 99_999].map(pattern));
    assert_eq!(relay.count(p9::Tlopenfd::default()), 1);
    drop(again);
    sandbox.finish();
}

#[test]
fn recently_used_paths_are_resolved_without_the_gofer() {
    let sandbox = start_with(true);
    let relay = sandbox.relay.as_ref().unwrap();
    let (vfs, ctx) = (&sandbox.vfs, &sandbox.ctx);
    let first = vfs.stat(ctx, b"/etc/deep/file", true).unwrap();
    let asked = relay.total();
    assert!(relay.count(p9::Twalk::default()) >= 3, "looked up once");
    // Nothing outside the VFS holds /etc/deep/file now; the recent dentries do.
    assert_eq!(vfs.stat(ctx, b"/etc/deep/file", true), Ok(first));
    assert_eq!(vfs.stat(ctx, b"/etc/deep/../deep/file", true), Ok(first));
    assert_eq!(relay.total(), asked, "answered from the cache");
    sandbox.finish();
}
