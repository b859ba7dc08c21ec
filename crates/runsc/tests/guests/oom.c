// A child allocates and touches memory in 16 MiB steps, up to 1 GiB; init waits for it and
// reports how it ended. Run with a small --memory, the child is OOM-killed (SIGKILL) and init,
// holding little, lives on. With the argument "self", init itself allocates.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define STEP (16 << 20)
#define MAX_STEPS 64

static void allocate(void) {
  for (int i = 0; i < MAX_STEPS; i++) {
    char *p = mmap(NULL, STEP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) _exit(2);
    memset(p, 1, STEP);
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "self") == 0) {
    allocate();
    printf("allocated all\n");
    return 0;
  }
  pid_t pid = fork();
  if (pid == 0) {
    allocate();
    _exit(0);
  }
  int status;
  if (waitpid(pid, &status, 0) != pid) return perror("waitpid"), 1;
  if (WIFSIGNALED(status))
    printf("child killed by signal %d\n", WTERMSIG(status));
  else
    printf("child exited %d\n", WEXITSTATUS(status));
  // The sandbox goes on: init can still fork and run a child.
  pid = fork();
  if (pid == 0) _exit(5);
  waitpid(pid, &status, 0);
  printf("next child exited %d\n", WEXITSTATUS(status));
  return 0;
}
