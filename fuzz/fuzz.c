// A syscall fuzzer to run inside the sandbox: random syscall numbers with edge-value arguments,
// seeded and reproducible. See README.md next to this file.
//
//   fuzz SEED ITERATIONS [--batch N] [--from-batch K] [--seconds S] [--verbose]
//
// The process runs as init of its own pid namespace (pid 1, as under `runsc do`): it forks one
// worker per batch of calls, and each worker's calls come from (SEED, batch index) only, so a
// batch replays the same way whatever the others did. A worker makes the calls itself, except the
// ones that would wreck it (memory, signals, process state), which it makes in a forked child
// each. A 20 ms interval timer whose SIGALRM handler just returns makes blocking calls return
// EINTR; a worker (or child) that makes no progress for a while is SIGKILLed. Nothing here is
// safe to run on a real machine as root: it refuses to run unless it is pid 1.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_NR 460
#define PAGE 4096
#define BUF_SIZE (64 * PAGE)
// How long a worker may go without finishing a call, and a child without exiting.
#define WORKER_STALL_MS 3000
#define CHILD_STALL_MS 1000
// After SIGKILL, how long the sandbox may take to end a process before we call it a hang.
#define KILL_GRACE_MS 5000
// A worker's exit status when a child of it outlived SIGKILL.
#define HANG_STATUS 3

// ---- Randomness: splitmix64, so a (seed, batch) pair always gives the same calls. ----

static uint64_t rng;

