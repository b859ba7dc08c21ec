// rvisor microbenchmark: `bench CASE` runs one case and prints "CASE NS_PER_OP".
// Each case repeats its operation, doubling the count until a batch takes at least
// TARGET_NS, and reports that batch's time per operation. `bench --exit` exits at once (the
// program fork+exec runs). `bench --wall PROGRAM ARGS...` runs a program (a sandbox, natively)
// and prints "wall NS", its wall time. On failure the program prints "bench: WHAT: ERROR" to
// stderr (the prefix tells it apart from a sandbox's own output) and exits non-zero.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TARGET_NS 200000000LL
#define PAGE 4096

static const char *self_path;
static int file_fd = -1, ping[2], pong[2];
static char buffer[64 * 1024];

static void die(const char *what) {
  fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
  exit(1);
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void op_getpid(void) { syscall(SYS_getpid); }

// Through libc, so through the vDSO where there is one (natively, ours, gVisor's).
static void op_clock_gettime(void) {
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) die("clock_gettime");
}

static void op_open_close(void) {
  int fd = open("/etc/passwd", O_RDONLY);
  if (fd < 0) die("open /etc/passwd");
  close(fd);
}

static void op_stat(void) {
  struct stat st;
  if (stat("/etc/passwd", &st) != 0) die("stat /etc/passwd");
}

static void op_pread(void) {
  if (pread(file_fd, buffer, 4096, 0) != 4096) die("pread");
}

// Over the same 64 KiB of a file, so that the data is copied every time (a write to /dev/null
// may be dropped unread) and the file does not grow.
static void op_write(void) {
  if (pwrite(file_fd, buffer, sizeof buffer, 0) != (ssize_t)sizeof buffer) die("pwrite");
}

static void op_ping_pong(void) {
  char byte = 'x';
  if (write(ping[1], &byte, 1) != 1 || read(pong[0], &byte, 1) != 1) die("ping-pong");
}

static void wait_child(pid_t pid) {
  int status;
  if (waitpid(pid, &status, 0) != pid) die("waitpid");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "bench: child did not exit 0 (wait status %#x)\n", status);
    exit(1);
  }
}

static void op_fork_exit(void) {
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) _exit(0);
  wait_child(pid);
}

static void op_fork_exec(void) {
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    execl(self_path, self_path, "--exit", (char *)NULL);
    _exit(127);
  }
  wait_child(pid);
}

static void op_mmap(void) {
  char *p = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) die("mmap");
  for (int i = 0; i < 64; i++) p[i * PAGE] = 1;
  if (munmap(p, 64 * PAGE) != 0) die("munmap");
}

// Writes through a shared mapping of a POSIX shared memory file: one byte in each of 64 pages,
// then msync, as a program updating shared state would.
static void op_mmap_shared_write(void) {
  char *p = mmap(NULL, 64 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, file_fd, 0);
  if (p == MAP_FAILED) die("mmap shared");
  for (int i = 0; i < 64; i++) p[i * PAGE]++;
  if (msync(p, 64 * PAGE, MS_SYNC) != 0) die("msync");
  if (munmap(p, 64 * PAGE) != 0) die("munmap");
}

// A 64-page file in /dev/shm, unlinked at once so that nothing is left behind.
static void open_shm(void) {
  char path[] = "/dev/shm/rvisor-bench-XXXXXX";
  if ((file_fd = mkstemp(path)) < 0) die("mkstemp in /dev/shm");
  if (unlink(path) != 0) die("unlink shared memory file");
  if (ftruncate(file_fd, 64 * PAGE) != 0) die("ftruncate shared memory file");
}

static void open_self(void) {
  if ((file_fd = open(self_path, O_RDONLY)) < 0) die("open self");
}

// A scratch file, unlinked at once so that nothing is left behind.
static void open_scratch(void) {
  char path[] = "/tmp/rvisor-bench-XXXXXX";
  if ((file_fd = mkstemp(path)) < 0) die("mkstemp in /tmp");
  if (unlink(path) != 0) die("unlink scratch file");
}

// The other end of the ping-pong: echoes each byte until the pipe closes.
static void start_ponger(void) {
  if (pipe(ping) != 0 || pipe(pong) != 0) die("pipe");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    char byte;
    close(ping[1]);
    while (read(ping[0], &byte, 1) == 1)
      if (write(pong[1], &byte, 1) != 1) _exit(1);
    _exit(0);
  }
  close(ping[0]);
  close(pong[1]);
}

extern char **environ;

// Times one run of argv[0] from spawn to reaping. The program's exit code is passed on.
static int time_program(char **argv) {
  pid_t pid;
  long long start = now_ns();
  int err = posix_spawn(&pid, argv[0], NULL, NULL, argv, environ);
  if (err != 0) {
    errno = err;
    die(argv[0]);
  }
  int status;
  if (waitpid(pid, &status, 0) != pid) die("waitpid");
  long long elapsed = now_ns() - start;
  if (WIFSIGNALED(status)) {
    fprintf(stderr, "bench: %s killed by signal %d\n", argv[0], WTERMSIG(status));
    return 1;
  }
  if (WEXITSTATUS(status) != 0) return WEXITSTATUS(status);
  printf("wall %lld\n", elapsed);
  return 0;
}

static const struct {
  const char *name;
  void (*setup)(void);
  void (*op)(void);
} cases[] = {
    {"getpid", NULL, op_getpid},
    {"clock_gettime", NULL, op_clock_gettime},
    {"open+close", NULL, op_open_close},
    {"stat", NULL, op_stat},
    {"pread-4k", open_self, op_pread},
    {"write-64k", open_scratch, op_write},
    {"pipe-ping-pong", start_ponger, op_ping_pong},
    {"fork+exit+wait", NULL, op_fork_exit},
    {"fork+exec+wait", NULL, op_fork_exec},
    {"mmap-64-pages", NULL, op_mmap},
    {"mmap-shared-write-64-pages+msync", open_shm, op_mmap_shared_write},
};

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "--exit") == 0) return 0;
  if (argc > 2 && strcmp(argv[1], "--wall") == 0) return time_program(argv + 2);
  if (argc != 2) {
    fprintf(stderr, "usage: %s CASE | --list | --wall PROGRAM ARGS...\n", argv[0]);
    return 2;
  }
  self_path = argv[0];
  size_t ncases = sizeof cases / sizeof cases[0];
  if (strcmp(argv[1], "--list") == 0) {
    for (size_t i = 0; i < ncases; i++) printf("%s\n", cases[i].name);
    return 0;
  }
  for (size_t i = 0; i < ncases; i++) {
    if (strcmp(argv[1], cases[i].name) != 0) continue;
    if (cases[i].setup) cases[i].setup();
    for (long long n = 1;; n *= 2) {
      long long start = now_ns();
      for (long long k = 0; k < n; k++) cases[i].op();
      long long elapsed = now_ns() - start;
      if (elapsed >= TARGET_NS) {
        printf("%s %lld\n", cases[i].name, elapsed / n);
        return 0;
      }
    }
  }
  fprintf(stderr, "unknown case %s\n", argv[1]);
  return 2;
}
