//! prctl(2): the per-thread and per-process settings Linux keeps there (name, parent-death
//! signal, no_new_privs, dumpable, keepcaps, child subreaper, the capability bounding set),
//! and what the kernel does with them when a process exits.

use std::sync::Arc;

use abi::{Errno, SigInfo};

use super::creds::{CAP_LAST_CAP, CAP_SETPCAP};
use super::{arg_i32, SyscallResult};
use crate::kernel::Kernel;
use crate::loader::COMM_LEN;
use crate::task::{Task, ThreadGroup, NSIG};

const PR_SET_PDEATHSIG: i32 = 1;
const PR_GET_PDEATHSIG: i32 = 2;
const PR_GET_DUMPABLE: i32 = 3;
const PR_SET_DUMPABLE: i32 = 4;
const PR_GET_KEEPCAPS: i32 = 7;
const PR_SET_KEEPCAPS: i32 = 8;
const PR_SET_NAME: i32 = 15;
const PR_GET_NAME: i32 = 16;
const PR_GET_SECCOMP: i32 = 21;
const PR_CAPBSET_READ: i32 = 23;
const PR_CAPBSET_DROP: i32 = 24;
const PR_SET_CHILD_SUBREAPER: i32 = 36;
const PR_GET_CHILD_SUBREAPER: i32 = 37;
const PR_SET_NO_NEW_PRIVS: i32 = 38;
const PR_GET_NO_NEW_PRIVS: i32 = 39;

/// A boolean argument: 0 or 1, EINVAL otherwise.
fn flag_arg(value: u64) -> Result<bool, Errno> {
    match value {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(Errno::EINVAL),
    }
}

/// A capability number argument (EINVAL past CAP_LAST_CAP).
fn cap_arg(value: u64) -> Result<u32, Errno> {
    u32::try_from(value)
        .ok()
        .filter(|&cap| cap <= CAP_LAST_CAP)
        .ok_or(Errno::EINVAL)
}

pub(super) fn prctl(task: &mut Task, a: &[u64; 6]) -> SyscallResult {
    match arg_i32(a[0]) {
        PR_SET_PDEATHSIG => {
            let signo = i32::try_from(a[1])
                .ok()
                .filter(|s| (0..=NSIG).contains(s))
                .ok_or(Errno::EINVAL)?;
            task.handle.settings.lock().pdeathsig = signo;
            Ok(0)
        }
        PR_GET_PDEATHSIG => {
            let signo = task.handle.settings.lock().pdeathsig;
            task.mm.write_obj(a[1], &signo)?;
            Ok(0)
        }
        PR_GET_DUMPABLE => Ok(u64::from(task.tg().state.lock().dumpable)),
        PR_SET_DUMPABLE => {
            task.tg().state.lock().dumpable = flag_arg(a[1])?;
            Ok(0)
        }
        PR_GET_KEEPCAPS => Ok(u64::from(task.creds().keep_caps)),
        PR_SET_KEEPCAPS => {
            task.tg().state.lock().creds.keep_caps = flag_arg(a[1])?;
            Ok(0)
        }
        PR_SET_NAME => {
            // The name is cut to 15 bytes; reading stops at the NUL or there.
            let mut name = match task.mm.read_cstring(a[1], COMM_LEN + 1) {
                Ok(name) => name,
                Err(Errno::ENAMETOOLONG) => {
                    let mut buf = [0u8; COMM_LEN];
                    task.mm.copy_in(a[1], &mut buf)?;
                    buf.to_vec()
                }
                Err(e) => return Err(e),
            };
            name.truncate(COMM_LEN);
            *task.handle.comm.lock() = name;
            Ok(0)
        }
        PR_GET_NAME => {
            let mut buf = [0u8; COMM_LEN + 1];
            let comm = task.handle.comm.lock().clone();
            let n = comm.len().min(COMM_LEN);
            buf[..n].copy_from_slice(&comm[..n]);
            task.mm.copy_out(a[1], &buf)?;
            Ok(0)
        }
        // No seccomp filters inside the sandbox (yet): mode 0.
        PR_GET_SECCOMP => Ok(0),
        PR_CAPBSET_READ => {
            let cap = cap_arg(a[1])?;
            Ok(u64::from(task.creds().caps.bounding & (1 << cap) != 0))
        }
        PR_CAPBSET_DROP => {
            let cap = cap_arg(a[1])?;
            let mut state = task.tg().state.lock();
            if !state.creds.capable(CAP_SETPCAP) {
                return Err(Errno::EPERM);
            }
            state.creds.caps.bounding &= !(1 << cap);
            Ok(0)
        }
        PR_SET_CHILD_SUBREAPER => {
            task.tg().state.lock().child_subreaper = a[1] != 0;
            Ok(0)
        }
        PR_GET_CHILD_SUBREAPER => {
            let subreaper = i32::from(task.tg().state.lock().child_subreaper);
            task.mm.write_obj(a[1], &subreaper)?;
            Ok(0)
        }
        PR_SET_NO_NEW_PRIVS => {
            if a[1] != 1 || a[2..5].iter().any(|&x| x != 0) {
                return Err(Errno::EINVAL);
            }
            task.handle.settings.lock().no_new_privs = true;
            Ok(0)
        }
        PR_GET_NO_NEW_PRIVS => {
            if a[1..5].iter().any(|&x| x != 0) {
                return Err(Errno::EINVAL);
            }
            Ok(u64::from(task.handle.settings.lock().no_new_privs))
        }
        _ => Err(Errno::EINVAL),
    }
}

impl Kernel {
    /// The nearest living ancestor of `tg` that asked to reap orphaned descendants
    /// (PR_SET_CHILD_SUBREAPER); `None`: init takes them.
    pub(crate) fn subreaper_of(&self, tg: &Arc<ThreadGroup>) -> Option<Arc<ThreadGroup>> {
        let mut cur = tg.state.lock().parent.clone();
        while let Some(ancestor) = cur {
            let state = ancestor.state.lock();
            if state.child_subreaper && state.zombie.is_none() && !state.threads.is_empty() {
                drop(state);
                return Some(ancestor);
            }
            cur = state.parent.clone();
        }
        None
    }

    /// The parent of `children` exited: each child with a thread that set PR_SET_PDEATHSIG
    /// gets that signal. (Linux sends it when the creating *thread* exits; here it is when the
    /// parent process does, which is what the usual user — a supervisor child — relies on.)
    pub(crate) fn send_parent_death_signals(&self, children: &[Arc<ThreadGroup>]) {
        for child in children {
            let threads = child.state.lock().threads.clone();
            for thread in threads {
                let signo = thread.settings.lock().pdeathsig;
                if signo != 0 {
                    self.signal_group(child, SigInfo::kernel(signo));
                }
            }
        }
    }
}
