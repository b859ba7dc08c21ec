/* POSIX timers: SIGEV_SIGNAL with SI_TIMER siginfo and overruns, SIGEV_NONE, SIGEV_THREAD_ID,
 * glibc's SIGEV_THREAD (built on SIGEV_THREAD_ID), TIMER_ABSTIME, and errors. */
#include "../check.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>

static volatile sig_atomic_t delivered, seen_code, seen_value;
/* The first delivery's si_overrun and timer_getoverrun (-1 until then). */
static volatile sig_atomic_t first_overrun = -1, first_getoverrun = -1;
static timer_t active_timer;

static void on_timer(int signo, siginfo_t *info, void *context)
{
	(void)signo;
	(void)context;
	delivered++;
	seen_code = info->si_code;
	seen_value = info->si_value.sival_int;
	if (first_overrun < 0) {
		first_overrun = info->si_overrun;
		first_getoverrun = timer_getoverrun(active_timer);
	}
}

static long long monotonic_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void sleep_ms(long ms)
{
	long long until = monotonic_ns() + ms * 1000000LL;
	while (monotonic_ns() < until) {
		long long left = until - monotonic_ns();
		struct timespec nap = {.tv_sec = left / 1000000000LL, .tv_nsec = left % 1000000000LL};
		nanosleep(&nap, NULL);
	}
}

static long long spec_ns(struct timespec t)
{
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static atomic_int thread_calls;

static void on_thread_timer(union sigval value)
{
	if (value.sival_int == 7)
		atomic_fetch_add(&thread_calls, 1);
}

struct waiter_result {
	pid_t tid;
	atomic_int ready;
	int code;
	int value;
	int signo;
};

/* Waits for SIGRTMIN+2 aimed at this thread by a SIGEV_THREAD_ID timer. */
static void *wait_for_timer(void *arg)
{
	struct waiter_result *result = arg;
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGRTMIN + 2);
	result->tid = (pid_t)syscall(SYS_gettid);
	atomic_store(&result->ready, 1);
	siginfo_t info;
	struct timespec limit = {.tv_sec = 2};
	result->signo = sigtimedwait(&set, &info, &limit);
	result->code = info.si_code;
	result->value = info.si_value.sival_int;
	return NULL;
}

