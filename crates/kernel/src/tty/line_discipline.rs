//! The line discipline between a terminal's two sides (Linux's n_tty): what the keyboard side
//! (a pty master) writes is edited into lines, echoed and turned into job-control signals
//! before programs read it; what programs write is post-processed (ONLCR) for the other side.

use std::collections::VecDeque;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The kernel's `struct termios` (TCGETS), not glibc's larger one.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Termios {
    pub(crate) iflag: u32,
    pub(crate) oflag: u32,
    pub(crate) cflag: u32,
    pub(crate) lflag: u32,
    pub(crate) line: u8,
    pub(crate) cc: [u8; 19],
}

/// `struct termios2` (TCGETS2): the termios and the input and output speeds.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Termios2 {
    pub(crate) termios: Termios,
    pub(crate) ispeed: u32,
    pub(crate) ospeed: u32,
}

/// The speed Linux reports for a pty (B38400).
pub(crate) const PTY_SPEED: u32 = 38400;

// c_cc indexes, as the kernel numbers them (they differ from glibc's only past VEOL2).
const VINTR: usize = 0;
const VQUIT: usize = 1;
const VERASE: usize = 2;
const VKILL: usize = 3;
const VEOF: usize = 4;
const VTIME: usize = 5;
const VMIN: usize = 6;
const VSTART: usize = 8;
const VSTOP: usize = 9;
const VSUSP: usize = 10;
const VEOL: usize = 11;
const VWERASE: usize = 14;
const VLNEXT: usize = 15;
const VEOL2: usize = 16;

/// A control character slot set to this is disabled (`_POSIX_VDISABLE`).
const DISABLED: u8 = 0;

/// Bytes of input the discipline holds (Linux's N_TTY_BUF_SIZE); a canonical line holds one
/// less, so that its terminator always fits.
const INPUT_LIMIT: usize = 4096;
/// Bytes of processed output waiting for the other side before writers block.
const OUTPUT_LIMIT: usize = 16384;

impl Termios {
    /// A new terminal's settings (Linux's `tty_std_termios`): cooked mode, echo, signals.
    pub(crate) fn standard() -> Termios {
        let mut cc = [0u8; 19];
        cc[..17].copy_from_slice(
            b"\x03\x1c\x7f\x15\x04\x00\x01\x00\x11\x13\x1a\x00\x12\x0f\x17\x16\x00",
        );
        Termios {
            iflag: libc::ICRNL | libc::IXON,
            oflag: libc::OPOST | libc::ONLCR,
            cflag: libc::B38400 | libc::CS8 | libc::CREAD | libc::HUPCL,
            lflag: libc::ISIG
                | libc::ICANON
                | libc::ECHO
                | libc::ECHOE
                | libc::ECHOK
                | libc::ECHOCTL
                | libc::ECHOKE
                | libc::IEXTEN,
            line: 0,
            cc,
        }
    }

    fn input(&self, flag: u32) -> bool {
        self.iflag & flag != 0
    }
    fn output(&self, flag: u32) -> bool {
        self.oflag & flag != 0
    }
    pub(crate) fn local(&self, flag: u32) -> bool {
        self.lflag & flag != 0
    }

    /// Whether `c` is the enabled control character in slot `index`.
    fn is(&self, index: usize, c: u8) -> bool {
        self.cc[index] != DISABLED && self.cc[index] == c
    }

    /// Whether ^S/^Q stop and start output (what a packet-mode master hears as
    /// TIOCPKT_DOSTOP / TIOCPKT_NOSTOP).
    pub(crate) fn standard_flow_control(&self) -> bool {
        self.input(libc::IXON) && self.cc[VSTART] == 0x11 && self.cc[VSTOP] == 0x13
    }

    fn canonical(&self) -> bool {
        self.local(libc::ICANON)
    }
}

/// The state of one terminal's line discipline.
pub(crate) struct LineDiscipline {
    termios: Termios,
    /// Completed lines for canonical reads, each with its terminator (an EOF's is dropped, so
    /// an empty line is end-of-file).
    lines: VecDeque<Vec<u8>>,
    /// The bytes in `lines`, kept rather than summed for every byte typed.
    lines_len: usize,
    /// The line being edited in canonical mode.
    edit: Vec<u8>,
    /// Input in non-canonical mode.
    raw: VecDeque<u8>,
    /// Processed output and echoes, for the other side to read.
    output: VecDeque<u8>,
    /// The next input byte is taken literally (after VLNEXT).
    literal_next: bool,
    /// Output suspended by VSTOP or TCOOFF until VSTART or TCOON.
    stopped: bool,
}

