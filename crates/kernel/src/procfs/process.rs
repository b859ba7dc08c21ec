//! /proc/[pid] and /proc/[pid]/task/[tid]: a process's or thread's status, memory, command
//! line, descriptors and links.

use std::fmt::Write as _;
use std::sync::Arc;

use abi::Errno;
use vfs::OpenFile;

use super::{current_task, DirNode, FileNode, LinkNode, MountRecord, Node};
use crate::kernel::Kernel;
use crate::loader::COMM_LEN;
use crate::task::{JobState, TaskHandle, TaskResources, ThreadGroup};

/// Clock ticks per second as /proc counts them (USER_HZ).
const USER_HZ: u128 = 100;
const PAGE_SIZE: u64 = 4096;

/// Which process, and which of its threads for /proc/[pid]/task/[tid]; `tid: None` is the
/// process as a whole.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Scope {
    tgid: i32,
    tid: Option<i32>,
}

impl Scope {
    pub(super) fn process(tgid: i32) -> Scope {
        Scope { tgid, tid: None }
    }

    pub(super) fn thread(tgid: i32, tid: i32) -> Scope {
        Scope {
            tgid,
            tid: Some(tid),
        }
    }

    /// The process, zombies included; ENOENT once it was reaped.
    pub(super) fn group(&self, kernel: &Kernel) -> Result<Arc<ThreadGroup>, Errno> {
        kernel.pids.lock().group(self.tgid).ok_or(Errno::ENOENT)
    }

    /// The thread (for a process: its leader, or another live thread once the leader has
    /// exited); `None` for a zombie.
    fn task(&self, kernel: &Kernel) -> Result<Option<Arc<TaskHandle>>, Errno> {
        let tg = self.group(kernel)?;
        let state = tg.state.lock();
        let wanted = self.tid.unwrap_or(self.tgid);
        let found = state.threads.iter().find(|t| t.tid() == wanted).cloned();
        match (found, self.tid) {
            (Some(t), _) => Ok(Some(t)),
            (None, Some(_)) => Err(Errno::ENOENT),
            (None, None) => Ok(state.threads.first().cloned()),
        }
    }

    pub(super) fn check(&self, kernel: &Kernel) -> Result<(), Errno> {
        self.task(kernel).map(drop)
    }

    /// What the process runs with; ESRCH for a zombie (nothing left to show).
    fn resources(&self, kernel: &Kernel) -> Result<TaskResources, Errno> {
        self.task(kernel)?
            .and_then(|t| t.resources.lock().clone())
            .ok_or(Errno::ESRCH)
    }
}

/// The regular files of a [pid] directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum PidFile {
    Stat,
    Status,
    Statm,
    Cmdline,
    Comm,
    Environ,
    Maps,
    Mounts,
    Limits,
}

/// The symlinks of a [pid] directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum PidLink {
    Exe,
    Cwd,
    Root,
}

const FILES: [(&str, PidFile); 9] = [
    ("stat", PidFile::Stat),
    ("status", PidFile::Status),
    ("statm", PidFile::Statm),
    ("cmdline", PidFile::Cmdline),
    ("comm", PidFile::Comm),
    ("environ", PidFile::Environ),
    ("maps", PidFile::Maps),
    ("mounts", PidFile::Mounts),
    ("limits", PidFile::Limits),
];

const LINKS: [(&str, PidLink); 3] = [
    ("exe", PidLink::Exe),
    ("cwd", PidLink::Cwd),
    ("root", PidLink::Root),
];

/// Everything in a [pid] (or task/[tid]) directory.
pub(super) fn entries(scope: &Scope) -> Vec<(Vec<u8>, Node)> {
    let mut names: Vec<&str> = FILES.iter().map(|(n, _)| *n).collect();
    names.extend(LINKS.iter().map(|(n, _)| *n));
    names.extend(["fd", "fdinfo"]);
    if scope.tid.is_none() {
        names.push("task");
    }
    names
        .into_iter()
        .filter_map(|name| Some((name.as_bytes().to_vec(), entry(scope, name.as_bytes())?)))
        .collect()
}

