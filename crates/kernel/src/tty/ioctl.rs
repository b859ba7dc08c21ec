//! The ioctls of a pty's ends: termios, window size, the pty pair's own (TIOCGPTN, lock,
//! packet mode, TIOCGPTPEER) and queue control. Session ioctls are in `terminal`.

use std::sync::Arc;

use abi::Errno;
use vfs::OpenFile;

use super::line_discipline::{Termios, Termios2, PTY_SPEED};
use super::pty::{End, Pty};
use crate::syscalls::arg_i32;
use crate::task::Task;

impl Task {
    /// A pty ioctl from `end`; `None` for requests every file answers (FIONBIO, FIOCLEX...).
    pub(crate) fn pty_ioctl(
        &self,
        pty: &Arc<Pty>,
        end: End,
        cmd: u64,
        arg: u64,
    ) -> Option<Result<u64, Errno>> {
        if matches!(
            cmd,
            libc::FIONBIO | libc::FIOCLEX | libc::FIONCLEX | libc::FIOASYNC
        ) {
            return None;
        }
        if end == End::Replica && pty.hung_up() {
            return Some(Err(Errno::EIO));
        }
        // The master's own requests; TIOCGPTPEER is the generic tty layer's, which refuses a
        // non-master with EIO.
        let master_only = matches!(
            cmd,
            libc::TIOCGPTN | libc::TIOCSPTLCK | libc::TIOCGPTLCK | libc::TIOCPKT | libc::TIOCGPKT
        );
        if end != End::Master && (master_only || cmd == libc::TIOCGPTPEER) {
            return Some(Err(if master_only {
                Errno::ENOTTY
            } else {
                Errno::EIO
            }));
        }
        Some(self.pty_request(pty, end, cmd, arg))
    }

    fn pty_request(&self, pty: &Arc<Pty>, end: End, cmd: u64, arg: u64) -> Result<u64, Errno> {
        let write_int = |value: i32| self.mm.write_obj(arg, &value).map(|()| 0);
        match cmd {
            libc::TCGETS => self.mm.write_obj(arg, &pty.termios()).map(|()| 0),
            libc::TCGETS2 => {
                let termios2 = Termios2 {
                    termios: pty.termios(),
                    ispeed: PTY_SPEED,
                    ospeed: PTY_SPEED,
                };
                self.mm.write_obj(arg, &termios2).map(|()| 0)
            }
            libc::TCSETS | libc::TCSETSW | libc::TCSETSF => {
                let termios: Termios = self.mm.read_obj(arg)?;
                self.pty_change_check(pty, end)?;
                pty.set_termios(termios, cmd == libc::TCSETSF);
                Ok(0)
            }
            libc::TCSETS2 | libc::TCSETSW2 | libc::TCSETSF2 => {
                let termios2: Termios2 = self.mm.read_obj(arg)?;
                self.pty_change_check(pty, end)?;
                pty.set_termios(termios2.termios, cmd == libc::TCSETSF2);
                Ok(0)
            }
            libc::TIOCGWINSZ => self.mm.write_obj(arg, &pty.winsize()).map(|()| 0),
            libc::TIOCSWINSZ => {
                pty.set_winsize(self.mm.read_obj(arg)?);
                Ok(0)
            }
            libc::TIOCGPTN => self.mm.write_obj(arg, &pty.index).map(|()| 0),
            libc::TIOCSPTLCK => {
                let lock: i32 = self.mm.read_obj(arg)?;
                pty.set_locked(lock != 0);
                Ok(0)
            }
            libc::TIOCGPTLCK => write_int(i32::from(pty.locked())),
            libc::TIOCPKT => {
                let on: i32 = self.mm.read_obj(arg)?;
                pty.set_packet_mode(on != 0);
                Ok(0)
            }
            libc::TIOCGPKT => write_int(i32::from(pty.packet_mode())),
            libc::TIOCGPTPEER => self.open_peer(pty, arg_i32(arg)),
            libc::FIONREAD => write_int(i32::try_from(pty.readable_bytes(end)).unwrap_or(i32::MAX)),
            // A pty holds no output of its own on the way out (Linux's ptys have no
            // chars_in_buffer), so the output queue is always empty.
            libc::TIOCOUTQ => write_int(0),
            libc::TCFLSH => {
                self.pty_change_check(pty, end)?;
                pty.flush(end, arg_i32(arg)).map(|()| 0)
            }
            libc::TCXONC => {
                self.pty_change_check(pty, end)?;
                pty.flow(arg_i32(arg)).map(|()| 0)
            }
            // tcdrain and breaks: output is never held back on the way to the other end.
            libc::TCSBRK | libc::TCSBRKP | libc::TIOCSBRK | libc::TIOCCBRK => Ok(0),
            _ => Err(Errno::ENOTTY),
        }
    }

    /// TIOCGPTPEER: opens the replica of the caller's master as a new descriptor, without
    /// looking up its name (so it can't be raced by another /dev/pts).
    fn open_peer(&self, pty: &Arc<Pty>, flags: i32) -> Result<u64, Errno> {
        let allowed = libc::O_ACCMODE | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
        if flags & !allowed != 0 {
            return Err(Errno::EINVAL);
        }
        let replica = pty.open_replica()?;
        let file = OpenFile::anonymous(Box::new(replica), flags);
        if flags & libc::O_NOCTTY == 0 {
            self.acquire_terminal_on_open(&file);
        }
        let limit = self.nofile_limit();
        Ok(self
            .fds()
            .install(file, flags & libc::O_CLOEXEC != 0, 0, limit)? as u64)
    }
}
