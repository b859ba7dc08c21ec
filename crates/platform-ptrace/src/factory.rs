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
//! is its tracer (PTRACE_O_EXITKILL). One stub is kept forked ahead of need, so that a guest fork
//! rarely waits for the factory thread.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::sync::OnceLock;

use abi::UserRegs;
use nix::unistd::{getpid, Pid};
use parking_lot::Mutex;
use platform::PlatformError;

use crate::address_space::PtraceAddressSpace;
use crate::spawn::{self, StubProcess};
use crate::stub::StubPage;
use crate::sys;
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

/// What a requesting thread asks of the factory thread.
enum Request {
    /// A stub for `memory`, sent back (none was ready).
    Fork {
        memory: MemoryFile,
        reply: SyncSender<Result<StubProcess, PlatformError>>,
    },
    /// A stub for `memory` into [`READY`] (the ready one was just taken).
    Refill { memory: MemoryFile },
}

/// A stub forked ahead of need, parked, and the memory file it holds: a thread that takes it pays
/// no round trip to the factory thread, which forks the next one meanwhile.
static READY: Mutex<Option<(MemoryFile, StubProcess)>> = Mutex::new(None);

/// The template's pid (0: none), for [`end_at_exit`].
static TEMPLATE: AtomicI32 = AtomicI32::new(0);

/// Set when the Sentry exits: no stub is made ready any more.
static ENDING: AtomicBool = AtomicBool::new(false);

/// At the Sentry's exit, kills and reaps the template and the ready stub. They would die anyway
/// (their parent-death signal, PTRACE_O_EXITKILL), but be left to init to reap.
extern "C" fn end_at_exit() {
    ENDING.store(true, Ordering::SeqCst);
    let ready = READY.lock().take();
    if let Some((_, process)) = ready {
        sys::kill_and_reap(process.pid());
        // Already reaped: dropping it now only finds it gone.
        std::mem::forget(process);
    }
    let template = TEMPLATE.swap(0, Ordering::SeqCst);
    if template != 0 {
        sys::kill_and_reap(Pid::from_raw(template));
    }
}

