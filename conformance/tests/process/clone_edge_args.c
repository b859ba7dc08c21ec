/* clone(2) with arguments the syscall fuzzer found mishandled: CLONE_PARENT_SETTID with an
 * unwritable parent_tid still creates (and returns) the child, which runs and is reaped; and a
 * child whose exit signal is not SIGCHLD, orphaned, is reaped by its reaper with no signal to
 * it but SIGCHLD. Waits are polled, so a hang shows as a failed check. */
#include "../check.h"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

/* Waits up to five seconds for `child`; its pid once reaped, 0 if still there, -1 on error. */
static pid_t reap_within_five_seconds(pid_t child, int *status, int options)
{
	struct timespec tick = {.tv_sec = 0, .tv_nsec = 10000000};
	for (int i = 0; i < 500; i++) {
		pid_t reaped = waitpid(child, status, WNOHANG | options);
		if (reaped != 0)
			return reaped;
		nanosleep(&tick, NULL);
	}
	return 0;
}

static volatile sig_atomic_t got_sigusr1;

static void on_sigusr1(int sig)
{
	(void)sig;
	got_sigusr1 = 1;
}

int main(void)
{
	/* fork() by hand: a bad parent_tid must not cost the child. */
	long child = syscall(SYS_clone, CLONE_PARENT_SETTID | SIGCHLD, 0, (void *)0xfffffffffffff883UL,
			     0, 0);
	if (child == 0)
		_exit(7);
	CHECK("clone_bad_parent_tid_returns_child", child > 0, "clone returned %ld (errno %d)", child,
	      errno);
	if (child > 0) {
		int status = 0;
		pid_t reaped = reap_within_five_seconds((pid_t)child, &status, 0);
		CHECK("clone_bad_parent_tid_child_runs",
		      reaped == child && WIFEXITED(status) && WEXITSTATUS(status) == 7,
		      "waitpid returned %d, status %#x", reaped, status);
	}

	/* A middle process makes a grandchild with exit signal SIGUSR1 and exits; we are the
	 * grandchild's reaper (subreaper), and must see SIGCHLD semantics, not SIGUSR1. */
	signal(SIGUSR1, on_sigusr1);
	CHECK_OK("set_child_subreaper", prctl(PR_SET_CHILD_SUBREAPER, 1));
	pid_t middle = fork();
	if (middle == 0) {
		long grandchild = syscall(SYS_clone, SIGUSR1, 0, 0, 0, 0);
		if (grandchild == 0) {
			struct timespec wait_orphaned = {.tv_sec = 0, .tv_nsec = 200000000};
			nanosleep(&wait_orphaned, NULL);
			_exit(5);
		}
		_exit(grandchild > 0 ? 0 : 1);
	}
	int status = 0;
	pid_t reaped = reap_within_five_seconds(middle, &status, 0);
	CHECK("middle_exits", reaped == middle && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "waitpid returned %d, status %#x", reaped, status);
	/* The orphan is an ordinary child now: waitable without __WCLONE. */
	reaped = reap_within_five_seconds(-1, &status, 0);
	CHECK("orphan_reaped_as_sigchld_child", reaped > 0 && WIFEXITED(status) &&
						       WEXITSTATUS(status) == 5,
	      "waitpid returned %d, status %#x", reaped, status);
	CHECK("reaper_not_sent_the_clone_exit_signal", !got_sigusr1, "SIGUSR1 arrived");
	return check_finish();
}
