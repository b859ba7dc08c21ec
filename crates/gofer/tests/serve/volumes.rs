//! The write operations volumes need, and one Gofer serving several trees: each confined to
//! its own root, a read-only one refusing every change.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::thread::{self, JoinHandle};

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use p9::{Client, Fid, Tsetattr};

use crate::*;

const EEXIST: u32 = libc::EEXIST as u32;
const ENODATA: u32 = libc::ENODATA as u32;
const ENOTDIR: u32 = libc::ENOTDIR as u32;
const EPERM: u32 = libc::EPERM as u32;
const EXDEV: u32 = libc::EXDEV as u32;
const XATTR_CREATE: u32 = 1;
const XATTR_REPLACE: u32 = 2;

/// A Gofer serving `trees` (aname, host directory, read-only) over one connection.
struct Volumes {
    client: Client,
    server: JoinHandle<Result<(), gofer::GoferError>>,
}

impl Volumes {
    fn start(trees: &[(&[u8], &Path, bool)]) -> Volumes {
        let trees = trees
            .iter()
            .map(|&(aname, root, read_only)| gofer::Tree {
                aname: aname.to_vec(),
                root: open(
                    root,
                    OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .unwrap(),
                read_only,
            })
            .collect();
        let (client_end, server_end) = UnixStream::pair().unwrap();
        let server = thread::spawn(move || gofer::serve(trees, server_end, FD_BUDGET));
        let client = Client::new(client_end, 1 << 16).unwrap();
        Volumes { client, server }
    }

    fn attach(&self, aname: &[u8]) -> Fid {
        self.client.attach(b"root", aname, 0).unwrap().0
    }

    fn finish(self) {
        drop(self.client);
        self.server.join().unwrap().unwrap();
    }
}

/// `dir/volume` (served) beside `dir/outside` (must stay untouched): a symlink in the volume
/// points at `outside`, one at `outside/secret`.
fn volume_with_links_out(dir: &Path) -> std::path::PathBuf {
    let volume = dir.join("volume");
    let outside = dir.join("outside");
    fs::create_dir_all(volume.join("sub")).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), b"host secret").unwrap();
    fs::set_permissions(outside.join("secret"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::write(volume.join("file"), b"0123456789").unwrap();
    std::os::unix::fs::symlink(&outside, volume.join("out_dir")).unwrap();
    std::os::unix::fs::symlink("../outside/secret", volume.join("out_file")).unwrap();
    volume
}

#[test]
fn one_gofer_serves_trees_by_aname() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        fs::create_dir(dir.path().join(name)).unwrap();
        fs::write(dir.path().join(name).join("which"), name).unwrap();
    }
    let volumes = Volumes::start(&[
        (b"/", &dir.path().join("a"), true),
        (b"volume/0", &dir.path().join("b"), false),
    ]);
    let client = &volumes.client;
    for (aname, expected) in [(&b""[..], "a"), (b"/", "a"), (b"volume/0", "b")] {
        let root = volumes.attach(aname);
        let (file, _) = client.walk(root, &[b"which"]).unwrap();
        client.lopen(file, O_RDONLY).unwrap();
        assert_eq!(client.read(file, 0, 16).unwrap(), expected.as_bytes());
        // ".." at a volume's root is its root: never the host directory above it.
        let (up, _) = client.walk(root, &[b"..", b"which"]).unwrap();
        client.lopen(up, O_RDONLY).unwrap();
        assert_eq!(client.read(up, 0, 16).unwrap(), expected.as_bytes());
    }
    assert_eq!(remote_errno(client.attach(b"root", b"volume/9", 0)), ENOENT);
    volumes.finish();
}

#[test]
fn renames_and_links_never_cross_trees() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b"] {
        fs::create_dir(dir.path().join(name)).unwrap();
        fs::write(dir.path().join(name).join("file"), name).unwrap();
    }
    let volumes = Volumes::start(&[
        (b"/", &dir.path().join("a"), false),
        (b"volume/0", &dir.path().join("b"), false),
    ]);
    let client = &volumes.client;
    let (a, b) = (volumes.attach(b"/"), volumes.attach(b"volume/0"));
    assert_eq!(
        remote_errno(client.renameat(a, b"file", b, b"moved")),
        EXDEV
    );
    let (file, _) = client.walk(a, &[b"file"]).unwrap();
    assert_eq!(remote_errno(client.rename(file, b, b"moved")), EXDEV);
    assert_eq!(remote_errno(client.link(b, file, b"linked")), EXDEV);
    assert!(!dir.path().join("b/moved").exists());
    assert!(!dir.path().join("b/linked").exists());
    assert_eq!(fs::read(dir.path().join("a/file")).unwrap(), b"a");
    volumes.finish();
}

