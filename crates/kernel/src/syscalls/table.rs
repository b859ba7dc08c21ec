//! The syscall table: the one place that gives each implemented syscall's number, name,
//! argument kinds (for `--strace`), handler, and how complete it is. Numbers not listed return
//! ENOSYS.

use super::strace::Arg::{self, *};
use super::{
    creds, epoll, eventfd, file, fs, fs_ext, futex, handles, inotify, io, ipc, limits, locks,
    memory, mqueue, poll, prctl, process, sched, signal, signalfd, socket, system, time, timer,
    xattr, Handler,
};

/// How completely a syscall is implemented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    Full,
    /// Implemented, with the gaps the note names.
    Partial(&'static str),
}

/// One implemented syscall.
pub struct Syscall {
    pub nr: u64,
    pub name: &'static str,
    pub(crate) args: &'static [Arg],
    pub(crate) handler: Handler,
    pub support: Support,
}

use Support::{Full as F, Partial as P};

macro_rules! syscall_table {
    ($($nr:literal $name:ident $handler:path [$($arg:expr),*] $support:expr;)*) => {
        const LIST: &[Syscall] = &[$(Syscall {
            nr: $nr,
            name: stringify!($name),
            args: &[$($arg),*],
            handler: $handler,
            support: $support,
        }),*];
    };
}

