//! `--strace`: one line per syscall with decoded arguments and the result.

use std::fmt::Write as _;

use abi::Errno;

use super::table::Syscall;
use super::{arg_i32, arg_i64, is_at_fdcwd, SyscallResult};
use crate::task::Task;

/// How to print a syscall argument.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Arg {
    Int,
    Uint,
    Hex,
    Oct,
    Ptr,
    Fd,
    /// A directory fd for the *at calls (AT_FDCWD by name).
    DirFd,
    /// A NUL-terminated path, read from guest memory.
    Path,
    /// A buffer the guest passes in; its length is the argument at this index.
    InBuf(usize),
    /// A buffer the kernel fills; printed after the call, as long as the result says.
    OutBuf,
}

/// Bytes of a buffer shown before "...".
const BUF_SHOWN: usize = 32;

/// Logs a call that never returns (exit, exit_group) before it runs; every other call is
/// logged once, with its result, by [`exit`].
pub(crate) fn enter(task: &Task, entry: &Syscall, args: &[u64; 6]) {
    if never_returns(entry) {
        log(format_args!(
            "[{:>4}] {}({})",
            task.tid,
            entry.name,
            format_args(task, entry, args, None)
        ));
    }
}

/// Logs the finished call with its result.
pub(crate) fn exit(
    task: &Task,
    nr: u64,
    entry: Option<&Syscall>,
    args: &[u64; 6],
    result: &SyscallResult,
) {
    let ret = match result {
        Ok(v) if *v < 4096 => v.to_string(),
        Ok(v) => format!("{v:#x}"),
        Err(e) => format!("-1 {} ({})", e.name(), describe(*e)),
    };
    match entry {
        Some(entry) if never_returns(entry) => {}
        Some(entry) => {
            let shown = format_args(task, entry, args, result.as_ref().ok().copied());
            log(format_args!(
                "[{:>4}] {}({}) = {}",
                task.tid, entry.name, shown, ret
            ));
        }
        None => {
            let sysno = usize::try_from(nr).ok().and_then(syscalls::Sysno::new);
            let name = sysno.map_or("unknown", |s| s.name());
            log(format_args!(
                "[{:>4}] {name}#{nr}({:#x}, {:#x}, ...) = {ret}",
                task.tid, args[0], args[1]
            ));
        }
    }
}

/// Writes one line of the log to the Sentry's stderr. A failed write is dropped: eprintln!
/// panics when stderr is gone (a closed pipe), and a panicking task thread never exits, so
/// its parent's wait and the sandbox's end would never come.
fn log(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// The errno's message, as strerror gives it (std adds "(os error N)", which strace doesn't).
fn never_returns(entry: &Syscall) -> bool {
    matches!(entry.name, "exit" | "exit_group")
}

fn describe(e: Errno) -> String {
    let message = std::io::Error::from_raw_os_error(e.0).to_string();
    match message.rfind(" (os error") {
        Some(i) => message[..i].to_owned(),
        None => message,
    }
}

fn format_args(task: &Task, entry: &Syscall, args: &[u64; 6], ret: Option<u64>) -> String {
    let mut out = String::new();
    for (i, (kind, &value)) in entry.args.iter().zip(args.iter()).enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = match kind {
            Arg::Int => write!(out, "{}", arg_i64(value)),
            Arg::Uint => write!(out, "{value}"),
            Arg::Hex | Arg::Ptr => write!(out, "{value:#x}"),
            Arg::Oct => write!(out, "{value:#o}"),
            Arg::Fd => write!(out, "{}", arg_i32(value)),
            Arg::DirFd if is_at_fdcwd(value) => write!(out, "AT_FDCWD"),
            Arg::DirFd => write!(out, "{}", arg_i32(value)),
            Arg::Path => write!(out, "{}", guest_string(task, value, 4096, None)),
            Arg::InBuf(len_arg) => {
                let len = args.get(*len_arg).copied().unwrap_or(0);
                write!(out, "{}", guest_string(task, value, BUF_SHOWN, Some(len)))
            }
            Arg::OutBuf => match ret {
                Some(len) => write!(out, "{}", guest_string(task, value, BUF_SHOWN, Some(len))),
                None => write!(out, "{value:#x}"),
            },
        };
    }
    out
}

/// A quoted, escaped rendering of guest bytes at `addr`: a C string when `len` is None.
fn guest_string(task: &Task, addr: u64, shown: usize, len: Option<u64>) -> String {
    let bytes = match len {
        None => task.mm.read_cstring(addr, shown),
        Some(len) => {
            let n = usize::try_from(len).unwrap_or(usize::MAX).min(shown);
            let mut buf = vec![0; n];
            task.mm.copy_in(addr, &mut buf).map(|()| buf)
        }
    };
    let Ok(bytes) = bytes else {
        return format!("{addr:#x}");
    };
    let mut s = String::from("\"");
    for &b in &bytes {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(char::from(b)),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s.push('"');
    if len.is_some_and(|l| l > bytes.len() as u64) {
        s.push_str("...");
    }
    s
}
