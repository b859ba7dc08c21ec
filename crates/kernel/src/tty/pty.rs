//! A pseudo-terminal pair: the master (the terminal emulator's end, from /dev/ptmx) and the
//! replica (/dev/pts/N, the programs' end), joined by one line discipline.

use std::sync::Arc;

use abi::{Errno, SigInfo, Stat};
use parking_lot::{Mutex, MutexGuard};
use vfs::{FileOps, OpenFile};
use waiter::{events, WaitQueue};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use super::devpts::PtyTable;
use super::line_discipline::{LineDiscipline, Termios};
use super::JobControl;

// Packet-mode status bits (TIOCPKT), as <asm-generic/ioctls.h> numbers them.
const TIOCPKT_DATA: u8 = 0;
const TIOCPKT_FLUSHREAD: u8 = 1;
const TIOCPKT_FLUSHWRITE: u8 = 2;
const TIOCPKT_STOP: u8 = 4;
const TIOCPKT_START: u8 = 8;
const TIOCPKT_NOSTOP: u8 = 16;
const TIOCPKT_DOSTOP: u8 = 32;

/// `struct winsize` (TIOCGWINSZ).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
pub(crate) struct Winsize {
    pub(crate) rows: u16,
    pub(crate) cols: u16,
    pub(crate) xpixel: u16,
    pub(crate) ypixel: u16,
}

struct PtyState {
    ld: LineDiscipline,
    winsize: Winsize,
    /// Set at creation; the replica can't be opened until unlockpt (TIOCSPTLCK 0).
    locked: bool,
    /// TIOCPKT: master reads start with a status byte.
    packet: bool,
    /// TIOCPKT_* events not yet read by a packet-mode master.
    packet_status: u8,
    /// Open master and replica descriptions.
    masters: usize,
    replicas: usize,
    /// Whether a replica was ever opened: only then does its last close end the master's reads.
    replica_opened: bool,
    /// The replica node's owner and group: whoever opened the master (its fsuid, fsgid).
    owner: (u32, u32),
}

impl PtyState {
    fn hung_up(&self) -> bool {
        self.masters == 0
    }

    fn replica_closed(&self) -> bool {
        self.replica_opened && self.replicas == 0
    }
}

/// One pseudo-terminal.
pub(crate) struct Pty {
    pub(crate) index: u32,
    table: Arc<PtyTable>,
    state: Mutex<PtyState>,
    /// Both ends wait here: input, output, room, opens and closes.
    queue: Arc<WaitQueue>,
    /// The session it is the controlling terminal of, and its foreground process group.
    pub(crate) job: JobControl,
}

/// Which end of a pty a file is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum End {
    Master,
    Replica,
}

