//! The system-wide files of /proc (meminfo, cpuinfo, stat, uptime...) and /proc/sys.

use std::arch::x86_64::__cpuid;
use std::fmt::Write as _;

use abi::Errno;

use super::{DirNode, FileNode, MountRecord, Node};
use crate::ipc::IpcLimit;
use crate::kernel::{Kernel, UNAME_RELEASE, UNAME_SYSNAME, UNAME_VERSION};
use crate::syscalls::sched_cpus;
use crate::task::TaskHandle;

/// The files directly in /proc.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum SystemFile {
    Meminfo,
    Cpuinfo,
    Stat,
    Uptime,
    Loadavg,
    Filesystems,
    Version,
}

impl SystemFile {
    pub(super) const ALL: [SystemFile; 7] = [
        SystemFile::Meminfo,
        SystemFile::Cpuinfo,
        SystemFile::Stat,
        SystemFile::Uptime,
        SystemFile::Loadavg,
        SystemFile::Filesystems,
        SystemFile::Version,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            SystemFile::Meminfo => "meminfo",
            SystemFile::Cpuinfo => "cpuinfo",
            SystemFile::Stat => "stat",
            SystemFile::Uptime => "uptime",
            SystemFile::Loadavg => "loadavg",
            SystemFile::Filesystems => "filesystems",
            SystemFile::Version => "version",
        }
    }

    pub(super) fn named(name: &[u8]) -> Option<SystemFile> {
        SystemFile::ALL
            .into_iter()
            .find(|f| f.name().as_bytes() == name)
    }
}

pub(super) fn render(
    kernel: &Kernel,
    file: &SystemFile,
    mounts: Option<&Vec<MountRecord>>,
) -> Result<Vec<u8>, Errno> {
    Ok(match file {
        SystemFile::Meminfo => meminfo(kernel)?,
        SystemFile::Cpuinfo => cpuinfo(),
        SystemFile::Stat => stat(kernel),
        SystemFile::Uptime => {
            let up = kernel.boot_time.elapsed();
            format!("{}.{:02} 0.00\n", up.as_secs(), up.subsec_millis() / 10)
        }
        SystemFile::Loadavg => {
            let pids = kernel.pids.lock();
            let count = pids.groups().count();
            format!("0.00 0.00 0.00 1/{count} {}\n", pids.last_allocated())
        }
        SystemFile::Filesystems => {
            // What the sandbox can mount: the Sentry's own filesystems and the Gofer's 9p.
            let mut names: Vec<&str> = mounts
                .map(|m| m.iter().map(|r| r.fs_type).collect())
                .unwrap_or_default();
            names.sort_unstable();
            names.dedup();
            names
                .iter()
                .map(|n| {
                    let nodev = if *n == "9p" { "" } else { "nodev" };
                    format!("{nodev}\t{n}\n")
                })
                .collect()
        }
        SystemFile::Version => {
            format!("{UNAME_SYSNAME} version {UNAME_RELEASE} (rvisor) {UNAME_VERSION}\n")
        }
    }
    .into_bytes())
}

fn meminfo(kernel: &Kernel) -> Result<String, Errno> {
    let host = nix::sys::sysinfo::sysinfo().map_err(|e| Errno(e as i32))?;
    let (total, free) = kernel.memory_totals()?;
    let (total, free) = (total / 1024, free / 1024);
    let swap_total = host.swap_total() / 1024;
    let swap_free = host.swap_free() / 1024;
    let mut s = String::new();
    for (name, kb) in [
        ("MemTotal", total),
        ("MemFree", free),
        ("MemAvailable", free),
        ("Buffers", 0),
        ("Cached", 0),
        ("SwapCached", 0),
        ("Active", 0),
        ("Inactive", 0),
        ("SwapTotal", swap_total),
        ("SwapFree", swap_free),
        ("Dirty", 0),
        ("Writeback", 0),
        ("AnonPages", 0),
        ("Mapped", 0),
        ("Shmem", 0),
        ("Slab", 0),
        ("CommitLimit", total),
        ("Committed_AS", 0),
        ("VmallocTotal", 34_359_738_367),
        ("HugePages_Total", 0),
    ] {
        let unit = if name.starts_with("HugePages") {
            ""
        } else {
            " kB"
        };
        let _ = writeln!(s, "{:<16}{kb:>8}{unit}", format!("{name}:"));
    }
    let _ = writeln!(s, "Hugepagesize:       2048 kB");
    Ok(s)
}

