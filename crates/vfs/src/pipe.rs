//! Pipes: a bounded byte buffer between read ends and write ends. Anonymous pipes (pipe2, made
//! by the kernel) and named ones (a FIFO inode keeps its [`Pipe`] across opens) share it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use abi::{Errno, Stat};
use parking_lot::Mutex;
use waiter::{events, WaitQueue};

use crate::file::{queued_bytes_ioctl, FileOps, OpenFile};
use crate::fs::Inode;

/// Writes up to this size are atomic: never interleaved with other writers (PIPE_BUF).
pub const PIPE_BUF: usize = 4096;
/// A pipe's default capacity (16 pages, as Linux).
const PIPE_CAPACITY: usize = 65_536;
/// The largest capacity F_SETPIPE_SZ grants without CAP_SYS_RESOURCE (/proc/sys/fs/pipe-max-size).
pub const PIPE_MAX_SIZE: usize = 1 << 20;
/// The device number fstat reports for anonymous pipes (an anonymous pipefs superblock).
const PIPEFS_DEV: u64 = 0x0c;

/// Inode numbers of anonymous pipes (pipefs), for fstat and /proc/[pid]/fd.
static NEXT_PIPE_INO: AtomicU64 = AtomicU64::new(1);

struct PipeState {
    buf: VecDeque<u8>,
    capacity: usize,
    readers: usize,
    writers: usize,
    /// Read ends ever opened: a blocking FIFO open for writing waits until this moves, so a
    /// reader that came and went still lets it through (Linux's `r_counter`).
    reader_opens: u64,
    /// Write ends ever opened (Linux's `w_counter`).
    writer_opens: u64,
}

/// Which ends an open with `flags` makes: (reads, writes).
fn access(flags: i32) -> Result<(bool, bool), Errno> {
    match flags & libc::O_ACCMODE {
        libc::O_RDONLY => Ok((true, false)),
        libc::O_WRONLY => Ok((false, true)),
        libc::O_RDWR => Ok((true, true)),
        _ => Err(Errno::EINVAL),
    }
}

/// The buffer the ends of one pipe share.
pub struct Pipe {
    state: Mutex<PipeState>,
    queue: Arc<WaitQueue>,
    ino: u64,
}

impl Pipe {
    /// A pipe with no ends yet (a FIFO's, or the one `new_pipe` opens both ends of).
    pub fn new() -> Arc<Pipe> {
        Arc::new(Pipe {
            state: Mutex::new(PipeState {
                buf: VecDeque::new(),
                capacity: PIPE_CAPACITY,
                readers: 0,
                writers: 0,
                reader_opens: 0,
                writer_opens: 0,
            }),
            queue: Arc::new(WaitQueue::new()),
            ino: NEXT_PIPE_INO.fetch_add(1, Ordering::Relaxed),
        })
    }

    /// Opens an end of a FIFO for the access mode of `flags`. A non-blocking open for writing
    /// without a reader is ENXIO; a blocking one-sided open returns an end whose
    /// [`PipeEnd::awaits_peer`] stays true until the other side opens. `inode` is the FIFO's,
    /// for fstat.
    pub fn open_fifo(
        self: &Arc<Pipe>,
        flags: i32,
        inode: Arc<dyn Inode>,
    ) -> Result<PipeEnd, Errno> {
        let (reads, writes) = access(flags)?;
        let nonblocking = flags & libc::O_NONBLOCK != 0;
        let state = self.state.lock();
        if writes && !reads && nonblocking && state.readers == 0 {
            return Err(Errno::ENXIO);
        }
        let awaits = match (reads, writes) {
            (true, false) if !nonblocking && state.writers == 0 => Some(state.writer_opens),
            (false, true) if state.readers == 0 => Some(state.reader_opens),
            _ => None,
        };
        drop(state);
        Ok(PipeEnd::new(self, reads, writes, Some(inode), awaits))
    }

    /// A new end of an anonymous pipe (an open of /proc/self/fd/N): never waits for the other
    /// side, as Linux's fifo_open on pipefs.
    pub fn reopen(self: &Arc<Pipe>, flags: i32) -> Result<PipeEnd, Errno> {
        let (reads, writes) = access(flags)?;
        Ok(PipeEnd::new(self, reads, writes, None, None))
    }

    /// Where the pipe's ends wait: data, space, and ends coming and going.
    pub fn wait_queue(&self) -> &Arc<WaitQueue> {
        &self.queue
    }

