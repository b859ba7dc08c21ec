//! A 9P2000.L library: one struct per message with a derived codec, frame decoding bounded by
//! `msize`, a blocking [`Client`], and a [`Server`] trait with its [`serve`] loop.
//!
//! Strings are byte vectors: Linux file names are bytes, not UTF-8.
//!
//! ```no_run
//! # fn main() -> Result<(), p9::Error> {
//! let stream = std::os::unix::net::UnixStream::connect("/run/fs.sock")?;
//! let client = p9::Client::new(stream, 1 << 20)?;
//! let (root, _) = client.attach(b"root", b"", 0)?;
//! let (file, _) = client.walk(root, &[b"etc", b"hostname"])?;
//! client.lopen(file, 0)?;
//! let contents = client.read(file, 0, 4096)?;
//! # let _ = contents;
//! # Ok(())
//! # }
//! ```
//!
//! # rvisor extensions
//!
//! Messages beyond 9P2000.L take type numbers from 200 up, which no 9P variant uses
//! (9P2000.L's highest is 127). A server that does not know one answers `Rlerror` with
//! `EOPNOTSUPP` (this crate's [`serve`] does so for any unknown type; other servers may say
//! `ENOSYS`), and the client falls back to plain 9P2000.L.
//!
//! ## Fd donation: `Tlopenfd` (200) / `Rlopenfd` (201)
//!
//! ```text
//! size[4] Tlopenfd tag[2] fid[4] flags[4]
//! size[4] Rlopenfd tag[2] qid[13] iounit[4]      + SCM_RIGHTS: exactly one descriptor
//! ```
//!
//! Like gVisor's LISAFS, this lets the client do I/O on a host file directly instead of a
//! Tread/Twrite round trip per call. The transport must be a Unix domain socket.
//!
//! - The server opens the file `fid` names with the Linux open `flags` (as Tlopen would) and
//!   sends the opened descriptor in the `SCM_RIGHTS` ancillary data of the Rlopenfd frame, on
//!   its first byte. `qid` and `iounit` mean what they mean in Rlopen.
//! - `fid` is left as it was: not opened, still walkable, still openable with Tlopen or
//!   Tlopenfd. The descriptor is the client's alone; it stays valid after `fid` is clunked and
//!   the client closes it when done.
//! - The server may decline any request with `Rlerror`. `EOPNOTSUPP` (or `ENOSYS`) means "not
//!   donated: open with Tlopen instead", whether the server lacks the extension or declines
//!   this file or these flags (a read-only server donates only read-only opens of regular
//!   files). Other errnos are what Tlopen would report.
//! - Every other reply carries no descriptor; a client receiving one anyway closes it and
//!   treats the reply as a protocol error.
//!
//! ## Owned creation: `Tucreate` (202), `Tumkdir` (204), `Tusymlink` (206), `Tumknod` (208)
//!
//! ```text
//! size[4] Tucreate tag[2] fid[4] name[s] flags[4] mode[4] gid[4] uid[4]
//! size[4] Tumkdir tag[2] dfid[4] name[s] mode[4] gid[4] uid[4]
//! size[4] Tusymlink tag[2] fid[4] name[s] symtgt[s] gid[4] uid[4]
//! size[4] Tumknod tag[2] dfid[4] name[s] mode[4] major[4] minor[4] gid[4] uid[4]
//! ```
//!
//! 9P2000.L's creating messages give the new file's group but not its owner, which a server
//! shared by every user of the client cannot guess. These are the same messages with the
//! owner appended (as gVisor's p9 has them), answered by Rucreate (203), Rumkdir (205),
//! Rusymlink (207) and Rumknod (209), shaped like Rlcreate, Rmkdir, Rsymlink and Rmknod. The
//! server makes the file with exactly `uid`, `gid` and the permission bits of `mode` (no umask
//! of its own), or fails and leaves no file behind.
#![deny(unsafe_code)]

mod client;
mod consts;
mod dirent;
mod error;
mod frame;
mod messages;
mod server;
#[allow(unsafe_code)]
mod sys;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;
mod wire;

pub use client::Client;
pub use consts::*;
pub use dirent::DirEntry;
pub use error::{Error, FrameError, ProtocolError};
pub use frame::{read_frame, Frame, HEADER_SIZE, NOFID, NOTAG};
pub use messages::*;
pub use server::{serve, Reply, Server};
pub use wire::Data;

/// A file identifier: the client's name for a file on the server.
pub type Fid = u32;

/// The server's unique identity of a file: its type (`QID_TYPE_*`), version, and path (unique
/// among the files of the tree, like an inode number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Qid {
    pub ty: u8,
    pub version: u32,
    pub path: u64,
}
