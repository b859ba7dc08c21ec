//! AF_UNIX sockets inside the Sentry: stream, datagram and seqpacket sockets, named in the
//! sandbox's abstract namespace or by socket files in the VFS, passing open files
//! (SCM_RIGHTS) and credentials (SCM_CREDENTIALS) along with their data.
//!
//! The kernel keeps the descriptor bookkeeping: it hands in and gets back `Arc<OpenFile>`s,
//! and it supplies the calling task's identity ([`Ucred`]) and its way of sleeping
//! ([`crate::Blocker`]).

mod address;
mod endpoint;
mod names;
mod options;
mod queue;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use abi::{Errno, Stat};
use vfs::{FileOps, OpenFile};
use waiter::{WaitQueue, Waiter};

pub use address::UnixAddress;
pub use endpoint::RecvFlags;
pub use names::{AbstractNames, Namespace};

use crate::Blocker;
use endpoint::Endpoint;
use options::{bool_bytes, buffer_bytes, buffer_size, int_bytes, int_value};

/// The device number fstat reports for sockets (an anonymous sockfs superblock).
const SOCKFS_DEV: u64 = 0x08;

/// The socket types AF_UNIX has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SocketType {
    Stream,
    Datagram,
    SeqPacket,
}

impl SocketType {
    /// The type of a socket(2) `type` argument (flags removed). SOCK_RAW is a datagram socket
    /// to AF_UNIX, as on Linux; unknown types are `None` (ESOCKTNOSUPPORT).
    pub fn from_linux(ty: i32) -> Option<SocketType> {
        match ty {
            libc::SOCK_STREAM => Some(SocketType::Stream),
            libc::SOCK_DGRAM | libc::SOCK_RAW => Some(SocketType::Datagram),
            libc::SOCK_SEQPACKET => Some(SocketType::SeqPacket),
            _ => None,
        }
    }

    pub fn to_linux(self) -> i32 {
        match self {
            SocketType::Stream => libc::SOCK_STREAM,
            SocketType::Datagram => libc::SOCK_DGRAM,
            SocketType::SeqPacket => libc::SOCK_SEQPACKET,
        }
    }
}

/// `struct ucred`: a process's identity as SO_PEERCRED and SCM_CREDENTIALS carry it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ucred {
    pub pid: i32,
    pub uid: u32,
    pub gid: u32,
}

impl Ucred {
    /// What SO_PEERCRED gives for a socket without a peer.
    pub const NONE: Ucred = Ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };

    pub fn to_bytes(self) -> Vec<u8> {
        let mut out = self.pid.to_ne_bytes().to_vec();
        out.extend_from_slice(&self.uid.to_ne_bytes());
        out.extend_from_slice(&self.gid.to_ne_bytes());
        out
    }

    /// Parses a `struct ucred` (12 bytes); EINVAL if shorter.
    pub fn from_bytes(bytes: &[u8]) -> Result<Ucred, Errno> {
        let word = |at: usize| -> Result<[u8; 4], Errno> {
            let b = bytes.get(at..at + 4).ok_or(Errno::EINVAL)?;
            Ok([b[0], b[1], b[2], b[3]])
        };
        Ok(Ucred {
            pid: i32::from_ne_bytes(word(0)?),
            uid: u32::from_ne_bytes(word(4)?),
            gid: u32::from_ne_bytes(word(8)?),
        })
    }
}

/// One send: the data, the files to pass, the sender's credentials, and where to (a datagram
/// socket's sendto; `None` for the connected peer).
pub struct SendMessage<'a> {
    pub data: &'a [u8],
    pub rights: Vec<Arc<OpenFile>>,
    pub creds: Ucred,
    pub to: Option<UnixAddress>,
}

/// What a receive got.
#[derive(Default)]
pub struct Received {
    pub data: Vec<u8>,
    /// The full size of the datagram (MSG_TRUNC's answer); the data's length for streams.
    pub len: usize,
    /// The datagram was longer than asked for (MSG_TRUNC in msg_flags).
    pub truncated: bool,
    /// Files passed with the data (SCM_RIGHTS).
    pub rights: Vec<Arc<OpenFile>>,
    /// The sender's credentials, when SO_PASSCRED is on (SCM_CREDENTIALS).
    pub creds: Option<Ucred>,
    pub from: UnixAddress,
}

impl Received {
    /// Appends a later part of a stream read (MSG_WAITALL).
    fn merge(&mut self, part: Received) {
        self.data.extend_from_slice(&part.data);
        if self.rights.is_empty() {
            self.rights = part.rights;
        }
        if self.creds.is_none() {
            self.creds = part.creds;
        }
    }
}

/// Waits for nothing, every would-block is EAGAIN: read(2) and write(2) through the generic
/// file paths, which do their own waiting on the socket's wait queue (and the unit tests' calls
/// that must not sleep).
struct NoWait;

