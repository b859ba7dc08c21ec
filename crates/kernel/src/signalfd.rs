//! signalfd: pending signals of a chosen set, read as `struct signalfd_siginfo` records.
//!
//! Linux reads and polls the signals of whichever task calls; file operations here don't know
//! the caller, so a signalfd serves the process that made it: its process-wide pending signals
//! and those aimed at any of its threads (thread-directed ones first, as Linux dequeues them).

use std::sync::{Arc, Weak};

use abi::{Errno, SigInfo, Stat};
use parking_lot::Mutex;
use vfs::{FileOps, OpenFile};
use waiter::{events, WaitQueue};
use zerocopy::{Immutable, IntoBytes, KnownLayout};

use crate::eventfd::anon_inode_stat;
use crate::task::{ThreadGroup, UNBLOCKABLE};

/// `struct signalfd_siginfo` (128 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default, IntoBytes, Immutable, KnownLayout)]
struct SignalfdSiginfo {
    signo: u32,
    errno: i32,
    code: i32,
    pid: u32,
    uid: u32,
    fd: i32,
    tid: u32,
    band: u32,
    overrun: u32,
    trapno: u32,
    status: i32,
    int: i32,
    ptr: u64,
    utime: u64,
    stime: u64,
    addr: u64,
    addr_lsb: u16,
    pad2: u16,
    syscall: i32,
    call_addr: u64,
    arch: u32,
    pad: [u8; 28],
}

/// Size of one record; reads need room for at least one.
const RECORD_LEN: usize = std::mem::size_of::<SignalfdSiginfo>();

/// Signals whose si_code > 0 carries a faulting address (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP).
fn is_fault_signal(signo: i32) -> bool {
    matches!(
        signo,
        libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE | libc::SIGTRAP
    )
}

impl SignalfdSiginfo {
    /// The record for `info`, with the union fields its layout has (Linux's
    /// signalfd_copyinfo).
    fn from_info(info: &SigInfo) -> SignalfdSiginfo {
        let mut record = SignalfdSiginfo {
            signo: info.signo.cast_unsigned(),
            errno: info.errno,
            code: info.code,
            ..SignalfdSiginfo::default()
        };
        let low = |word: u64| u32::try_from(word & 0xffff_ffff).unwrap_or_default();
        let high = |word: u64| u32::try_from(word >> 32).unwrap_or_default();
        let word0 = info.fields[0];
        if info.code > 0 && is_fault_signal(info.signo) {
            record.addr = word0;
        } else if info.code > 0 && info.signo == libc::SIGCHLD {
            record.pid = low(word0);
            record.uid = high(word0);
            record.status = low(info.fields[1]).cast_signed();
        } else if info.code <= 0 {
            // kill, tgkill, sigqueue: the sender, and sigqueue's value.
            record.pid = low(word0);
            record.uid = high(word0);
            record.int = low(info.fields[1]).cast_signed();
            record.ptr = info.fields[1];
        }
        record
    }
}

/// The file behind a signalfd.
pub(crate) struct SignalFd {
    group: Weak<ThreadGroup>,
    /// The signals it reports (never SIGKILL or SIGSTOP).
    mask: Mutex<u64>,
    queue: Arc<WaitQueue>,
}

/// Makes a signalfd for `group`'s signals in `mask`, with O_NONBLOCK from `flags`.
pub(crate) fn new_signalfd(group: &Arc<ThreadGroup>, mask: u64, flags: i32) -> Arc<OpenFile> {
    OpenFile::anonymous(
        Box::new(SignalFd {
            group: Arc::downgrade(group),
            mask: Mutex::new(mask & !UNBLOCKABLE),
            queue: Arc::clone(&group.signal_events),
        }),
        libc::O_RDWR | (flags & libc::O_NONBLOCK),
    )
}

impl SignalFd {
    /// signalfd on an existing signalfd: report `mask` from now on.
    pub(crate) fn set_mask(&self, mask: u64) {
        *self.mask.lock() = mask & !UNBLOCKABLE;
        // Signals already pending may now be readable.
        self.queue.notify(events::POLLIN);
    }

    /// The signals in the mask that are pending for the group or any of its threads.
    fn pending(&self) -> u64 {
        let Some(group) = self.group.upgrade() else {
            return 0;
        };
        let state = group.state.lock();
        let threads = state
            .threads
            .iter()
            .fold(0, |set, t| set | t.signals.lock().pending.set());
        (state.pending.set() | threads) & *self.mask.lock()
    }

    /// Dequeues one pending signal in the mask.
    fn take(&self) -> Option<SigInfo> {
        let group = self.group.upgrade()?;
        let others = !*self.mask.lock();
        let mut state = group.state.lock();
        let from_thread = state
            .threads
            .iter()
            .find_map(|t| t.signals.lock().pending.take(others));
        from_thread.or_else(|| state.pending.take(others))
    }
}

impl FileOps for SignalFd {
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(anon_inode_stat())
    }

    fn read(&self, _pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.len() < RECORD_LEN {
            return Err(Errno::EINVAL);
        }
        let mut done = 0;
        for slot in buf.chunks_exact_mut(RECORD_LEN) {
            let Some(info) = self.take() else { break };
            slot.copy_from_slice(SignalfdSiginfo::from_info(&info).as_bytes());
            done += RECORD_LEN;
        }
        if done == 0 {
            return Err(Errno::EAGAIN);
        }
        Ok(done)
    }

    fn write(&self, _pos: &mut u64, _buf: &[u8], _append: bool) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }

    fn seek(&self, _pos: &mut u64, _offset: i64, _whence: i32) -> Result<u64, Errno> {
        Err(Errno::ESPIPE)
    }

    fn readiness(&self, mask: u32) -> u32 {
        if self.pending() != 0 {
            mask & events::READABLE
        } else {
            0
        }
    }

    fn wait_queue(&self) -> Option<Arc<WaitQueue>> {
        Some(Arc::clone(&self.queue))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_layout() {
        assert_eq!(RECORD_LEN, 128);
        let record = SignalfdSiginfo::from_info(&SigInfo::from_process(
            libc::SIGUSR1,
            abi::SI_USER,
            7,
            1000,
        ));
        assert_eq!(record.signo, libc::SIGUSR1.cast_unsigned());
        assert_eq!((record.pid, record.uid), (7, 1000));
        let fault = SignalfdSiginfo::from_info(&SigInfo::fault(libc::SIGSEGV, 1, 0xdead));
        assert_eq!((fault.addr, fault.pid), (0xdead, 0));
    }
}
