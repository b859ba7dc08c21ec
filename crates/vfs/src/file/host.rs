//! Files over host fds the Sentry was handed (the sandbox's stdio). Reads and writes go to the
//! host fd with its own offset, so pipes, ttys and redirected files all behave as on the host.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use abi::{Errno, Stat, Timespec};
use nix::fcntl::{fcntl, FcntlArg};
use nix::unistd::Whence;

use super::FileOps;
use crate::sys;

/// The kernel's `struct termios` (not glibc's larger one): what TCGETS/TCSETS* copy.
const KERNEL_TERMIOS_LEN: usize = 36;

/// The size of the argument structure of the terminal ioctls passed to host fds; `None` for
/// every other command (which host files refuse).
pub fn ioctl_arg_len(cmd: u32) -> Option<usize> {
    match u64::from(cmd) {
        libc::TCGETS | libc::TCSETS | libc::TCSETSW | libc::TCSETSF => Some(KERNEL_TERMIOS_LEN),
        libc::TIOCGWINSZ | libc::TIOCSWINSZ => Some(std::mem::size_of::<libc::winsize>()),
        libc::TIOCGPGRP => Some(std::mem::size_of::<libc::pid_t>()),
        _ => None,
    }
}

pub(super) struct HostFile {
    fd: OwnedFd,
}

impl HostFile {
    /// The file and the access mode and status flags of the host fd.
    pub(super) fn new(fd: OwnedFd) -> Result<(HostFile, i32), Errno> {
        let flags = fcntl(&fd, FcntlArg::F_GETFL).map_err(nix_errno)?;
        Ok((HostFile { fd }, flags))
    }

    /// The same host file through a descriptor of its own (an open of /proc/self/fd/N).
    pub(super) fn reopen(&self) -> Result<HostFile, Errno> {
        let fd = self
            .fd
            .try_clone()
            .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EIO)))?;
        Ok(HostFile { fd })
    }
}

fn nix_errno(e: nix::errno::Errno) -> Errno {
    Errno(e as i32)
}

/// `pread` of a host fd the Sentry holds (stdio, or a descriptor the Gofer donated), retried
/// when a signal interrupts it.
pub(crate) fn pread_host(fd: BorrowedFd<'_>, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
    let offset = i64::try_from(offset).map_err(|_| Errno::EINVAL)?;
    loop {
        match nix::sys::uio::pread(fd, buf, offset) {
            Err(nix::errno::Errno::EINTR) => {}
            read => return read.map_err(nix_errno),
        }
    }
}

/// `pwrite` of a host fd the Sentry holds (a descriptor the Gofer donated for writing).
pub(crate) fn pwrite_host(fd: BorrowedFd<'_>, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
    let offset = i64::try_from(offset).map_err(|_| Errno::EINVAL)?;
    nix::sys::uio::pwrite(fd, buf, offset).map_err(nix_errno)
}

impl FileOps for HostFile {
    fn stat(&self) -> Result<Stat, Errno> {
        let st = nix::sys::stat::fstat(&self.fd).map_err(nix_errno)?;
        Ok(Stat {
            st_dev: st.st_dev,
            st_ino: st.st_ino,
            st_nlink: st.st_nlink,
            st_mode: st.st_mode,
            st_uid: st.st_uid,
            st_gid: st.st_gid,
            pad0: 0,
            st_rdev: st.st_rdev,
            st_size: st.st_size,
            st_blksize: st.st_blksize,
            st_blocks: st.st_blocks,
            st_atime: Timespec {
                tv_sec: st.st_atime,
                tv_nsec: st.st_atime_nsec,
            },
            st_mtime: Timespec {
                tv_sec: st.st_mtime,
                tv_nsec: st.st_mtime_nsec,
            },
            st_ctime: Timespec {
                tv_sec: st.st_ctime,
                tv_nsec: st.st_ctime_nsec,
            },
            reserved: [0; 3],
        })
    }

    fn read(&self, _pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        nix::unistd::read(&self.fd, buf).map_err(nix_errno)
    }

    fn write(&self, _pos: &mut u64, buf: &[u8], _append: bool) -> Result<usize, Errno> {
        // The host fd carries its own O_APPEND.
        nix::unistd::write(&self.fd, buf).map_err(nix_errno)
    }

    fn pread(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        pread_host(self.fd.as_fd(), offset, buf)
    }

    fn pwrite(&self, offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        pwrite_host(self.fd.as_fd(), offset, buf)
    }

    fn seek(&self, _pos: &mut u64, offset: i64, whence: i32) -> Result<u64, Errno> {
        let whence = match whence {
            libc::SEEK_SET => Whence::SeekSet,
            libc::SEEK_CUR => Whence::SeekCur,
            libc::SEEK_END => Whence::SeekEnd,
            _ => return Err(Errno::EINVAL),
        };
        let new = nix::unistd::lseek(&self.fd, offset, whence).map_err(nix_errno)?;
        u64::try_from(new).map_err(|_| Errno::EINVAL)
    }

    fn ioctl(&self, cmd: u32, arg: &mut [u8]) -> Result<u64, Errno> {
        let arg_len = ioctl_arg_len(cmd).ok_or(Errno::ENOTTY)?;
        sys::ioctl_with_buffer(self.fd.as_fd(), cmd, arg, arg_len)
    }

    fn fsync(&self) -> Result<(), Errno> {
        nix::unistd::fsync(&self.fd).map_err(nix_errno)
    }

    fn truncate(&self, len: u64) -> Result<(), Errno> {
        let len = i64::try_from(len).map_err(|_| Errno::EINVAL)?;
        nix::unistd::ftruncate(&self.fd, len).map_err(nix_errno)
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
