//! Terminals as controlling terminals: job control (who may read, write and reconfigure a
//! terminal, who gets its signals) and the session ioctls. Two kinds: the sandbox's stdio,
//! when the caller gave it a tty (the controlling terminal of init's session, 1, for good),
//! and the ptys of devpts, which sessions acquire and lose as on Linux.

use std::sync::{Arc, Weak};

use abi::{Errno, SigInfo};
use parking_lot::Mutex;
use vfs::OpenFile;

use crate::kernel::Kernel;
use crate::task::{Task, ThreadGroup};
use crate::tty::line_discipline::Termios;
use crate::tty::pty::{End, Pty, PtyFile};
use crate::tty::JobControl;

/// The session that owns the sandbox's own terminal: init's.
const TERMINAL_SID: i32 = 1;

/// Size of the kernel's `struct termios` (TCGETS).
pub(crate) const TERMIOS_SIZE: usize = std::mem::size_of::<Termios>();

/// The sandbox's stdio, when a tty, and its foreground process group.
pub(crate) struct Terminal {
    /// The open files (the stdio descriptions) that are the terminal.
    files: Mutex<Vec<Weak<OpenFile>>>,
    job: JobControl,
}

impl Default for Terminal {
    fn default() -> Self {
        Terminal {
            files: Mutex::new(Vec::new()),
            job: JobControl::controlling(TERMINAL_SID, 1),
        }
    }
}

impl Terminal {
    /// Registers `file` as the terminal if it is a tty (TCGETS answers).
    pub(crate) fn adopt_if_tty(&self, file: &Arc<OpenFile>) {
        let mut termios = [0u8; TERMIOS_SIZE];
        if file
            .ioctl(crate::syscalls::arg_u32(libc::TCGETS), &mut termios)
            .is_ok()
        {
            self.files.lock().push(Arc::downgrade(file));
        }
    }

    pub(crate) fn is_terminal(&self, file: &Arc<OpenFile>) -> bool {
        self.files
            .lock()
            .iter()
            .any(|f| std::ptr::eq(f.as_ptr(), Arc::as_ptr(file)))
    }

    /// One of the stdio descriptions that is the terminal (what init's session opens as
    /// /dev/tty), if the sandbox has one.
    fn any_file(&self) -> Option<Arc<OpenFile>> {
        self.files.lock().iter().find_map(Weak::upgrade)
    }

    pub(crate) fn foreground(&self) -> i32 {
        self.job.foreground()
    }
}

/// The terminal an open file is.
enum Tty {
    /// The sandbox's stdio.
    Host,
    Pty(Arc<Pty>, End),
}

/// Whether a signal sent to the caller's own group now would be discarded or held back, in
/// which case Linux doesn't send the job-control signal and fails the access instead.
fn ignores_or_blocks(task: &Task, signo: i32) -> bool {
    let bit = 1u64 << (signo - 1);
    let blocked = task.handle.signals.lock().mask & bit != 0;
    let state = task.tg().state.lock();
    let handler = state.handlers.lock().get(signo).handler;
    blocked || handler == libc::SIG_IGN as u64
}

impl Task {
    /// The caller's process group and session.
    pub(crate) fn group_and_session(&self) -> (i32, i32) {
        let state = self.tg().state.lock();
        (state.pgid, state.sid)
    }

    fn tty_of(&self, file: &Arc<OpenFile>) -> Option<Tty> {
        if let Some(end) = PtyFile::of(file) {
            return Some(Tty::Pty(Arc::clone(end.pty()), end.end()));
        }
        self.kernel.terminal.is_terminal(file).then_some(Tty::Host)
    }

    fn job_of<'a>(&'a self, tty: &'a Tty) -> &'a JobControl {
        match tty {
            Tty::Host => &self.kernel.terminal.job,
            Tty::Pty(pty, _) => &pty.job,
        }
    }

