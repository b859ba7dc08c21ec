//! eventfd: a 64-bit counter as a file, for wake-ups between threads and processes.

use std::sync::Arc;

use abi::{Errno, Stat};
use parking_lot::Mutex;
use vfs::{FileOps, OpenFile};
use waiter::{events, WaitQueue};

/// The largest value the counter holds; a write that would pass it blocks (or EAGAIN).
const COUNTER_MAX: u64 = u64::MAX - 1;

/// Reads and writes move exactly one 8-byte counter value.
const VALUE_LEN: usize = 8;

/// The device number fstat reports for anonymous-inode files (eventfd, epoll, signalfd).
pub(crate) const ANON_INODE_DEV: u64 = 0x0e;

/// The file behind an eventfd.
struct EventFd {
    counter: Mutex<u64>,
    /// EFD_SEMAPHORE: a read takes 1 instead of the whole count.
    semaphore: bool,
    queue: Arc<WaitQueue>,
}

/// Makes an eventfd holding `initial`, with `flags`' O_NONBLOCK (EFD_NONBLOCK) and
/// EFD_SEMAPHORE behaviour.
pub(crate) fn new_eventfd(initial: u64, semaphore: bool, flags: i32) -> Arc<OpenFile> {
    OpenFile::anonymous(
        Box::new(EventFd {
            counter: Mutex::new(initial),
            semaphore,
            queue: Arc::new(WaitQueue::new()),
        }),
        libc::O_RDWR | (flags & libc::O_NONBLOCK),
    )
}

impl FileOps for EventFd {
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(anon_inode_stat())
    }

    fn read(&self, _pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let out = buf.get_mut(..VALUE_LEN).ok_or(Errno::EINVAL)?;
        let mut counter = self.counter.lock();
        if *counter == 0 {
            return Err(Errno::EAGAIN);
        }
        let value = if self.semaphore { 1 } else { *counter };
        *counter -= value;
        drop(counter);
        out.copy_from_slice(&value.to_ne_bytes());
        self.queue.notify(events::WRITABLE);
        Ok(VALUE_LEN)
    }

    fn write(&self, _pos: &mut u64, buf: &[u8], _append: bool) -> Result<usize, Errno> {
        let bytes = buf.get(..VALUE_LEN).ok_or(Errno::EINVAL)?;
        let value = u64::from_ne_bytes(bytes.try_into().map_err(|_| Errno::EINVAL)?);
        if value == u64::MAX {
            return Err(Errno::EINVAL);
        }
        let mut counter = self.counter.lock();
        if COUNTER_MAX - *counter < value {
            return Err(Errno::EAGAIN);
        }
        *counter += value;
        drop(counter);
        if value > 0 {
            self.queue.notify(events::READABLE);
        }
        Ok(VALUE_LEN)
    }

    fn seek(&self, _pos: &mut u64, _offset: i64, _whence: i32) -> Result<u64, Errno> {
        Err(Errno::ESPIPE)
    }

    fn readiness(&self, mask: u32) -> u32 {
        let counter = *self.counter.lock();
        let mut ready = 0;
        if counter > 0 {
            ready |= events::READABLE;
        }
        if counter < COUNTER_MAX {
            ready |= events::WRITABLE;
        }
        ready & (mask | events::ALWAYS)
    }

    fn wait_queue(&self) -> Option<Arc<WaitQueue>> {
        Some(Arc::clone(&self.queue))
    }
}

/// What fstat says of an anonymous-inode file: mode 0600 and no file type, as Linux's
/// anon_inodefs.
pub(crate) fn anon_inode_stat() -> Stat {
    Stat {
        st_nlink: 1,
        st_mode: 0o600,
        st_blksize: 4096,
        st_dev: ANON_INODE_DEV,
        ..Stat::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_value(file: &OpenFile) -> Result<u64, Errno> {
        let mut buf = [0u8; 8];
        file.read(&mut buf)?;
        Ok(u64::from_ne_bytes(buf))
    }

    #[test]
    fn counter_and_semaphore() {
        let plain = new_eventfd(3, false, libc::O_NONBLOCK);
        assert_eq!(plain.write(&5u64.to_ne_bytes()), Ok(8));
        assert_eq!(read_value(&plain), Ok(8));
        assert_eq!(read_value(&plain), Err(Errno::EAGAIN));

        let semaphore = new_eventfd(2, true, libc::O_NONBLOCK);
        assert_eq!(read_value(&semaphore), Ok(1));
        assert_eq!(read_value(&semaphore), Ok(1));
        assert_eq!(read_value(&semaphore), Err(Errno::EAGAIN));
    }

    #[test]
    fn short_buffers_overflow_and_readiness() {
        let file = new_eventfd(0, false, libc::O_NONBLOCK);
        assert_eq!(file.read(&mut [0u8; 4]), Err(Errno::EINVAL));
        assert_eq!(file.write(&[1u8; 4]), Err(Errno::EINVAL));
        assert_eq!(file.write(&u64::MAX.to_ne_bytes()), Err(Errno::EINVAL));
        assert_eq!(
            file.readiness(events::POLLIN | events::POLLOUT),
            events::POLLOUT
        );
        assert_eq!(file.write(&COUNTER_MAX.to_ne_bytes()), Ok(8));
        assert_eq!(
            file.readiness(events::POLLIN | events::POLLOUT),
            events::POLLIN
        );
        assert_eq!(file.write(&1u64.to_ne_bytes()), Err(Errno::EAGAIN));
    }
}