    /// The capacity in bytes (F_GETPIPE_SZ).
    pub fn capacity(&self) -> usize {
        self.state.lock().capacity
    }

    /// F_SETPIPE_SZ: the capacity becomes [`round_pipe_size`] of `size`; EINVAL beyond 2 GiB,
    /// EBUSY if the data queued would not fit. The caller checks `PIPE_MAX_SIZE` against its
    /// privileges. Returns the new capacity.
    pub fn set_capacity(&self, size: u64) -> Result<usize, Errno> {
        if size > 1 << 31 {
            return Err(Errno::EINVAL);
        }
        let capacity = usize::try_from(round_pipe_size(size)).map_err(|_| Errno::EINVAL)?;
        let mut state = self.state.lock();
        if state.buf.len() > capacity {
            return Err(Errno::EBUSY);
        }
        state.capacity = capacity;
        drop(state);
        self.queue.notify(events::WRITABLE);
        Ok(capacity)
    }
}

/// The capacity an F_SETPIPE_SZ request gets: at least a page, rounded up to a power of two
/// (Linux's `round_pipe_size`).
pub fn round_pipe_size(size: u64) -> u64 {
    size.max(abi::PAGE_SIZE)
        .checked_next_power_of_two()
        .unwrap_or(u64::MAX)
}

/// One open end of a pipe; an O_RDWR open of a FIFO both reads and writes.
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    reads: bool,
    writes: bool,
    /// A FIFO's inode, whose stat fstat reports; `None` for an anonymous pipe.
    inode: Option<Arc<dyn Inode>>,
    /// For a blocking one-sided FIFO open: the other side's open count at open time.
    awaits: Option<u64>,
}

/// Makes an anonymous pipe: (read end, write end), with O_NONBLOCK from `flags` on both.
pub fn new_pipe(flags: i32) -> (Arc<OpenFile>, Arc<OpenFile>) {
    let pipe = Pipe::new();
    let status = flags & libc::O_NONBLOCK;
    let reader = OpenFile::anonymous(
        Box::new(PipeEnd::new(&pipe, true, false, None, None)),
        libc::O_RDONLY | status,
    );
    let writer = OpenFile::anonymous(
        Box::new(PipeEnd::new(&pipe, false, true, None, None)),
        libc::O_WRONLY | status,
    );
    (reader, writer)
}

impl PipeEnd {
    fn new(
        pipe: &Arc<Pipe>,
        reads: bool,
        writes: bool,
        inode: Option<Arc<dyn Inode>>,
        awaits: Option<u64>,
    ) -> PipeEnd {
        let mut state = pipe.state.lock();
        if reads {
            state.readers += 1;
            state.reader_opens += 1;
        }
        if writes {
            state.writers += 1;
            state.writer_opens += 1;
        }
        drop(state);
        // A FIFO open waiting for this side may go on now.
        pipe.queue
            .notify(events::READABLE | events::WRITABLE | events::POLLHUP);
        PipeEnd {
            pipe: Arc::clone(pipe),
            reads,
            writes,
            inode,
            awaits,
        }
    }

    /// The pipe behind this end.
    pub fn pipe(&self) -> &Arc<Pipe> {
        &self.pipe
    }

    /// Whether a blocking FIFO open must still wait for the other side to open.
    pub fn awaits_peer(&self) -> bool {
        let Some(seen) = self.awaits else {
            return false;
        };
        let state = self.pipe.state.lock();
        let opens = if self.reads {
            state.writer_opens
        } else {
            state.reader_opens
        };
        opens == seen
    }

    /// Copies queued bytes into `buf` without consuming them (tee): how many were copied;
    /// EAGAIN if nothing is queued while writers remain.
    pub fn peek(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        if !self.reads {
            return Err(Errno::EBADF);
        }
        let state = self.pipe.state.lock();
        if state.buf.is_empty() {
            return if state.writers == 0 {
                Ok(0)
            } else {
                Err(Errno::EAGAIN)
            };
        }
        let n = buf.len().min(state.buf.len());
        for (dst, src) in buf.iter_mut().zip(state.buf.iter()) {
            *dst = *src;
        }
        Ok(n)
    }
}