    /// Whether session `sid` has a controlling terminal.
    fn session_has_terminal(&self, sid: i32) -> bool {
        self.kernel.ptys.controlling(sid).is_some()
            || (sid == TERMINAL_SID && self.kernel.terminal.any_file().is_some())
    }

    /// Job control before using a terminal (Linux's tty_check_change and its SIGTTIN twin):
    /// a background process group of the terminal's session gets `signo` (SIGTTIN or SIGTTOU)
    /// and the call is restarted once it is continued; if the signal would be ignored, reads
    /// fail with EIO and changes go ahead. A pty's master side has no job control.
    fn job_control_check(&self, job: &JobControl, signo: i32) -> Result<(), Errno> {
        let (pgid, sid) = self.group_and_session();
        if sid != job.session() || pgid == job.foreground() || job.foreground() == 0 {
            return Ok(());
        }
        if ignores_or_blocks(self, signo) {
            return if signo == libc::SIGTTIN {
                Err(Errno::EIO)
            } else {
                Ok(())
            };
        }
        // Nobody would continue an orphaned group that stopped.
        if self.kernel.is_orphaned_group(pgid, sid) {
            return Err(Errno::EIO);
        }
        self.kernel
            .signal_process_group(pgid, SigInfo::kernel(signo));
        Err(abi::restart::ERESTARTSYS)
    }

    /// Job control before reading (`SIGTTIN`) or reconfiguring (`SIGTTOU`) `file`, if it is
    /// a terminal's programs' side.
    pub(crate) fn terminal_access(&self, file: &Arc<OpenFile>, signo: i32) -> Result<(), Errno> {
        match self.tty_of(file) {
            None | Some(Tty::Pty(_, End::Master)) => Ok(()),
            Some(tty) => self.job_control_check(self.job_of(&tty), signo),
        }
    }

    /// Job control before writing `file`: a pty replica with TOSTOP stops background writers.
    /// (Only ptys: every write passes here, and the host tty's TOSTOP is the host's.)
    pub(crate) fn terminal_write_access(&self, file: &OpenFile) -> Result<(), Errno> {
        match PtyFile::replica_of(file) {
            Some(pty) if pty.termios().local(libc::TOSTOP) => {
                self.job_control_check(&pty.job, libc::SIGTTOU)
            }
            _ => Ok(()),
        }
    }

    /// The terminal ioctls of `file`; `None` for other files and for requests any file
    /// answers (FIONBIO, FIOCLEX...).
    pub(crate) fn terminal_ioctl(
        &self,
        file: &Arc<OpenFile>,
        cmd: u64,
        arg: u64,
    ) -> Option<Result<u64, Errno>> {
        let tty = self.tty_of(file)?;
        if let Some(result) = self.session_ioctl(&tty, cmd, arg) {
            return Some(result);
        }
        match tty {
            Tty::Host => None,
            Tty::Pty(pty, end) => self.pty_ioctl(&pty, end, cmd, arg),
        }
    }

