//! A blocking 9P2000.L client over a Unix stream socket.

use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::consts::VERSION;
use crate::dirent::DirEntry;
use crate::error::{Error, ProtocolError};
use crate::frame::{read_frame, Frame, HEADER_SIZE, NOFID, NOTAG};
use crate::messages::*;
use crate::sys;
use crate::wire::Data;
use crate::{Fid, Qid};

/// `ENOENT`, which a partial walk reports (same value on every Linux architecture).
const ENOENT: u32 = 2;

/// The most names one Twalk may carry.
const MAX_WALK_NAMES: usize = 16;

/// Bytes of an Rread/Rreaddir before its data: header and `count[4]`.
const READ_OVERHEAD: u32 = HEADER_SIZE + 4;

/// Bytes of a Twrite before its data: header, `fid[4] offset[8] count[4]`.
const WRITE_OVERHEAD: u32 = HEADER_SIZE + 16;

/// The tag of every request. One request is in flight at a time (the stream lock is held from
/// request to reply), so a single tag is unambiguous.
const REQUEST_TAG: u16 = 1;

/// A connected 9P2000.L client. Methods take `&self`; concurrent calls are serialized.
#[derive(Debug)]
pub struct Client {
    stream: Mutex<UnixStream>,
    msize: u32,
    fids: Mutex<FidPool>,
}

/// Fid numbers not in use: never-used ones from `next` up, released ones in `free`.
#[derive(Debug, Default)]
struct FidPool {
    next: Fid,
    free: Vec<Fid>,
}

impl FidPool {
    fn allocate(&mut self) -> Result<Fid, ProtocolError> {
        if let Some(fid) = self.free.pop() {
            return Ok(fid);
        }
        if self.next == NOFID {
            return Err(ProtocolError::FidsExhausted);
        }
        let fid = self.next;
        self.next += 1;
        Ok(fid)
    }