impl LineDiscipline {
    pub(crate) fn new() -> LineDiscipline {
        LineDiscipline {
            termios: Termios::standard(),
            lines: VecDeque::new(),
            lines_len: 0,
            edit: Vec::new(),
            raw: VecDeque::new(),
            output: VecDeque::new(),
            literal_next: false,
            stopped: false,
        }
    }

    pub(crate) fn termios(&self) -> Termios {
        self.termios
    }

    /// TCSETS: switching canonical mode off makes everything typed so far readable; switching
    /// it on makes pending raw input the start of the line being edited.
    pub(crate) fn set_termios(&mut self, new: Termios) {
        let was_canonical = self.termios.canonical();
        self.termios = new;
        if was_canonical && !new.canonical() {
            self.raw.extend(self.lines.drain(..).flatten());
            self.lines_len = 0;
            self.raw.extend(self.edit.drain(..));
        } else if !was_canonical && new.canonical() {
            self.edit.extend(self.raw.drain(..));
        }
        if !new.input(libc::IXON) {
            self.stopped = false;
        }
    }

    fn input_len(&self) -> usize {
        self.lines_len + self.edit.len() + self.raw.len()
    }

    /// Takes keyboard input: returns how many bytes were taken (fewer when the input buffer is
    /// full) and the signals they raise for the foreground process group.
    pub(crate) fn receive(&mut self, input: &[u8]) -> (usize, Vec<i32>) {
        let mut signals = Vec::new();
        for (taken, &c) in input.iter().enumerate() {
            if self.input_len() >= INPUT_LIMIT {
                return (taken, signals);
            }
            if let Some(signo) = self.receive_byte(c) {
                signals.push(signo);
            }
        }
        (input.len(), signals)
    }

    fn receive_byte(&mut self, mut c: u8) -> Option<i32> {
        let t = self.termios;
        if t.input(libc::ISTRIP) {
            c &= 0x7f;
        }
        if self.literal_next {
            self.literal_next = false;
            self.take_char(c);
            return None;
        }
        if c == b'\r' {
            if t.input(libc::IGNCR) {
                return None;
            }
            if t.input(libc::ICRNL) {
                c = b'\n';
            }
        } else if c == b'\n' && t.input(libc::INLCR) {
            c = b'\r';
        }
        if t.input(libc::IXON) {
            if t.is(VSTOP, c) {
                self.stopped = true;
                return None;
            }
            if t.is(VSTART, c) {
                self.stopped = false;
                return None;
            }
        }
        if t.local(libc::ISIG) {
            let signo = if t.is(VINTR, c) {
                Some(libc::SIGINT)
            } else if t.is(VQUIT, c) {
                Some(libc::SIGQUIT)
            } else if t.is(VSUSP, c) {
                Some(libc::SIGTSTP)
            } else {
                None
            };
            if let Some(signo) = signo {
                if !t.local(libc::NOFLSH) {
                    self.flush_input();
                    self.flush_output();
                }
                if t.local(libc::ECHO) {
                    self.echo(c);
                }
                return Some(signo);
            }
        }
        if t.local(libc::IEXTEN) && t.is(VLNEXT, c) {
            self.literal_next = true;
            return None;
        }
        if !t.canonical() {
            self.raw.push_back(c);
            if t.local(libc::ECHO) {
                self.echo(c);
            } else if c == b'\n' && t.local(libc::ECHONL) {
                self.put_output(b'\n');
            }
            return None;
        }
        if t.is(VERASE, c) {
            self.erase(false);
        } else if t.local(libc::IEXTEN) && t.is(VWERASE, c) {
            self.erase(true);
        } else if t.is(VKILL, c) {
            self.kill_line(c);
        } else if t.is(VEOF, c) {
            self.complete_line();
        } else if c == b'\n' || t.is(VEOL, c) || (t.local(libc::IEXTEN) && t.is(VEOL2, c)) {
            self.edit.push(c);
            self.complete_line();
            if t.local(libc::ECHO) || (c == b'\n' && t.local(libc::ECHONL)) {
                self.echo(c);
            }
        } else {
            self.take_char(c);
        }
        None
    }

    /// The line being edited is complete: canonical reads may take it.
    fn complete_line(&mut self) {
        let line = std::mem::take(&mut self.edit);
        self.lines_len += line.len();
        self.lines.push_back(line);
    }

    /// An ordinary input byte: into the line (dropped when the line is full) or the raw queue.
    fn take_char(&mut self, c: u8) {
        if self.termios.canonical() {
            if self.edit.len() >= INPUT_LIMIT - 1 {
                return;
            }
            self.edit.push(c);
        } else {
            self.raw.push_back(c);
        }
        if self.termios.local(libc::ECHO) {
            self.echo(c);
        }
    }

