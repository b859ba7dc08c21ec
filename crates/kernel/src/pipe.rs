//! Pipes: a bounded byte buffer between a read end and a write end.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use abi::{Errno, Stat};
use parking_lot::Mutex;
use vfs::{FileOps, OpenFile};
use waiter::{events, WaitQueue};

/// Writes up to this size are atomic: never interleaved with other writers (PIPE_BUF).
pub(crate) const PIPE_BUF: usize = 4096;
/// A pipe's default capacity (16 pages, as Linux).
const PIPE_CAPACITY: usize = 65_536;
/// /proc/sys/fs/pipe-max-size: the most F_SETPIPE_SZ grants without CAP_SYS_RESOURCE.
const PIPE_MAX_SIZE: usize = 1 << 20;
/// Capacities are whole pages.
const PAGE_SIZE: usize = 4096;

/// Inode numbers of pipes (pipefs), for fstat and /proc/[pid]/fd.
static NEXT_PIPE_INO: AtomicU64 = AtomicU64::new(1);

struct PipeState {
    buf: VecDeque<u8>,
    capacity: usize,
    readers: usize,
    writers: usize,
}

/// The pipe both ends share.
struct Pipe {
    state: Mutex<PipeState>,
    queue: Arc<WaitQueue>,
    ino: u64,
}

/// One end of a pipe, as an open file.
struct PipeEnd {
    pipe: Arc<Pipe>,
    writer: bool,
}

/// Makes a pipe: (read end, write end), with O_NONBLOCK from `flags` on both.
pub(crate) fn new_pipe(flags: i32) -> (Arc<OpenFile>, Arc<OpenFile>) {
    let pipe = Arc::new(Pipe {
        state: Mutex::new(PipeState {
            buf: VecDeque::new(),
            capacity: PIPE_CAPACITY,
            readers: 1,
            writers: 1,
        }),
        queue: Arc::new(WaitQueue::new()),
        ino: NEXT_PIPE_INO.fetch_add(1, Ordering::Relaxed),
    });
    let status = flags & libc::O_NONBLOCK;
    let reader = OpenFile::anonymous(
        Box::new(PipeEnd {
            pipe: Arc::clone(&pipe),
            writer: false,
        }),
        libc::O_RDONLY | status,
    );
    let writer = OpenFile::anonymous(
        Box::new(PipeEnd { pipe, writer: true }),
        libc::O_WRONLY | status,
    );
    (reader, writer)
}

/// The pipe behind `file`; EBADF for other files, as the F_*PIPE_SZ fcntls answer.
fn pipe_of(file: &OpenFile) -> Result<&Pipe, Errno> {
    file.ops()
        .as_any()
        .downcast_ref::<PipeEnd>()
        .map(|end| &*end.pipe)
        .ok_or(Errno::EBADF)
}

/// F_GETPIPE_SZ: the capacity of the pipe behind `file`.
pub(crate) fn pipe_capacity(file: &OpenFile) -> Result<usize, Errno> {
    Ok(pipe_of(file)?.state.lock().capacity)
}

/// F_SETPIPE_SZ: resizes the pipe behind `file` to `size` rounded up to a power-of-two number
/// of bytes (a page at least), as Linux's round_pipe_size; returns the new capacity. Growing
/// past pipe-max-size needs `may_exceed_max` (CAP_SYS_RESOURCE); shrinking below what the pipe
/// holds is EBUSY.
pub(crate) fn set_pipe_capacity(
    file: &OpenFile,
    size: u64,
    may_exceed_max: bool,
) -> Result<usize, Errno> {
    let pipe = pipe_of(file)?;
    if size > 1 << 31 {
        return Err(Errno::EINVAL);
    }
    let capacity = usize::try_from(size)
        .map_err(|_| Errno::EINVAL)?
        .max(PAGE_SIZE)
        .next_power_of_two();
    let mut state = pipe.state.lock();
    if capacity > state.capacity && capacity > PIPE_MAX_SIZE && !may_exceed_max {
        return Err(Errno::EPERM);
    }
    if state.buf.len() > capacity {
        return Err(Errno::EBUSY);
    }
    state.capacity = capacity;
    drop(state);
    // A larger pipe may have become writable.
    pipe.queue.notify(events::WRITABLE);
    Ok(capacity)
}

impl FileOps for PipeEnd {
    fn stat(&self) -> Result<Stat, Errno> {
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
        if self.writer {
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
        if !self.writer {
            return Err(Errno::EBADF);
        }
        let mut state = self.pipe.state.lock();
        if state.readers == 0 {
            return Err(Errno::EPIPE);
        }
        let free = state.capacity - state.buf.len();
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
        if u64::from(cmd) == libc::FIONREAD {
            let queued = i32::try_from(self.pipe.state.lock().buf.len()).unwrap_or(i32::MAX);
            let out = arg.get_mut(..4).ok_or(Errno::EFAULT)?;
            out.copy_from_slice(&queued.to_ne_bytes());
            return Ok(0);
        }
        Err(Errno::ENOTTY)
    }

    fn readiness(&self, mask: u32) -> u32 {
        let state = self.pipe.state.lock();
        let ready = if self.writer {
            let mut r = 0;
            if state.capacity - state.buf.len() >= PIPE_BUF.min(state.capacity) {
                r |= events::WRITABLE;
            }
            if state.readers == 0 {
                r |= events::POLLERR;
            }
            r
        } else {
            let mut r = 0;
            if !state.buf.is_empty() {
                r |= events::READABLE;
            }
            if state.writers == 0 {
                r |= events::POLLHUP;
            }
            r
        };
        ready & (mask | events::ALWAYS)
    }

    fn wait_queue(&self) -> Option<Arc<WaitQueue>> {
        Some(Arc::clone(&self.pipe.queue))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The device number fstat reports for pipes (an anonymous pipefs superblock).
const PIPEFS_DEV: u64 = 0x0c;

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut state = self.pipe.state.lock();
        if self.writer {
            state.writers -= 1;
        } else {
            state.readers -= 1;
        }
        drop(state);
        // The other end sees EOF (readers) or EPIPE (writers) now.
        self.pipe
            .queue
            .notify(events::READABLE | events::WRITABLE | events::POLLHUP | events::POLLERR);
    }
}