/// The entry `name` of a [pid] directory.
pub(super) fn entry(scope: &Scope, name: &[u8]) -> Option<Node> {
    if let Some((_, f)) = FILES.iter().find(|(n, _)| n.as_bytes() == name) {
        return Some(Node::File(FileNode::Pid(scope.clone(), *f)));
    }
    if let Some((_, l)) = LINKS.iter().find(|(n, _)| n.as_bytes() == name) {
        return Some(Node::Link(LinkNode::Pid(scope.clone(), *l)));
    }
    match name {
        b"fd" => Some(Node::Dir(DirNode::Fds(scope.clone()))),
        b"fdinfo" => Some(Node::Dir(DirNode::FdInfos(scope.clone()))),
        b"task" if scope.tid.is_none() => Some(Node::Dir(DirNode::Tasks(scope.tgid))),
        _ => None,
    }
}

pub(super) fn render(
    kernel: &Kernel,
    scope: &Scope,
    file: PidFile,
    mounts: Option<&Vec<MountRecord>>,
) -> Result<Vec<u8>, Errno> {
    match file {
        PidFile::Stat => stat(kernel, scope).map(String::into_bytes),
        PidFile::Status => status(kernel, scope).map(String::into_bytes),
        PidFile::Statm => statm(kernel, scope).map(String::into_bytes),
        PidFile::Cmdline => Ok(nul_joined(&scope.group(kernel)?.state.lock().cmdline)),
        PidFile::Environ => Ok(nul_joined(&scope.group(kernel)?.state.lock().environ)),
        PidFile::Comm => {
            let mut comm = comm_of(kernel, scope)?;
            comm.push(b'\n');
            Ok(comm)
        }
        PidFile::Maps => Ok(match scope.resources(kernel) {
            Ok(r) => r.mm.maps().iter().flat_map(mm::MapsEntry::line).collect(),
            // A zombie has no memory left: an empty file, as on Linux.
            Err(_) => Vec::new(),
        }),
        PidFile::Mounts => Ok(mounts_text(mounts.map_or(&[][..], Vec::as_slice))),
        PidFile::Limits => limits(kernel, scope).map(String::into_bytes),
    }
}

/// argv/envp as Linux shows them: every string followed by a NUL.
fn nul_joined(strings: &[Vec<u8>]) -> Vec<u8> {
    strings
        .iter()
        .flat_map(|s| s.iter().copied().chain(std::iter::once(0)))
        .collect()
}

fn comm_of(kernel: &Kernel, scope: &Scope) -> Result<Vec<u8>, Errno> {
    Ok(scope
        .task(kernel)?
        .map(|t| t.comm.lock().clone())
        .unwrap_or_default())
}

/// Writing comm renames a thread of the writer's own process (EINVAL for others, as Linux).
pub(super) fn write_comm(kernel: &Kernel, scope: &Scope, buf: &[u8]) -> Result<(), Errno> {
    let task = scope.task(kernel)?.ok_or(Errno::ESRCH)?;
    let writer = current_task().ok_or(Errno::EINVAL)?;
    if writer.tg.tgid != task.tg.tgid {
        return Err(Errno::EINVAL);
    }
    let name: Vec<u8> = buf
        .iter()
        .copied()
        .take_while(|&b| b != 0)
        .take(COMM_LEN)
        .collect();
    *task.comm.lock() = name;
    Ok(())
}

/// The one-letter state and its name in status.
fn state_of(scope: &Scope, tg: &ThreadGroup, task: Option<&TaskHandle>) -> (char, &'static str) {
    let state = tg.state.lock();
    if state.zombie.is_some() || task.is_none() {
        return ('Z', "zombie");
    }
    if matches!(state.job, JobState::Stopped { .. }) {
        return ('T', "stopped");
    }
    let me = current_task();
    let running = me.is_some_and(|me| match scope.tid {
        Some(tid) => me.tid() == tid,
        None => me.tg.tgid == scope.tgid,
    });
    if running {
        ('R', "running")
    } else {
        ('S', "sleeping")
    }
}