impl Blocker for NoWait {
    fn may_block(&self) -> bool {
        false
    }
    fn waiter(&self) -> Arc<Waiter> {
        Waiter::new()
    }
    fn sleep(&mut self) -> Result<(), Errno> {
        Err(Errno::EAGAIN)
    }
}

/// An AF_UNIX socket as an open file's operations. Closing its last file closes the socket.
pub struct UnixSocket {
    endpoint: Arc<Endpoint>,
}

impl UnixSocket {
    fn file(endpoint: Arc<Endpoint>, flags: i32) -> Arc<OpenFile> {
        OpenFile::anonymous(
            Box::new(UnixSocket { endpoint }),
            libc::O_RDWR | (flags & libc::O_NONBLOCK),
        )
    }

    /// socket(2): a new unbound socket created by `owner`; O_NONBLOCK of `flags` is kept.
    pub fn new_file(ty: SocketType, owner: Ucred, flags: i32) -> Arc<OpenFile> {
        Self::file(Endpoint::new(ty, owner), flags)
    }

    /// socketpair(2): two sockets connected to each other.
    pub fn pair(ty: SocketType, owner: Ucred, flags: i32) -> (Arc<OpenFile>, Arc<OpenFile>) {
        let (a, b) = Endpoint::pair(ty, owner);
        (Self::file(a, flags), Self::file(b, flags))
    }

    /// The socket behind `file`, if it is one (ENOTSOCK otherwise, to the caller).
    pub fn of(file: &OpenFile) -> Option<&UnixSocket> {
        file.ops().as_any().downcast_ref::<UnixSocket>()
    }

    pub fn socket_type(&self) -> SocketType {
        self.endpoint.ty
    }

    pub fn bind(&self, ns: &Namespace, address: &UnixAddress) -> Result<(), Errno> {
        self.endpoint.bind(ns, address)
    }

    /// listen(2); `creds` become what connecting sockets see as SO_PEERCRED.
    pub fn listen(&self, backlog: i32, creds: Ucred) -> Result<(), Errno> {
        self.endpoint.listen(backlog, creds)
    }

    /// connect(2); `None` is AF_UNSPEC (a datagram socket forgets its peer).
    pub fn connect(
        &self,
        ns: &Namespace,
        address: Option<&UnixAddress>,
        creds: Ucred,
        blocker: &mut dyn Blocker,
    ) -> Result<(), Errno> {
        self.endpoint.connect(ns, address, creds, blocker)
    }

    /// accept(2): the next connection as a new file (O_NONBLOCK from `flags`) and the address
    /// of its peer.
    pub fn accept(
        &self,
        flags: i32,
        blocker: &mut dyn Blocker,
    ) -> Result<(Arc<OpenFile>, UnixAddress), Errno> {
        let server = self.endpoint.accept(blocker)?;
        let peer = server.peer_address().unwrap_or_default();
        Ok((Self::file(server, flags), peer))
    }

    pub fn local_address(&self) -> UnixAddress {
        self.endpoint.address()
    }

    /// getpeername(2): ENOTCONN without a peer.
    pub fn peer_address(&self) -> Result<UnixAddress, Errno> {
        self.endpoint.peer_address()
    }

    pub fn shutdown(&self, how: i32) -> Result<(), Errno> {
        self.endpoint.shutdown(how)
    }

    /// send/sendto/sendmsg: the bytes that went. `ns` resolves a datagram's destination.
    pub fn send(
        &self,
        ns: Option<&Namespace>,
        message: SendMessage<'_>,
        blocker: &mut dyn Blocker,
    ) -> Result<usize, Errno> {
        self.endpoint.send(ns, message, blocker)
    }

    /// recv/recvfrom/recvmsg of up to `want` bytes.
    pub fn recv(
        &self,
        want: usize,
        flags: RecvFlags,
        blocker: &mut dyn Blocker,
    ) -> Result<Received, Errno> {
        self.endpoint.recv(want, flags, blocker)
    }

    /// SO_RCVTIMEO: how long a receive (or accept) may wait; `None` forever.
    pub fn receive_timeout(&self) -> Option<Duration> {
        self.endpoint.with_options(|o| o.rcvtimeo)
    }

    /// SO_SNDTIMEO: how long a send (or connect) may wait; `None` forever.
    pub fn send_timeout(&self) -> Option<Duration> {
        self.endpoint.with_options(|o| o.sndtimeo)
    }

