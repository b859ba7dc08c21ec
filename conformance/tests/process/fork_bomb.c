/* A fork bomb as an unprivileged user is stopped by RLIMIT_NPROC: fork fails with EAGAIN once
 * the user has that many processes, and everything it made can be killed and reaped. */
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include "../check.h"

#define LIMIT 16
#define ATTEMPTS 200

int main(void) {
    struct rlimit limit = {LIMIT, LIMIT};
    /* Root is exempt from RLIMIT_NPROC: become nobody first. */
    CHECK_OK("setgid nobody", setgid(65534));
    CHECK_OK("setuid nobody", setuid(65534));
    CHECK_OK("setrlimit NPROC", setrlimit(RLIMIT_NPROC, &limit));
    pid_t children[ATTEMPTS];
    int made = 0, refused = 0, other = 0;
    for (int i = 0; i < ATTEMPTS; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            pause();
            _exit(0);
        }
        if (pid > 0) children[made++] = pid;
        else if (errno == EAGAIN) refused++;
        else other++;
    }
    CHECK("forks stop at the limit", made < LIMIT, "%d children made", made);
    CHECK("the rest fail with EAGAIN", refused == ATTEMPTS - made && other == 0,
          "%d EAGAIN, %d other errors", refused, other);
    int reaped = 0;
    for (int i = 0; i < made; i++) {
        int status;
        kill(children[i], SIGKILL);
        if (waitpid(children[i], &status, 0) == children[i] && WIFSIGNALED(status)) reaped++;
    }
    CHECK("every child killed and reaped", reaped == made, "%d of %d", reaped, made);
    return check_finish();
}
