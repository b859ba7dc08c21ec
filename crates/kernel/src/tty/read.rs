//! read(2) of a pty replica in non-canonical mode, where VMIN and VTIME decide when a read
//! returns: VMIN bytes (VTIME 0), the first byte then VTIME without another (both set), or
//! whatever came within VTIME (VMIN 0). Canonical reads are one line, as the generic path does.

use std::sync::Arc;
use std::time::Duration;

use abi::Errno;
use vfs::OpenFile;
use waiter::events;

use super::pty::Pty;
use crate::deadline::Deadline;
use crate::syscalls::Iovec;
use crate::task::Task;

/// Bytes one read moves at most (as the generic read's chunk).
const READ_CHUNK: usize = 1 << 20;

impl Task {
    /// Reads the replica `file` of `pty` into guest memory at `addr`, up to `count` bytes.
    pub(crate) fn read_pty_replica(
        &self,
        file: &OpenFile,
        pty: &Pty,
        addr: u64,
        count: usize,
    ) -> Result<usize, Errno> {
        let mut buf = vec![0u8; count.min(READ_CHUNK)];
        let got = self.fill_pty_read(file, pty, &mut buf)?;
        self.mm.copy_out(addr, &buf[..got])?;
        Ok(got)
    }

    /// readv of a replica: one read, spread over `iovs` in order.
    pub(crate) fn readv_pty_replica(
        &self,
        file: &OpenFile,
        pty: &Pty,
        iovs: &[Iovec],
    ) -> Result<usize, Errno> {
        let total = iovs.iter().fold(0usize, |sum, iov| {
            sum.saturating_add(usize::try_from(iov.len).unwrap_or(usize::MAX))
        });
        let mut buf = vec![0u8; total.min(READ_CHUNK)];
        let got = self.fill_pty_read(file, pty, &mut buf)?;
        let mut copied = 0;
        for iov in iovs {
            if copied == got {
                break;
            }
            let n = (got - copied).min(usize::try_from(iov.len).unwrap_or(usize::MAX));
            self.mm.copy_out(iov.base, &buf[copied..copied + n])?;
            copied += n;
        }
        Ok(got)
    }

    fn fill_pty_read(&self, file: &OpenFile, pty: &Pty, buf: &mut [u8]) -> Result<usize, Errno> {
        let (min, time) = pty.read_limits();
        let timer = (time > 0).then(|| Duration::from_millis(100 * u64::from(time)));
        // The bytes a read waits for: a line or one byte in canonical mode (read_limits gives
        // 1), VMIN otherwise, never more than asked for.
        let want = usize::from(min).clamp(1, buf.len().max(1));
        let mut deadline = if min == 0 {
            Deadline::within(timer)
        } else {
            Deadline::within(None)
        };
        let nonblocking = file.status_flags() & libc::O_NONBLOCK != 0;
        let mut got = 0;
        let mut waited = false;
        loop {
            match file.read(&mut buf[got..]) {
                // A read already waiting when the master goes fails (Linux's n_tty_read sees
                // the other side closed); later reads of the hung-up replica are end-of-file.
                Ok(0) if waited && got == 0 && pty.hung_up() => return Err(Errno::EIO),
                Ok(0) => return Ok(got),
                Ok(n) => {
                    got += n;
                    if got >= want || got == buf.len() || pty.canonical() {
                        return Ok(got);
                    }
                    // VMIN and VTIME both set: VTIME is the longest wait between bytes.
                    if timer.is_some() {
                        deadline = Deadline::within(timer);
                    }
                    continue;
                }
                Err(Errno::EAGAIN) => {}
                Err(_) if got > 0 => return Ok(got),
                Err(e) => return Err(e),
            }
            if nonblocking || deadline.has_passed() {
                return if got > 0 || !nonblocking {
                    Ok(got)
                } else {
                    Err(Errno::EAGAIN)
                };
            }
            let Some(queue) = file.wait_queue() else {
                return Err(Errno::EAGAIN);
            };
            let waiter = Arc::clone(&self.handle.waiter);
            let _registration = queue.register(waiter.clone(), events::READABLE);
            waiter.clear();
            if file.readiness(events::READABLE) != 0 {
                continue;
            }
            if self.has_deliverable_signal() {
                return if got > 0 {
                    Ok(got)
                } else {
                    Err(abi::restart::ERESTARTSYS)
                };
            }
            waiter.sleep(deadline.instant());
            waited = true;
        }
    }
}
