//! Host ioctls on a host fd the Sentry was handed (the sandbox's stdio): nix has no safe
//! wrapper that takes the argument as bytes.

use std::os::fd::{AsRawFd, BorrowedFd};

use abi::Errno;

/// Issues the ioctl `cmd`, whose argument is a pointer to a structure of `arg_len` bytes, on
/// `fd` with `arg` as that structure. EFAULT if `arg` is shorter.
pub(crate) fn ioctl_with_buffer(
    fd: BorrowedFd<'_>,
    cmd: u32,
    arg: &mut [u8],
    arg_len: usize,
) -> Result<u64, Errno> {
    if arg.len() < arg_len {
        return Err(Errno::EFAULT);
    }
    // SAFETY: `fd` is a live fd for the duration of the borrow, and `cmd` reads or writes at most
    // `arg_len` bytes through the pointer, which `arg` (checked above) covers and exclusively
    // borrows.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::Ioctl::from(cmd), arg.as_mut_ptr()) };
    if ret < 0 {
        return Err(Errno::from(std::io::Error::last_os_error()));
    }
    Ok(u64::try_from(ret).unwrap_or(0))
}

/// Fills `buf` from the host's getrandom (nix has no wrapper): at most `buf.len()` bytes,
/// returning how many.
pub(crate) fn getrandom(buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which is exclusively
    // borrowed for the call.
    let ret = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    usize::try_from(ret).map_err(|_| Errno::from(std::io::Error::last_os_error()))
}