static uint64_t next_u64(void) {
  uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t below(uint64_t n) { return next_u64() % n; }

// ---- Syscalls never made, and those made in a child of their own. ----

// End or replace the process, or return to a frame that isn't there.
static const int never[] = {
    SYS_exit, SYS_exit_group, SYS_execve, SYS_execveat, SYS_rt_sigreturn,
    SYS_vfork,  // the child would return into the worker's stack frame
    SYS_reboot, SYS_kexec_load, SYS_kexec_file_load,
};

// Change the worker's memory, signal state, identity or limits in ways that would end or stall
// the calls after them.
static const int in_child[] = {
    SYS_mmap, SYS_munmap, SYS_mremap, SYS_mprotect, SYS_pkey_mprotect, SYS_brk, SYS_madvise,
    SYS_process_madvise, SYS_remap_file_pages, SYS_shmat, SYS_shmdt, SYS_mlockall,
    SYS_arch_prctl, SYS_prctl, SYS_seccomp, SYS_personality, SYS_set_tid_address,
    SYS_set_robust_list, SYS_rseq, SYS_modify_ldt, SYS_unshare, SYS_setns, SYS_chroot,
    SYS_pivot_root, SYS_chdir, SYS_fchdir, SYS_rt_sigaction, SYS_rt_sigprocmask,
    SYS_rt_sigsuspend, SYS_sigaltstack, SYS_setitimer, SYS_alarm, SYS_timer_create,
    SYS_timer_settime, SYS_kill, SYS_tkill, SYS_tgkill, SYS_rt_sigqueueinfo,
    SYS_rt_tgsigqueueinfo, SYS_pidfd_send_signal, SYS_ptrace, SYS_clone, SYS_clone3, SYS_fork,
    SYS_setrlimit, SYS_prlimit64, SYS_setuid, SYS_setgid, SYS_setreuid, SYS_setregid,
    SYS_setresuid, SYS_setresgid, SYS_setfsuid, SYS_setfsgid, SYS_setgroups, SYS_capset,
    SYS_close, SYS_close_range, SYS_dup2, SYS_dup3, SYS_ppoll, SYS_pselect6, SYS_epoll_pwait,
    SYS_epoll_pwait2, SYS_signalfd, SYS_signalfd4, SYS_io_uring_enter, SYS_userfaultfd,
    SYS_fcntl, SYS_ioctl, SYS_setsid, SYS_setpgid, SYS_sched_setscheduler, SYS_sched_setattr,
    SYS_sched_setparam, SYS_setpriority, SYS_process_vm_writev, SYS_mbind, SYS_set_mempolicy,
    SYS_migrate_pages, SYS_move_pages, SYS_mlock, SYS_mlock2, SYS_munlockall,
};

static int listed(const int *list, size_t n, long nr) {
  for (size_t i = 0; i < n; i++)
    if (list[i] == nr) return 1;
  return 0;
}
#define LISTED(list, nr) listed(list, sizeof(list) / sizeof(list[0]), nr)

// ---- What arguments are drawn from. ----

static char *buf;        // BUF_SIZE bytes, read-write, a PROT_NONE page right after it
static char *ro_page;    // read-only: the path strings live here
static char *none_page;  // PROT_NONE
static const char *paths[] = {
    "/tmp/fz", "/tmp/fz/d", "/tmp/fzl", "/tmp", "fz-host", "fz-host/x", ".", "..", "/",
    "/proc/self/status", "/proc/self/fd/0", "/proc/self/maps", "/proc/1/cmdline", "/dev/null",
    "/dev/zero", "/dev/urandom", "/dev/tty", "/etc/passwd", "", "/nonexistent/x",
    "/proc/self/exe", "/proc/self/cwd/..", "/dev/shm/fz", "/dev/ptmx", "/dev/pts/0",
};
#define NPATHS (sizeof(paths) / sizeof(paths[0]))
static uint64_t path_addr[NPATHS + 1];  // the last one: a path longer than PATH_MAX
static int fds[12];
static int nfds;
static pid_t worker_pid;

static const uint64_t edge_numbers[] = {
    0, 1, 2, 3, 4, 7, 8, 16, 64, 255, 256, 4095, 4096, 4097, 65536, 1ULL << 20, 1ULL << 31,
    1ULL << 32, 1ULL << 40, 1ULL << 62, 1ULL << 63, INT32_MAX, (uint64_t)INT32_MIN, UINT32_MAX,
    INT64_MAX, (uint64_t)-1, (uint64_t)-2, (uint64_t)-4095, (uint64_t)-4096, (uint64_t)SIZE_MAX / 2,
    (uint64_t)(int64_t)AT_FDCWD, 0x7fffffffffffULL,
};
#define NEDGES (sizeof(edge_numbers) / sizeof(edge_numbers[0]))

static const uint64_t bad_addresses[] = {
    0x1000,                 // below mmap_min_addr
    0xdead0000,             // unmapped
    0x7ffffffff000ULL,      // last user page
    0x800000000000ULL,      // first non-canonical
    0x8000000000000000ULL,  // non-canonical
    0xffff800000000000ULL,  // kernel half
    0xffffffff81000000ULL,  // kernel text
    0xffffffffff600000ULL,  // vsyscall page
    0xfffffffffffff000ULL,  // top page
};
#define NBAD (sizeof(bad_addresses) / sizeof(bad_addresses[0]))

static uint64_t random_pointer(void) {
  switch (below(8)) {
    case 0: return (uint64_t)buf;
    case 1: return (uint64_t)buf + below(BUF_SIZE);
    case 2: return (uint64_t)buf + BUF_SIZE - below(64);  // runs into the PROT_NONE page
    case 3: return (uint64_t)ro_page + below(PAGE);
    case 4: return (uint64_t)none_page;
    case 5: return (uint64_t)buf + (below(BUF_SIZE / 8) & ~7ULL);
    default: return bad_addresses[below(NBAD)];
  }
}

static uint64_t random_number(void) {
  switch (below(6)) {
    case 0: return edge_numbers[below(NEDGES)];
    case 1: return below(64);
    case 2: return 1ULL << below(64);  // one flag bit
    case 3: return next_u64() & next_u64() & (below(2) ? 0xffffffffULL : ~0ULL);  // flag bits
    case 4: return (uint64_t)-(int64_t)below(64);  // small negative
    default: return next_u64();
  }
}

static uint64_t random_fd(void) {
  switch (below(4)) {
    case 0: return (uint64_t)(int64_t)-1;
    case 1: return below(1024);
    default: return nfds ? (uint64_t)fds[below(nfds)] : 0;
  }
}

static uint64_t random_pid(void) {
  switch (below(5)) {
    case 0: return 0;
    case 1: return (uint64_t)getpid();
    case 2: return (uint64_t)worker_pid;
    case 3: return (uint64_t)-(int64_t)worker_pid;  // the worker's process group
    default: return below(2) ? 1 : (uint64_t)-1;
  }
}

static uint64_t random_arg(void) {
  switch (below(12)) {
    case 0: case 1: case 2: return random_pointer();
    case 3: case 4: return random_fd();
    case 5: return path_addr[below(NPATHS + 1)];
    case 6: return random_pid();
    default: return random_number();
  }
}

// ---- Setup. ----

static void on_alarm(int sig) { (void)sig; }

static void die(const char *what) {
  fprintf(stderr, "fuzz: %s: %s\n", what, strerror(errno));
  exit(2);
}

// The SIGALRM that makes blocking calls return EINTR, every 20 ms.
static void start_ticker(void) {
  struct sigaction sa = {0};
  sa.sa_handler = on_alarm;  // no SA_RESTART
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it = {{0, 20000}, {0, 20000}};
  setitimer(ITIMER_REAL, &it, NULL);
}

static void make_buffers(void) {
  char *area = mmap(NULL, BUF_SIZE + 3 * PAGE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) die("mmap");
  buf = area;
  none_page = area + BUF_SIZE;
  ro_page = area + BUF_SIZE + PAGE;
  char *at = ro_page;
  for (size_t i = 0; i < NPATHS; i++) {
    path_addr[i] = (uint64_t)at;
    at = stpcpy(at, paths[i]) + 1;
  }
  // A path longer than PATH_MAX, running into the end of the mapping.
  char *long_path = area + BUF_SIZE + 2 * PAGE;
  memset(long_path, 'a', PAGE);
  path_addr[NPATHS] = (uint64_t)long_path;
  if (mprotect(none_page, PAGE, PROT_NONE) || mprotect(ro_page, 2 * PAGE, PROT_READ))
    die("mprotect");
}

// Descriptors of every kind the calls get as fd arguments, fresh for each worker.
static void open_fds(void) {
  int pair[2];
  nfds = 0;
  mkdir("/tmp/fz", 0755);
  fds[nfds++] = open("/tmp/fz/file", O_RDWR | O_CREAT, 0644);
  fds[nfds++] = open("/tmp", O_RDONLY | O_DIRECTORY);
  fds[nfds++] = open("/dev/null", O_RDWR);
  fds[nfds++] = open("/proc/self/status", O_RDONLY);
  if (pipe2(pair, O_NONBLOCK) == 0) { fds[nfds++] = pair[0]; fds[nfds++] = pair[1]; }
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0) { fds[nfds++] = pair[0]; fds[nfds++] = pair[1]; }
  fds[nfds++] = socket(AF_INET, SOCK_DGRAM, 0);
  fds[nfds++] = (int)syscall(SYS_eventfd2, 0, 0);
  fds[nfds++] = (int)syscall(SYS_epoll_create1, 0);
  fds[nfds++] = (int)syscall(SYS_timerfd_create, CLOCK_MONOTONIC, 0);
}

