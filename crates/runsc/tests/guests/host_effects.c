// Makes system calls whose effects the host would show if they ran there (the test looks), and
// prints what each returned:
//   argv[1]: a directory to create, argv[2]: a file to create, argv[3]: a host pid to SIGKILL.
// Then an unassigned syscall number (ENOSYS, and the program goes on) and getpid.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void report(const char *what, long ret) {
  if (ret < 0)
    printf("%s: %s\n", what, strerrorname_np(errno));
  else
    printf("%s: ok\n", what);
  fflush(stdout);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s DIR FILE PID\n", argv[0]);
    return 2;
  }
  report("mkdir", mkdir(argv[1], 0755));
  report("creat", open(argv[2], O_CREAT | O_WRONLY, 0644));
  report("kill", kill((pid_t)atoi(argv[3]), SIGKILL));
  report("syscall 1000", syscall(1000));
  printf("getpid: %d\n", (int)getpid());
  return 0;
}
