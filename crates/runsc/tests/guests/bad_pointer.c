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

int main(void) {
  int fds[2];
  if (pipe(fds) != 0 || write(fds[1], "data", 4) != 4) {
    perror("pipe");
    return 1;
  }
  report("write", syscall(SYS_write, 1, (void *)1, 10));
  report("read", syscall(SYS_read, fds[0], (void *)8, 4));
  report("open", syscall(SYS_open, (void *)16, O_RDONLY));
  report("stat", syscall(SYS_stat, "/", (void *)24));
  report("uname", syscall(SYS_uname, (void *)32));
  report("pipe", syscall(SYS_pipe, (void *)40));
  printf("still running\n");
  return 0;
}
