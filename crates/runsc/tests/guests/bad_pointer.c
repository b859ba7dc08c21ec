// Hands bad pointers to system calls: each must fail with EFAULT, and the program goes on.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *what, long ret) {
  if (ret < 0)
    printf("%s: %s\n", what, strerrorname_np(errno));
  else
    printf("%s: %ld\n", what, ret);
  fflush(stdout);
}

int main(int argc, char **argv) {
  (void)argc;
  // Our own executable: a file that is there to read, natively and in the sandbox.
  int fd = open(argv[0], O_RDONLY);
  if (fd < 0) {
    perror("open self");
    return 1;
  }
  report("write", syscall(SYS_write, 1, (void *)1, 10));
  report("read", syscall(SYS_read, fd, (void *)8, 4));
  report("open", syscall(SYS_open, (void *)16, O_RDONLY));
  report("stat", syscall(SYS_stat, "/", (void *)24));
  report("fstat", syscall(SYS_fstat, fd, (void *)32));
  report("uname", syscall(SYS_uname, (void *)40));
  printf("still running\n");
  return 0;
}
