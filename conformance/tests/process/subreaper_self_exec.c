/* An orphaned grandchild, reparented to its subreaper grandparent, points fds 0-2 at /dev/null
 * and execs /proc/self/exe, twice; the exec'd images see /proc/self/exe name the program's own
 * file (not "/proc/self/exe", which a walk would follow back to itself without end). */
#include <fcntl.h>
#include <limits.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include "../check.h"

/* Exit codes the grandchild reports with (its stdout is /dev/null). */
enum { GOOD = 0, WRONG_PARENT = 10, WRONG_EXE = 11, EXEC_FAILED = 12, SETUP_FAILED = 13 };

/* In an exec'd image: argv = prog, "again", generation, subreaper pid, expected exe. */
static int grandchild_image(int generation, pid_t subreaper, const char *expected) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0) return WRONG_EXE;
    exe[n] = '\0';
    if (strcmp(exe, expected) != 0) return WRONG_EXE;
    if (getppid() != subreaper) return WRONG_PARENT;
    if (generation >= 2) return GOOD;
    char next[16], reaper[16];
    snprintf(next, sizeof(next), "%d", generation + 1);
    snprintf(reaper, sizeof(reaper), "%d", subreaper);
    char *args[] = {"self_exec", "again", next, reaper, (char *)expected, NULL};
    execv("/proc/self/exe", args);
    return EXEC_FAILED;
}

static void grandchild(pid_t subreaper, pid_t parent, const char *expected) {
    while (getppid() == parent) usleep(1000);
    int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0)
        _exit(SETUP_FAILED);
    char reaper[16];
    snprintf(reaper, sizeof(reaper), "%d", subreaper);
    char *args[] = {"self_exec", "again", "1", reaper, (char *)expected, NULL};
    execv("/proc/self/exe", args);
    _exit(EXEC_FAILED);
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "again") == 0)
        return grandchild_image(atoi(argv[2]), atoi(argv[3]), argv[4]);
    char expected[PATH_MAX];
    ssize_t n = CHECK_OK("readlink /proc/self/exe", readlink("/proc/self/exe", expected,
                                                              sizeof(expected) - 1));
    if (n < 0) return 1;
    expected[n] = '\0';
    CHECK_OK("become a subreaper", prctl(PR_SET_CHILD_SUBREAPER, 1));
    pid_t subreaper = getpid();
    pid_t child = fork();
    if (child == 0) {
        pid_t parent = getpid();
        if (fork() == 0) grandchild(subreaper, parent, expected);
        _exit(0);
    }
    int status;
    CHECK("the child exits", waitpid(child, &status, 0) == child && WIFEXITED(status),
          "status %#x", status);
    pid_t orphan = waitpid(-1, &status, 0);
    CHECK("the orphan is reaped by its subreaper", orphan > 0 && orphan != child, "waitpid %d: %s",
          orphan, strerror(errno));
    CHECK("the orphan exec'd /proc/self/exe twice and saw its own file",
          WIFEXITED(status) && WEXITSTATUS(status) == GOOD, "status %#x", status);
    return check_finish();
}