/// CPUID register bits and the flag names Linux gives them (a common subset).
const FLAGS_LEAF1_EDX: [(u32, &str); 24] = [
    (0, "fpu"),
    (1, "vme"),
    (2, "de"),
    (3, "pse"),
    (4, "tsc"),
    (5, "msr"),
    (6, "pae"),
    (7, "mce"),
    (8, "cx8"),
    (9, "apic"),
    (11, "sep"),
    (12, "mtrr"),
    (13, "pge"),
    (14, "mca"),
    (15, "cmov"),
    (16, "pat"),
    (17, "pse36"),
    (19, "clflush"),
    (23, "mmx"),
    (24, "fxsr"),
    (25, "sse"),
    (26, "sse2"),
    (27, "ss"),
    (28, "ht"),
];
const FLAGS_LEAF1_ECX: [(u32, &str); 19] = [
    (0, "pni"),
    (1, "pclmulqdq"),
    (3, "monitor"),
    (9, "ssse3"),
    (12, "fma"),
    (13, "cx16"),
    (17, "pcid"),
    (19, "sse4_1"),
    (20, "sse4_2"),
    (21, "x2apic"),
    (22, "movbe"),
    (23, "popcnt"),
    (25, "aes"),
    (26, "xsave"),
    (28, "avx"),
    (29, "f16c"),
    (30, "rdrand"),
    (31, "hypervisor"),
    (24, "tsc_deadline_timer"),
];
const FLAGS_EXT_EDX: [(u32, &str); 5] = [
    (11, "syscall"),
    (20, "nx"),
    (26, "pdpe1gb"),
    (27, "rdtscp"),
    (29, "lm"),
];
const FLAGS_EXT_ECX: [(u32, &str); 3] = [(0, "lahf_lm"), (5, "abm"), (8, "3dnowprefetch")];
const FLAGS_LEAF7_EBX: [(u32, &str); 16] = [
    (0, "fsgsbase"),
    (3, "bmi1"),
    (4, "hle"),
    (5, "avx2"),
    (7, "smep"),
    (8, "bmi2"),
    (9, "erms"),
    (10, "invpcid"),
    (11, "rtm"),
    (16, "avx512f"),
    (17, "avx512dq"),
    (18, "rdseed"),
    (19, "adx"),
    (20, "smap"),
    (29, "sha_ni"),
    (30, "avx512bw"),
];

fn flag_names(out: &mut Vec<&'static str>, reg: u32, table: &[(u32, &'static str)]) {
    out.extend(
        table
            .iter()
            .filter(|(bit, _)| reg & (1 << bit) != 0)
            .map(|(_, name)| *name),
    );
}

/// /proc/cpuinfo from CPUID (the Sentry never reads the host's /proc).
fn cpuinfo() -> String {
    let leaf0 = __cpuid(0);
    let vendor: Vec<u8> = [leaf0.ebx, leaf0.edx, leaf0.ecx]
        .iter()
        .flat_map(|r| r.to_le_bytes())
        .collect();
    let leaf1 = __cpuid(1);
    let base_family = (leaf1.eax >> 8) & 0xf;
    let family = if base_family == 0xf {
        base_family + ((leaf1.eax >> 20) & 0xff)
    } else {
        base_family
    };
    let mut model = (leaf1.eax >> 4) & 0xf;
    if base_family == 0x6 || base_family == 0xf {
        model |= ((leaf1.eax >> 16) & 0xf) << 4;
    }
    let stepping = leaf1.eax & 0xf;
    let max_ext = __cpuid(0x8000_0000).eax;
    let model_name = if max_ext >= 0x8000_0004 {
        let bytes: Vec<u8> = (0x8000_0002..=0x8000_0004u32)
            .flat_map(|leaf| {
                let r = __cpuid(leaf);
                [r.eax, r.ebx, r.ecx, r.edx]
            })
            .flat_map(u32::to_le_bytes)
            .take_while(|&b| b != 0)
            .collect();
        String::from_utf8_lossy(&bytes).trim().to_string()
    } else {
        "unknown".to_string()
    };
    let mut flags = Vec::new();
    flag_names(&mut flags, leaf1.edx, &FLAGS_LEAF1_EDX);
    flag_names(&mut flags, leaf1.ecx, &FLAGS_LEAF1_ECX);
    if max_ext >= 0x8000_0001 {
        let ext = __cpuid(0x8000_0001);
        flag_names(&mut flags, ext.edx, &FLAGS_EXT_EDX);
        flag_names(&mut flags, ext.ecx, &FLAGS_EXT_ECX);
    }
    if leaf0.eax >= 7 {
        flag_names(&mut flags, __cpuid(7).ebx, &FLAGS_LEAF7_EBX);
    }
    let mhz = if leaf0.eax >= 0x16 {
        __cpuid(0x16).eax & 0xffff
    } else {
        0
    };
    let cpus = sched_cpus(None);
    let mut s = String::new();
    for &cpu in &cpus {
        let _ = writeln!(s, "processor\t: {cpu}");
        let _ = writeln!(s, "vendor_id\t: {}", String::from_utf8_lossy(&vendor));
        let _ = writeln!(s, "cpu family\t: {family}");
        let _ = writeln!(s, "model\t\t: {model}");
        let _ = writeln!(s, "model name\t: {model_name}");
        let _ = writeln!(s, "stepping\t: {stepping}");
        let _ = writeln!(s, "cpu MHz\t\t: {mhz}.000");
        let _ = writeln!(s, "physical id\t: 0");
        let _ = writeln!(s, "siblings\t: {}", cpus.len());
        let _ = writeln!(s, "core id\t\t: {cpu}");
        let _ = writeln!(s, "cpu cores\t: {}", cpus.len());
        let _ = writeln!(s, "apicid\t\t: {cpu}");
        let _ = writeln!(s, "fpu\t\t: yes");
        let _ = writeln!(s, "fpu_exception\t: yes");
        let _ = writeln!(s, "cpuid level\t: {}", leaf0.eax);
        let _ = writeln!(s, "wp\t\t: yes");
        let _ = writeln!(s, "flags\t\t: {}", flags.join(" "));
        let _ = writeln!(s, "clflush size\t: 64");
        let _ = writeln!(s, "cache_alignment\t: 64");
        let _ = writeln!(s, "address sizes\t: 46 bits physical, 48 bits virtual");
        let _ = writeln!(s);
    }
    s
}

