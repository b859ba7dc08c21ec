//! The stub factory: new stubs are forked from a small template stub, not from the Sentry.
//!
//! Forking the Sentry copies the page tables of its whole multi-threaded address space, which the
//! child then unmaps: the larger part of a guest fork's cost. The template is a stub like any
//! other (its address space cleared, confined by its seccomp filter) that never runs guest code;
//! forking it copies one page. Only its tracer may inject the fork, so one Sentry thread, the
//! factory thread, owns the template and forks it on request (as gVisor forks new stubs from an
//! existing one).
//!
//! The fork is made with CLONE_PARENT: the new stub's parent is the template's, the factory thread,
//! which lives as long as the Sentry. So the Sentry reaps it like a stub it forked itself, and the
//! parent-death signal the new stub sets before it parks fires only when the Sentry dies. It parks
//! untraced, every signal blocked, until the requesting thread seizes it; from then on that thread
//! is its tracer (PTRACE_O_EXITKILL).

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::OnceLock;

use abi::UserRegs;
use nix::unistd::{getpid, Pid};
use platform::PlatformError;

use crate::address_space::PtraceAddressSpace;
use crate::spawn::{self, StubProcess};
use crate::stub::StubPage;
use crate::thread;
use crate::tracee::Stopped;

/// Every host signal but SIGKILL and SIGSTOP: a new stub inherits the template's mask, so none
/// reaches it before its tracer does.
const ALL_SIGNALS: u64 = u64::MAX;

/// The memory file a stub inherits, by descriptor number and identity: a number may be reused for
/// another file once the first is closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct MemoryFile {
    fd: RawFd,
    dev: u64,
    ino: u64,
}

impl MemoryFile {
    fn of(fd: BorrowedFd<'_>) -> Result<MemoryFile, PlatformError> {
        let stat = nix::sys::stat::fstat(fd).map_err(crate::host_error("fstat"))?;
        Ok(MemoryFile {
            fd: fd.as_raw_fd(),
            dev: stat.st_dev,
            ino: stat.st_ino,
        })
    }
}

/// A request for a new stub sharing `memory`; the reply is the parked stub's pid.
struct Request {
    memory: MemoryFile,
    reply: SyncSender<Result<Pid, PlatformError>>,
}

/// Makes a new stub traced by the calling thread, forked from the factory's template, and stops it
/// at the stub's injection site; returns it as [`spawn::spawn_stub`] does.
pub(crate) fn new_stub(
    stub: &'static StubPage,
    memory_fd: BorrowedFd<'_>,
) -> Result<(Stopped, UserRegs, StubProcess), PlatformError> {
    let memory = MemoryFile::of(memory_fd)?;
    let pid = request(stub, memory)?;
    // From here the stub is ours: dropping this kills and reaps it.
    let process = StubProcess::adopt(pid);
    let cpus = spawn::pin_to_current_cpu()?;
    spawn::pin(pid, &cpus)?;
    let tracee = thread::seize(pid)?;
    tracee.set_sigmask(0)?;
    let mut regs = UserRegs::default();
    tracee.regs(&mut regs)?;
    // Where a stub forked from the Sentry stops after its set-up; not inside the interrupted
    // `pause`, which must not restart.
    regs.rip = stub.syscall_site().start;
    regs.rax = 0;
    regs.orig_rax = u64::MAX;
    tracee.set_regs(&regs)?;
    Ok((tracee, regs, process))
}

/// Asks the factory thread (started on first use) for a new parked stub.
fn request(stub: &'static StubPage, memory: MemoryFile) -> Result<Pid, PlatformError> {
    static REQUESTS: OnceLock<Result<Sender<Request>, String>> = OnceLock::new();
    let requests = REQUESTS
        .get_or_init(|| start(stub))
        .as_ref()
        .map_err(|why| PlatformError::Unavailable(why.clone()))?;
    let gone = || PlatformError::Unavailable("the stub factory thread is gone".into());
    let (reply, answer) = mpsc::sync_channel(1);
    requests
        .send(Request { memory, reply })
        .map_err(|_| gone())?;
    answer.recv().map_err(|_| gone())?
}

fn start(stub: &'static StubPage) -> Result<Sender<Request>, String> {
    let (requests, incoming) = mpsc::channel();
    std::thread::Builder::new()
        .name("stub-factory".into())
        .spawn(move || serve(stub, &incoming))
        .map_err(|err| format!("starting the stub factory thread: {err}"))?;
    Ok(requests)
}