/// The signal sets of status and stat: pending (thread, shared), blocked, ignored, caught.
struct SignalSets {
    pending: u64,
    shared_pending: u64,
    blocked: u64,
    ignored: u64,
    caught: u64,
}

fn signal_sets(tg: &ThreadGroup, task: Option<&TaskHandle>) -> SignalSets {
    let (shared_pending, handlers) = {
        let state = tg.state.lock();
        (state.pending.set(), Arc::clone(&state.handlers))
    };
    let (pending, blocked) = task.map_or((0, 0), |t| {
        let signals = t.signals.lock();
        (signals.pending.set(), signals.mask)
    });
    let handlers = handlers.lock();
    let (mut ignored, mut caught) = (0, 0);
    for signo in 1..=crate::task::NSIG {
        let handler = handlers.get(signo).handler;
        let bit = 1u64 << (signo - 1);
        if handler == libc::SIG_IGN as u64 {
            ignored |= bit;
        } else if handler != libc::SIG_DFL as u64 {
            caught |= bit;
        }
    }
    SignalSets {
        pending,
        shared_pending,
        blocked,
        ignored,
        caught,
    }
}

/// Ticks since boot when `task` started.
fn start_ticks(kernel: &Kernel, task: Option<&TaskHandle>) -> u128 {
    task.map_or(0, |t| {
        t.started
            .saturating_duration_since(kernel.boot_time)
            .as_millis()
            * USER_HZ
            / 1000
    })
}

fn stat(kernel: &Kernel, scope: &Scope) -> Result<String, Errno> {
    let tg = scope.group(kernel)?;
    let task = scope.task(kernel)?;
    let (state_char, _) = state_of(scope, &tg, task.as_deref());
    let comm = String::from_utf8_lossy(&comm_of(kernel, scope)?).into_owned();
    let sets = signal_sets(&tg, task.as_deref());
    let (ppid, pgid, sid, threads, exit_signal, exit_code, rsslim) = {
        let state = tg.state.lock();
        (
            state.parent.as_ref().map_or(0, |p| p.tgid),
            state.pgid,
            state.sid,
            state.threads.len(),
            state.exit_signal,
            state.zombie.map_or(0, |s| s.wait_status()),
            state.rlimits[libc::RLIMIT_RSS as usize].cur,
        )
    };
    let nice = task.as_ref().map_or(0, |t| t.settings.lock().nice);
    let (vsize, rss) = match scope.resources(kernel) {
        Ok(r) => {
            let stats = r.mm.stats();
            let rss = stats.resident_anon + stats.resident_file + stats.resident_shared;
            (stats.mapped, rss / PAGE_SIZE)
        }
        Err(_) => (0, 0),
    };
    let pid = scope.tid.unwrap_or(scope.tgid);
    let mut fields: Vec<String> = vec![
        pid.to_string(),
        format!("({comm})"),
        state_char.to_string(),
        ppid.to_string(),
        pgid.to_string(),
        sid.to_string(),
    ];
    let (tty_nr, tpgid) = kernel.ptys.stat_fields(sid);
    fields.extend([tty_nr.to_string(), tpgid.to_string()]);
    // flags, minflt..cmajflt, utime..cstime.
    fields.extend(["4194560", "0", "0", "0", "0", "0", "0", "0", "0"].map(String::from));
    fields.extend([
        (20 + nice).to_string(),
        nice.to_string(),
        threads.to_string(),
        "0".to_string(),
        start_ticks(kernel, task.as_deref()).to_string(),
        vsize.to_string(),
        rss.to_string(),
        rsslim.to_string(),
    ]);
    // startcode, endcode, startstack, kstkesp, kstkeip.
    fields.extend(["0", "0", "0", "0", "0"].map(String::from));
    fields.extend([
        sets.pending.to_string(),
        sets.blocked.to_string(),
        sets.ignored.to_string(),
        sets.caught.to_string(),
    ]);
    // wchan, nswap, cnswap.
    fields.extend(["0", "0", "0"].map(String::from));
    fields.push(exit_signal.to_string());
    // processor, rt_priority, policy, delayacct_blkio_ticks, guest_time, cguest_time,
    // start_data, end_data, start_brk, arg_start, arg_end, env_start, env_end.
    fields.extend(["0"; 13].map(String::from));
    fields.push(exit_code.to_string());
    Ok(fields.join(" ") + "\n")
}

