/* execve from a multi-threaded process: every other thread goes wherever it is blocked
 * (epoll_wait, pause, a futex, a pipe read, nanosleep, sigsuspend, wait4) or running, and the
 * new image starts promptly. The exec'd image checks it is alone and how long the exec took
 * (a hang guard: Linux takes milliseconds; a thread never woken would stall it for seconds).
 * exit_group and a fatal signal end such a process as promptly. */
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include "../check.h"

#define HANG_GUARD_NS (5LL * 1000 * 1000 * 1000)

static int pipe_fds[2];
static int epoll_fd;
static uint32_t futex_word;
static pid_t sleeping_child;
static volatile int threads_started;

static void *in_epoll_wait(void *arg) {
    struct epoll_event event;
    __sync_fetch_and_add(&threads_started, 1);
    epoll_wait(epoll_fd, &event, 1, -1);
    return arg;
}

static void *in_pause(void *arg) {
    __sync_fetch_and_add(&threads_started, 1);
    pause();
    return arg;
}

static void *in_futex(void *arg) {
    __sync_fetch_and_add(&threads_started, 1);
    syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    return arg;
}

static void *in_pipe_read(void *arg) {
    char byte;
    __sync_fetch_and_add(&threads_started, 1);
    if (read(pipe_fds[0], &byte, 1) < 0) return NULL;
    return arg;
}

static void *in_nanosleep(void *arg) {
    struct timespec long_sleep = {3600, 0};
    __sync_fetch_and_add(&threads_started, 1);
    nanosleep(&long_sleep, NULL);
    return arg;
}

static void *in_sigsuspend(void *arg) {
    sigset_t none;
    sigemptyset(&none);
    __sync_fetch_and_add(&threads_started, 1);
    sigsuspend(&none);
    return arg;
}

static void *in_wait4(void *arg) {
    __sync_fetch_and_add(&threads_started, 1);
    waitpid(sleeping_child, NULL, 0);
    return arg;
}

static void *spinning(void *arg) {
    __sync_fetch_and_add(&threads_started, 1);
    for (;;) __asm__ volatile("" ::: "memory");
    return arg;
}

static long long now_ns(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1000000000LL + now.tv_nsec;
}

/* The new image: alone in its process, started soon after the exec. */
static int after_exec(const char *started) {
    long long elapsed = now_ns() - atoll(started);
    CHECK("exec'd image runs", 1, "");
    CHECK("exec took less than the hang guard", elapsed >= 0 && elapsed < HANG_GUARD_NS,
          "exec took %lld ms", elapsed / 1000000);
    char path[64];
    struct stat task_dir;
    snprintf(path, sizeof(path), "/proc/self/task/%d", getpid());
    CHECK("the execing thread became the leader", stat(path, &task_dir) == 0, "%s: %s", path,
          strerror(errno));
    kill(sleeping_child, SIGKILL);
    int status;
    CHECK("the old image's child is still ours",
          waitpid(sleeping_child, &status, 0) == sleeping_child, "waitpid: %s", strerror(errno));
    return check_finish();
}

/* Starts one thread blocked in each call (and one spinning), and lets them get there. */
static void start_blocked_threads(void) {
    void *(*bodies[])(void *) = {in_epoll_wait, in_pause, in_futex,      in_pipe_read,
                                 in_nanosleep,  in_sigsuspend, in_wait4, spinning};
    int count = sizeof(bodies) / sizeof(bodies[0]);
    for (int i = 0; i < count; i++) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, bodies[i], NULL) != 0) {
            printf("FAIL pthread_create: thread %d\n", i);
            exit(1);
        }
    }
    while (threads_started < count) sched_yield();
    struct timespec settle = {0, 100 * 1000 * 1000};
    nanosleep(&settle, NULL);
}

/* A child with blocked threads ends by `how`; it must be gone within the hang guard. */
static void check_ends_promptly(const char *name, int (*how)(void), int want_status) {
    long long start = now_ns();
    pid_t child = fork();
    if (child == 0) {
        threads_started = 0;
        start_blocked_threads();
        _exit(how());
    }
    int status = 0;
    pid_t reaped = waitpid(child, &status, 0);
    long long elapsed = now_ns() - start;
    CHECK(name, reaped == child && status == want_status && elapsed < HANG_GUARD_NS,
          "status %#x (want %#x) after %lld ms", status, want_status, elapsed / 1000000);
}

static int by_exit_group(void) {
    syscall(SYS_exit_group, 7);
    return 1;
}

static int by_fatal_signal(void) {
    kill(getpid(), SIGTERM);
    pause();
    return 1;
}

/* Two threads (neither the leader) call execve at once: exactly one new image runs, promptly,
 * on the leader's thread id. */
static pthread_barrier_t both_ready;
static char *self_path;

static void *exec_racer(void *arg) {
    char *args[] = {self_path, "exec-race-winner", NULL};
    pthread_barrier_wait(&both_ready);
    execv("/proc/self/exe", args);
    return arg;
}

static int by_racing_execs(void) {
    pthread_t first, second;
    pthread_barrier_init(&both_ready, NULL, 2);
    pthread_create(&first, NULL, exec_racer, NULL);
    pthread_create(&second, NULL, exec_racer, NULL);
    pause();
    return 1;
}

int main(int argc, char **argv) {
    self_path = argv[0];
    /* The winner was not the leader: it took over the leader's id (the pid). */
    if (argc == 2 && strcmp(argv[1], "exec-race-winner") == 0) return gettid() == getpid() ? 42 : 43;
    if (argc == 4 && strcmp(argv[1], "after-exec") == 0) {
        sleeping_child = atoi(argv[3]);
        return after_exec(argv[2]);
    }
    CHECK_OK("pipe", pipe(pipe_fds));
    epoll_fd = CHECK_OK("epoll_create1", epoll_create1(0));
    struct epoll_event event = {.events = EPOLLIN};
    CHECK_OK("epoll_ctl", epoll_ctl(epoll_fd, EPOLL_CTL_ADD, pipe_fds[0], &event));
    sleeping_child = fork();
    if (sleeping_child == 0) {
        pause();
        _exit(0);
    }
    check_ends_promptly("exit_group ends every blocked thread", by_exit_group, 7 << 8);
    check_ends_promptly("a fatal signal ends every blocked thread", by_fatal_signal, SIGTERM);
    check_ends_promptly("of two racing execs one image runs", by_racing_execs, 42 << 8);
    start_blocked_threads();
    char started[32], child[16];
    snprintf(started, sizeof(started), "%lld", now_ns());
    snprintf(child, sizeof(child), "%d", sleeping_child);
    char *args[] = {argv[0], "after-exec", started, child, NULL};
    execv("/proc/self/exe", args);
    CHECK("execv", 0, "%s", strerror(errno));
    return 1;
}
