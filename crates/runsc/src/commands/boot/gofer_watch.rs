//! The Sentry ends the sandbox as soon as the Gofer dies: without it every file operation fails,
//! and going on would only turn one clear cause into many confusing errors in the guest (gVisor
//! ends the container the same way).
//!
//! A thread waits for the Gofer's end of the socket to close (POLLRDHUP), which happens the
//! moment the Gofer process ends, for any reason, whether or not a request is in flight.

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::exit_codes::GOFER_LOST;

/// Our end of the Gofer socket (a duplicate), to see whether the Gofer's end closed.
pub struct GoferWatch {
    socket: OwnedFd,
}

impl GoferWatch {
    /// Starts the thread that ends the sandbox when the Gofer's end of `gofer` closes.
    pub fn start(gofer: &UnixStream) -> Result<GoferWatch> {
        let watched = gofer
            .as_fd()
            .try_clone_to_owned()
            .context("duplicating the gofer socket")?;
        std::thread::Builder::new()
            .name("gofer-watch".into())
            .spawn(move || {
                if peer_closed(&watched, PollTimeout::NONE) {
                    end_sandbox();
                }
            })
            .context("starting the gofer watch thread")?;
        let socket = gofer
            .as_fd()
            .try_clone_to_owned()
            .context("duplicating the gofer socket")?;
        Ok(GoferWatch { socket })
    }

    /// Ends the sandbox if the Gofer is gone now: when the guest ended because its files went
    /// away, the cause is the Gofer, not the guest's exit status.
    pub fn end_sandbox_if_gone(&self) {
        if peer_closed(&self.socket, PollTimeout::ZERO) {
            end_sandbox();
        }
    }
}

/// Whether the other end of `socket` closed within `timeout`. A poll that fails (it can't, on
/// a valid descriptor) counts as not closed: the sandbox goes on as it would without the watch.
fn peer_closed(socket: &OwnedFd, timeout: PollTimeout) -> bool {
    // POLLRDHUP (the peer shut its end or exited; nix has no name for it) is the only event
    // asked for, and the others poll reports unasked (POLLHUP, POLLERR) mean the same: any
    // event at all is the end. Data to read is no event.
    let rdhup = PollFlags::from_bits_retain(libc::POLLRDHUP);
    let mut fds = [PollFd::new(socket.as_fd(), rdhup)];
    loop {
        match poll(&mut fds, timeout) {
            Ok(ready) => return ready > 0,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(err) => {
                tracing::warn!(%err, "watching the gofer socket");
                return false;
            }
        }
    }
}

/// Says why on stderr and ends the Sentry with [`GOFER_LOST`]; the stubs die with it
/// (PTRACE_O_EXITKILL). Whichever thread comes second waits for the first to exit.
fn end_sandbox() -> ! {
    static ENDING: AtomicBool = AtomicBool::new(false);
    if ENDING.swap(true, Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
    eprintln!("runsc: the gofer serving the sandbox's files died; ending the sandbox");
    std::process::exit(i32::from(GOFER_LOST));
}