    /// The job-control ioctls every terminal has.
    fn session_ioctl(&self, tty: &Tty, cmd: u64, arg: u64) -> Option<Result<u64, Errno>> {
        let job = self.job_of(tty);
        let (_, sid) = self.group_and_session();
        // A pty's master may ask about its replica's session; others only of their own terminal.
        let own = sid == job.session() || matches!(tty, Tty::Pty(_, End::Master));
        if let Tty::Pty(pty, End::Replica) = tty {
            if pty.hung_up() && cmd != libc::TIOCSPGRP {
                return Some(Err(Errno::EIO));
            }
        }
        let result = match cmd {
            libc::TIOCGPGRP | libc::TIOCGSID if !own => Err(Errno::ENOTTY),
            libc::TIOCGPGRP => self.mm.write_obj(arg, &job.foreground()).map(|()| 0),
            libc::TIOCGSID if job.session() == 0 => Err(Errno::ENOTTY),
            libc::TIOCGSID => self.mm.write_obj(arg, &job.session()).map(|()| 0),
            libc::TIOCSPGRP => self.set_foreground(job, arg),
            libc::TIOCSCTTY => match tty {
                // The terminal is init's session's for good: a session leader asking for it
                // again gets it, anyone else EPERM, as for a terminal held by another session.
                Tty::Host if sid == TERMINAL_SID => Ok(0),
                Tty::Host => Err(Errno::EPERM),
                Tty::Pty(pty, _) => self.acquire_terminal(pty, arg == 1).map(|()| 0),
            },
            libc::TIOCNOTTY => match tty {
                Tty::Host => Ok(0),
                _ if sid != job.session() => Err(Errno::ENOTTY),
                Tty::Pty(pty, _) => {
                    // The session leader gives the terminal up for the whole session, whose
                    // foreground group hears of it (Linux's disassociate_ctty).
                    if self.pid() == sid {
                        let foreground = job.foreground();
                        pty.job.detach();
                        for signo in [libc::SIGHUP, libc::SIGCONT] {
                            self.kernel
                                .signal_process_group(foreground, SigInfo::kernel(signo));
                        }
                    }
                    Ok(0)
                }
            },
            _ => return None,
        };
        Some(result)
    }

    /// TIOCSCTTY: a session leader without a controlling terminal makes `pty` its own; one
    /// another session holds is only taken with `steal` by a CAP_SYS_ADMIN caller.
    fn acquire_terminal(&self, pty: &Pty, steal: bool) -> Result<(), Errno> {
        let (pgid, sid) = self.group_and_session();
        let leader = self.pid() == sid;
        if leader && pty.job.session() == sid {
            return Ok(());
        }
        if !leader || self.session_has_terminal(sid) {
            return Err(Errno::EPERM);
        }
        if pty.job.session() != 0
            && !(steal && self.creds().capable(crate::syscalls::CAP_SYS_ADMIN))
        {
            return Err(Errno::EPERM);
        }
        pty.job.attach(sid, pgid);
        Ok(())
    }

    /// After an open: a new pty's replica belongs to the master's opener; an open of a pty
    /// replica without O_NOCTTY may make it the caller's controlling terminal.
    pub(crate) fn terminal_opened(&self, file: &Arc<OpenFile>, flags: i32) {
        if let Some(pty) = PtyFile::master_of(file) {
            let creds = self.creds();
            pty.set_owner(creds.fsuid, creds.fsgid);
        } else if flags & libc::O_NOCTTY == 0 {
            self.acquire_terminal_on_open(file);
        }
    }

    /// An open of a pty replica by a session leader without a controlling terminal makes it
    /// the session's (Linux's tty_open_proc_set_tty).
    pub(crate) fn acquire_terminal_on_open(&self, file: &Arc<OpenFile>) {
        if let Some(Tty::Pty(pty, End::Replica)) = self.tty_of(file) {
            if pty.job.session() == 0 {
                let _ = self.acquire_terminal(&pty, false);
            }
        }
    }

    /// An open of /dev/tty: the caller's controlling terminal, anew; ENXIO without one.
    pub(crate) fn open_controlling_terminal(&self, flags: i32) -> Result<Arc<OpenFile>, Errno> {
        let (_, sid) = self.group_and_session();
        if let Some(pty) = self.kernel.ptys.controlling(sid) {
            let replica = pty.open_replica()?;
            return Ok(OpenFile::anonymous(Box::new(replica), flags));
        }
        if sid == TERMINAL_SID {
            if let Some(file) = self.kernel.terminal.any_file() {
                return Ok(file);
            }
        }
        Err(Errno::ENXIO)
    }