/// /proc/stat: CPU times are not accounted (zeros); boot time and process counts are real.
fn stat(kernel: &Kernel) -> String {
    let zeros = "0 0 0 0 0 0 0 0 0 0";
    let mut s = format!("cpu  {zeros}\n");
    for cpu in sched_cpus(None) {
        let _ = writeln!(s, "cpu{cpu} {zeros}");
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let btime = now.saturating_sub(kernel.boot_time.elapsed()).as_secs();
    let (forks, running) = {
        let pids = kernel.pids.lock();
        (pids.last_allocated(), pids.groups().count())
    };
    let _ = writeln!(s, "intr 0\nctxt 0\nbtime {btime}\nprocesses {forks}");
    let _ = writeln!(s, "procs_running {running}\nprocs_blocked 0\nsoftirq 0");
    s
}

/// The files of /proc/sys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum SysFile {
    Hostname,
    Domainname,
    Osrelease,
    Ostype,
    KernelVersion,
    PidMax,
    NgroupsMax,
    CapLastCap,
    OvercommitMemory,
    NrOpen,
    PipeMaxSize,
    Ipc(IpcLimit),
}

/// /proc/sys as (directory, entry name, file).
const SYS_FILES: [(&str, &str, SysFile); 21] = [
    ("kernel", "hostname", SysFile::Hostname),
    ("kernel", "domainname", SysFile::Domainname),
    ("kernel", "osrelease", SysFile::Osrelease),
    ("kernel", "ostype", SysFile::Ostype),
    ("kernel", "version", SysFile::KernelVersion),
    ("kernel", "pid_max", SysFile::PidMax),
    ("kernel", "ngroups_max", SysFile::NgroupsMax),
    ("kernel", "cap_last_cap", SysFile::CapLastCap),
    ("vm", "overcommit_memory", SysFile::OvercommitMemory),
    ("fs", "nr_open", SysFile::NrOpen),
    ("fs", "pipe-max-size", SysFile::PipeMaxSize),
    ("kernel", "shmmax", SysFile::Ipc(IpcLimit::Shmmax)),
    ("kernel", "shmall", SysFile::Ipc(IpcLimit::Shmall)),
    ("kernel", "shmmni", SysFile::Ipc(IpcLimit::Shmmni)),
    ("kernel", "sem", SysFile::Ipc(IpcLimit::Sem)),
    ("kernel", "msgmax", SysFile::Ipc(IpcLimit::Msgmax)),
    ("kernel", "msgmnb", SysFile::Ipc(IpcLimit::Msgmnb)),
    ("kernel", "msgmni", SysFile::Ipc(IpcLimit::Msgmni)),
    ("fs/mqueue", "msg_max", SysFile::Ipc(IpcLimit::MqMsgMax)),
    (
        "fs/mqueue",
        "msgsize_max",
        SysFile::Ipc(IpcLimit::MqMsgsizeMax),
    ),
    (
        "fs/mqueue",
        "queues_max",
        SysFile::Ipc(IpcLimit::MqQueuesMax),
    ),
];

