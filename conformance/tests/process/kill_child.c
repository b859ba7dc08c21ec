/* Ending a child with SIGKILL while it sleeps, and reaping it: the status says which signal, and
 * waiting for it does not hang (polled with WNOHANG, so a hang shows as a failed check). */
#include "../check.h"

#include <signal.h>
#include <sys/wait.h>
#include <time.h>

/* Waits up to five seconds for `child`; its pid once reaped, 0 if still there, -1 on error. */
static pid_t reap_within_five_seconds(pid_t child, int *status)
{
	struct timespec tick = {.tv_sec = 0, .tv_nsec = 10000000};
	for (int i = 0; i < 500; i++) {
		pid_t reaped = waitpid(child, status, WNOHANG);
		if (reaped != 0)
			return reaped;
		nanosleep(&tick, NULL);
	}
	return 0;
}

/* A child that sleeps for an hour, in nanosleep or in pause-like waits. */
static pid_t sleeping_child(void)
{
	pid_t child = fork();
	if (child == 0) {
		struct timespec hour = {.tv_sec = 3600, .tv_nsec = 0};
		nanosleep(&hour, NULL);
		_exit(0);
	}
	return child;
}

int main(void)
{
	int status = 0;
	pid_t child = sleeping_child();
	CHECK("fork", child > 0, "fork returned %d (%s)", child, strerror(errno));
	struct timespec settle = {.tv_sec = 0, .tv_nsec = 100000000};
	nanosleep(&settle, NULL);
	CHECK("child_still_running", waitpid(child, &status, WNOHANG) == 0, "the sleeping child already ended");
	CHECK_OK("kill_sigkill", kill(child, SIGKILL));
	CHECK("sigkill_ends_sleeping_child", reap_within_five_seconds(child, &status) == child,
	      "the child was not reaped within five seconds");
	CHECK("status_killed_by_sigkill", WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	      "status %#x", status);
	CHECK_ERRNO("no_child_left", waitpid(-1, &status, WNOHANG), ECHILD);

	child = sleeping_child();
	nanosleep(&settle, NULL);
	CHECK_OK("kill_sigterm", kill(child, SIGTERM));
	CHECK("sigterm_ends_sleeping_child", reap_within_five_seconds(child, &status) == child,
	      "the child was not reaped within five seconds");
	CHECK("status_killed_by_sigterm", WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM,
	      "status %#x", status);
	return check_finish();
}