syscall_table! {
    0 read file::read [Fd, OutBuf, Uint] F;
    1 write file::write [Fd, InBuf(2), Uint] F;
    2 open fs::open [Path, Hex, Oct] F;
    3 close file::close [Fd] F;
    4 stat fs::stat [Path, Ptr] F;
    5 fstat file::fstat [Fd, Ptr] F;
    6 lstat fs::lstat [Path, Ptr] F;
    7 poll poll::poll [Ptr, Uint, Int] F;
    8 lseek file::lseek [Fd, Int, Int] F;
    9 mmap memory::mmap [Ptr, Uint, Hex, Hex, Fd, Hex] P("MAP_SHARED only of tmpfs files and memfds (else ENODEV)");
    10 mprotect memory::mprotect [Ptr, Uint, Hex] F;
    11 munmap memory::munmap [Ptr, Uint] F;
    12 brk memory::brk [Ptr] F;
    13 rt_sigaction signal::rt_sigaction [Int, Ptr, Ptr, Uint] F;
    14 rt_sigprocmask signal::rt_sigprocmask [Int, Ptr, Ptr, Uint] F;
    15 rt_sigreturn signal::rt_sigreturn [] F;
    16 ioctl file::ioctl [Fd, Hex, Hex] P("terminal ioctls (termios, window size, sessions and job control; ptys: TIOCGPTN, TIOCSPTLCK, TIOCPKT, TIOCGPTPEER, TCFLSH, TCXONC), FIONREAD, FIONBIO, FIOCLEX");
    17 pread64 file::pread64 [Fd, OutBuf, Uint, Int] F;
    18 pwrite64 file::pwrite64 [Fd, InBuf(2), Uint, Int] F;
    19 readv file::readv [Fd, Ptr, Uint] F;
    20 writev file::writev [Fd, Ptr, Uint] F;
    21 access fs::access [Path, Oct] F;
    22 pipe file::pipe [Ptr] F;
    23 select poll::select [Int, Ptr, Ptr, Ptr, Ptr] F;
    24 sched_yield system::sched_yield [] F;
    25 mremap memory::mremap [Ptr, Uint, Uint, Hex, Ptr] F;
    26 msync memory::msync [Ptr, Uint, Hex] F;
    27 mincore memory::mincore [Ptr, Uint, Ptr] F;
    28 madvise memory::madvise [Ptr, Uint, Int] F;
    29 shmget ipc::shmget [Int, Uint, Hex] P("no huge pages (SHM_HUGETLB: EINVAL)");
    30 shmat ipc::shmat [Int, Ptr, Hex] F;
    31 shmctl ipc::shmctl [Int, Int, Ptr] P("SHM_LOCK/SHM_UNLOCK are recorded only");
    32 dup file::dup [Fd] F;
    33 dup2 file::dup2 [Fd, Fd] F;
    34 pause signal::pause [] F;
    35 nanosleep time::nanosleep [Ptr, Ptr] F;
    36 getitimer timer::getitimer [Int, Ptr] P("ITIMER_VIRTUAL and ITIMER_PROF count wall time, not CPU time");
    37 alarm timer::alarm [Uint] F;
    38 setitimer timer::setitimer [Int, Ptr, Ptr] P("ITIMER_VIRTUAL and ITIMER_PROF count wall time, not CPU time");
    39 getpid process::getpid [] F;
    40 sendfile io::sendfile [Fd, Fd, Ptr, Uint] F;
    41 socket socket::socket [Int, Hex, Int] P("AF_UNIX only; other families EAFNOSUPPORT until the network stack");
    42 connect socket::connect [Fd, Ptr, Uint] F;
    43 accept socket::accept [Fd, Ptr, Ptr] F;
    44 sendto socket::sendto [Fd, InBuf(2), Uint, Hex, Ptr, Uint] P("a stream send copies in at most 2 MiB per call");
    45 recvfrom socket::recvfrom [Fd, OutBuf, Uint, Hex, Ptr, Ptr] P("MSG_OOB and MSG_ERRQUEUE unsupported");
    46 sendmsg socket::sendmsg [Fd, Ptr, Hex] P("SCM_RIGHTS and SCM_CREDENTIALS; a stream send copies in at most 2 MiB per call; no garbage collection of sockets passed in cycles");
    47 recvmsg socket::recvmsg [Fd, Ptr, Hex] P("MSG_OOB and MSG_ERRQUEUE unsupported");
    48 shutdown socket::shutdown [Fd, Int] F;
    49 bind socket::bind [Fd, Ptr, Uint] F;
    50 listen socket::listen [Fd, Int] F;
    51 getsockname socket::getsockname [Fd, Ptr, Ptr] F;
    52 getpeername socket::getpeername [Fd, Ptr, Ptr] F;
    53 socketpair socket::socketpair [Int, Hex, Int, Ptr] P("AF_UNIX only");
    54 setsockopt socket::setsockopt [Fd, Int, Int, Ptr, Uint] P("SOL_SOCKET options of AF_UNIX; buffer sizes and SO_LINGER/SO_KEEPALIVE are recorded, not all acted on");
    55 getsockopt socket::getsockopt [Fd, Int, Int, Ptr, Ptr] P("SOL_SOCKET options of AF_UNIX");
    56 clone process::clone [Hex, Ptr, Ptr, Ptr, Ptr] P("no namespaces (CLONE_NEW*), no pidfds");
    57 fork process::fork [] F;
    58 vfork process::vfork [] F;
    59 execve process::execve [Path, Ptr, Ptr] F;
    60 exit process::exit [Int] F;
    61 wait4 process::wait4 [Int, Ptr, Hex, Ptr] P("rusage is zero");
    62 kill signal::kill [Int, Int] F;
    63 uname system::uname [Ptr] F;
    64 semget ipc::semget [Int, Int, Hex] F;
    65 semop ipc::semop [Int, Ptr, Uint] F;
    66 semctl ipc::semctl [Int, Int, Int, Hex] F;
    67 shmdt ipc::shmdt [Ptr] F;
    68 msgget ipc::msgget [Int, Hex] F;
    69 msgsnd ipc::msgsnd [Int, Ptr, Uint, Hex] F;
    70 msgrcv ipc::msgrcv [Int, Ptr, Uint, Int, Hex] P("MSG_COPY: ENOSYS, as Linux without checkpoint/restore");
    71 msgctl ipc::msgctl [Int, Int, Ptr] F;
    72 fcntl file::fcntl [Fd, Int, Hex] P("F_DUPFD*, F_GETFD/SETFD, F_GETFL/SETFL, record locks (no deadlock detection), F_GETPIPE_SZ/F_SETPIPE_SZ; F_SETLEASE/F_GETLEASE (SIGIO to the process that set the lease; opens and truncate(2) break leases); F_NOTIFY accepted but never signals; no owners or seals");
    73 flock locks::flock [Fd, Hex] F;
    74 fsync file::fsync [Fd] F;
    75 fdatasync file::fsync [Fd] F;
    76 truncate fs::truncate [Path, Int] F;
    77 ftruncate file::ftruncate [Fd, Int] F;
    78 getdents file::getdents [Fd, Ptr, Uint] F;
    79 getcwd fs::getcwd [OutBuf, Uint] F;
    80 chdir fs::chdir [Path] F;
    81 fchdir fs::fchdir [Fd] F;
    82 rename fs::rename [Path, Path] F;
    83 mkdir fs::mkdir [Path, Oct] F;
    84 rmdir fs::rmdir [Path] F;
    85 creat fs::creat [Path, Oct] F;
    86 link fs::link [Path, Path] F;
    87 unlink fs::unlink [Path] F;
    88 symlink fs::symlink [Path, Path] F;
    89 readlink fs::readlink [Path, OutBuf, Uint] F;
    90 chmod fs::chmod [Path, Oct] F;
    91 fchmod fs_ext::fchmod [Fd, Oct] F;
    92 chown fs_ext::chown [Path, Int, Int] F;
    93 fchown fs_ext::fchown [Fd, Int, Int] F;
    94 lchown fs_ext::lchown [Path, Int, Int] F;
    95 umask fs::umask [Oct] F;
    96 gettimeofday time::gettimeofday [Ptr, Ptr] F;
    97 getrlimit limits::getrlimit [Int, Ptr] F;
    98 getrusage limits::getrusage [Int, Ptr] P("CPU times only (approximated as times(2) is); the counters are zero");
    99 sysinfo system::sysinfo [Ptr] F;
    100 times time::times [Ptr] P("user time is time spent running guest code, system time the Sentry's CPU time for the task");
    102 getuid creds::getuid [] F;
    104 getgid creds::getgid [] F;
    105 setuid creds::setuid [Int] F;
    106 setgid creds::setgid [Int] F;
    107 geteuid creds::geteuid [] F;
    108 getegid creds::getegid [] F;
    109 setpgid process::setpgid [Int, Int] F;
    110 getppid process::getppid [] F;
    111 getpgrp process::getpgrp [] F;
    112 setsid process::setsid [] F;
    113 setreuid creds::setreuid [Int, Int] F;
    114 setregid creds::setregid [Int, Int] F;
    115 getgroups creds::getgroups [Int, Ptr] F;
    116 setgroups creds::setgroups [Int, Ptr] F;
    117 setresuid creds::setresuid [Int, Int, Int] F;
    118 getresuid creds::getresuid [Ptr, Ptr, Ptr] F;
    119 setresgid creds::setresgid [Int, Int, Int] F;
    120 getresgid creds::getresgid [Ptr, Ptr, Ptr] F;
    121 getpgid process::getpgid [Int] F;
    122 setfsuid creds::setfsuid [Int] F;
    123 setfsgid creds::setfsgid [Int] F;
    124 getsid process::getsid [Int] F;
    125 capget creds::capget [Ptr, Ptr] F;
    126 capset creds::capset [Ptr, Ptr] P("no file capabilities or ambient set");
    127 rt_sigpending signal::rt_sigpending [Ptr, Uint] F;
    128 rt_sigtimedwait signal::rt_sigtimedwait [Hex, Ptr, Ptr, Uint] F;
    129 rt_sigqueueinfo signal::rt_sigqueueinfo [Int, Int, Ptr] F;
    130 rt_sigsuspend signal::rt_sigsuspend [Hex, Uint] F;
    131 sigaltstack signal::sigaltstack [Ptr, Ptr] F;
    132 utime fs_ext::utime [Path, Ptr] F;
    133 mknod fs_ext::mknod [Path, Oct, Hex] P("FIFOs and regular files; character devices only those /dev has; no sockets or block devices");
    137 statfs fs::statfs [Path, Ptr] F;
    138 fstatfs file::fstatfs [Fd, Ptr] F;
    140 getpriority sched::getpriority [Int, Int] F;
    141 setpriority sched::setpriority [Int, Int, Int] P("recorded; the host schedules the Sentry's threads");
    142 sched_setparam sched::sched_setparam [Int, Ptr] P("SCHED_OTHER only");
    143 sched_getparam sched::sched_getparam [Int, Ptr] F;
    144 sched_setscheduler sched::sched_setscheduler [Int, Int, Ptr] P("SCHED_OTHER, SCHED_BATCH, SCHED_IDLE; real-time policies: EPERM");
    145 sched_getscheduler sched::sched_getscheduler [Int] F;
    146 sched_get_priority_max sched::sched_get_priority_max [Int] F;
    147 sched_get_priority_min sched::sched_get_priority_min [Int] F;
    148 sched_rr_get_interval sched::sched_rr_get_interval [Int, Ptr] F;
    149 mlock memory::mlock [Ptr, Uint] P("accounting only: VmLck and RLIMIT_MEMLOCK");
    150 munlock memory::munlock [Ptr, Uint] F;
    151 mlockall memory::mlockall [Hex] P("accounting only: VmLck and RLIMIT_MEMLOCK");
    152 munlockall memory::munlockall [] F;
    157 prctl prctl::prctl [Int, Hex, Hex, Hex, Hex] P("names, pdeathsig, dumpable, keepcaps, no_new_privs, subreaper, seccomp mode, bounding set; others EINVAL");
    158 arch_prctl process::arch_prctl [Hex, Hex] P("ARCH_SET_FS/GET_FS/SET_GS/GET_GS");
    160 setrlimit limits::setrlimit [Int, Ptr] F;
    162 sync fs_ext::sync [] F;
    164 settimeofday time::settimeofday [Ptr, Ptr] P("setting the clock: EPERM (the sandbox can't set the host's clock)");
    170 sethostname system::sethostname [InBuf(1), Uint] F;
    171 setdomainname system::setdomainname [InBuf(1), Uint] F;
    186 gettid process::gettid [] F;
    187 readahead fs_ext::readahead [Fd, Int, Uint] F;
    188 setxattr xattr::setxattr [Path, Path, Ptr, Uint, Hex] P("user.*, trusted.* and security.* on tmpfs (/tmp, /dev/shm); user.* on volumes; no system.* (POSIX ACLs); other filesystems: EOPNOTSUPP");
    189 lsetxattr xattr::lsetxattr [Path, Path, Ptr, Uint, Hex] P("user.*, trusted.* and security.* on tmpfs (/tmp, /dev/shm); user.* on volumes; no system.* (POSIX ACLs); other filesystems: EOPNOTSUPP");
    190 fsetxattr xattr::fsetxattr [Fd, Path, Ptr, Uint, Hex] P("user.*, trusted.* and security.* on tmpfs (/tmp, /dev/shm); user.* on volumes; no system.* (POSIX ACLs); other filesystems: EOPNOTSUPP");
    191 getxattr xattr::getxattr [Path, Path, Ptr, Uint] P("user.*, trusted.* and security.* on tmpfs (/tmp, /dev/shm); user.* on volumes; no system.* (POSIX ACLs); other filesystems: EOPNOTSUPP");
    192 lgetxattr xattr::lgetxattr [Path, Path, Ptr, Uint] P("user.*, trusted.* and security.* on tmpfs (/tmp, /dev/shm); user.* on volumes; no system.* (POSIX ACLs); other filesystems: EOPNOTSUPP");
    193 fgetxattr xattr::fgetxattr [Fd, Path, Ptr, Uint] P("user.*, trusted.* and security.* on tmpfs (/tmp, /dev/shm); user.* on volumes; no system.* (POSIX ACLs); other filesystems: EOPNOTSUPP");
    194 listxattr xattr::listxattr [Path, Ptr, Uint] P("user.*, trusted.* and security.* on tmpfs (/tmp, /dev/shm); user.* on volumes; no system.* (POSIX ACLs); other filesystems: EOPNOTSUPP");
    195 llistxattr xattr::llistxattr [Path, Ptr, Uint] P("user.*, trusted.* and security.* on tmpfs (/tmp, /dev/shm); user.* on volumes; no system.* (POSIX ACLs); other filesystems: EOPNOTSUPP");
    196 flistxattr xattr::flistxattr [Fd, Ptr, Uint] P("user.*, trusted.* and security.* on tmpfs (/tmp, /dev/shm); user.* on volumes; no system.* (POSIX ACLs); other filesystems: EOPNOTSUPP");
    197 removexattr xattr::removexattr [Path, Path] P("user.*, trusted.* and security.* on tmpfs (/tmp, /dev/shm); user.* on volumes; no system.* (POSIX ACLs); other filesystems: EOPNOTSUPP");
    198 lremovexattr xattr::lremovexattr [Path, Path] P("user.*, trusted.* and security.* on tmpfs (/tmp, /dev/shm); user.* on volumes; no system.* (POSIX ACLs); other filesystems: EOPNOTSUPP");
    199 fremovexattr xattr::fremovexattr [Fd, Path] P("user.*, trusted.* and security.* on tmpfs (/tmp, /dev/shm); user.* on volumes; no system.* (POSIX ACLs); other filesystems: EOPNOTSUPP");
    200 tkill signal::tkill [Int, Int] F;
    201 time time::time [Ptr] F;
    202 futex futex::futex [Ptr, Hex, Int, Ptr, Ptr, Int] P("every operation; PI futexes keep the owner-tid protocol (FUTEX_WAITERS, FUTEX_OWNER_DIED, handover on unlock and owner exit) but inherit no priority, the Sentry scheduling none: waiters are served in arrival order");
    203 sched_setaffinity sched::sched_setaffinity [Int, Uint, Ptr] P("recorded; the host places the Sentry's threads");
    204 sched_getaffinity sched::sched_getaffinity [Int, Uint, Ptr] F;
    213 epoll_create epoll::epoll_create [Int] F;
    217 getdents64 file::getdents64 [Fd, Ptr, Uint] F;
    218 set_tid_address process::set_tid_address [Ptr] F;
    219 restart_syscall time::restart_syscall [] F;
    220 semtimedop ipc::semtimedop [Int, Ptr, Uint, Ptr] F;
    221 fadvise64 fs_ext::fadvise64 [Fd, Int, Uint, Int] F;
    222 timer_create timer::timer_create [Int, Ptr, Ptr] P("CPU-time clocks run on wall time; no CPU clocks of other processes");
    223 timer_settime timer::timer_settime [Int, Hex, Ptr, Ptr] F;
    224 timer_gettime timer::timer_gettime [Int, Ptr] F;
    225 timer_getoverrun timer::timer_getoverrun [Int] F;
    226 timer_delete timer::timer_delete [Int] F;
    227 clock_settime time::clock_settime [Int, Ptr] P("EPERM: the sandbox can't set the host's clock");
    228 clock_gettime time::clock_gettime [Int, Ptr] P("CPU clocks: user time is time spent running guest code, system time the Sentry's CPU time for the task");
    229 clock_getres time::clock_getres [Int, Ptr] F;
    230 clock_nanosleep time::clock_nanosleep [Int, Hex, Ptr, Ptr] P("CLOCK_PROCESS_CPUTIME_ID sleeps count wall time");
    231 exit_group process::exit_group [Int] F;
    232 epoll_wait epoll::epoll_wait [Fd, Ptr, Int, Int] F;
    233 epoll_ctl epoll::epoll_ctl [Fd, Int, Fd, Ptr] P("EPOLLEXCLUSIVE and EPOLLWAKEUP are accepted and ignored");
    234 tgkill signal::tgkill [Int, Int, Int] F;
    235 utimes fs_ext::utimes [Path, Ptr] F;
    240 mq_open mqueue::mq_open [Path, Hex, Oct, Ptr] F;
    241 mq_unlink mqueue::mq_unlink [Path] F;
    242 mq_timedsend mqueue::mq_timedsend [Fd, InBuf(2), Uint, Uint, Ptr] F;
    243 mq_timedreceive mqueue::mq_timedreceive [Fd, OutBuf, Uint, Ptr, Ptr] F;
    244 mq_notify mqueue::mq_notify [Fd, Ptr] P("SIGEV_SIGNAL and SIGEV_NONE; SIGEV_THREAD (a netlink socket): EINVAL; a registration ends with its process, not when it closes a descriptor");
    245 mq_getsetattr mqueue::mq_getsetattr [Fd, Ptr, Ptr] F;
    247 waitid process::waitid [Int, Int, Ptr, Hex, Ptr] P("rusage is zero");
    253 inotify_init inotify::inotify_init [] P("events the Sentry performs on files (tmpfs, /dev, volumes); changes made on the host are not seen; outside tmpfs IN_DELETE_SELF comes at the last unlink, not the last close; no IN_UNMOUNT");
    254 inotify_add_watch inotify::inotify_add_watch [Fd, Path, Hex] F;
    255 inotify_rm_watch inotify::inotify_rm_watch [Fd, Int] F;
    257 openat fs::openat [DirFd, Path, Hex, Oct] F;
    258 mkdirat fs::mkdirat [DirFd, Path, Oct] F;
    259 mknodat fs_ext::mknodat [DirFd, Path, Oct, Hex] P("FIFOs and regular files; character devices only those /dev has; no sockets or block devices");
    260 fchownat fs_ext::fchownat [DirFd, Path, Int, Int, Hex] F;
    261 futimesat fs_ext::futimesat [DirFd, Path, Ptr] F;
    262 newfstatat fs::newfstatat [DirFd, Path, Ptr, Hex] F;
    263 unlinkat fs::unlinkat [DirFd, Path, Hex] F;
    264 renameat fs::renameat [DirFd, Path, DirFd, Path] F;
    265 linkat fs::linkat [DirFd, Path, DirFd, Path, Hex] F;
    266 symlinkat fs::symlinkat [Path, DirFd, Path] F;
    267 readlinkat fs::readlinkat [DirFd, Path, OutBuf, Uint] F;
    268 fchmodat fs::fchmodat [DirFd, Path, Oct] F;
    269 faccessat fs::faccessat [DirFd, Path, Oct] F;
    270 pselect6 poll::pselect6 [Int, Ptr, Ptr, Ptr, Ptr, Ptr] F;
    271 ppoll poll::ppoll [Ptr, Uint, Ptr, Ptr, Uint] F;
    273 set_robust_list futex::set_robust_list [Ptr, Uint] F;
    274 get_robust_list futex::get_robust_list [Int, Ptr, Ptr] F;
    275 splice io::splice [Fd, Ptr, Fd, Ptr, Uint, Hex] P("between pipes and regular files");
    276 tee io::tee [Fd, Fd, Uint, Hex] F;
    277 sync_file_range fs_ext::sync_file_range [Fd, Int, Int, Hex] F;
    280 utimensat fs::utimensat [DirFd, Path, Ptr, Hex] F;
    281 epoll_pwait epoll::epoll_pwait [Fd, Ptr, Int, Int, Ptr, Uint] F;
    282 signalfd signalfd::signalfd [Fd, Ptr, Uint] P("reads the signals of the creating process, not the reading task");
    283 timerfd_create timer::timerfd_create [Int, Hex] F;
    284 eventfd eventfd::eventfd [Uint] F;
    285 fallocate fs_ext::fallocate [Fd, Hex, Int, Int] P("tmpfs: mode 0, KEEP_SIZE, PUNCH_HOLE; EOPNOTSUPP elsewhere");
    286 timerfd_settime timer::timerfd_settime [Fd, Hex, Ptr, Ptr] P("TFD_TIMER_CANCEL_ON_SET is accepted; the sandbox's clock is never set, so it never cancels");
    287 timerfd_gettime timer::timerfd_gettime [Fd, Ptr] F;
    288 accept4 socket::accept4 [Fd, Ptr, Ptr, Hex] F;
    289 signalfd4 signalfd::signalfd4 [Fd, Ptr, Uint, Hex] P("reads the signals of the creating process, not the reading task");
    290 eventfd2 eventfd::eventfd2 [Uint, Hex] F;
    291 epoll_create1 epoll::epoll_create1 [Hex] F;
    292 dup3 file::dup3 [Fd, Fd, Hex] F;
    293 pipe2 file::pipe2 [Ptr, Hex] F;
    294 inotify_init1 inotify::inotify_init1 [Hex] P("as inotify_init");
    295 preadv io::preadv [Fd, Ptr, Uint, Int] F;
    296 pwritev io::pwritev [Fd, Ptr, Uint, Int] F;
    302 prlimit64 limits::prlimit64 [Int, Int, Ptr, Ptr] P("the caller's own process only");
    303 name_to_handle_at handles::name_to_handle_at [DirFd, Path, Ptr, Ptr, Hex] P("tmpfs (/tmp, /dev) only; elsewhere EOPNOTSUPP (AT_HANDLE_FID too)");
    304 open_by_handle_at handles::open_by_handle_at [Fd, Ptr, Hex] P("tmpfs handles reopen files that still have a name; elsewhere ESTALE");
    306 syncfs fs_ext::syncfs [Fd] F;
    309 getcpu sched::getcpu [Ptr, Ptr, Ptr] P("the lowest CPU of the affinity mask");
    316 renameat2 fs::renameat2 [DirFd, Path, DirFd, Path, Hex] P("RENAME_EXCHANGE and RENAME_WHITEOUT on tmpfs; EINVAL on filesystems without them");
    318 getrandom system::getrandom [OutBuf, Uint, Hex] F;
    319 memfd_create fs_ext::memfd_create [Path, Hex] P("no sealing");
    322 execveat process::execveat [DirFd, Path, Ptr, Ptr, Hex] F;
    325 mlock2 memory::mlock2 [Ptr, Uint, Hex] P("accounting only: VmLck and RLIMIT_MEMLOCK");
    326 copy_file_range io::copy_file_range [Fd, Ptr, Fd, Ptr, Uint, Hex] F;
    327 preadv2 io::preadv2 [Fd, Ptr, Uint, Int, Int, Hex] P("RWF_HIPRI/DSYNC/SYNC; RWF_NOWAIT and RWF_APPEND: EOPNOTSUPP");
    328 pwritev2 io::pwritev2 [Fd, Ptr, Uint, Int, Int, Hex] P("RWF_HIPRI/DSYNC/SYNC; RWF_NOWAIT and RWF_APPEND: EOPNOTSUPP");
    332 statx fs::statx [DirFd, Path, Hex, Hex, Ptr] F;
    435 clone3 process::clone3 [Ptr, Uint] P("no namespaces, pidfds, set_tid or cgroups");
    436 close_range file::close_range [Fd, Fd, Hex] F;
    437 openat2 fs::openat2 [DirFd, Path, Ptr, Uint] P("RESOLVE_CACHED never fails a lookup (only creating or truncating is EAGAIN)");
    439 faccessat2 fs::faccessat2 [DirFd, Path, Oct, Hex] F;
    441 epoll_pwait2 epoll::epoll_pwait2 [Fd, Ptr, Int, Ptr, Ptr, Uint] F;
    449 futex_waitv futex::futex_waitv [Ptr, Uint, Hex, Ptr, Int] F;
}