    fn set_foreground(&self, job: &JobControl, arg: u64) -> Result<u64, Errno> {
        let (own_pgid, sid) = self.group_and_session();
        if sid != job.session() {
            return Err(Errno::ENOTTY);
        }
        let pgid: i32 = self.mm.read_obj(arg)?;
        if pgid < 0 {
            return Err(Errno::EINVAL);
        }
        let exists = self.kernel.pids.lock().groups().any(|g| {
            let s = g.state.lock();
            s.pgid == pgid && s.sid == sid && s.zombie.is_none()
        });
        if !exists {
            return Err(Errno::EPERM);
        }
        if own_pgid != job.foreground() && !ignores_or_blocks(self, libc::SIGTTOU) {
            self.kernel
                .signal_process_group(own_pgid, SigInfo::kernel(libc::SIGTTOU));
            return Err(abi::restart::ERESTARTSYS);
        }
        job.set_foreground(pgid);
        Ok(0)
    }

    /// Job control before a pty ioctl that changes the terminal, from the replica side.
    pub(crate) fn pty_change_check(&self, pty: &Pty, end: End) -> Result<(), Errno> {
        if end == End::Master {
            return Ok(());
        }
        self.job_control_check(&pty.job, libc::SIGTTOU)
    }
}

impl Kernel {
    /// Sends `info` to every process of group `pgid`.
    pub(crate) fn signal_process_group(&self, pgid: i32, info: SigInfo) {
        let members: Vec<Arc<ThreadGroup>> = self
            .pids
            .lock()
            .groups()
            .filter(|g| {
                let s = g.state.lock();
                s.pgid == pgid && s.zombie.is_none()
            })
            .cloned()
            .collect();
        for tg in &members {
            self.signal_group(tg, info);
        }
    }

    /// Whether process group `pgid` of session `sid` is orphaned (POSIX): no living member has
    /// a parent in another group of the same session, who could continue it.
    pub(crate) fn is_orphaned_group(&self, pgid: i32, sid: i32) -> bool {
        let pids = self.pids.lock();
        let parents: Vec<Arc<ThreadGroup>> = pids
            .groups()
            .filter_map(|g| {
                let s = g.state.lock();
                (s.pgid == pgid && s.zombie.is_none())
                    .then(|| s.parent.clone())
                    .flatten()
            })
            .collect();
        // Each parent's lock is taken alone: parents are locked before children, never after.
        !parents.iter().any(|p| {
            let s = p.state.lock();
            s.pgid != pgid && s.sid == sid
        })
    }

    /// Sends `signals` to the leader of session `sid`, if it is alive.
    pub(crate) fn signal_session_leader(&self, sid: i32, signals: &[i32]) {
        let leader = self.pids.lock().group(sid);
        let Some(leader) = leader.filter(|g| g.state.lock().sid == sid) else {
            return;
        };
        for &signo in signals {
            self.signal_group(&leader, SigInfo::kernel(signo));
        }
    }

    /// A session leader exited: its controlling pty stops being one, and its foreground
    /// process group gets SIGHUP (Linux's disassociate_ctty on exit).
    pub(crate) fn session_leader_exited(&self, sid: i32) {
        if let Some(pty) = self.ptys.controlling(sid) {
            let foreground = pty.job.foreground();
            pty.job.detach();
            if foreground > 0 {
                self.signal_process_group(foreground, SigInfo::kernel(libc::SIGHUP));
            }
        }
    }

    /// A signal the host sent the Sentry, passed on to the guest: the keyboard's (SIGINT,
    /// SIGQUIT, SIGWINCH) to the terminal's foreground group, the rest to init — as if sent to
    /// the sandbox as a whole.
    pub fn forward_host_signal(&self, signo: i32) {
        let info = SigInfo::kernel(signo);
        match signo {
            libc::SIGINT | libc::SIGQUIT | libc::SIGWINCH => {
                self.signal_process_group(self.terminal.foreground(), info);
            }
            _ => {
                if let Some(init) = self.init() {
                    self.signal_group(&init, info);
                }
            }
        }
    }
}