impl Pty {
    /// A new pty with its first master description open.
    pub(crate) fn new(index: u32, table: Arc<PtyTable>) -> Pty {
        Pty {
            index,
            table,
            state: Mutex::new(PtyState {
                ld: LineDiscipline::new(),
                winsize: Winsize::default(),
                locked: true,
                packet: false,
                packet_status: 0,
                masters: 1,
                replicas: 0,
                replica_opened: false,
                owner: (0, 0),
            }),
            queue: Arc::new(WaitQueue::new()),
            job: JobControl::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, PtyState> {
        self.state.lock()
    }

    fn notify(&self) {
        self.queue
            .notify(events::READABLE | events::WRITABLE | events::POLLHUP);
    }

    /// Opens a replica description (EIO while locked or after the master is gone).
    pub(crate) fn open_replica(self: &Arc<Self>) -> Result<PtyFile, Errno> {
        let mut state = self.lock();
        if state.locked || state.hung_up() {
            return Err(Errno::EIO);
        }
        state.replicas += 1;
        state.replica_opened = true;
        drop(state);
        self.notify();
        Ok(PtyFile {
            pty: Arc::clone(self),
            end: End::Replica,
        })
    }

    /// Whether the master is gone: the replica reads end-of-file and fails writes (EIO).
    pub(crate) fn hung_up(&self) -> bool {
        self.lock().hung_up()
    }

    /// The replica is `uid`'s and `gid`'s, as Linux's devpts gives it to the master's opener.
    pub(crate) fn set_owner(&self, uid: u32, gid: u32) {
        self.lock().owner = (uid, gid);
    }

    pub(crate) fn replica_stat(&self) -> Stat {
        let (uid, gid) = self.lock().owner;
        Stat {
            st_uid: uid,
            st_gid: gid,
            ..self.table.replica_stat(self.index)
        }
    }

    pub(crate) fn set_locked(&self, locked: bool) {
        self.lock().locked = locked;
    }

    pub(crate) fn locked(&self) -> bool {
        self.lock().locked
    }

    pub(crate) fn termios(&self) -> Termios {
        self.lock().ld.termios()
    }

    /// TCSETS*: `flush` discards pending input first (TCSETSF). Packet mode hears whether
    /// ^S/^Q flow control is now on or off.
    pub(crate) fn set_termios(&self, termios: Termios, flush: bool) {
        let mut state = self.lock();
        if flush {
            state.ld.flush_input();
        }
        let old = state.ld.termios();
        state.ld.set_termios(termios);
        let flow = Termios::standard_flow_control;
        if state.packet && flow(&old) != flow(&termios) {
            let (set, clear) = if flow(&termios) {
                (TIOCPKT_DOSTOP, TIOCPKT_NOSTOP)
            } else {
                (TIOCPKT_NOSTOP, TIOCPKT_DOSTOP)
            };
            state.packet_status = (state.packet_status & !clear) | set;
        }
        drop(state);
        self.notify();
    }

    /// VMIN and VTIME for a read: (1, 0) in canonical mode, where a line ends the read.
    pub(crate) fn read_limits(&self) -> (u8, u8) {
        self.lock().ld.read_limits()
    }

    pub(crate) fn canonical(&self) -> bool {
        self.lock().ld.termios().local(libc::ICANON)
    }

    pub(crate) fn winsize(&self) -> Winsize {
        self.lock().winsize
    }

    /// TIOCSWINSZ: a change is announced to the foreground process group with SIGWINCH.
    pub(crate) fn set_winsize(&self, winsize: Winsize) {
        let changed = std::mem::replace(&mut self.lock().winsize, winsize) != winsize;
        if changed {
            self.signal_foreground(libc::SIGWINCH);
        }
    }

    pub(crate) fn set_packet_mode(&self, on: bool) {
        let mut state = self.lock();
        if on && !state.packet {
            state.packet_status = 0;
        }
        state.packet = on;
    }

    pub(crate) fn packet_mode(&self) -> bool {
        self.lock().packet
    }

    /// TCFLSH: `queue` is TCIFLUSH, TCOFLUSH or TCIOFLUSH, as seen from `end`.
    pub(crate) fn flush(&self, end: End, queue: i32) -> Result<(), Errno> {
        let (input, output) = match queue {
            libc::TCIFLUSH => (true, false),
            libc::TCOFLUSH => (false, true),
            libc::TCIOFLUSH => (true, true),
            _ => return Err(Errno::EINVAL),
        };
        // The master's input is the replica's output, and the other way round.
        let (programs_input, programs_output) = match end {
            End::Replica => (input, output),
            End::Master => (output, input),
        };
        let mut state = self.lock();
        if programs_input {
            state.ld.flush_input();
            if state.packet {
                state.packet_status |= TIOCPKT_FLUSHREAD;
            }
        }
        if programs_output {
            state.ld.flush_output();
            if state.packet {
                state.packet_status |= TIOCPKT_FLUSHWRITE;
            }
        }
        drop(state);
        self.notify();
        Ok(())
    }

    /// TCXONC: TCOOFF/TCOON suspend and resume output; TCIOFF/TCION are accepted and, as for
    /// a pty on Linux, have nothing to send the other side.
    pub(crate) fn flow(&self, action: i32) -> Result<(), Errno> {
        let stop = match action {
            libc::TCOOFF => true,
            libc::TCOON => false,
            libc::TCIOFF | libc::TCION => return Ok(()),
            _ => return Err(Errno::EINVAL),
        };
        let mut state = self.lock();
        if state.ld.set_stopped(stop) && state.packet {
            let (set, clear) = if stop {
                (TIOCPKT_STOP, TIOCPKT_START)
            } else {
                (TIOCPKT_START, TIOCPKT_STOP)
            };
            state.packet_status = (state.packet_status & !clear) | set;
        }
        drop(state);
        self.notify();
        Ok(())
    }

    /// FIONREAD from `end`; TIOCOUTQ is the other end's FIONREAD.
    pub(crate) fn readable_bytes(&self, end: End) -> usize {
        let state = self.lock();
        match end {
            End::Replica => state.ld.input_available(),
            End::Master => state.ld.output_len(),
        }
    }

    /// Sends `signo` to the foreground process group, if there is one.
    pub(crate) fn signal_foreground(&self, signo: i32) {
        let pgid = self.job.foreground();
        if pgid <= 0 {
            return;
        }
        if let Some(kernel) = self.table.kernel() {
            kernel.signal_process_group(pgid, SigInfo::kernel(signo));
        }
    }

    fn master_read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut state = self.lock();
        let n = if state.packet && state.packet_status != 0 {
            buf[0] = std::mem::take(&mut state.packet_status);
            1
        } else if state.ld.output_len() > 0 {
            if state.packet {
                buf[0] = TIOCPKT_DATA;
                1 + state.ld.read_output(&mut buf[1..])
            } else {
                state.ld.read_output(buf)
            }
        } else if state.replica_closed() {
            return Err(Errno::EIO);
        } else {
            return Err(Errno::EAGAIN);
        };
        drop(state);
        self.notify();
        Ok(n)
    }

    fn master_write(&self, buf: &[u8]) -> Result<usize, Errno> {
        let (taken, signals) = self.lock().ld.receive(buf);
        if taken == 0 && !buf.is_empty() {
            return Err(Errno::EAGAIN);
        }
        self.notify();
        for signo in signals {
            self.signal_foreground(signo);
        }
        Ok(taken)
    }

    fn replica_read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        let mut state = self.lock();
        if state.hung_up() {
            return Ok(0);
        }
        let n = state.ld.read_input(buf).ok_or(Errno::EAGAIN)?;
        drop(state);
        self.notify();
        Ok(n)
    }

