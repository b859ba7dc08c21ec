//! Every 9P2000.L message and rvisor extension (see the crate docs), one struct each, with its
//! codec derived from the field list.
//!
//! Field names and order follow the protocol description in the Linux kernel's
//! `Documentation/filesystems/9p.rst` and diod's `protocol.md`.

use crate::error::ProtocolError;
use crate::wire::{Data, Reader, Wire};
use crate::Qid;

/// Declares the message structs, their [`Wire`] codecs, and the [`Message`] enum that tags each
/// one with its type number.
macro_rules! messages {
    ($( $(#[$doc:meta])* $name:ident = $type_number:literal { $($field:ident : $field_type:ty),* $(,)? } )*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Debug, Default, PartialEq, Eq)]
            pub struct $name { $(pub $field: $field_type),* }

            impl Wire for $name {
                #[allow(unused_variables)] // bodiless messages encode nothing
                fn encode(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
                    $(self.$field.encode(out)?;)*
                    Ok(())
                }
                #[allow(unused_variables)]
                fn decode(input: &mut Reader<'_>) -> Result<Self, ProtocolError> {
                    Ok($name { $($field: Wire::decode(input)?),* })
                }
            }

            impl From<$name> for Message {
                fn from(message: $name) -> Message {
                    Message::$name(message)
                }
            }

            impl TryFrom<Message> for $name {
                type Error = Message;
                /// Unwraps the message if it is this type; gives it back otherwise.
                fn try_from(message: Message) -> Result<$name, Message> {
                    match message {
                        Message::$name(inner) => Ok(inner),
                        other => Err(other),
                    }
                }
            }

            #[cfg(test)]
            impl crate::testing::Sample for $name {
                #[allow(unused_variables)]
                fn sample(rng: &mut dyn proptest::prelude::Rng) -> Self {
                    $name { $($field: crate::testing::Sample::sample(rng)),* }
                }
            }
        )*

        /// Any 9P2000.L message or rvisor extension message.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum Message { $($name($name)),* }

        impl Message {
            /// Every message type number, in declaration order.
            pub const TYPE_NUMBERS: &'static [u8] = &[$($type_number),*];

            /// The type number that goes in the frame header.
            pub fn type_number(&self) -> u8 {
                match self { $(Message::$name(_) => $type_number),* }
            }

            /// The message name, for logs and errors.
            pub fn name(&self) -> &'static str {
                match self { $(Message::$name(_) => stringify!($name)),* }
            }

            /// Appends the message body (everything after the frame header).
            pub fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), ProtocolError> {
                match self { $(Message::$name(inner) => inner.encode(out)),* }
            }

            /// Decodes a body of the given type; the whole body must be consumed.
            pub fn decode_body(type_number: u8, body: &[u8]) -> Result<Message, ProtocolError> {
                let mut input = Reader::new(body);
                let message = match type_number {
                    $($type_number => Message::$name($name::decode(&mut input)?),)*
                    unknown => return Err(ProtocolError::UnknownType(unknown)),
                };
                match input.remaining() {
                    0 => Ok(message),
                    trailing => Err(ProtocolError::TrailingBytes(trailing)),
                }
            }

            #[cfg(test)]
            pub(crate) fn sample_of_type(type_number: u8, rng: &mut dyn proptest::prelude::Rng) -> Option<Message> {
                match type_number {
                    $($type_number => Some(Message::$name(crate::testing::Sample::sample(rng))),)*
                    _ => None,
                }
            }
        }
    };
}

