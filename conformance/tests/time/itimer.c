/* alarm and setitimer: periodic SIGALRM counts, getitimer, the alarm's remaining seconds,
 * ITIMER_VIRTUAL firing while the process runs, and fork not inheriting itimers. */
#include "../check.h"

#include <signal.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>

static volatile sig_atomic_t alarms, vtalarms;

static void on_alarm(int signo)
{
	(void)signo;
	alarms++;
}

static void on_vtalarm(int signo)
{
	(void)signo;
	vtalarms++;
}

static long long monotonic_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long long usec(struct timeval tv)
{
	return (long long)tv.tv_sec * 1000000LL + tv.tv_usec;
}

int main(void)
{
	struct sigaction sa = {.sa_handler = on_alarm};
	sigaction(SIGALRM, &sa, NULL);

	/* Periodic: every 10 ms, counted over about 150 ms. */
	struct itimerval periodic = {.it_interval = {.tv_usec = 10000}, .it_value = {.tv_usec = 10000}};
	CHECK_OK("setitimer_real", setitimer(ITIMER_REAL, &periodic, NULL));
	struct itimerval current;
	CHECK_OK("getitimer_real", getitimer(ITIMER_REAL, &current));
	CHECK("getitimer_interval", usec(current.it_interval) == 10000, "interval %lld us",
	      usec(current.it_interval));
	CHECK("getitimer_value", usec(current.it_value) > 0 && usec(current.it_value) <= 10000, "value %lld us",
	      usec(current.it_value));
	long long start = monotonic_ns();
	while (monotonic_ns() - start < 150000000LL) {
		struct timespec nap = {.tv_nsec = 5000000};
		nanosleep(&nap, NULL); /* EINTR on each alarm: fine */
	}
	struct itimerval off = {0}, old;
	CHECK_OK("setitimer_disarm", setitimer(ITIMER_REAL, &off, &old));
	long long elapsed_ms = (monotonic_ns() - start) / 1000000;
	int counted = alarms;
	/* Standard signals merge while pending, so a slow scheduler may lose some: a range. */
	CHECK("periodic_alarm_count", counted >= 5 && counted <= elapsed_ms / 10 + 1, "%d alarms in %lld ms",
	      counted, elapsed_ms);
	CHECK("setitimer_old_interval", usec(old.it_interval) == 10000, "old interval %lld us",
	      usec(old.it_interval));
	struct timespec settle = {.tv_nsec = 30000000};
	nanosleep(&settle, NULL);
	CHECK("disarmed_stays_quiet", alarms == counted, "%d alarms after disarming, %d before", (int)alarms,
	      counted);
	CHECK_OK("getitimer_disarmed", getitimer(ITIMER_REAL, &current));
	CHECK("getitimer_disarmed_zero", usec(current.it_value) == 0 && usec(current.it_interval) == 0,
	      "value %lld interval %lld", usec(current.it_value), usec(current.it_interval));

	/* alarm shares ITIMER_REAL and reports the rounded seconds left. */
	CHECK("alarm_none_before", alarm(5) == 0, "alarm(5) with no alarm pending did not return 0");
	CHECK_OK("getitimer_after_alarm", getitimer(ITIMER_REAL, &current));
	CHECK("alarm_sets_itimer_real", current.it_value.tv_sec >= 4 && current.it_value.tv_sec <= 5,
	      "value %lld us", usec(current.it_value));
	unsigned left = alarm(0);
	CHECK("alarm_cancel_returns_left", left == 5, "alarm(0) returned %u", left);
	struct itimerval short_one = {.it_value = {.tv_usec = 200000}};
	setitimer(ITIMER_REAL, &short_one, NULL);
	left = alarm(0);
	CHECK("alarm_rounds_up_below_a_second", left == 1, "alarm(0) returned %u for 0.2 s left", left);

	CHECK_ERRNO("setitimer_bad_which", setitimer(42, &off, NULL), EINVAL);
	struct itimerval bad = {.it_value = {.tv_usec = 1000000}};
	CHECK_ERRNO("setitimer_bad_usec", setitimer(ITIMER_REAL, &bad, NULL), EINVAL);
	CHECK_ERRNO("getitimer_bad_pointer", getitimer(ITIMER_REAL, (void *)8), EFAULT);

	/* ITIMER_VIRTUAL fires while the process runs. */
	struct sigaction vsa = {.sa_handler = on_vtalarm};
	sigaction(SIGVTALRM, &vsa, NULL);
	struct itimerval virt = {.it_value = {.tv_usec = 20000}};
	CHECK_OK("setitimer_virtual", setitimer(ITIMER_VIRTUAL, &virt, NULL));
	start = monotonic_ns();
	volatile unsigned long spin = 0;
	while (!vtalarms && monotonic_ns() - start < 2000000000LL)
		spin++;
	CHECK("virtual_timer_fires_while_running", vtalarms == 1, "no SIGVTALRM after %lld ms",
	      (monotonic_ns() - start) / 1000000);

	/* A forked child starts with no itimers. */
	struct itimerval later = {.it_value = {.tv_sec = 30}};
	setitimer(ITIMER_REAL, &later, NULL);
	pid_t child = fork();
	if (child == 0) {
		struct itimerval mine;
		getitimer(ITIMER_REAL, &mine);
		_exit(usec(mine.it_value) == 0 ? 0 : 1);
	}
	int status = 0;
	waitpid(child, &status, 0);
	CHECK("fork_child_has_no_itimer", WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
	setitimer(ITIMER_REAL, &off, NULL);
	return check_finish();
}
