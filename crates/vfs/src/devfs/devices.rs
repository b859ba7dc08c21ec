//! The character devices of /dev, with Linux's read, write and lseek behaviour.

use abi::Errno;

use crate::tmpfs::DeviceOps;

/// /dev/null: reads end at once, writes vanish.
pub(super) struct Null;

impl DeviceOps for Null {
    fn read(&self, _offset: u64, _buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(0)
    }
    fn write(&self, _offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        Ok(buf.len())
    }
    /// Linux's `null_lseek`: always back to 0.
    fn seek(&self, pos: &mut u64, _offset: i64, _whence: i32) -> Result<u64, Errno> {
        *pos = 0;
        Ok(0)
    }
}

/// /dev/zero: reads give zeros, writes vanish.
pub(super) struct Zero;

impl DeviceOps for Zero {
    fn read(&self, _offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        buf.fill(0);
        Ok(buf.len())
    }
    fn write(&self, _offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        Ok(buf.len())
    }
    fn seek(&self, pos: &mut u64, offset: i64, whence: i32) -> Result<u64, Errno> {
        Null.seek(pos, offset, whence)
    }
}

/// /dev/full: reads give zeros, writes fail with ENOSPC.
pub(super) struct Full;

impl DeviceOps for Full {
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        Zero.read(offset, buf)
    }
    fn write(&self, _offset: u64, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::ENOSPC)
    }
    fn seek(&self, pos: &mut u64, offset: i64, whence: i32) -> Result<u64, Errno> {
        Null.seek(pos, offset, whence)
    }
}

/// /dev/random and /dev/urandom: the host's getrandom (never blocking once the host pool is
/// initialised, like Linux's since 5.6); writes are accepted and ignored.
pub(super) struct Random;

impl DeviceOps for Random {
    fn read(&self, _offset: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let mut filled = 0;
        while filled < buf.len() {
            match crate::sys::getrandom(&mut buf[filled..]) {
                Ok(n) => filled += n,
                Err(Errno::EINTR) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }
    fn write(&self, _offset: u64, buf: &[u8]) -> Result<usize, Errno> {
        Ok(buf.len())
    }
}

/// /dev/tty: the caller's controlling terminal, which only the kernel knows: its open
/// replaces the file the VFS opened here. Reached any other way, it is no terminal.
pub(super) struct Tty;

impl DeviceOps for Tty {
    fn read(&self, _offset: u64, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::ENXIO)
    }
    fn write(&self, _offset: u64, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::ENXIO)
    }
    fn seek(&self, _pos: &mut u64, _offset: i64, _whence: i32) -> Result<u64, Errno> {
        Err(Errno::ESPIPE)
    }
}