fn kb(bytes: u64) -> String {
    format!("{:8} kB", bytes / 1024)
}

fn status(kernel: &Kernel, scope: &Scope) -> Result<String, Errno> {
    let tg = scope.group(kernel)?;
    let task = scope.task(kernel)?;
    let (_, state_name) = state_of(scope, &tg, task.as_deref());
    let (state_char, _) = state_of(scope, &tg, task.as_deref());
    let comm = String::from_utf8_lossy(&comm_of(kernel, scope)?).into_owned();
    let (ppid, pgid, sid, threads, creds) = {
        let state = tg.state.lock();
        (
            state.parent.as_ref().map_or(0, |p| p.tgid),
            state.pgid,
            state.sid,
            state.threads.len(),
            state.creds.clone(),
        )
    };
    let resources = scope.resources(kernel).ok();
    let pid = scope.tid.unwrap_or(scope.tgid);
    let mut s = String::new();
    let umask = resources.as_ref().map_or(0o022, |r| r.fs.lock().umask);
    let _ = writeln!(s, "Name:\t{comm}");
    let _ = writeln!(s, "Umask:\t{umask:04o}");
    let _ = writeln!(s, "State:\t{state_char} ({state_name})");
    let _ = writeln!(s, "Tgid:\t{}", scope.tgid);
    let _ = writeln!(s, "Ngid:\t0");
    let _ = writeln!(s, "Pid:\t{pid}");
    let _ = writeln!(s, "PPid:\t{ppid}");
    let _ = writeln!(s, "TracerPid:\t0");
    let _ = writeln!(
        s,
        "Uid:\t{}\t{}\t{}\t{}",
        creds.ruid, creds.euid, creds.suid, creds.fsuid
    );
    let _ = writeln!(
        s,
        "Gid:\t{}\t{}\t{}\t{}",
        creds.rgid, creds.egid, creds.sgid, creds.fsgid
    );
    let fd_count = resources
        .as_ref()
        .map_or(0, |r| r.files.lock().iter().count());
    let _ = writeln!(s, "FDSize:\t{}", fd_count.next_power_of_two().max(64));
    let groups: Vec<String> = creds.groups.iter().map(u32::to_string).collect();
    let _ = writeln!(s, "Groups:\t{}", groups.join(" "));
    let _ = writeln!(s, "NStgid:\t{}", scope.tgid);
    let _ = writeln!(s, "NSpid:\t{pid}");
    let _ = writeln!(s, "NSpgid:\t{pgid}");
    let _ = writeln!(s, "NSsid:\t{sid}");
    if let Some(r) = &resources {
        let st = r.mm.stats();
        let rss = st.resident_anon + st.resident_file + st.resident_shared;
        for (name, value) in [
            ("VmPeak", st.mapped),
            ("VmSize", st.mapped),
            ("VmLck", st.locked),
            ("VmPin", 0),
            ("VmHWM", rss),
            ("VmRSS", rss),
            ("RssAnon", st.resident_anon),
            ("RssFile", st.resident_file),
            ("RssShmem", st.resident_shared),
            ("VmData", st.data),
            ("VmStk", st.stack),
            ("VmExe", st.exec),
            ("VmLib", 0),
            ("VmPTE", 0),
            ("VmSwap", 0),
        ] {
            let _ = writeln!(s, "{name}:\t{}", kb(value));
        }
    }
    let _ = writeln!(s, "Threads:\t{threads}");
    let sigpending_limit = tg.state.lock().rlimits[libc::RLIMIT_SIGPENDING as usize].cur;
    let _ = writeln!(s, "SigQ:\t0/{sigpending_limit}");
    let sets = signal_sets(&tg, task.as_deref());
    for (name, set) in [
        ("SigPnd", sets.pending),
        ("ShdPnd", sets.shared_pending),
        ("SigBlk", sets.blocked),
        ("SigIgn", sets.ignored),
        ("SigCgt", sets.caught),
        ("CapInh", creds.caps.inheritable),
        ("CapPrm", creds.caps.permitted),
        ("CapEff", creds.caps.effective),
        ("CapBnd", creds.caps.bounding),
        ("CapAmb", 0),
    ] {
        let _ = writeln!(s, "{name}:\t{set:016x}");
    }
    let settings = task
        .as_ref()
        .map(|t| t.settings.lock().clone())
        .unwrap_or_default();
    let _ = writeln!(s, "NoNewPrivs:\t{}", u8::from(settings.no_new_privs));
    let _ = writeln!(s, "Seccomp:\t0");
    let cpus = crate::syscalls::sched_cpus(settings.affinity.as_deref());
    let mask: u64 = cpus.iter().fold(0, |m, &c| m | (1u64 << (c % 64)));
    let _ = writeln!(s, "Cpus_allowed:\t{mask:x}");
    let _ = writeln!(s, "Cpus_allowed_list:\t{}", cpu_list(&cpus));
    let _ = writeln!(s, "Mems_allowed:\t1");
    let _ = writeln!(s, "Mems_allowed_list:\t0");
    let _ = writeln!(s, "voluntary_ctxt_switches:\t0");
    let _ = writeln!(s, "nonvoluntary_ctxt_switches:\t0");
    Ok(s)
}

