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
#![forbid(unsafe_code)]

mod client;
mod consts;
mod dirent;
mod error;
mod frame;
mod messages;
mod server;
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