    fn release(&mut self, fid: Fid) {
        self.free.push(fid);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves no broken invariant in a fid pool or a socket that
    // the next request would not detect itself.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Client {
    /// Negotiates 9P2000.L with frames of at most `msize` bytes (the server may lower it).
    pub fn new(stream: UnixStream, msize: u32) -> Result<Client, Error> {
        let client = Client {
            stream: Mutex::new(stream),
            msize,
            fids: Mutex::default(),
        };
        let request = Tversion {
            msize,
            version: VERSION.to_vec(),
        };
        let reply: Rversion = client.exchange(NOTAG, request.into())?;
        if reply.version != VERSION {
            let version = String::from_utf8_lossy(&reply.version).into_owned();
            return Err(ProtocolError::VersionMismatch(version).into());
        }
        let msize = reply.msize.min(msize);
        if msize <= WRITE_OVERHEAD {
            return Err(ProtocolError::MsizeTooSmall(msize).into());
        }
        Ok(Client { msize, ..client })
    }

    /// The negotiated largest frame size.
    pub fn msize(&self) -> u32 {
        self.msize
    }

    /// Attaches a new fid to the root of tree `aname` as user `uname`/`n_uname`.
    pub fn attach(&self, uname: &[u8], aname: &[u8], n_uname: u32) -> Result<(Fid, Qid), Error> {
        self.with_new_fid(|fid| {
            let request = Tattach {
                fid,
                afid: NOFID,
                uname: uname.to_vec(),
                aname: aname.to_vec(),
                n_uname,
            };
            let reply: Rattach = self.call(request)?;
            Ok((fid, reply.qid))
        })
    }

    /// Walks from `fid` through `names` (each one path component) to a new fid, returning it
    /// with the qid of each name. A partial walk is `Err(Error::Remote(ENOENT))` and allocates
    /// no fid. Empty `names` clones `fid`.
    pub fn walk(&self, fid: Fid, names: &[&[u8]]) -> Result<(Fid, Vec<Qid>), Error> {
        self.with_new_fid(|newfid| {
            let mut chunks = names.chunks(MAX_WALK_NAMES);
            let first = chunks.next().unwrap_or_default();
            let mut qids = self.walk_once(fid, newfid, first)?;
            // Later chunks walk the new fid in place; if one fails, the new fid exists on the
            // server and must be clunked.
            for chunk in chunks {
                match self.walk_once(newfid, newfid, chunk) {
                    Ok(more) => qids.extend(more),
                    Err(e) => {
                        // The walk's error is the one to report; a failed clunk still frees
                        // the fid on the server.
                        let _ = self.call::<Rclunk>(Tclunk { fid: newfid });
                        return Err(e);
                    }
                }
            }
            Ok((newfid, qids))
        })
    }

    fn walk_once(&self, fid: Fid, newfid: Fid, names: &[&[u8]]) -> Result<Vec<Qid>, Error> {
        let wnames = names.iter().map(|name| name.to_vec()).collect();
        let reply: Rwalk = self.call(Twalk {
            fid,
            newfid,
            wnames,
        })?;
        match reply.wqids.len() {
            walked if walked == names.len() => Ok(reply.wqids),
            walked if walked < names.len() => Err(Error::Remote(ENOENT)),
            walked => Err(ProtocolError::OverlongWalk {
                requested: names.len(),
                walked,
            }
            .into()),
        }
    }

    /// Attributes of `fid`; `mask` is made of `GETATTR_*` bits.
    pub fn getattr(&self, fid: Fid, mask: u64) -> Result<Rgetattr, Error> {
        self.call(Tgetattr {
            fid,
            request_mask: mask,
        })
    }

    /// Changes the attributes of `request.fid` named by `request.valid` (`SETATTR_*` bits).
    pub fn setattr(&self, request: &Tsetattr) -> Result<(), Error> {
        self.call::<Rsetattr>(request.clone()).map(drop)
    }

    /// Opens `fid` with Linux open `flags`; returns its qid and iounit.
    pub fn lopen(&self, fid: Fid, flags: u32) -> Result<(Qid, u32), Error> {
        let reply: Rlopen = self.call(Tlopen { fid, flags })?;
        Ok((reply.qid, reply.iounit))
    }

    /// Opens the file `fid` names with Linux open `flags` and receives the host descriptor the
    /// server opened (the fd-donation extension, see the crate docs); `fid` is left unopened.
    /// Returns the qid, iounit and descriptor. A server without the extension answers
    /// `Error::Remote(EOPNOTSUPP)` (or `ENOSYS`); then [`Client::lopen`] is the way to open.
    pub fn lopenfd(&self, fid: Fid, flags: u32) -> Result<(Qid, u32, OwnedFd), Error> {
        let (reply, mut fds): (Rlopenfd, _) =
            self.exchange_with_fds(REQUEST_TAG, Tlopenfd { fid, flags }.into())?;
        match (fds.pop(), fds.len()) {
            (Some(fd), 0) => Ok((reply.qid, reply.iounit, fd)),
            (fd, others) => Err(ProtocolError::DonatedFds {
                expected: 1,
                got: others + usize::from(fd.is_some()),
            }
            .into()),
        }
    }

    /// Creates `name` in directory `fid` and opens it; `fid` then refers to the new file.
    /// Returns its qid and iounit.
    pub fn lcreate(
        &self,
        fid: Fid,
        name: &[u8],
        flags: u32,
        mode: u32,
        gid: u32,
    ) -> Result<(Qid, u32), Error> {
        let request = Tlcreate {
            fid,
            name: name.to_vec(),
            flags,
            mode,
            gid,
        };
        let reply: Rlcreate = self.call(request)?;
        Ok((reply.qid, reply.iounit))
    }

    /// Reads up to `count` bytes at `offset` (fewer if `count` exceeds what one frame carries).
    pub fn read(&self, fid: Fid, offset: u64, count: u32) -> Result<Vec<u8>, Error> {
        let count = count.min(self.msize - READ_OVERHEAD);
        let reply: Rread = self.call(Tread { fid, offset, count })?;
        check_len(count, reply.data)
    }

    /// Writes `data` at `offset`; returns how many bytes the server wrote (at most what one
    /// frame carries).
    pub fn write(&self, fid: Fid, offset: u64, data: &[u8]) -> Result<u32, Error> {
        let max = (self.msize - WRITE_OVERHEAD) as usize;
        let data = Data(data[..data.len().min(max)].to_vec());
        let reply: Rwrite = self.call(Twrite { fid, offset, data })?;
        Ok(reply.count)
    }

    /// Reads the entries of open directory `fid` after `offset` (0: from the start), packed
    /// in at most `count` bytes.
    pub fn readdir(&self, fid: Fid, offset: u64, count: u32) -> Result<Vec<DirEntry>, Error> {
        let count = count.min(self.msize - READ_OVERHEAD);
        let reply: Rreaddir = self.call(Treaddir { fid, offset, count })?;
        Ok(DirEntry::unpack(&check_len(count, reply.data)?)?)
    }

    /// The target of symlink `fid`.
    pub fn readlink(&self, fid: Fid) -> Result<Vec<u8>, Error> {
        let reply: Rreadlink = self.call(Treadlink { fid })?;
        Ok(reply.target)
    }

    /// Statistics of the file system holding `fid`.
    pub fn statfs(&self, fid: Fid) -> Result<Rstatfs, Error> {
        self.call(Tstatfs { fid })
    }

    /// Creates directory `name` in directory `dfid`.
    pub fn mkdir(&self, dfid: Fid, name: &[u8], mode: u32, gid: u32) -> Result<Qid, Error> {
        let reply: Rmkdir = self.call(Tmkdir {
            dfid,
            name: name.to_vec(),
            mode,
            gid,
        })?;
        Ok(reply.qid)
    }

    /// Creates symlink `name` -> `target` in directory `dfid`.
    pub fn symlink(&self, dfid: Fid, name: &[u8], target: &[u8], gid: u32) -> Result<Qid, Error> {
        let request = Tsymlink {
            fid: dfid,
            name: name.to_vec(),
            symtgt: target.to_vec(),
            gid,
        };
        let reply: Rsymlink = self.call(request)?;
        Ok(reply.qid)
    }

    /// Creates a device node, FIFO or socket `name` in directory `dfid`.
    pub fn mknod(
        &self,
        dfid: Fid,
        name: &[u8],
        mode: u32,
        major: u32,
        minor: u32,
        gid: u32,
    ) -> Result<Qid, Error> {
        let request = Tmknod {
            dfid,
            name: name.to_vec(),
            mode,
            major,
            minor,
            gid,
        };
        let reply: Rmknod = self.call(request)?;
        Ok(reply.qid)
    }

    /// Tlcreate with the new file's owner (the owned-creation extension, see the crate docs):
    /// `request.fid` then refers to the new file, opened. Returns its qid and iounit.
    pub fn ucreate(&self, request: Tucreate) -> Result<(Qid, u32), Error> {
        let reply: Rucreate = self.call(request)?;
        Ok((reply.qid, reply.iounit))
    }

    /// Tmkdir with the new directory's owner.
    pub fn umkdir(&self, request: Tumkdir) -> Result<Qid, Error> {
        let reply: Rumkdir = self.call(request)?;
        Ok(reply.qid)
    }

    /// Tsymlink with the new symlink's owner.
    pub fn usymlink(&self, request: Tusymlink) -> Result<Qid, Error> {
        let reply: Rusymlink = self.call(request)?;
        Ok(reply.qid)
    }

    /// Tmknod with the new node's owner.
    pub fn umknod(&self, request: Tumknod) -> Result<Qid, Error> {
        let reply: Rumknod = self.call(request)?;
        Ok(reply.qid)
    }

    /// Creates hard link `name` in directory `dfid` to the file `fid`.
    pub fn link(&self, dfid: Fid, fid: Fid, name: &[u8]) -> Result<(), Error> {
        self.call::<Rlink>(Tlink {
            dfid,
            fid,
            name: name.to_vec(),
        })
        .map(drop)
    }

    /// Removes `name` from directory `dfid`; `flags` is 0 or `AT_REMOVEDIR`.
    pub fn unlinkat(&self, dfid: Fid, name: &[u8], flags: u32) -> Result<(), Error> {
        self.call::<Runlinkat>(Tunlinkat {
            dirfd: dfid,
            name: name.to_vec(),
            flags,
        })
        .map(drop)
    }

    /// Renames `old_name` in `old_dfid` to `new_name` in `new_dfid`.
    pub fn renameat(
        &self,
        old_dfid: Fid,
        old_name: &[u8],
        new_dfid: Fid,
        new_name: &[u8],
    ) -> Result<(), Error> {
        let request = Trenameat {
            olddirfid: old_dfid,
            oldname: old_name.to_vec(),
            newdirfid: new_dfid,
            newname: new_name.to_vec(),
        };
        self.call::<Rrenameat>(request).map(drop)
    }

    /// Moves the file `fid` to `name` in directory `dfid` (Trename).
    pub fn rename(&self, fid: Fid, dfid: Fid, name: &[u8]) -> Result<(), Error> {
        self.call::<Rrename>(Trename {
            fid,
            dfid,
            name: name.to_vec(),
        })
        .map(drop)
    }

    /// The value of extended attribute `name` of `fid` (an empty name: the NUL-terminated
    /// list of names), read through a fid of its own that is clunked again.
    pub fn get_xattr(&self, fid: Fid, name: &[u8]) -> Result<Vec<u8>, Error> {
        self.with_new_fid(|newfid| {
            let reply: Rxattrwalk = self.call(Txattrwalk {
                fid,
                newfid,
                name: name.to_vec(),
            })?;
            let mut value = Vec::new();
            let read = (|| {
                while (value.len() as u64) < reply.size {
                    let chunk = self.read(newfid, value.len() as u64, u32::MAX)?;
                    if chunk.is_empty() {
                        break;
                    }
                    value.extend(chunk);
                }
                Ok::<(), Error>(())
            })();
            self.clunk(newfid)?;
            read.map(|()| value)
        })
    }

    /// Sets extended attribute `name` of `fid` to `value` (`flags`: `XATTR_CREATE` or
    /// `XATTR_REPLACE`), through a clone of `fid` that Txattrcreate turns into a handle; the
    /// server sets the attribute when it is clunked. An empty value with `XATTR_REPLACE`
    /// removes the attribute.
    pub fn set_xattr(&self, fid: Fid, name: &[u8], value: &[u8], flags: u32) -> Result<(), Error> {
        let (handle, _) = self.walk(fid, &[])?;
        let written = self
            .call::<Rxattrcreate>(Txattrcreate {
                fid: handle,
                name: name.to_vec(),
                attr_size: value.len() as u64,
                flags,
            })
            .and_then(|_| {
                let mut done = 0;
                while done < value.len() {
                    let n = self.write(handle, done as u64, &value[done..])?;
                    if n == 0 {
                        return Err(ProtocolError::StalledWrite(value.len() - done).into());
                    }
                    done += n as usize;
                }
                Ok(())
            });
        // The clunk sets the attribute, and reports whether that worked.
        let set = self.clunk(handle);
        written.and(set)
    }

    /// Flushes open file `fid` to stable storage (only its data if `datasync`).
    pub fn fsync(&self, fid: Fid, datasync: bool) -> Result<(), Error> {
        self.call::<Rfsync>(Tfsync {
            fid,
            datasync: u32::from(datasync),
        })
        .map(drop)
    }

    /// Forgets `fid`. The fid is released even if the server reports an error, as the
    /// protocol requires of Tclunk.
    pub fn clunk(&self, fid: Fid) -> Result<(), Error> {
        let result = self.call::<Rclunk>(Tclunk { fid });
        lock(&self.fids).release(fid);
        result.map(drop)
    }

    /// Runs `f` with a freshly allocated fid, releasing it again if `f` fails.
    fn with_new_fid<T>(&self, f: impl FnOnce(Fid) -> Result<T, Error>) -> Result<T, Error> {
        let fid = lock(&self.fids).allocate()?;
        let result = f(fid);
        if result.is_err() {
            lock(&self.fids).release(fid);
        }
        result
    }

    fn call<R: TryFrom<Message, Error = Message>>(
        &self,
        request: impl Into<Message>,
    ) -> Result<R, Error> {
        self.exchange(REQUEST_TAG, request.into())
    }

    /// Sends one request and waits for its reply, turning Rlerror into [`Error::Remote`]. A
    /// reply that carries descriptors is a protocol error (they are closed).
    fn exchange<R: TryFrom<Message, Error = Message>>(
        &self,
        tag: u16,
        request: Message,
    ) -> Result<R, Error> {
        let (reply, fds) = self.exchange_with_fds(tag, request)?;
        if !fds.is_empty() {
            return Err(ProtocolError::DonatedFds {
                expected: 0,
                got: fds.len(),
            }
            .into());
        }
        Ok(reply)
    }

    /// [`Client::exchange`], also returning the descriptors that came with the reply.
    fn exchange_with_fds<R: TryFrom<Message, Error = Message>>(
        &self,
        tag: u16,
        request: Message,
    ) -> Result<(R, Vec<OwnedFd>), Error> {
        let request = Frame {
            tag,
            message: request,
        }
        .encode(self.msize)?;
        let (reply, fds) = {
            let mut stream = lock(&self.stream);
            stream.write_all(&request)?;
            let mut receiver = FdReceiver {
                stream: &stream,
                fds: Vec::new(),
            };
            let reply = read_frame(&mut receiver, self.msize)?
                .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
            (reply, receiver.fds)
        };
        let reply = Frame::decode(&reply, self.msize).map_err(|e| e.source)?;
        if reply.tag != tag {
            return Err(ProtocolError::TagMismatch {
                expected: tag,
                got: reply.tag,
            }
            .into());
        }
        match reply.message {
            Message::Rlerror(error) => Err(Error::Remote(error.ecode)),
            other => R::try_from(other).map(|reply| (reply, fds)).map_err(|got| {
                let expected = std::any::type_name::<R>().rsplit("::").next().unwrap_or("");
                ProtocolError::UnexpectedReply {
                    expected,
                    got: got.name(),
                }
                .into()
            }),
        }
    }
}

/// Reads the reply stream with `recvmsg`, keeping the descriptors that arrive with the bytes
/// (a plain `read` would make the kernel close them).
struct FdReceiver<'a> {
    stream: &'a UnixStream,
    fds: Vec<OwnedFd>,
}

impl Read for FdReceiver<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        sys::recv_with_fds(self.stream, buf, &mut self.fds)
    }
}

/// Checks that a reply carries no more than the `requested` bytes.
fn check_len(requested: u32, data: Data) -> Result<Vec<u8>, Error> {
    if data.0.len() > requested as usize {
        return Err(ProtocolError::OverlongReply {
            requested,
            returned: data.0.len(),
        }
        .into());
    }
    Ok(data.0)
}