/// Makes a new stub traced by the calling thread, forked from the factory's template, and stops it
/// at the stub's injection site; returns it as [`spawn::spawn_stub`] does.
pub(crate) fn new_stub(
    stub: &'static StubPage,
    memory_fd: BorrowedFd<'_>,
) -> Result<(Stopped, UserRegs, StubProcess), PlatformError> {
    let memory = MemoryFile::of(memory_fd)?;
    // Dropping this (on an error below) kills and reaps the stub.
    let process = obtain(stub, memory)?;
    let pid = process.pid();
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

/// A parked stub for `memory`: the ready one if it holds `memory`, else one forked on request.
fn obtain(stub: &'static StubPage, memory: MemoryFile) -> Result<StubProcess, PlatformError> {
    static REQUESTS: OnceLock<Result<Sender<Request>, String>> = OnceLock::new();
    let requests = REQUESTS
        .get_or_init(|| start(stub))
        .as_ref()
        .map_err(|why| PlatformError::Unavailable(why.clone()))?;
    let ready = {
        let mut slot = READY.lock();
        if slot.as_ref().is_some_and(|(held, _)| *held == memory) {
            slot.take().map(|(_, process)| process)
        } else {
            None
        }
    };
    if let Some(process) = ready {
        // Without a refill the next stub is forked on request: slower, not wrong.
        let _ = requests.send(Request::Refill { memory });
        return Ok(process);
    }
    let gone = || PlatformError::Unavailable("the stub factory thread is gone".into());
    let (reply, answer) = mpsc::sync_channel(1);
    requests
        .send(Request::Fork { memory, reply })
        .map_err(|_| gone())?;
    answer.recv().map_err(|_| gone())?
}

fn start(stub: &'static StubPage) -> Result<Sender<Request>, String> {
    sys::at_exit(end_at_exit)
        .map_err(|err| format!("registering the stub factory's exit: {err}"))?;
    let (requests, incoming) = mpsc::channel();
    std::thread::Builder::new()
        .name("stub-factory".into())
        .spawn(move || serve(stub, &incoming))
        .map_err(|err| format!("starting the stub factory thread: {err}"))?;
    Ok(requests)
}

/// The factory thread: forks the template for each request; after a fork sent back, forks one
/// more into [`READY`].
fn serve(stub: &'static StubPage, incoming: &Receiver<Request>) {
    let mut template: Option<Template> = None;
    for request in incoming {
        match request {
            Request::Fork { memory, reply } => {
                // The requester may have given up (its thread ended): the stub is then dropped,
                // which kills and reaps it.
                let _ = reply.send(fork_for(stub, &mut template, memory));
                make_ready(stub, &mut template, memory);
            }
            Request::Refill { memory } => make_ready(stub, &mut template, memory),
        }
    }
}

/// Forks a stub for `memory` into [`READY`], replacing (and so ending) any stub there.
fn make_ready(stub: &'static StubPage, template: &mut Option<Template>, memory: MemoryFile) {
    if let Ok(process) = fork_for(stub, template, memory) {
        let mut ready = READY.lock();
        if ENDING.load(Ordering::SeqCst) {
            drop(ready);
            drop(process);
            return;
        }
        let replaced = ready.replace((memory, process));
        drop(ready);
        drop(replaced);
    }
}

/// Forks the template, first replacing it if it holds another memory file; a template that died
/// is dropped, and the next request makes a new one.
fn fork_for(
    stub: &'static StubPage,
    template: &mut Option<Template>,
    memory: MemoryFile,
) -> Result<StubProcess, PlatformError> {
    if template
        .as_ref()
        .is_none_or(|current| current.memory != memory)
    {
        // The old template (if any) is killed and reaped first.
        *template = None;
        *template = Some(Template::spawn(stub, memory)?);
    }
    let current = template
        .as_ref()
        .ok_or_else(|| PlatformError::Unavailable("no template stub".into()))?;
    let forked = current.fork();
    if let Err(PlatformError::StubDied { .. }) = forked {
        // An error of the fork itself (EAGAIN under a limit on tasks) leaves the template usable.
        *template = None;
    }
    forked.map(StubProcess::adopt)
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
        TEMPLATE.store(tracee.tid().as_raw(), Ordering::SeqCst);
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
        let _ = TEMPLATE.compare_exchange(pid.as_raw(), 0, Ordering::SeqCst, Ordering::SeqCst);
        // Its only thread, stopped and traced by this (the factory) thread: kills and reaps it.
        self.space
            .end_thread(pid, Some(Stopped::of_own_tracee(pid)));
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn maps_of(pid: Pid) -> Vec<String> {
        std::fs::read_to_string(format!("/proc/{pid}/maps"))
            .expect("maps")
            .lines()
            .map(|line| line.split_whitespace().next().unwrap_or("").to_owned())
            .collect()
    }

    /// A factory-made stub holds only the stub page (like one forked from the Sentry), is the
    /// Sentry's child, is traced by the requesting thread, and blocks no signal; it holds the
    /// memory file it was asked for, whether forked on request or ready, also when the memory
    /// file changes.
    #[test]
    fn factory_stubs_are_clean_children_of_the_sentry() {
        let stub = StubPage::get().expect("stub page");
        for name in ["first", "second"] {
            let memory = memfd::MemfdOptions::default()
                .create(name)
                .expect("memfd")
                .into_file();
            let inode = memory.metadata().expect("memfd metadata").ino();
            let mut live = Vec::new();
            for _ in 0..3 {
                let (stopped, regs, process) = new_stub(stub, memory.as_fd()).expect("new stub");
                check_stub(stub, stopped.tid(), &regs, memory.as_raw_fd(), inode);
                live.push(process);
            }
        }
    }

    fn check_stub(stub: &StubPage, pid: Pid, regs: &UserRegs, fd: RawFd, inode: u64) {
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
        let held = std::fs::metadata(format!("/proc/{pid}/fd/{fd}"))
            .expect("the stub holds the memory file's descriptor");
        assert_eq!(held.ino(), inode, "the stub holds another file");
    }
}