    /// How many columns the echo of `c` took.
    fn echo_width(&self, c: u8) -> usize {
        if self.termios.local(libc::ECHOCTL) && is_control(c) {
            2
        } else {
            1
        }
    }

    /// VERASE (one character) or VWERASE (the last word and the blanks after it).
    fn erase(&mut self, word: bool) {
        let mut seen_word = false;
        while let Some(&c) = self.edit.last() {
            let blank = c == b' ' || c == b'\t';
            if word && blank && seen_word {
                break;
            }
            seen_word |= !blank;
            self.edit.pop();
            self.echo_erase(c);
            if !word {
                break;
            }
        }
    }

    fn echo_erase(&mut self, c: u8) {
        let t = self.termios;
        if !t.local(libc::ECHO) {
            return;
        }
        if t.local(libc::ECHOE) {
            for _ in 0..self.echo_width(c) {
                self.put_processed(b"\x08 \x08");
            }
        } else {
            self.echo(t.cc[VERASE]);
        }
    }

    /// VKILL: the line goes; erased visibly with ECHOKE, else the kill character and, with
    /// ECHOK, a newline are echoed.
    fn kill_line(&mut self, c: u8) {
        let t = self.termios;
        if t.local(libc::ECHO) && t.local(libc::ECHOKE) && t.local(libc::ECHOE) {
            while let Some(erased) = self.edit.pop() {
                self.echo_erase(erased);
            }
            return;
        }
        self.edit.clear();
        if t.local(libc::ECHO) {
            self.echo(c);
            if t.local(libc::ECHOK) {
                self.put_output(b'\n');
            }
        }
    }

    /// Echoes an input byte: control characters as `^X` under ECHOCTL (not tab or newline).
    fn echo(&mut self, c: u8) {
        if self.termios.local(libc::ECHOCTL) && is_control(c) && c != b'\n' {
            self.put_processed(&[b'^', c ^ 0x40]);
        } else {
            self.put_output(c);
        }
    }

    fn put_processed(&mut self, bytes: &[u8]) {
        for &c in bytes {
            self.put_output(c);
        }
    }

    /// Output post-processing of one byte (OPOST: ONLCR, OCRNL). Writers stop at
    /// OUTPUT_LIMIT; echoes, which can't wait, are dropped past twice that, so input typed
    /// while nobody reads the other side never grows the queue without bound.
    fn put_output(&mut self, c: u8) {
        if self.output.len() >= 2 * OUTPUT_LIMIT {
            return;
        }
        let t = self.termios;
        if t.output(libc::OPOST) {
            if c == b'\n' && t.output(libc::ONLCR) {
                self.output.push_back(b'\r');
            } else if c == b'\r' && t.output(libc::OCRNL) {
                self.output.push_back(b'\n');
                return;
            }
        }
        self.output.push_back(c);
    }

    /// Takes a program's output: returns how many bytes were taken (0 when output is stopped
    /// or the other side has not read what is waiting).
    pub(crate) fn write_output(&mut self, data: &[u8]) -> usize {
        if self.stopped {
            return 0;
        }
        for (taken, &c) in data.iter().enumerate() {
            if self.output.len() >= OUTPUT_LIMIT {
                return taken;
            }
            self.put_output(c);
        }
        data.len()
    }

    pub(crate) fn output_room(&self) -> bool {
        !self.stopped && self.output.len() < OUTPUT_LIMIT
    }

    pub(crate) fn input_room(&self) -> bool {
        self.input_len() < INPUT_LIMIT
    }