impl FileOps for PipeEnd {
    fn stat(&self) -> Result<Stat, Errno> {
        if let Some(inode) = &self.inode {
            return inode.stat();
        }
        Ok(Stat {
            st_ino: self.pipe.ino,
            st_nlink: 1,
            st_mode: libc::S_IFIFO | 0o600,
            st_blksize: 4096,
            st_dev: PIPEFS_DEV,
            ..Stat::default()
        })
    }

    fn read(&self, _pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if !self.reads {
            return Err(Errno::EBADF);
        }
        let mut state = self.pipe.state.lock();
        if state.buf.is_empty() {
            return if state.writers == 0 || buf.is_empty() {
                Ok(0)
            } else {
                Err(Errno::EAGAIN)
            };
        }
        let n = buf.len().min(state.buf.len());
        for (dst, src) in buf.iter_mut().zip(state.buf.drain(..n)) {
            *dst = src;
        }
        drop(state);
        self.pipe.queue.notify(events::WRITABLE);
        Ok(n)
    }

    fn write(&self, _pos: &mut u64, buf: &[u8], _append: bool) -> Result<usize, Errno> {
        if !self.writes {
            return Err(Errno::EBADF);
        }
        let mut state = self.pipe.state.lock();
        if state.readers == 0 {
            return Err(Errno::EPIPE);
        }
        let free = state.capacity.saturating_sub(state.buf.len());
        // Small writes go in whole or not at all; larger ones may be split.
        let n = if buf.len() <= PIPE_BUF {
            if free < buf.len() {
                return Err(Errno::EAGAIN);
            }
            buf.len()
        } else {
            if free == 0 {
                return Err(Errno::EAGAIN);
            }
            free.min(buf.len())
        };
        state.buf.extend(&buf[..n]);
        drop(state);
        self.pipe.queue.notify(events::READABLE);
        Ok(n)
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
        queued_bytes_ioctl(cmd, arg, || self.pipe.state.lock().buf.len())
    }

    fn allocate(&self, _mode: i32, _offset: u64, _len: u64) -> Result<(), Errno> {
        Err(Errno::ESPIPE)
    }

    fn readiness(&self, mask: u32) -> u32 {
        let state = self.pipe.state.lock();
        let mut ready = 0;
        if self.writes {
            if state.capacity.saturating_sub(state.buf.len()) >= PIPE_BUF.min(state.capacity) {
                ready |= events::WRITABLE;
            }
            if state.readers == 0 {
                ready |= events::POLLERR;
            }
        }
        if self.reads {
            if !state.buf.is_empty() {
                ready |= events::READABLE;
            }
            if state.writers == 0 {
                ready |= events::POLLHUP;
            }
        }
        ready & (mask | events::ALWAYS)
    }

    fn wait_queue(&self) -> Option<Arc<WaitQueue>> {
        Some(Arc::clone(&self.pipe.queue))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut state = self.pipe.state.lock();
        if self.writes {
            state.writers -= 1;
        }
        if self.reads {
            state.readers -= 1;
        }
        if state.readers == 0 && state.writers == 0 {
            // Linux frees the buffer with the last end: a FIFO opened again starts empty.
            state.buf = VecDeque::new();
            state.capacity = PIPE_CAPACITY;
        }
        drop(state);
        // The other end sees EOF (readers) or EPIPE (writers) now.
        self.pipe
            .queue
            .notify(events::READABLE | events::WRITABLE | events::POLLHUP | events::POLLERR);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_rounds_up_to_pages() {
        let pipe = Pipe::new();
        assert_eq!(pipe.set_capacity(1), Ok(4096));
        assert_eq!(pipe.set_capacity(3 * 4096), Ok(4 * 4096));
        assert_eq!(pipe.set_capacity(0), Ok(4096));
        assert_eq!(pipe.set_capacity(1 << 32), Err(Errno::EINVAL));
        assert_eq!(round_pipe_size(5000), 8192);
    }

    #[test]
    fn buffer_is_dropped_with_the_last_end() {
        let (reader, writer) = new_pipe(0);
        assert_eq!(writer.write(b"abc"), Ok(3));
        let mut buf = [0u8; 2];
        let end = reader
            .ops()
            .as_any()
            .downcast_ref::<PipeEnd>()
            .map(|end| end.peek(&mut buf));
        assert_eq!(end, Some(Ok(2)));
        assert_eq!(&buf, b"ab");
        let mut all = [0u8; 8];
        assert_eq!(reader.read(&mut all), Ok(3));
    }
}
