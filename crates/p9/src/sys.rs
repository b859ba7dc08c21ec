//! Descriptors passed alongside frames in `SCM_RIGHTS` ancillary data (the fd-donation
//! extension), over nix's socket calls. The one unsafe step is taking ownership of a received
//! descriptor, which nix hands over as a raw number.

use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};

/// Descriptors one received chunk may carry. A reply carries at most one; room for a few more
/// lets a misbehaving peer's extras be received (and closed) rather than truncate the message.
const MAX_FDS_PER_CHUNK: usize = 4;

/// Sends `bytes` (or a prefix of them: the count is returned, as `write` does) with `fd`
/// attached to the first byte.
pub fn send_with_fd(stream: &UnixStream, bytes: &[u8], fd: BorrowedFd<'_>) -> io::Result<usize> {
    let fds = [fd.as_raw_fd()];
    let control = [ControlMessage::ScmRights(&fds)];
    loop {
        match sendmsg::<()>(
            stream.as_raw_fd(),
            &[IoSlice::new(bytes)],
            &control,
            MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Err(nix::errno::Errno::EINTR) => {}
            sent => return sent.map_err(io::Error::from),
        }
    }
}

/// Receives up to `buf.len()` bytes like `read`, appending any descriptors that came with them
/// to `fds` (close-on-exec).
pub fn recv_with_fds(
    stream: &UnixStream,
    buf: &mut [u8],
    fds: &mut Vec<OwnedFd>,
) -> io::Result<usize> {
    let mut control = nix::cmsg_space!([RawFd; MAX_FDS_PER_CHUNK]);
    let mut iov = [IoSliceMut::new(buf)];
    let received = loop {
        match recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut control),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => {}
            received => break received.map_err(io::Error::from)?,
        }
    };
    // A truncated control message means the kernel dropped descriptors; `cmsgs` reports it.
    for message in received.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(raw_fds) = message {
            // SAFETY: SCM_RIGHTS descriptors are freshly installed in this process by the
            // kernel for this message alone; nothing else knows their numbers, so each is
            // owned exactly once, here.
            fds.extend(
                raw_fds
                    .into_iter()
                    .map(|raw| unsafe { OwnedFd::from_raw_fd(raw) }),
            );
        }
    }
    Ok(received.bytes)
}