    fn replica_write(&self, buf: &[u8]) -> Result<usize, Errno> {
        let mut state = self.lock();
        if state.hung_up() {
            return Err(Errno::EIO);
        }
        let taken = state.ld.write_output(buf);
        drop(state);
        if taken == 0 && !buf.is_empty() {
            return Err(Errno::EAGAIN);
        }
        self.notify();
        Ok(taken)
    }

    fn readiness(&self, end: End, mask: u32) -> u32 {
        let state = self.lock();
        let ready = match end {
            End::Master => {
                let mut ready = 0;
                if state.ld.output_len() > 0 || (state.packet && state.packet_status != 0) {
                    ready |= events::READABLE;
                }
                if state.ld.input_room() {
                    ready |= events::WRITABLE;
                }
                if state.replica_closed() {
                    ready |= events::POLLHUP;
                }
                ready
            }
            End::Replica if state.hung_up() => {
                events::READABLE | events::WRITABLE | events::POLLHUP | events::POLLERR
            }
            End::Replica => {
                let mut ready = 0;
                if state.ld.input_ready() {
                    ready |= events::READABLE;
                }
                if state.ld.output_room() {
                    ready |= events::WRITABLE;
                }
                ready
            }
        };
        ready & (mask | events::ALWAYS)
    }

    /// The master's last description closed: the replica hangs up. Its session leader gets
    /// SIGHUP and SIGCONT and the session loses its controlling terminal (Linux's
    /// `tty_vhangup` of the replica); the replica's name goes from /dev/pts.
    fn master_closed(&self) {
        let mut state = self.lock();
        state.masters -= 1;
        if state.masters > 0 {
            return;
        }
        drop(state);
        self.table.remove(self.index);
        self.notify();
        let session = self.job.detach();
        if session > 0 {
            if let Some(kernel) = self.table.kernel() {
                kernel.signal_session_leader(session, &[libc::SIGHUP, libc::SIGCONT]);
            }
        }
    }

    fn replica_closed_one(&self) {
        self.lock().replicas -= 1;
        self.notify();
    }

    fn stat(&self, end: End) -> Stat {
        match end {
            End::Master => self.table.ptmx_stat(),
            End::Replica => self.replica_stat(),
        }
    }
}

/// An open description of one end of a pty.
pub(crate) struct PtyFile {
    pty: Arc<Pty>,
    end: End,
}

impl PtyFile {
    /// A new pty's master; the pty starts with this description counted.
    pub(crate) fn master(pty: Arc<Pty>) -> PtyFile {
        PtyFile {
            pty,
            end: End::Master,
        }
    }

    pub(crate) fn pty(&self) -> &Arc<Pty> {
        &self.pty
    }

    pub(crate) fn end(&self) -> End {
        self.end
    }

    /// The pty whose master an open file is, if it is one.
    pub(crate) fn master_of(file: &OpenFile) -> Option<&Pty> {
        PtyFile::of(file)
            .filter(|f| f.end == End::Master)
            .map(|f| f.pty.as_ref())
    }

    /// The pty whose replica an open file is, if it is one.
    pub(crate) fn replica_of(file: &OpenFile) -> Option<&Pty> {
        PtyFile::of(file)
            .filter(|f| f.end == End::Replica)
            .map(|f| f.pty.as_ref())
    }

    /// The pty end behind an open file, if it is one.
    pub(crate) fn of(file: &OpenFile) -> Option<&PtyFile> {
        file.ops().as_any().downcast_ref::<PtyFile>()
    }
}

impl Drop for PtyFile {
    fn drop(&mut self) {
        match self.end {
            End::Master => self.pty.master_closed(),
            End::Replica => self.pty.replica_closed_one(),
        }
    }
}

impl FileOps for PtyFile {
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(self.pty.stat(self.end))
    }

    fn pread(&self, _offset: u64, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::ESPIPE)
    }

    fn pwrite(&self, _offset: u64, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::ESPIPE)
    }

    fn read(&self, _pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        match self.end {
            End::Master => self.pty.master_read(buf),
            End::Replica => self.pty.replica_read(buf),
        }
    }

    fn write(&self, _pos: &mut u64, buf: &[u8], _append: bool) -> Result<usize, Errno> {
        match self.end {
            End::Master => self.pty.master_write(buf),
            End::Replica => self.pty.replica_write(buf),
        }
    }

    fn seek(&self, _pos: &mut u64, _offset: i64, _whence: i32) -> Result<u64, Errno> {
        Err(Errno::ESPIPE)
    }

    fn readiness(&self, mask: u32) -> u32 {
        self.pty.readiness(self.end, mask)
    }

    fn wait_queue(&self) -> Option<Arc<WaitQueue>> {
        Some(Arc::clone(&self.pty.queue))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