/// "0-3,5" for CPUs [0, 1, 2, 3, 5].
fn cpu_list(cpus: &[usize]) -> String {
    let mut ranges: Vec<(usize, usize)> = Vec::new();
    for &cpu in cpus {
        match ranges.last_mut() {
            Some((_, end)) if *end + 1 == cpu => *end = cpu,
            _ => ranges.push((cpu, cpu)),
        }
    }
    ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn statm(kernel: &Kernel, scope: &Scope) -> Result<String, Errno> {
    scope.check(kernel)?;
    let pages = |bytes: u64| bytes / PAGE_SIZE;
    Ok(match scope.resources(kernel) {
        Ok(r) => {
            let st = r.mm.stats();
            let rss = st.resident_anon + st.resident_file + st.resident_shared;
            format!(
                "{} {} {} {} 0 {} 0\n",
                pages(st.mapped),
                pages(rss),
                pages(st.resident_file + st.resident_shared),
                pages(st.exec),
                pages(st.data + st.stack)
            )
        }
        Err(_) => "0 0 0 0 0 0 0\n".to_string(),
    })
}

/// Names and units of the RLIMIT_* resources, in their numeric order, as /proc/[pid]/limits.
const LIMIT_NAMES: [(&str, &str); 16] = [
    ("Max cpu time", "seconds"),
    ("Max file size", "bytes"),
    ("Max data size", "bytes"),
    ("Max stack size", "bytes"),
    ("Max core file size", "bytes"),
    ("Max resident set", "bytes"),
    ("Max processes", "processes"),
    ("Max open files", "files"),
    ("Max locked memory", "bytes"),
    ("Max address space", "bytes"),
    ("Max file locks", "locks"),
    ("Max pending signals", "signals"),
    ("Max msgqueue size", "bytes"),
    ("Max nice priority", ""),
    ("Max realtime priority", ""),
    ("Max realtime timeout", "us"),
];

fn limits(kernel: &Kernel, scope: &Scope) -> Result<String, Errno> {
    let rlimits = scope.group(kernel)?.state.lock().rlimits;
    let value = |v: u64| {
        if v == u64::MAX {
            "unlimited".to_string()
        } else {
            v.to_string()
        }
    };
    let mut s = format!(
        "{:<25} {:<20} {:<20} {:<10}\n",
        "Limit", "Soft Limit", "Hard Limit", "Units"
    );
    for ((name, unit), limit) in LIMIT_NAMES.iter().zip(rlimits.iter()) {
        let _ = writeln!(
            s,
            "{name:<25} {:<20} {:<20} {unit:<10}",
            value(limit.cur),
            value(limit.max)
        );
    }
    Ok(s)
}

fn mounts_text(mounts: &[MountRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in mounts {
        out.extend_from_slice(m.fs_type.as_bytes());
        out.push(b' ');
        out.extend_from_slice(&m.path);
        let options = if m.read_only { "ro" } else { "rw" };
        out.extend_from_slice(format!(" {} {options},relatime 0 0\n", m.fs_type).as_bytes());
    }
    out
}

pub(super) fn readlink(kernel: &Kernel, scope: &Scope, link: PidLink) -> Result<Vec<u8>, Errno> {
    match link {
        PidLink::Exe => {
            // The loader recorded the file's resolved absolute path.
            let exe = scope.group(kernel)?.state.lock().exe.clone();
            if exe.is_empty() {
                return Err(Errno::ENOENT);
            }
            Ok(exe)
        }
        PidLink::Cwd | PidLink::Root => {
            let resources = scope.resources(kernel).map_err(|_| Errno::ENOENT)?;
            let fs = resources.fs.lock();
            let dir = if link == PidLink::Cwd {
                &fs.cwd
            } else {
                &fs.root
            };
            Ok(kernel.vfs.path_of(dir))
        }
    }
}

/// The open file at `fd` of the scope's process.
pub(super) fn fd_file(kernel: &Kernel, scope: &Scope, fd: u64) -> Result<Arc<OpenFile>, Errno> {
    let resources = scope.resources(kernel).map_err(|_| Errno::ENOENT)?;
    let file = resources.files.lock().get(fd).map_err(|_| Errno::ENOENT);
    file
}

pub(super) fn fd_numbers(kernel: &Kernel, scope: &Scope) -> Result<Vec<u64>, Errno> {
    let resources = scope.resources(kernel)?;
    let numbers = resources
        .files
        .lock()
        .iter()
        .map(|(fd, _)| fd as u64)
        .collect();
    Ok(numbers)
}

/// What /proc/[pid]/fd/N points at: the path of a VFS file, or Linux's names for the kernel's
/// own kinds of file.
pub(super) fn fd_link(kernel: &Kernel, scope: &Scope, fd: u64) -> Result<Vec<u8>, Errno> {
    let file = fd_file(kernel, scope, fd)?;
    if let Some(path) = file.path() {
        return Ok(kernel.vfs.path_of(path));
    }
    let stat = file.stat()?;
    let name = match stat.st_mode & libc::S_IFMT {
        libc::S_IFIFO => format!("pipe:[{}]", stat.st_ino),
        libc::S_IFSOCK => format!("socket:[{}]", stat.st_ino),
        // Which anonymous kind (eventfd, epoll...) isn't known from the file yet.
        _ => "anon_inode:[unknown]".to_string(),
    };
    Ok(name.into_bytes())
}

pub(super) fn fdinfo(kernel: &Kernel, scope: &Scope, fd: u64) -> Result<Vec<u8>, Errno> {
    let resources = scope.resources(kernel).map_err(|_| Errno::ENOENT)?;
    let (file, cloexec) = {
        let mut files = resources.files.lock();
        let entry = files.entry_mut(fd).map_err(|_| Errno::ENOENT)?;
        (Arc::clone(&entry.file), entry.cloexec)
    };
    let pos = file.seek(0, libc::SEEK_CUR).unwrap_or(0);
    let mut flags = file.status_flags();
    if cloexec {
        flags |= libc::O_CLOEXEC;
    }
    let mount_id = file.path().map_or(0, |p| p.mount().id());
    let ino = file.stat().map_or(0, |s| s.st_ino);
    Ok(format!("pos:\t{pos}\nflags:\t0{flags:o}\nmnt_id:\t{mount_id}\nino:\t{ino}\n").into_bytes())
}