    /// Reads processed output (the other side's read).
    pub(crate) fn read_output(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.output.len());
        for (slot, byte) in buf.iter_mut().zip(self.output.drain(..n)) {
            *slot = byte;
        }
        n
    }

    pub(crate) fn output_len(&self) -> usize {
        self.output.len()
    }

    /// VMIN and VTIME as a read obeys them: (1, 0) in canonical mode.
    pub(crate) fn read_limits(&self) -> (u8, u8) {
        if self.termios.canonical() {
            (1, 0)
        } else {
            (self.termios.cc[VMIN], self.termios.cc[VTIME])
        }
    }

    /// A program's read: at most one line in canonical mode (0 bytes for end-of-file); `None`
    /// when it has to wait. A non-canonical read takes what is there; with neither VMIN nor
    /// VTIME it never waits (the kernel's read times VTIME and counts VMIN).
    pub(crate) fn read_input(&mut self, buf: &mut [u8]) -> Option<usize> {
        if self.termios.canonical() {
            let mut line = self.lines.pop_front()?;
            let n = buf.len().min(line.len());
            self.lines_len -= n;
            buf[..n].copy_from_slice(&line[..n]);
            if n < line.len() {
                line.drain(..n);
                self.lines.push_front(line);
            }
            return Some(n);
        }
        if self.raw.is_empty() {
            return (self.termios.cc[VMIN] == 0 && self.termios.cc[VTIME] == 0).then_some(0);
        }
        let n = buf.len().min(self.raw.len());
        for (slot, byte) in buf.iter_mut().zip(self.raw.drain(..n)) {
            *slot = byte;
        }
        Some(n)
    }

    /// Whether a program's read would return now.
    pub(crate) fn input_ready(&self) -> bool {
        if self.termios.canonical() {
            !self.lines.is_empty()
        } else {
            !self.raw.is_empty()
        }
    }

    /// FIONREAD on the program's side.
    pub(crate) fn input_available(&self) -> usize {
        if self.termios.canonical() {
            self.lines_len
        } else {
            self.raw.len()
        }
    }

    pub(crate) fn flush_input(&mut self) {
        self.lines.clear();
        self.lines_len = 0;
        self.edit.clear();
        self.raw.clear();
        self.literal_next = false;
    }

    pub(crate) fn flush_output(&mut self) {
        self.output.clear();
    }

    /// TCOOFF/TCOON; returns whether the state changed.
    pub(crate) fn set_stopped(&mut self, stopped: bool) -> bool {
        std::mem::replace(&mut self.stopped, stopped) != stopped
    }
}

fn is_control(c: u8) -> bool {
    (c < 0x20 && c != b'\t') || c == 0x7f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(ld: &mut LineDiscipline, input: &[u8]) -> Vec<i32> {
        let (n, signals) = ld.receive(input);
        assert_eq!(n, input.len());
        signals
    }

    fn echoed(ld: &mut LineDiscipline) -> Vec<u8> {
        let mut buf = [0u8; 256];
        let n = ld.read_output(&mut buf);
        buf[..n].to_vec()
    }

    fn read(ld: &mut LineDiscipline) -> Option<Vec<u8>> {
        let mut buf = [0u8; 256];
        ld.read_input(&mut buf).map(|n| buf[..n].to_vec())
    }

    #[test]
    fn canonical_editing() {
        let mut ld = LineDiscipline::new();
        typed(&mut ld, b"helo\x7flo wrld\x17world\r");
        assert_eq!(read(&mut ld).unwrap(), b"hello world\n");
        assert_eq!(
            echoed(&mut ld),
            b"helo\x08 \x08lo wrld\x08 \x08\x08 \x08\x08 \x08\x08 \x08world\r\n"
        );
        assert_eq!(read(&mut ld), None);
    }

    #[test]
    fn kill_and_eof() {
        let mut ld = LineDiscipline::new();
        typed(&mut ld, b"abc\x15x\x04\x04");
        assert_eq!(read(&mut ld).unwrap(), b"x");
        assert_eq!(read(&mut ld).unwrap(), b"");
    }

    #[test]
    fn signals_flush_and_echo() {
        let mut ld = LineDiscipline::new();
        assert_eq!(
            typed(&mut ld, b"ab\x03\x1a\x1c"),
            vec![libc::SIGINT, libc::SIGTSTP, libc::SIGQUIT]
        );
        // Each signal character flushes what was echoed before it.
        assert_eq!(echoed(&mut ld), b"^\\");
        assert_eq!(read(&mut ld), None);
    }

    #[test]
    fn raw_mode() {
        let mut ld = LineDiscipline::new();
        typed(&mut ld, b"ab");
        let mut raw = ld.termios();
        raw.lflag &= !(libc::ICANON | libc::ECHO);
        ld.set_termios(raw);
        assert_eq!(read(&mut ld).unwrap(), b"ab");
        assert_eq!(read(&mut ld), None);
        raw.cc[VMIN] = 0;
        ld.set_termios(raw);
        assert_eq!(read(&mut ld).unwrap(), b"");
    }

    #[test]
    fn unread_echo_is_bounded() {
        let mut ld = LineDiscipline::new();
        for _ in 0..100 {
            typed(&mut ld, &[b'x'; 1000]);
            typed(&mut ld, b"\n");
            while read(&mut ld).is_some() {}
        }
        assert!(ld.output_len() <= 2 * OUTPUT_LIMIT + 1);
    }

    #[test]
    fn output_processing() {
        let mut ld = LineDiscipline::new();
        assert_eq!(ld.write_output(b"a\nb"), 3);
        assert_eq!(echoed(&mut ld), b"a\r\nb");
    }
}
