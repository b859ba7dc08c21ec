//! The server side: a [`Server`] answers requests; [`serve`] runs the frame loop.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use crate::error::{Error, ProtocolError};
use crate::frame::{read_frame, Frame, HEADER_SIZE};
use crate::messages::*;
use crate::sys;

/// Linux errno values the loop answers with itself (same on every Linux architecture).
const EINVAL: u32 = 22;
const EMSGSIZE: u32 = 90;
const EOPNOTSUPP: u32 = 95;

/// The `msize` assumed until Tversion negotiates one: enough for any Tversion.
const PRE_VERSION_MSIZE: u32 = 8192;

/// The result of one request: the reply, or a Linux errno sent back as Rlerror.
pub type Reply<R> = Result<R, u32>;

/// Answers 9P2000.L requests, one method per T message. The defaults answer `EOPNOTSUPP`, so
/// a server implements only what it supports.
pub trait Server {
    /// Negotiates the version. The loop bounds later frames by the returned `msize`, so it
    /// must not exceed the client's.
    fn version(&mut self, request: &Tversion) -> Reply<Rversion>;
    fn auth(&mut self, _: &Tauth) -> Reply<Rauth> {
        Err(EOPNOTSUPP)
    }
    fn attach(&mut self, _: &Tattach) -> Reply<Rattach> {
        Err(EOPNOTSUPP)
    }
    /// Every request is answered before the next is read, so by default there is nothing
    /// left to abort.
    fn flush(&mut self, _: &Tflush) -> Reply<Rflush> {
        Ok(Rflush {})
    }
    fn walk(&mut self, _: &Twalk) -> Reply<Rwalk> {
        Err(EOPNOTSUPP)
    }
    fn lopen(&mut self, _: &Tlopen) -> Reply<Rlopen> {
        Err(EOPNOTSUPP)
    }
    fn lcreate(&mut self, _: &Tlcreate) -> Reply<Rlcreate> {
        Err(EOPNOTSUPP)
    }
    fn read(&mut self, _: &Tread) -> Reply<Rread> {
        Err(EOPNOTSUPP)
    }
    fn write(&mut self, _: &Twrite) -> Reply<Rwrite> {
        Err(EOPNOTSUPP)
    }
    fn clunk(&mut self, _: &Tclunk) -> Reply<Rclunk> {
        Err(EOPNOTSUPP)
    }
    fn remove(&mut self, _: &Tremove) -> Reply<Rremove> {
        Err(EOPNOTSUPP)
    }
    fn getattr(&mut self, _: &Tgetattr) -> Reply<Rgetattr> {
        Err(EOPNOTSUPP)
    }
    fn setattr(&mut self, _: &Tsetattr) -> Reply<Rsetattr> {
        Err(EOPNOTSUPP)
    }
    fn readdir(&mut self, _: &Treaddir) -> Reply<Rreaddir> {
        Err(EOPNOTSUPP)
    }
    fn fsync(&mut self, _: &Tfsync) -> Reply<Rfsync> {
        Err(EOPNOTSUPP)
    }
    fn statfs(&mut self, _: &Tstatfs) -> Reply<Rstatfs> {
        Err(EOPNOTSUPP)
    }
    fn symlink(&mut self, _: &Tsymlink) -> Reply<Rsymlink> {
        Err(EOPNOTSUPP)
    }
    fn mknod(&mut self, _: &Tmknod) -> Reply<Rmknod> {
        Err(EOPNOTSUPP)
    }
    fn mkdir(&mut self, _: &Tmkdir) -> Reply<Rmkdir> {
        Err(EOPNOTSUPP)
    }
    fn link(&mut self, _: &Tlink) -> Reply<Rlink> {
        Err(EOPNOTSUPP)
    }
    fn rename(&mut self, _: &Trename) -> Reply<Rrename> {
        Err(EOPNOTSUPP)
    }
    fn renameat(&mut self, _: &Trenameat) -> Reply<Rrenameat> {
        Err(EOPNOTSUPP)
    }
    fn unlinkat(&mut self, _: &Tunlinkat) -> Reply<Runlinkat> {
        Err(EOPNOTSUPP)
    }
    fn readlink(&mut self, _: &Treadlink) -> Reply<Rreadlink> {
        Err(EOPNOTSUPP)
    }
    fn xattrwalk(&mut self, _: &Txattrwalk) -> Reply<Rxattrwalk> {
        Err(EOPNOTSUPP)
    }
    fn xattrcreate(&mut self, _: &Txattrcreate) -> Reply<Rxattrcreate> {
        Err(EOPNOTSUPP)
    }
    fn lock(&mut self, _: &Tlock) -> Reply<Rlock> {
        Err(EOPNOTSUPP)
    }
    fn getlock(&mut self, _: &Tgetlock) -> Reply<Rgetlock> {
        Err(EOPNOTSUPP)
    }
    /// The fd-donation extension (see the crate docs): the reply and the descriptor to send
    /// with it. `EOPNOTSUPP` declines, and the client opens with Tlopen instead.
    fn lopenfd(&mut self, _: &Tlopenfd) -> Reply<(Rlopenfd, OwnedFd)> {
        Err(EOPNOTSUPP)
    }
    /// The owned-creation extension (see the crate docs): Tlcreate, Tmkdir, Tsymlink and
    /// Tmknod that also give the new file's owner.
    fn ucreate(&mut self, _: &Tucreate) -> Reply<Rucreate> {
        Err(EOPNOTSUPP)
    }
    fn umkdir(&mut self, _: &Tumkdir) -> Reply<Rumkdir> {
        Err(EOPNOTSUPP)
    }
    fn usymlink(&mut self, _: &Tusymlink) -> Reply<Rusymlink> {
        Err(EOPNOTSUPP)
    }
    fn umknod(&mut self, _: &Tumknod) -> Reply<Rumknod> {
        Err(EOPNOTSUPP)
    }
}