// ---- Counting, in memory the workers share with init. ----

struct counts {
  uint64_t calls, ok, failed, enosys, eintr, in_child, child_signaled, child_killed;
  uint64_t skipped;
  uint64_t progress;  // bumped by the worker after every call
  long last_nr;       // the call the worker made last, for a hang report
  uint64_t last_args[6];
};
static struct counts *counts;

static int verbose;

static void note_result(long nr, const uint64_t *a, long ret, int err) {
  counts->calls++;
  if (ret >= 0) counts->ok++;
  else {
    counts->failed++;
    if (err == ENOSYS) counts->enosys++;
    if (err == EINTR) counts->eintr++;
  }
  if (verbose)
    dprintf(1000, "%ld(%#lx, %#lx, %#lx, %#lx, %#lx, %#lx) = %ld%s%s\n", nr, a[0], a[1], a[2],
            a[3], a[4], a[5], ret, ret < 0 ? " " : "", ret < 0 ? strerrorname_np(err) : "");
}

// Waits up to `ms` for `pid`; SIGKILLs it after that. Returns its status, or -1 if even SIGKILL
// did not end it in KILL_GRACE_MS (the sandbox is stuck: init reports it).
static int wait_bounded(pid_t pid, int ms, int *killed) {
  int status;
  *killed = 0;
  for (int waited = 0;; waited++) {
    pid_t got = waitpid(pid, &status, WNOHANG | __WALL);
    if (got == pid) return status;
    if (got < 0 && errno != EINTR) return 0;  // already reaped (by init, as an orphan)
    if (waited == ms) { kill(pid, SIGKILL); *killed = 1; }
    if (waited > ms + KILL_GRACE_MS) return -1;
    struct timespec ms1 = {0, 1000000};
    nanosleep(&ms1, NULL);
  }
}