/// One past the largest syscall number the index covers.
const INDEX_LEN: usize = 512;

/// Position in [`LIST`] by syscall number (`u16::MAX`: not implemented).
static INDEX: [u16; INDEX_LEN] = build_index();

#[expect(
    clippy::cast_possible_truncation,
    reason = "checked against INDEX_LEN; LIST is short"
)]
const fn build_index() -> [u16; INDEX_LEN] {
    let mut index = [u16::MAX; INDEX_LEN];
    let mut i = 0;
    while i < LIST.len() {
        let nr = LIST[i].nr as usize;
        assert!(nr < INDEX_LEN, "syscall number beyond the index");
        assert!(index[nr] == u16::MAX, "syscall number listed twice");
        index[nr] = i as u16;
        i += 1;
    }
    index
}

/// The table entry for `nr`, if implemented.
pub(crate) fn lookup(nr: u64) -> Option<&'static Syscall> {
    let i = *INDEX.get(usize::try_from(nr).ok()?)?;
    LIST.get(usize::from(i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_matches_its_number() {
        for s in LIST {
            let sysno = usize::try_from(s.nr)
                .ok()
                .and_then(syscalls::Sysno::new)
                .unwrap_or_else(|| panic!("{} has no amd64 number {}", s.name, s.nr));
            assert_eq!(sysno.name(), s.name, "number {}", s.nr);
        }
        assert!(lookup(libc::SYS_reboot as u64).is_none());
        assert!(lookup(u64::MAX).is_none());
    }

    #[test]
    fn arguments_fit_the_registers() {
        for s in LIST {
            assert!(s.args.len() <= 6, "{}", s.name);
        }
    }
}