const SYS_DIRS: [&str; 3] = ["fs", "kernel", "vm"];

/// Directories below the top ones: (parent, name, path).
const SYS_SUBDIRS: [(&str, &str, &str); 1] = [("fs", "mqueue", "fs/mqueue")];

pub(super) fn sys_lookup(dir: &str, name: &[u8]) -> Option<Node> {
    if dir.is_empty() {
        return SYS_DIRS
            .into_iter()
            .find(|d| d.as_bytes() == name)
            .map(|d| Node::Dir(DirNode::Sys(d)));
    }
    if let Some((_, _, path)) = SYS_SUBDIRS
        .iter()
        .find(|(parent, n, _)| *parent == dir && n.as_bytes() == name)
    {
        return Some(Node::Dir(DirNode::Sys(path)));
    }
    SYS_FILES
        .iter()
        .find(|(d, n, _)| *d == dir && n.as_bytes() == name)
        .map(|(_, _, f)| Node::File(FileNode::Sys(*f)))
}

pub(super) fn sys_entries(dir: &str) -> Vec<(Vec<u8>, Node)> {
    if dir.is_empty() {
        return SYS_DIRS
            .iter()
            .map(|d| (d.as_bytes().to_vec(), Node::Dir(DirNode::Sys(d))))
            .collect();
    }
    SYS_SUBDIRS
        .iter()
        .filter(|(parent, _, _)| *parent == dir)
        .map(|(_, n, path)| (n.as_bytes().to_vec(), Node::Dir(DirNode::Sys(path))))
        .chain(
            SYS_FILES
                .iter()
                .filter(|(d, _, _)| *d == dir)
                .map(|(_, n, f)| (n.as_bytes().to_vec(), Node::File(FileNode::Sys(*f)))),
        )
        .collect()
}

pub(super) fn render_sys(kernel: &Kernel, file: SysFile) -> Vec<u8> {
    let mut text = match file {
        SysFile::Hostname => kernel.hostname.lock().clone(),
        SysFile::Domainname => kernel.domainname.lock().clone(),
        SysFile::Osrelease => UNAME_RELEASE.as_bytes().to_vec(),
        SysFile::Ostype => UNAME_SYSNAME.as_bytes().to_vec(),
        SysFile::KernelVersion => UNAME_VERSION.as_bytes().to_vec(),
        SysFile::PidMax => crate::pid::PID_MAX.to_string().into_bytes(),
        SysFile::NgroupsMax => b"65536".to_vec(),
        SysFile::CapLastCap => crate::syscalls::CAP_LAST_CAP.to_string().into_bytes(),
        // Heuristic overcommit: the memory file is sparse and grows on demand.
        SysFile::OvercommitMemory => b"0".to_vec(),
        SysFile::NrOpen => crate::fd_table::NR_OPEN.to_string().into_bytes(),
        SysFile::PipeMaxSize => b"1048576".to_vec(),
        SysFile::Ipc(limit) => return kernel.ipc.limits.lock().render(limit).into_bytes(),
    };
    text.push(b'\n');
    text
}

/// Writing /proc/sys/kernel/{hostname,domainname} (sethostname's rules) and the IPC limits:
/// CAP_SYS_ADMIN.
pub(super) fn write_sys(
    kernel: &Kernel,
    file: SysFile,
    writer: Option<&TaskHandle>,
    buf: &[u8],
) -> Result<(), Errno> {
    let privileged = writer.is_some_and(|w| {
        w.tg.state
            .lock()
            .creds
            .capable(crate::syscalls::CAP_SYS_ADMIN)
    });
    if !privileged {
        return Err(Errno::EPERM);
    }
    if let SysFile::Ipc(limit) = file {
        return kernel.ipc.limits.lock().write(limit, buf);
    }
    let name = buf.strip_suffix(b"\n").unwrap_or(buf);
    if name.len() > 64 {
        return Err(Errno::EINVAL);
    }
    let target = match file {
        SysFile::Hostname => &kernel.hostname,
        SysFile::Domainname => &kernel.domainname,
        _ => return Err(Errno::EACCES),
    };
    *target.lock() = name.to_vec();
    Ok(())
}
