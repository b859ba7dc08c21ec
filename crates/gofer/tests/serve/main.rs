//! The Gofer served over a socketpair to a p9 client: on temporary trees, on the host's "/",
//! and on trees with mounts of their own; and its fd donation.

mod donation;
mod host_root;
mod mounts;
mod tree;
mod volumes;

use std::collections::BTreeSet;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::thread::{self, JoinHandle};

use nix::fcntl::{open, OFlag};
use nix::sys::stat::Mode;
use p9::{Client, DirEntry, Error, Fid, QID_TYPE_DIR};

const EACCES: u32 = libc::EACCES as u32;
const ENOENT: u32 = libc::ENOENT as u32;
const EINVAL: u32 = libc::EINVAL as u32;
const ELOOP: u32 = libc::ELOOP as u32;
const EOPNOTSUPP: u32 = libc::EOPNOTSUPP as u32;
const EROFS: u32 = libc::EROFS as u32;
const O_RDONLY: u32 = libc::O_RDONLY as u32;
const O_WRONLY: u32 = libc::O_WRONLY as u32;
const O_RDWR: u32 = libc::O_RDWR as u32;
const O_TRUNC: u32 = libc::O_TRUNC as u32;
/// The fewest descriptors a Gofer keeps open: every test runs with fids' descriptors closed
/// and walked again from the root as it goes.
const FD_BUDGET: usize = 2;

struct Session {
    client: Client,
    root: Fid,
    server: JoinHandle<Result<(), gofer::GoferError>>,
}

fn start(root: &Path, read_only: bool) -> Session {
    let root_fd = open(
        root,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let (client_end, server_end) = UnixStream::pair().unwrap();
    let tree = gofer::Tree {
        aname: b"/".to_vec(),
        root: root_fd,
        read_only,
    };
    let server = thread::spawn(move || gofer::serve(vec![tree], server_end, FD_BUDGET));
    let client = Client::new(client_end, 1 << 16).unwrap();
    let (root, qid) = client.attach(b"root", b"", 0).unwrap();
    assert_eq!(qid.ty, QID_TYPE_DIR);
    Session {
        client,
        root,
        server,
    }
}

impl Session {
    fn finish(self) {
        drop(self.client);
        self.server.join().unwrap().unwrap();
    }

    fn walk(&self, names: &[&[u8]]) -> Result<Fid, Error> {
        self.client.walk(self.root, names).map(|(fid, _)| fid)
    }

    fn read_all(&self, fid: Fid) -> Vec<u8> {
        let mut content = Vec::new();
        loop {
            let chunk = self.client.read(fid, content.len() as u64, 7).unwrap();
            if chunk.is_empty() {
                return content;
            }
            content.extend(chunk);
        }
    }

    /// Every entry of open directory `dir`, read `count` bytes at a time.
    fn entries(&self, dir: Fid, count: u32) -> Vec<DirEntry> {
        let mut all = Vec::new();
        loop {
            let offset = all.last().map_or(0, |entry: &DirEntry| entry.offset);
            let entries = self.client.readdir(dir, offset, count).unwrap();
            if entries.is_empty() {
                return all;
            }
            all.extend(entries);
        }
    }

    fn list(&self, dir: Fid, count: u32) -> BTreeSet<Vec<u8>> {
        self.entries(dir, count)
            .into_iter()
            .map(|entry| entry.name)
            .collect()
    }
}

fn remote_errno(result: Result<impl std::fmt::Debug, Error>) -> u32 {
    match result {
        Err(Error::Remote(errno)) => errno,
        other => panic!("expected an errno, got {other:?}"),
    }
}
