/* kill(-1, SIGKILL) while processes fork as fast as they can: no child escapes (a fork racing
 * with the kill either has its child killed too or doesn't happen), so init's wait ends.
 *
 * kill(-1) kills every process the caller may signal: this test only ever sends it as the
 * init (pid 1) of a pid namespace of its own — sandboxed, the program is the sandbox's init;
 * natively it makes a new pid namespace (root only) and runs there, and fails rather than
 * ever sending kill(-1) from anywhere else. */
#include "../check.h"
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#define ROUNDS 5
#define FORKERS 4
/* Each forker keeps at most this many paused children, killing its oldest to make room. */
#define LIVE_CHILDREN 8
#define HANG_GUARD_SECONDS 10

static volatile sig_atomic_t alarmed;

static void on_alarm(int signo) {
    alarmed = signo;
}

/* Forks forever: children (and their own children) park in pause. */
static void forker(void) {
    pid_t live[LIVE_CHILDREN];
    int count = 0, oldest = 0;
    for (;;) {
        pid_t child = fork();
        if (child == 0) {
            /* Half the children fork once more before parking: grandchildren, orphaned when
             * their parent dies, are reparented to init. */
            if (getpid() % 2 == 0 && fork() == 0) pause();
            pause();
            _exit(0);
        }
        if (child < 0) continue;
        if (count < LIVE_CHILDREN) {
            live[count++] = child;
        } else {
            kill(live[oldest], SIGKILL);
            waitpid(live[oldest], NULL, 0);
            live[oldest] = child;
            oldest = (oldest + 1) % LIVE_CHILDREN;
        }
    }
}

/* One round; returns how many processes were still around when the hang guard fired. */
static int round_survivors(void) {
    for (int i = 0; i < FORKERS; i++) {
        if (fork() == 0) forker();
    }
    struct timespec forking = {0, 30 * 1000 * 1000};
    nanosleep(&forking, NULL);
    kill(-1, SIGKILL);
    alarmed = 0;
    alarm(HANG_GUARD_SECONDS);
    while (wait(NULL) > 0 || errno == EINTR) {
        if (alarmed) break;
    }
    alarm(0);
    if (!alarmed) return 0;
    /* Something escaped: count what is left, then end it so the test can go on. */
    int survivors = 0;
    kill(-1, SIGKILL);
    while (wait(NULL) > 0) survivors++;
    return survivors > 0 ? survivors : 1;
}

static int as_namespace_init(void) {
    struct sigaction action = {.sa_handler = on_alarm};
    CHECK_OK("sigaction SIGALRM", sigaction(SIGALRM, &action, NULL));
    int hung = 0, survivors = 0;
    for (int round = 0; round < ROUNDS; round++) {
        int left = round_survivors();
        if (left > 0) {
            hung++;
            survivors += left;
        }
    }
    CHECK("kill(-1, SIGKILL) during forks leaves nothing for init to wait for", hung == 0,
          "%d of %d rounds left %d processes alive", hung, ROUNDS, survivors);
    CHECK_ERRNO("init has no children left", wait(NULL), ECHILD);
    return check_finish();
}

int main(void) {
    if (getpid() == 1) return as_namespace_init();
    if (unshare(CLONE_NEWPID) != 0) {
        printf("FAIL setup: unshare(CLONE_NEWPID): %s (kill(-1) is only sent as a pid "
               "namespace's init)\n",
               strerror(errno));
        return 1;
    }
    fflush(stdout);
    pid_t init = fork();
    if (init == 0) {
        if (getpid() != 1) _exit(3);
        exit(as_namespace_init());
    }
    int status;
    if (init < 0 || waitpid(init, &status, 0) != init) {
        printf("FAIL setup: the namespace's init: %s\n", strerror(errno));
        return 1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