messages! {
    /// An error reply: the Linux errno of a failed request.
    Rlerror = 7 { ecode: u32 }
    /// Asks for file system statistics of the file system holding `fid`.
    Tstatfs = 8 { fid: u32 }
    /// `statfs(2)` results.
    Rstatfs = 9 { ty: u32, bsize: u32, blocks: u64, bfree: u64, bavail: u64, files: u64,
                  ffree: u64, fsid: u64, namelen: u32 }
    /// Opens `fid` with Linux open flags.
    Tlopen = 12 { fid: u32, flags: u32 }
    /// The opened file's qid and the largest I/O the server does at once (0: no hint).
    Rlopen = 13 { qid: Qid, iounit: u32 }
    /// Creates and opens `name` in directory `fid`; `fid` then refers to the new file.
    Tlcreate = 14 { fid: u32, name: Vec<u8>, flags: u32, mode: u32, gid: u32 }
    Rlcreate = 15 { qid: Qid, iounit: u32 }
    /// Creates symlink `name` -> `symtgt` in directory `fid`.
    Tsymlink = 16 { fid: u32, name: Vec<u8>, symtgt: Vec<u8>, gid: u32 }
    Rsymlink = 17 { qid: Qid }
    /// Creates a device node, FIFO or socket `name` in directory `dfid`.
    Tmknod = 18 { dfid: u32, name: Vec<u8>, mode: u32, major: u32, minor: u32, gid: u32 }
    Rmknod = 19 { qid: Qid }
    /// Moves `fid` to `name` in directory `dfid`.
    Trename = 20 { fid: u32, dfid: u32, name: Vec<u8> }
    Rrename = 21 {}
    /// Reads the target of symlink `fid`.
    Treadlink = 22 { fid: u32 }
    Rreadlink = 23 { target: Vec<u8> }
    /// Asks for the attributes of `fid` named by the `GETATTR_*` bits of `request_mask`.
    Tgetattr = 24 { fid: u32, request_mask: u64 }
    /// Attributes; `valid` says which fields are filled in.
    Rgetattr = 25 { valid: u64, qid: Qid, mode: u32, uid: u32, gid: u32, nlink: u64, rdev: u64,
                    size: u64, blksize: u64, blocks: u64, atime_sec: u64, atime_nsec: u64,
                    mtime_sec: u64, mtime_nsec: u64, ctime_sec: u64, ctime_nsec: u64,
                    btime_sec: u64, btime_nsec: u64, gen: u64, data_version: u64 }
    /// Changes the attributes of `fid` named by the `SETATTR_*` bits of `valid`.
    Tsetattr = 26 { fid: u32, valid: u32, mode: u32, uid: u32, gid: u32, size: u64,
                    atime_sec: u64, atime_nsec: u64, mtime_sec: u64, mtime_nsec: u64 }
    Rsetattr = 27 {}
    /// Prepares `newfid` to read extended attribute `name` of `fid` (empty name: list them).
    Txattrwalk = 30 { fid: u32, newfid: u32, name: Vec<u8> }
    Rxattrwalk = 31 { size: u64 }
    /// Turns `fid` into a handle that sets extended attribute `name` when written and clunked.
    Txattrcreate = 32 { fid: u32, name: Vec<u8>, attr_size: u64, flags: u32 }
    Rxattrcreate = 33 {}
    /// Reads directory entries of open directory `fid`, resuming after `offset`.
    Treaddir = 40 { fid: u32, offset: u64, count: u32 }
    /// Packed directory entries (see `DirEntry`).
    Rreaddir = 41 { data: Data }
    /// Flushes `fid` to stable storage (`datasync` != 0: data only).
    Tfsync = 50 { fid: u32, datasync: u32 }
    Rfsync = 51 {}
    /// Takes or releases a POSIX byte-range lock.
    Tlock = 52 { fid: u32, ty: u8, flags: u32, start: u64, length: u64, proc_id: u32,
                 client_id: Vec<u8> }
    Rlock = 53 { status: u8 }
    /// Tests for a conflicting POSIX byte-range lock.
    Tgetlock = 54 { fid: u32, ty: u8, start: u64, length: u64, proc_id: u32, client_id: Vec<u8> }
    Rgetlock = 55 { ty: u8, start: u64, length: u64, proc_id: u32, client_id: Vec<u8> }
    /// Creates hard link `name` in directory `dfid` to file `fid`.
    Tlink = 70 { dfid: u32, fid: u32, name: Vec<u8> }
    Rlink = 71 {}
    /// Creates directory `name` in directory `dfid`.
    Tmkdir = 72 { dfid: u32, name: Vec<u8>, mode: u32, gid: u32 }
    Rmkdir = 73 { qid: Qid }
    /// Renames `oldname` in `olddirfid` to `newname` in `newdirfid`.
    Trenameat = 74 { olddirfid: u32, oldname: Vec<u8>, newdirfid: u32, newname: Vec<u8> }
    Rrenameat = 75 {}
    /// Removes `name` from directory `dirfd` (`flags`: `AT_REMOVEDIR` for a directory).
    Tunlinkat = 76 { dirfd: u32, name: Vec<u8>, flags: u32 }
    Runlinkat = 77 {}
    /// Negotiates the largest frame size and the protocol version.
    Tversion = 100 { msize: u32, version: Vec<u8> }
    Rversion = 101 { msize: u32, version: Vec<u8> }
    /// Opens an authentication channel on `afid`.
    Tauth = 102 { afid: u32, uname: Vec<u8>, aname: Vec<u8>, n_uname: u32 }
    Rauth = 103 { aqid: Qid }
    /// Binds `fid` to the root of the tree `aname` for user `n_uname`.
    Tattach = 104 { fid: u32, afid: u32, uname: Vec<u8>, aname: Vec<u8>, n_uname: u32 }
    Rattach = 105 { qid: Qid }
    /// Aborts the request with tag `oldtag`.
    Tflush = 108 { oldtag: u16 }
    Rflush = 109 {}
    /// Walks from `fid` through `wnames` to `newfid`.
    Twalk = 110 { fid: u32, newfid: u32, wnames: Vec<Vec<u8>> }
    /// One qid per name walked; fewer than asked means the walk stopped early.
    Rwalk = 111 { wqids: Vec<Qid> }
    /// Reads up to `count` bytes of open file `fid` at `offset`.
    Tread = 116 { fid: u32, offset: u64, count: u32 }
    Rread = 117 { data: Data }
    /// Writes `data` to open file `fid` at `offset`.
    Twrite = 118 { fid: u32, offset: u64, data: Data }
    Rwrite = 119 { count: u32 }
    /// Forgets `fid`.
    Tclunk = 120 { fid: u32 }
    Rclunk = 121 {}
    /// Removes the file `fid` names, then forgets `fid`.
    Tremove = 122 { fid: u32 }
    Rremove = 123 {}

    // rvisor extensions (see the crate docs): type numbers from 200 up, outside every 9P
    // variant's range.
    /// Opens the file `fid` names with Linux open `flags` and donates the opened host
    /// descriptor to the client; `fid` itself is left as it was (not opened).
    Tlopenfd = 200 { fid: u32, flags: u32 }
    /// The opened file's qid and iounit, like Rlopen; the frame carries exactly one descriptor
    /// in `SCM_RIGHTS` ancillary data.
    Rlopenfd = 201 { qid: Qid, iounit: u32 }
    /// Tlcreate, the new file owned by `uid` (and `gid`) from the start.
    Tucreate = 202 { fid: u32, name: Vec<u8>, flags: u32, mode: u32, gid: u32, uid: u32 }
    Rucreate = 203 { qid: Qid, iounit: u32 }
    /// Tmkdir, the new directory owned by `uid` (and `gid`) from the start.
    Tumkdir = 204 { dfid: u32, name: Vec<u8>, mode: u32, gid: u32, uid: u32 }
    Rumkdir = 205 { qid: Qid }
    /// Tsymlink, the new symlink owned by `uid` (and `gid`) from the start.
    Tusymlink = 206 { fid: u32, name: Vec<u8>, symtgt: Vec<u8>, gid: u32, uid: u32 }
    Rusymlink = 207 { qid: Qid }
    /// Tmknod, the new node owned by `uid` (and `gid`) from the start.
    Tumknod = 208 { dfid: u32, name: Vec<u8>, mode: u32, major: u32, minor: u32, gid: u32,
                    uid: u32 }
    Rumknod = 209 { qid: Qid }
}