// One call, in a child of its own.
static void call_in_child(long nr, const uint64_t *a) {
  pid_t pid = fork();
  if (pid < 0) return;
  if (pid == 0) {
    worker_pid = getpid();
    start_ticker();
    syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
    _exit(0);  // whoever returns here: a clone child too
  }
  counts->in_child++;
  int killed;
  int status = wait_bounded(pid, CHILD_STALL_MS, &killed);
  if (status == -1) _exit(HANG_STATUS);  // init reports it
  if (killed) counts->child_killed++;
  else if (WIFSIGNALED(status)) counts->child_signaled++;
  counts->calls++;
  if (verbose)
    dprintf(1000, "%ld(%#lx, %#lx, %#lx, %#lx, %#lx, %#lx) in child: status %#x%s\n", nr, a[0],
            a[1], a[2], a[3], a[4], a[5], status, killed ? " (killed hung)" : "");
}

static void run_worker(uint64_t seed, uint64_t batch, int calls) {
  rng = seed * 0x100000001b3ULL + batch;
  setpgid(0, 0);  // calls on "my process group" must not reach init
  worker_pid = getpid();
  if (!verbose) close(1000);  // a fuzzed write must not reach the report
  int devnull = open("/dev/null", O_RDWR);
  for (int fd = 0; fd < 3; fd++) dup2(devnull, fd);
  open_fds();
  memset(buf, 0, BUF_SIZE);
  start_ticker();
  for (int i = 0; i < calls; i++) {
    long nr;
    uint64_t a[6];
    // Mostly the table; now and then a number past its end.
    nr = below(64) ? (long)below(MAX_NR + 1) : (long)random_number();
    for (int j = 0; j < 6; j++) a[j] = random_arg();
    counts->last_nr = nr;
    memcpy(counts->last_args, a, sizeof(a));
    if (LISTED(never, nr)) {
      counts->skipped++;
    } else if (LISTED(in_child, nr)) {
      call_in_child(nr, a);
    } else {
      errno = 0;
      long ret = syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
      note_result(nr, a, ret, errno);
    }
    __atomic_add_fetch(&counts->progress, 1, __ATOMIC_RELAXED);
  }
  _exit(0);
}