int main(void)
{
	int signo = SIGRTMIN + 1;
	struct sigaction sa = {.sa_sigaction = on_timer, .sa_flags = SA_SIGINFO};
	sigaction(signo, &sa, NULL);

	/* One-shot SIGEV_SIGNAL. */
	struct sigevent event = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = signo};
	event.sigev_value.sival_int = 42;
	timer_t timer;
	CHECK_OK("timer_create_signal", timer_create(CLOCK_MONOTONIC, &event, &timer));
	struct itimerspec once = {.it_value = {.tv_nsec = 10000000}};
	CHECK_OK("timer_settime_once", timer_settime(timer, 0, &once, NULL));
	sleep_ms(60);
	CHECK("timer_signal_delivered", delivered == 1, "%d deliveries", (int)delivered);
	CHECK("timer_si_code", seen_code == SI_TIMER, "si_code %d", (int)seen_code);
	CHECK("timer_si_value", seen_value == 42, "si_value %d", (int)seen_value);
	struct itimerspec got;
	CHECK_OK("timer_gettime_expired", timer_gettime(timer, &got));
	CHECK("one_shot_disarmed", spec_ns(got.it_value) == 0, "value %lld ns", spec_ns(got.it_value));

	/* Periodic with the signal blocked: one signal pending, the rest counted as overruns that
	 * the signal carries when it is delivered. (Unblocked before the timer is re-set: newer
	 * Linux drops a signal of an earlier setting.) */
	sigset_t block, old_mask;
	sigemptyset(&block);
	sigaddset(&block, signo);
	sigprocmask(SIG_BLOCK, &block, &old_mask);
	delivered = 0;
	active_timer = timer;
	struct itimerspec periodic = {.it_interval = {.tv_nsec = 5000000}, .it_value = {.tv_nsec = 5000000}};
	long long start = monotonic_ns();
	CHECK_OK("timer_settime_periodic", timer_settime(timer, 0, &periodic, NULL));
	sleep_ms(80);
	CHECK("blocked_timer_signal_waits", delivered == 0, "%d deliveries while blocked", (int)delivered);
	first_overrun = -1;
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	long long elapsed_ms = (monotonic_ns() - start) / 1000000;
	struct itimerspec stop = {0}, previous;
	CHECK_OK("timer_settime_stop", timer_settime(timer, 0, &stop, &previous));
	CHECK("timer_settime_old", spec_ns(previous.it_interval) == 5000000 && spec_ns(previous.it_value) > 0 &&
					   spec_ns(previous.it_value) <= 5000000,
	      "old interval %lld value %lld", spec_ns(previous.it_interval), spec_ns(previous.it_value));
	CHECK("unblocked_timer_signal_delivered", delivered >= 1, "%d deliveries", (int)delivered);
	CHECK("overrun_counts_missed", first_overrun >= 5 && first_overrun <= elapsed_ms / 5,
	      "si_overrun %d after %lld ms", (int)first_overrun, elapsed_ms);
	CHECK("timer_getoverrun", first_getoverrun == first_overrun, "timer_getoverrun %d, si_overrun %d",
	      (int)first_getoverrun, (int)first_overrun);

	/* TIMER_ABSTIME in the past fires at once. */
	delivered = 0;
	struct itimerspec past = {.it_value = {.tv_sec = 1}};
	CHECK_OK("timer_settime_abstime_past", timer_settime(timer, TIMER_ABSTIME, &past, NULL));
	sleep_ms(20);
	CHECK("abstime_past_fires", delivered == 1, "%d deliveries", (int)delivered);
	CHECK_OK("timer_delete", timer_delete(timer));

	/* SIGEV_NONE: no signal, but the time counts down. */
	struct sigevent quiet = {.sigev_notify = SIGEV_NONE};
	timer_t polled;
	CHECK_OK("timer_create_none", timer_create(CLOCK_REALTIME, &quiet, &polled));
	struct itimerspec second = {.it_value = {.tv_sec = 1}};
	timer_settime(polled, 0, &second, NULL);
	sleep_ms(20);
	timer_gettime(polled, &got);
	CHECK("sigev_none_counts_down", spec_ns(got.it_value) > 500000000LL && spec_ns(got.it_value) < 990000000LL,
	      "value %lld ns", spec_ns(got.it_value));
	timer_delete(polled);

	/* SIGEV_THREAD_ID: the signal goes to that thread. */
	sigset_t rt2;
	sigemptyset(&rt2);
	sigaddset(&rt2, SIGRTMIN + 2);
	sigprocmask(SIG_BLOCK, &rt2, NULL);
	struct waiter_result result = {0};
	pthread_t waiter;
	pthread_create(&waiter, NULL, wait_for_timer, &result);
	while (!atomic_load(&result.ready))
		sched_yield();
	struct sigevent directed = {.sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGRTMIN + 2};
	directed._sigev_un._tid = result.tid;
	directed.sigev_value.sival_int = 9;
	timer_t aimed;
	CHECK_OK("timer_create_thread_id", timer_create(CLOCK_MONOTONIC, &directed, &aimed));
	struct itimerspec soon = {.it_value = {.tv_nsec = 10000000}};
	timer_settime(aimed, 0, &soon, NULL);
	pthread_join(waiter, NULL);
	CHECK("thread_id_signal", result.signo == SIGRTMIN + 2 && result.code == SI_TIMER && result.value == 9,
	      "signo %d code %d value %d", result.signo, result.code, result.value);
	timer_delete(aimed);
	directed._sigev_un._tid = 999999;
	CHECK_ERRNO("thread_id_not_ours", timer_create(CLOCK_MONOTONIC, &directed, &aimed), EINVAL);

	/* SIGEV_THREAD through glibc: the function runs in a new thread at each expiration. */
	struct sigevent threaded = {.sigev_notify = SIGEV_THREAD, .sigev_notify_function = on_thread_timer};
	threaded.sigev_value.sival_int = 7;
	timer_t callback;
	CHECK_OK("timer_create_thread", timer_create(CLOCK_MONOTONIC, &threaded, &callback));
	struct itimerspec every = {.it_interval = {.tv_nsec = 10000000}, .it_value = {.tv_nsec = 10000000}};
	timer_settime(callback, 0, &every, NULL);
	start = monotonic_ns();
	while (atomic_load(&thread_calls) < 3 && monotonic_ns() - start < 900000000LL)
		sleep_ms(5);
	timer_delete(callback);
	CHECK("sigev_thread_runs", atomic_load(&thread_calls) >= 3, "%d calls in %lld ms",
	      atomic_load(&thread_calls), (monotonic_ns() - start) / 1000000);

	/* Errors. */
	CHECK_ERRNO("timer_create_bad_clock", timer_create(1000, &event, &timer), EINVAL);
	struct sigevent bad_notify = {.sigev_notify = 99, .sigev_signo = signo};
	CHECK_ERRNO("timer_create_bad_notify", timer_create(CLOCK_MONOTONIC, &bad_notify, &timer), EINVAL);
	struct sigevent bad_signal = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = 65};
	CHECK_ERRNO("timer_create_bad_signal", timer_create(CLOCK_MONOTONIC, &bad_signal, &timer), EINVAL);
	CHECK_ERRNO("timer_delete_unknown", syscall(SYS_timer_delete, 12345), EINVAL);
	CHECK_ERRNO("timer_gettime_unknown", syscall(SYS_timer_gettime, 12345, &got), EINVAL);
	CHECK_OK("timer_create_default", timer_create(CLOCK_MONOTONIC, NULL, &timer));
	struct itimerspec bad_value = {.it_value = {.tv_nsec = 1000000000}};
	CHECK_ERRNO("timer_settime_bad_nsec", timer_settime(timer, 0, &bad_value, NULL), EINVAL);
	timer_delete(timer);
	return check_finish();
}