#[test]
fn writes_never_follow_a_symlink_out_of_the_volume() {
    let dir = tempfile::tempdir().unwrap();
    let volume = volume_with_links_out(dir.path());
    let volumes = Volumes::start(&[(b"/", &volume, false)]);
    let client = &volumes.client;
    let root = volumes.attach(b"/");
    let (out_dir, _) = client.walk(root, &[b"out_dir"]).unwrap();
    let (out_file, _) = client.walk(root, &[b"out_file"]).unwrap();

    // The links are not directories to create in, nor names to create over.
    assert_eq!(remote_errno(client.mkdir(out_dir, b"x", 0o755, 0)), ENOTDIR);
    let dir_clone = client.walk(out_dir, &[]).unwrap().0;
    assert_eq!(
        remote_errno(client.lcreate(dir_clone, b"x", O_WRONLY, 0o644, 0)),
        ENOTDIR
    );
    let root_clone = client.walk(root, &[]).unwrap().0;
    assert_eq!(
        remote_errno(client.lcreate(root_clone, b"out_file", O_WRONLY, 0o644, 0)),
        EEXIST
    );
    // Attributes of a link are its own, never its target's.
    let chmod = Tsetattr {
        fid: out_file,
        valid: p9::SETATTR_MODE,
        mode: 0o777,
        ..Default::default()
    };
    assert_eq!(remote_errno(client.setattr(&chmod)), EOPNOTSUPP);
    let truncate = Tsetattr {
        fid: out_file,
        valid: p9::SETATTR_SIZE,
        ..Default::default()
    };
    assert_eq!(remote_errno(client.setattr(&truncate)), EINVAL);
    let touch = Tsetattr {
        fid: out_dir,
        valid: p9::SETATTR_MTIME | p9::SETATTR_MTIME_SET,
        mtime_sec: 12345,
        ..Default::default()
    };
    client.setattr(&touch).unwrap();
    assert_eq!(
        fs::symlink_metadata(volume.join("out_dir"))
            .unwrap()
            .mtime(),
        12345
    );
    assert_ne!(
        dir.path().join("outside").metadata().unwrap().mtime(),
        12345
    );
    // No hard link to a link's target, no attributes through a link.
    assert_eq!(
        remote_errno(client.link(root, out_file, b"hard")),
        EOPNOTSUPP
    );
    assert_eq!(
        remote_errno(client.set_xattr(out_file, b"user.x", b"v", 0)),
        EPERM
    );
    assert_eq!(remote_errno(client.get_xattr(out_file, b"user.x")), ENODATA);
    // Renaming and unlinking a link move and remove the link.
    client
        .renameat(root, b"out_file", root, b"renamed")
        .unwrap();
    client.unlinkat(root, b"renamed", 0).unwrap();
    // Names are one component: no "..", no "/".
    for name in [&b".."[..], b"../escape", b"sub/../../escape"] {
        assert_eq!(remote_errno(client.mkdir(root, name, 0o755, 0)), EINVAL);
        assert_eq!(remote_errno(client.symlink(root, name, b"x", 0)), EINVAL);
        assert_eq!(
            remote_errno(client.renameat(root, b"file", root, name)),
            EINVAL
        );
    }

    let outside = dir.path().join("outside");
    assert_eq!(fs::read(outside.join("secret")).unwrap(), b"host secret");
    let mode = outside
        .join("secret")
        .metadata()
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
    assert!(!dir.path().join("escape").exists());
    volumes.finish();
}

#[test]
fn setattr_link_mknod_rename_and_xattrs_reach_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let volume = volume_with_links_out(dir.path());
    let volumes = Volumes::start(&[(b"/", &volume, false)]);
    let client = &volumes.client;
    let root = volumes.attach(b"/");
    let (file, _) = client.walk(root, &[b"file"]).unwrap();
    let setattr = Tsetattr {
        fid: file,
        valid: p9::SETATTR_MODE
            | p9::SETATTR_SIZE
            | p9::SETATTR_UID
            | p9::SETATTR_GID
            | p9::SETATTR_ATIME
            | p9::SETATTR_ATIME_SET
            | p9::SETATTR_MTIME
            | p9::SETATTR_MTIME_SET,
        mode: 0o640,
        uid: 1234,
        gid: 5678,
        size: 4,
        atime_sec: 1000,
        mtime_sec: 2000,
        mtime_nsec: 5,
        ..Default::default()
    };
    client.setattr(&setattr).unwrap();
    let meta = volume.join("file").metadata().unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
    assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
    assert_eq!(meta.len(), 4);
    assert_eq!(
        (meta.atime(), meta.mtime(), meta.mtime_nsec()),
        (1000, 2000, 5)
    );
    assert_eq!(fs::read(volume.join("file")).unwrap(), b"0123");

    client.link(root, file, b"hard").unwrap();
    assert_eq!(volume.join("hard").metadata().unwrap().ino(), meta.ino());
    let (sub, _) = client.walk(root, &[b"sub"]).unwrap();
    client.rename(file, sub, b"moved").unwrap();
    assert_eq!(fs::read(volume.join("sub/moved")).unwrap(), b"0123");
    // The fid follows its file to the new name.
    client.lopen(file, O_RDONLY).unwrap();
    assert_eq!(client.read(file, 0, 16).unwrap(), b"0123");

    client
        .mknod(root, b"fifo", libc::S_IFIFO | 0o600, 0, 0, 0)
        .unwrap();
    use std::os::unix::fs::FileTypeExt;
    assert!(volume
        .join("fifo")
        .metadata()
        .unwrap()
        .file_type()
        .is_fifo());
    assert_eq!(
        remote_errno(client.mknod(root, b"null", libc::S_IFCHR | 0o666, 1, 3, 0)),
        EPERM
    );

    let (hard, _) = client.walk(root, &[b"hard"]).unwrap();
    client
        .set_xattr(hard, b"user.color", b"blue", XATTR_CREATE)
        .unwrap();
    assert_eq!(client.get_xattr(hard, b"user.color").unwrap(), b"blue");
    assert_eq!(client.get_xattr(hard, b"").unwrap(), b"user.color\0");
    assert_eq!(
        remote_errno(client.set_xattr(hard, b"user.color", b"red", XATTR_CREATE)),
        EEXIST
    );
    assert_eq!(
        remote_errno(client.set_xattr(hard, b"trusted.x", b"v", 0)),
        EOPNOTSUPP
    );
    client
        .set_xattr(hard, b"user.color", b"", XATTR_REPLACE)
        .unwrap();
    assert_eq!(remote_errno(client.get_xattr(hard, b"user.color")), ENODATA);
    volumes.finish();
}