static void report_last_call(void) {
  const uint64_t *a = counts->last_args;
  dprintf(1000, "fuzz: the worker's last call: %ld(%#lx, %#lx, %#lx, %#lx, %#lx, %#lx)\n",
          counts->last_nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

// What the sandbox says of a stuck process (its state letter first).
static void report_proc_stat(pid_t pid) {
  char path[64], stat[512];
  snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  int fd = open(path, O_RDONLY);
  ssize_t n = fd < 0 ? -1 : read(fd, stat, sizeof(stat) - 1);
  if (n > 0) dprintf(1000, "fuzz: %s: %.*s", path, (int)n, stat);
  if (fd >= 0) close(fd);
}

// Every process but init, as /proc shows it.
static void report_processes(void) {
  DIR *proc = opendir("/proc");
  struct dirent *entry;
  while (proc && (entry = readdir(proc))) {
    pid_t pid = atoi(entry->d_name);
    if (pid > 1) report_proc_stat(pid);
  }
  if (proc) closedir(proc);
}

// ---- init: one worker per batch, every orphan reaped, a stalled worker killed. ----

static uint64_t parse_u64(const char *s) {
  char *end;
  errno = 0;
  uint64_t v = strtoull(s, &end, 0);
  if (errno || *end || end == s) {
    fprintf(stderr, "fuzz: not a number: %s\n", s);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  uint64_t batch_size = 200, first_batch = 0, seconds = 0;
  int positional = 0;
  uint64_t seed = 0, iterations = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--verbose")) verbose = 1;
    else if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch_size = parse_u64(argv[++i]);
    else if (!strcmp(argv[i], "--from-batch") && i + 1 < argc) first_batch = parse_u64(argv[++i]);
    else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) seconds = parse_u64(argv[++i]);
    else if (positional == 0) { seed = parse_u64(argv[i]); positional++; }
    else if (positional == 1) { iterations = parse_u64(argv[i]); positional++; }
    else positional = 99;
  }
  if (positional != 2 || batch_size == 0) {
    fprintf(stderr,
            "usage: fuzz SEED ITERATIONS [--batch N] [--from-batch K] [--seconds S] [--verbose]\n");
    return 2;
  }
  if (getpid() != 1) {
    fprintf(stderr, "fuzz: refusing to run outside a sandbox: pid 1 expected (runsc do, or "
                    "unshare -fp in a throwaway VM)\n");
    return 2;
  }
  if (dup2(1, 1000) < 0) die("dup2");  // the report's stdout, away from fuzzed low fds
  counts = mmap(NULL, sizeof(*counts), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (counts == MAP_FAILED) die("mmap");
  make_buffers();
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);

  uint64_t workers = 0, worker_signaled = 0, worker_killed = 0;
  for (uint64_t done = 0, batch = first_batch; done < iterations; batch++) {
    // With --seconds, no new batch after that long: the calls made are a prefix of the seed's.
    clock_gettime(CLOCK_MONOTONIC, &end);
    if (seconds && (uint64_t)(end.tv_sec - start.tv_sec) >= seconds) break;
    int calls = (int)(iterations - done < batch_size ? iterations - done : batch_size);
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) run_worker(seed, batch, calls);
    workers++;
    // Wait for the worker, reaping orphans meanwhile; kill it if it stalls.
    uint64_t last = counts->progress;
    int stalled_ms = 0, status = 0;
    for (;;) {
      pid_t got = waitpid(-1, &status, WNOHANG | __WALL);
      if (got == pid) break;
      if (got > 0) continue;
      uint64_t now = __atomic_load_n(&counts->progress, __ATOMIC_RELAXED);
      if (now != last) { last = now; stalled_ms = 0; }
      if (stalled_ms == WORKER_STALL_MS) {
        if (verbose) report_last_call();
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        worker_killed++;
      }
      if (stalled_ms > WORKER_STALL_MS + KILL_GRACE_MS) {
        dprintf(1000, "fuzz: HANG: worker %d (batch %lu) outlived SIGKILL\n", pid, batch);
        report_last_call();
        report_proc_stat(pid);
        return 3;
      }
      struct timespec ms1 = {0, 1000000};
      nanosleep(&ms1, NULL);
      stalled_ms++;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == HANG_STATUS) {
      dprintf(1000, "fuzz: HANG: a child of worker %d (batch %lu) outlived SIGKILL\n", pid, batch);
      report_last_call();
      return 3;
    }
    if (WIFSIGNALED(status) && stalled_ms < WORKER_STALL_MS) worker_signaled++;
    // A batch that died early still counts as done: the next one starts from its own seed.
    done += (uint64_t)calls;
  }
  // Whatever the calls forked and left behind: SIGKILLed, and reaped within KILL_GRACE_MS.
  kill(-1, SIGKILL);
  for (int waited = 0;; waited++) {
    pid_t got = waitpid(-1, NULL, WNOHANG | __WALL);
    if (got < 0 && errno == ECHILD) break;
    if (got > 0) continue;
    if (waited > KILL_GRACE_MS) {
      dprintf(1000, "fuzz: HANG: processes outlived kill(-1, SIGKILL):\n");
      report_processes();
      return 3;
    }
    struct timespec ms1 = {0, 1000000};
    nanosleep(&ms1, NULL);
  }
  clock_gettime(CLOCK_MONOTONIC, &end);
  double secs = (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9;
  dprintf(1000,
          "fuzz: seed %lu: %lu calls in %.1fs (%.0f/s): %lu ok, %lu failed (%lu ENOSYS, %lu EINTR), "
          "%lu in a child (%lu died of a signal, %lu killed hung), %lu skipped; %lu workers "
          "(%lu died of a signal, %lu killed stalled)\n",
          seed, counts->calls, secs, (double)counts->calls / secs, counts->ok, counts->failed,
          counts->enosys, counts->eintr, counts->in_child, counts->child_signaled,
          counts->child_killed, counts->skipped, workers, worker_signaled, worker_killed);
  return 0;
}