/// A reply and the descriptor that goes with it (only Rlopenfd has one).
type Outgoing = (Message, Option<OwnedFd>);

/// Answers each frame on `stream` with a reply of the same tag until the client closes it.
/// Failed requests and undecodable bodies are answered with Rlerror (`EOPNOTSUPP` for an
/// unknown message type, so a client can tell an extension is missing; `EINVAL` for other
/// bodies); a frame whose header is unreadable or larger than `msize` ends the loop with an
/// error, since the stream cannot be resynchronized after it.
pub fn serve(mut stream: UnixStream, server: &mut impl Server) -> Result<(), Error> {
    let mut msize = PRE_VERSION_MSIZE;
    while let Some(bytes) = read_frame(&mut stream, msize)? {
        let (tag, reply) = match Frame::decode(&bytes, msize) {
            Ok(frame) => {
                let reply = dispatch(server, &frame.message);
                if let Ok((Message::Rversion(version), _)) = &reply {
                    msize = version.msize.max(HEADER_SIZE);
                }
                (frame.tag, reply)
            }
            Err(error) => match (error.tag, error.source) {
                (Some(tag), ProtocolError::UnknownType(_)) => (tag, Err(EOPNOTSUPP)),
                (Some(tag), _) => (tag, Err(EINVAL)),
                (None, source) => return Err(source.into()),
            },
        };
        let (reply, fd) = reply.unwrap_or_else(|ecode| (Rlerror { ecode }.into(), None));
        let encoded = Frame {
            tag,
            message: reply,
        }
        .encode(msize);
        match (encoded, fd) {
            (Ok(encoded), Some(fd)) => {
                // The descriptor rides on the first chunk; the rest of a partial send follows
                // as plain bytes.
                let sent = sys::send_with_fd(&stream, &encoded, fd.as_fd())?;
                stream.write_all(&encoded[sent..])?;
            }
            (Ok(encoded), None) => stream.write_all(&encoded)?,
            (Err(_), _) => {
                let error = Frame {
                    tag,
                    message: Rlerror { ecode: EMSGSIZE }.into(),
                };
                stream.write_all(&error.encode(msize)?)?;
            }
        }
    }
    Ok(())
}

fn dispatch(server: &mut impl Server, request: &Message) -> Reply<Outgoing> {
    if let Message::Tlopenfd(t) = request {
        let (reply, fd) = server.lopenfd(t)?;
        return Ok((reply.into(), Some(fd)));
    }
    let reply = match request {
        Message::Tversion(t) => server.version(t)?.into(),
        Message::Tauth(t) => server.auth(t)?.into(),
        Message::Tattach(t) => server.attach(t)?.into(),
        Message::Tflush(t) => server.flush(t)?.into(),
        Message::Twalk(t) => server.walk(t)?.into(),
        Message::Tlopen(t) => server.lopen(t)?.into(),
        Message::Tlcreate(t) => server.lcreate(t)?.into(),
        Message::Tread(t) => server.read(t)?.into(),
        Message::Twrite(t) => server.write(t)?.into(),
        Message::Tclunk(t) => server.clunk(t)?.into(),
        Message::Tremove(t) => server.remove(t)?.into(),
        Message::Tgetattr(t) => server.getattr(t)?.into(),
        Message::Tsetattr(t) => server.setattr(t)?.into(),
        Message::Treaddir(t) => server.readdir(t)?.into(),
        Message::Tfsync(t) => server.fsync(t)?.into(),
        Message::Tstatfs(t) => server.statfs(t)?.into(),
        Message::Tsymlink(t) => server.symlink(t)?.into(),
        Message::Tmknod(t) => server.mknod(t)?.into(),
        Message::Tmkdir(t) => server.mkdir(t)?.into(),
        Message::Tlink(t) => server.link(t)?.into(),
        Message::Trename(t) => server.rename(t)?.into(),
        Message::Trenameat(t) => server.renameat(t)?.into(),
        Message::Tunlinkat(t) => server.unlinkat(t)?.into(),
        Message::Treadlink(t) => server.readlink(t)?.into(),
        Message::Txattrwalk(t) => server.xattrwalk(t)?.into(),
        Message::Txattrcreate(t) => server.xattrcreate(t)?.into(),
        Message::Tlock(t) => server.lock(t)?.into(),
        Message::Tgetlock(t) => server.getlock(t)?.into(),
        Message::Tucreate(t) => server.ucreate(t)?.into(),
        Message::Tumkdir(t) => server.umkdir(t)?.into(),
        Message::Tusymlink(t) => server.usymlink(t)?.into(),
        Message::Tumknod(t) => server.umknod(t)?.into(),
        // A reply sent as a request.
        _ => return Err(EOPNOTSUPP),
    };
    Ok((reply, None))
}