/// The factory thread: forks the template for each request, replacing the template when a
/// request names another memory file (or the template failed).
fn serve(stub: &'static StubPage, incoming: &Receiver<Request>) {
    let mut template: Option<Template> = None;
    for request in incoming {
        if template
            .as_ref()
            .is_none_or(|current| current.memory != request.memory)
        {
            // The old template (if any) is killed and reaped first.
            template = None;
            match Template::spawn(stub, request.memory) {
                Ok(made) => template = Some(made),
                Err(err) => {
                    let _ = request.reply.send(Err(err));
                    continue;
                }
            }
        }
        let Some(current) = template.as_ref() else {
            continue;
        };
        let forked = current.fork();
        if forked.is_err() {
            template = None;
        }
        // The requester may have given up (its thread ended): the stub is then never seized;
        // its parent-death signal or the Sentry's end kills it, and the Sentry reaps it.
        let _ = request.reply.send(forked);
    }
}

/// A stub traced by the factory thread, never running guest code, forked for each new stub.
struct Template {
    space: PtraceAddressSpace,
    stub: &'static StubPage,
    memory: MemoryFile,
}

impl Template {
    fn spawn(stub: &'static StubPage, memory: MemoryFile) -> Result<Template, PlatformError> {
        let (tracee, mut regs, process) = spawn::spawn_stub(stub, memory.fd)?;
        let space = PtraceAddressSpace::new(process, tracee.tid(), stub, memory.fd);
        tracee.set_sigmask(ALL_SIGNALS)?;
        // The forked stub compares its parent's pid with r12 (see `stub`); injections restore
        // the template's registers, so this stays.
        regs.r12 = u64::from(getpid().as_raw().unsigned_abs());
        tracee.set_regs(&regs)?;
        Ok(Template {
            space,
            stub,
            memory,
        })
    }

    /// Forks the template: the child parks, see the module comment.
    fn fork(&self) -> Result<Pid, PlatformError> {
        let flags = libc::CLONE_PARENT | libc::SIGCHLD;
        let pid = self.space.inject(
            &Stopped::of_own_tracee(self.space.pid()),
            self.stub.fork_site(),
            "fork (injected)",
            libc::SYS_clone,
            [u64::from(flags.unsigned_abs()), 0, 0, 0, 0, 0],
        )?;
        i32::try_from(pid)
            .map(Pid::from_raw)
            .map_err(|_| PlatformError::StubDied {
                pid: self.space.pid().as_raw(),
                reason: format!("injected fork returned {pid:#x}"),
            })
    }
}

impl Drop for Template {
    fn drop(&mut self) {
        let pid = self.space.pid();
        // Its only thread, stopped and traced by this (the factory) thread: kills and reaps it.
        self.space
            .end_thread(pid, Some(Stopped::of_own_tracee(pid)));
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;

    use super::*;

    fn maps_of(pid: Pid) -> Vec<String> {
        std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .expect("maps")
            .lines()
            .map(|line| line.split_whitespace().next().unwrap_or("").to_owned())
            .collect()
    }

    /// A factory-made stub holds only the stub page (like one forked from the Sentry), is the
    /// Sentry's child, is traced by the requesting thread, and blocks no signal; a second
    /// memory file gets stubs that hold that file.
    #[test]
    fn factory_stubs_are_clean_children_of_the_sentry() {
        let stub = StubPage::get().expect("stub page");
        for name in ["first", "second"] {
            let memory = memfd::MemfdOptions::default()
                .create(name)
                .expect("memfd")
                .into_file();
            let (stopped, regs, _process) = new_stub(stub, memory.as_fd()).expect("new stub");
            let pid = stopped.tid();
            let page = stub.range();
            assert_eq!(
                maps_of(pid),
                [
                    format!("{:x}-{:x}", page.start, page.end),
                    "ffffffffff600000-ffffffffff601000".to_owned()
                ]
            );
            assert_eq!(regs.rip, stub.syscall_site().start);
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|line| line.strip_prefix(name))
                    .map(str::trim)
                    .unwrap_or_default()
                    .to_owned()
            };
            assert_eq!(field("PPid:"), getpid().to_string());
            assert_eq!(field("TracerPid:"), nix::unistd::gettid().to_string());
            assert_eq!(field("SigBlk:"), "0000000000000000");
            assert_eq!(field("Seccomp:"), "2");
            let fd_target = std::fs::read_link(format!("/proc/{pid}/fd/{}", memory.as_raw_fd()))
                .expect("the stub holds the memory file");
            assert!(fd_target.to_string_lossy().contains(name), "{fd_target:?}");
        }
    }
}