#[test]
fn a_read_only_volume_refuses_the_new_writes() {
    let dir = tempfile::tempdir().unwrap();
    let volume = volume_with_links_out(dir.path());
    let volumes = Volumes::start(&[(b"/", dir.path(), false), (b"volume/0", &volume, true)]);
    let client = &volumes.client;
    let root = volumes.attach(b"volume/0");
    let (file, _) = client.walk(root, &[b"file"]).unwrap();
    let chmod = Tsetattr {
        fid: file,
        valid: p9::SETATTR_MODE,
        mode: 0o777,
        ..Default::default()
    };
    assert_eq!(remote_errno(client.setattr(&chmod)), EROFS);
    assert_eq!(remote_errno(client.link(root, file, b"hard")), EROFS);
    assert_eq!(
        remote_errno(client.mknod(root, b"fifo", libc::S_IFIFO | 0o600, 0, 0, 0)),
        EROFS
    );
    assert_eq!(remote_errno(client.rename(file, root, b"moved")), EROFS);
    assert_eq!(
        remote_errno(client.set_xattr(file, b"user.x", b"v", 0)),
        EROFS
    );
    assert_eq!(remote_errno(client.lopenfd(file, O_RDWR)), EOPNOTSUPP);
    assert_eq!(fs::read(volume.join("file")).unwrap(), b"0123456789");
    assert_eq!(fs::read_dir(&volume).unwrap().count(), 4);
    volumes.finish();
}

/// The owned-creation extension: each kind of new file has on the host exactly the owner and
/// permission bits asked (set-id bits that a chown would clear and bits the Gofer's umask
/// would mask included); an existing name is refused and left as it was.
#[test]
fn owned_creations_give_new_files_their_owner_and_mode() {
    use p9::{Tucreate, Tumkdir, Tumknod, Tusymlink};
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path().join("volume");
    fs::create_dir(&volume).unwrap();
    let gofer = Volumes::start(&[(b"volume/0", &volume, false)]);
    let client = &gofer.client;
    let root = gofer.attach(b"volume/0");
    let (uid, gid) = (1000, 1001);

    let (file, _) = client.walk(root, &[]).unwrap();
    client
        .ucreate(Tucreate {
            fid: file,
            name: b"setuid".to_vec(),
            flags: O_WRONLY,
            mode: 0o4775,
            gid,
            uid,
        })
        .unwrap();
    assert_eq!(client.write(file, 0, b"data").unwrap(), 4);
    client
        .umkdir(Tumkdir {
            dfid: root,
            name: b"shared".to_vec(),
            mode: 0o2777,
            gid,
            uid,
        })
        .unwrap();
    client
        .usymlink(Tusymlink {
            fid: root,
            name: b"link".to_vec(),
            symtgt: b"setuid".to_vec(),
            gid,
            uid,
        })
        .unwrap();
    client
        .umknod(Tumknod {
            dfid: root,
            name: b"fifo".to_vec(),
            mode: libc::S_IFIFO | 0o666,
            major: 0,
            minor: 0,
            gid,
            uid,
        })
        .unwrap();

    for (name, mode) in [
        ("setuid", libc::S_IFREG | 0o4775),
        ("shared", libc::S_IFDIR | 0o2777),
        ("link", libc::S_IFLNK | 0o777),
        ("fifo", libc::S_IFIFO | 0o666),
    ] {
        let meta = fs::symlink_metadata(volume.join(name)).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode()),
            (uid, gid, mode),
            "{name}"
        );
    }
    assert_eq!(fs::read(volume.join("setuid")).unwrap(), b"data");

    let (again, _) = client.walk(root, &[]).unwrap();
    let exists = client.ucreate(Tucreate {
        fid: again,
        name: b"setuid".to_vec(),
        flags: O_WRONLY,
        mode: 0o600,
        gid: 0,
        uid: 0,
    });
    assert_eq!(remote_errno(exists), EEXIST);
    let meta = fs::metadata(volume.join("setuid")).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (uid, 0o4775));
    gofer.finish();
}