    /// getsockopt(2): the option's value as bytes (the caller truncates to the guest's length).
    pub fn getsockopt(&self, level: i32, name: i32) -> Result<Vec<u8>, Errno> {
        if level != libc::SOL_SOCKET {
            return Err(Errno::EOPNOTSUPP);
        }
        let endpoint = &self.endpoint;
        Ok(match name {
            libc::SO_TYPE => int_bytes(endpoint.ty.to_linux()),
            libc::SO_DOMAIN => int_bytes(libc::AF_UNIX),
            libc::SO_PROTOCOL => int_bytes(0),
            libc::SO_ERROR => int_bytes(endpoint.take_socket_error().map_or(0, |e| e.0)),
            libc::SO_ACCEPTCONN => bool_bytes(endpoint.is_listening()),
            libc::SO_PEERCRED => endpoint.peer_cred().unwrap_or(Ucred::NONE).to_bytes(),
            _ => endpoint.with_options(|o| -> Result<Vec<u8>, Errno> {
                Ok(match name {
                    libc::SO_SNDBUF => buffer_bytes(o.sndbuf),
                    libc::SO_RCVBUF => buffer_bytes(o.rcvbuf),
                    libc::SO_RCVTIMEO => options::timeout_bytes(o.rcvtimeo),
                    libc::SO_SNDTIMEO => options::timeout_bytes(o.sndtimeo),
                    libc::SO_PASSCRED => bool_bytes(o.passcred),
                    libc::SO_REUSEADDR => bool_bytes(o.reuseaddr),
                    libc::SO_KEEPALIVE => bool_bytes(o.keepalive),
                    libc::SO_BROADCAST => bool_bytes(o.broadcast),
                    libc::SO_OOBINLINE => bool_bytes(o.oobinline),
                    libc::SO_LINGER => options::linger_bytes(o.linger),
                    libc::SO_SNDLOWAT | libc::SO_RCVLOWAT => int_bytes(1),
                    _ => return Err(Errno::ENOPROTOOPT),
                })
            })?,
        })
    }

    /// setsockopt(2) with the option's bytes.
    pub fn setsockopt(&self, level: i32, name: i32, value: &[u8]) -> Result<(), Errno> {
        if level != libc::SOL_SOCKET {
            return Err(Errno::EOPNOTSUPP);
        }
        match name {
            libc::SO_RCVTIMEO | libc::SO_SNDTIMEO => {
                let timeout = options::timeout(value)?;
                self.endpoint.with_options(|o| {
                    if name == libc::SO_RCVTIMEO {
                        o.rcvtimeo = timeout;
                    } else {
                        o.sndtimeo = timeout;
                    }
                });
            }
            libc::SO_LINGER => {
                let linger = options::linger(value)?;
                self.endpoint.with_options(|o| o.linger = linger);
            }
            libc::SO_SNDBUF | libc::SO_RCVBUF => {
                let size = buffer_size(value, name == libc::SO_SNDBUF)?;
                self.endpoint.with_options(|o| {
                    if name == libc::SO_SNDBUF {
                        o.sndbuf = size;
                    } else {
                        o.rcvbuf = size;
                    }
                });
            }
            libc::SO_PASSCRED
            | libc::SO_REUSEADDR
            | libc::SO_KEEPALIVE
            | libc::SO_BROADCAST
            | libc::SO_OOBINLINE => {
                let on = int_value(value)? != 0;
                self.endpoint.with_options(|o| {
                    let flag = match name {
                        libc::SO_PASSCRED => &mut o.passcred,
                        libc::SO_REUSEADDR => &mut o.reuseaddr,
                        libc::SO_KEEPALIVE => &mut o.keepalive,
                        libc::SO_BROADCAST => &mut o.broadcast,
                        _ => &mut o.oobinline,
                    };
                    *flag = on;
                });
            }
            _ => return Err(Errno::ENOPROTOOPT),
        }
        Ok(())
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        self.endpoint.close(false);
    }
}

impl FileOps for UnixSocket {
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(Stat {
            st_dev: SOCKFS_DEV,
            st_ino: self.endpoint.ino,
            st_nlink: 1,
            st_mode: libc::S_IFSOCK | 0o777,
            st_blksize: 4096,
            ..Stat::default()
        })
    }

    fn read(&self, _pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let got = self
            .endpoint
            .recv(buf.len(), RecvFlags::default(), &mut NoWait)?;
        buf[..got.data.len()].copy_from_slice(&got.data);
        Ok(got.data.len())
    }

    fn write(&self, _pos: &mut u64, buf: &[u8], _append: bool) -> Result<usize, Errno> {
        let message = SendMessage {
            data: buf,
            rights: Vec::new(),
            creds: self.endpoint.owner,
            to: None,
        };
        self.endpoint.send(None, message, &mut NoWait)
    }

    fn seek(&self, _pos: &mut u64, _offset: i64, _whence: i32) -> Result<u64, Errno> {
        Err(Errno::ESPIPE)
    }

    fn pread(&self, _offset: u64, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::ESPIPE)
    }

    fn pwrite(&self, _offset: u64, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::ESPIPE)
    }

    fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> Result<u64, Errno> {
        vfs::queued_bytes_ioctl(cmd, arg, || self.endpoint.readable_bytes())
    }

    fn readiness(&self, mask: u32) -> u32 {
        self.endpoint.readiness(mask)
    }

    fn wait_queue(&self) -> Option<Arc<WaitQueue>> {
        Some(Arc::clone(&self.endpoint.events))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
