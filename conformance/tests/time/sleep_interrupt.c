/* Sleeps and signals: a handler interrupts nanosleep/clock_nanosleep with EINTR and the time
 * left; a stop and continue (no handler) doesn't — the sleep goes on to its deadline. */
#include "../check.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

static volatile sig_atomic_t alarms;

static void on_alarm(int signo)
{
	(void)signo;
	alarms++;
}

static long long ns(struct timespec t)
{
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long long monotonic_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return ns(t);
}

/* SIGALRM in `ms` milliseconds. */
static void alarm_in_ms(long ms)
{
	struct itimerval it = {.it_value = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000}};
	setitimer(ITIMER_REAL, &it, NULL);
}

int main(void)
{
	struct sigaction sa = {.sa_handler = on_alarm};
	sigaction(SIGALRM, &sa, NULL);

	/* nanosleep: EINTR with the remaining time. */
	struct timespec request = {.tv_sec = 2}, rem = {0};
	alarm_in_ms(50);
	long long start = monotonic_ns();
	errno = 0;
	int r = nanosleep(&request, &rem);
	long long slept = monotonic_ns() - start;
	CHECK("nanosleep_eintr", r == -1 && errno == EINTR && alarms == 1, "returned %d errno %d alarms %d", r,
	      errno, (int)alarms);
	CHECK("nanosleep_interrupted_early", slept >= 40000000LL && slept < 1000000000LL, "slept %lld ns", slept);
	CHECK("nanosleep_rem", ns(rem) > 1000000000LL && ns(rem) <= 1960000000LL && ns(rem) + slept >= 1990000000LL,
	      "rem %lld ns after %lld ns", ns(rem), slept);

	/* clock_nanosleep returns the error number instead of setting errno. */
	rem = (struct timespec){0};
	alarm_in_ms(30);
	r = clock_nanosleep(CLOCK_MONOTONIC, 0, &request, &rem);
	CHECK("clock_nanosleep_eintr", r == EINTR && alarms == 2, "returned %d alarms %d", r, (int)alarms);
	CHECK("clock_nanosleep_rem", ns(rem) > 1000000000LL && ns(rem) < 2000000000LL, "rem %lld ns", ns(rem));

	/* An absolute sleep is interrupted too, and leaves rem alone. */
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 2;
	rem = (struct timespec){.tv_sec = 77};
	alarm_in_ms(30);
	r = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &deadline, &rem);
	CHECK("clock_nanosleep_abstime_eintr", r == EINTR && rem.tv_sec == 77, "returned %d rem.tv_sec %lld", r,
	      (long long)rem.tv_sec);

	/* An ignored signal doesn't interrupt. */
	signal(SIGUSR1, SIG_IGN);
	struct itimerval none = {0};
	setitimer(ITIMER_REAL, &none, NULL);
	request = (struct timespec){.tv_nsec = 60000000};
	start = monotonic_ns();
	pid_t self = getpid();
	pid_t killer = fork();
	if (killer == 0) {
		usleep(10000);
		kill(self, SIGUSR1);
		_exit(0);
	}
	r = nanosleep(&request, NULL);
	slept = monotonic_ns() - start;
	CHECK("ignored_signal_does_not_interrupt", r == 0 && slept >= 60000000LL, "returned %d after %lld ns", r,
	      slept);
	waitpid(killer, NULL, 0);

	/* Stopped and continued mid-sleep, with no handler: the sleep restarts transparently and
	 * ends at its original deadline. */
	pid_t sleeper = fork();
	if (sleeper == 0) {
		struct timespec nap = {.tv_nsec = 300000000};
		long long began = monotonic_ns();
		int result = nanosleep(&nap, NULL);
		long long took = monotonic_ns() - began;
		/* Exit 0: slept to the deadline, not much past it (no sleep-from-scratch). */
		_exit(result == 0 && took >= 300000000LL && took < 550000000LL ? 0 : 1);
	}
	usleep(60000);
	kill(sleeper, SIGSTOP);
	int status = 0;
	waitpid(sleeper, &status, WUNTRACED);
	CHECK("sleeper_stopped", WIFSTOPPED(status), "status %#x", status);
	usleep(60000);
	kill(sleeper, SIGCONT);
	waitpid(sleeper, &status, 0);
	CHECK("stopped_sleep_resumes_to_deadline", WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x",
	      status);

	/* restart_syscall with nothing to restart fails with EINTR. */
	CHECK_ERRNO("restart_syscall_nothing", syscall(SYS_restart_syscall), EINTR);
	return check_finish();
}
