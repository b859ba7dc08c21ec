// Forks children that wait until fork fails, reaps them, then starts a fork bomb and exits.
// Run with a small --pids: fork fails with EAGAIN at the limit, a failed fork leaves no child
// behind (wait finds none beyond those made), and init's exit tears the bomb down.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CHILDREN 4096

int main(void) {
  static pid_t children[MAX_CHILDREN];
  int made = 0;
  for (; made < MAX_CHILDREN; made++) {
    pid_t pid = fork();
    if (pid == 0) {
      pause();
      _exit(0);
    }
    if (pid < 0) break;
    children[made] = pid;
  }
  printf("fork failed: %s after %d children\n", strerror(errno), made);
  for (int i = 0; i < made; i++) kill(children[i], SIGKILL);
  int reaped = 0;
  while (wait(NULL) > 0) reaped++;
  printf("reaped %d, then wait: %s\n", reaped, strerror(errno));

  int status = 0;
  pid_t pid = fork();
  if (pid == 0) _exit(7);
  waitpid(pid, &status, 0);
  printf("fork after reaping: exit %d\n", WEXITSTATUS(status));

  // The bomb: every process forks for ever, ignoring failures.
  if (fork() == 0) {
    for (;;) fork();
  }
  // Let it reach the limit before init exits and the sandbox ends under it.
  sleep(1);
  printf("init exits\n");
  fflush(stdout);
  return 3;
}
