/* Clocks and sleeps: clock_gettime/getres, gettimeofday, time, nanosleep and clock_nanosleep.
 * Times differ between runs, so only their properties are checked. */
#include "../check.h"

#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>

static long long nanoseconds(struct timespec t)
{
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static struct timespec now(clockid_t clock)
{
	struct timespec t = {0};
	clock_gettime(clock, &t);
	return t;
}

int main(void)
{
	struct timespec realtime, monotonic, res;
	CHECK_OK("clock_gettime_realtime", clock_gettime(CLOCK_REALTIME, &realtime));
	CHECK("realtime_after_2020", realtime.tv_sec > 1577836800 && realtime.tv_nsec >= 0 &&
					     realtime.tv_nsec < 1000000000,
	      "realtime %lld.%09ld", (long long)realtime.tv_sec, realtime.tv_nsec);
	time_t seconds = time(NULL);
	CHECK("time_matches_realtime", seconds >= realtime.tv_sec && seconds - realtime.tv_sec <= 2,
	      "time() %lld vs realtime %lld", (long long)seconds, (long long)realtime.tv_sec);
	struct timeval tv;
	CHECK("gettimeofday_matches_realtime",
	      gettimeofday(&tv, NULL) == 0 && tv.tv_sec >= realtime.tv_sec && tv.tv_sec - realtime.tv_sec <= 2 &&
		      tv.tv_usec >= 0 && tv.tv_usec < 1000000,
	      "gettimeofday %lld.%06ld", (long long)tv.tv_sec, (long)tv.tv_usec);

	CHECK_OK("clock_gettime_monotonic", clock_gettime(CLOCK_MONOTONIC, &monotonic));
	long long previous = nanoseconds(monotonic);
	int monotonic_ok = 1;
	for (int i = 0; i < 1000; i++) {
		long long current = nanoseconds(now(CLOCK_MONOTONIC));
		monotonic_ok &= current >= previous;
		previous = current;
	}
	CHECK("monotonic_never_goes_back", monotonic_ok, "CLOCK_MONOTONIC went backwards");
	CHECK("boottime_not_before_monotonic",
	      nanoseconds(now(CLOCK_BOOTTIME)) >= nanoseconds(now(CLOCK_MONOTONIC)) - 1000000,
	      "CLOCK_BOOTTIME is behind CLOCK_MONOTONIC");
	CHECK("clock_getres_monotonic",
	      clock_getres(CLOCK_MONOTONIC, &res) == 0 && res.tv_sec == 0 && res.tv_nsec > 0 && res.tv_nsec <= 1000000,
	      "resolution %lld.%09ld", (long long)res.tv_sec, res.tv_nsec);
	CHECK_ERRNO("clock_gettime_bad_clock", syscall(SYS_clock_gettime, 1000, &realtime), EINVAL);
	CHECK_ERRNO("clock_gettime_bad_pointer", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)1), EFAULT);

	struct timespec sleep_for = {.tv_sec = 0, .tv_nsec = 20000000};
	long long before = nanoseconds(now(CLOCK_MONOTONIC));
	CHECK_OK("nanosleep", nanosleep(&sleep_for, NULL));
	long long slept = nanoseconds(now(CLOCK_MONOTONIC)) - before;
	CHECK("nanosleep_sleeps_long_enough", slept >= 20000000 && slept < 5000000000LL, "slept %lld ns", slept);
	struct timespec invalid = {.tv_sec = 0, .tv_nsec = 1000000000};
	CHECK_ERRNO("nanosleep_bad_nsec", nanosleep(&invalid, NULL), EINVAL);
	struct timespec negative = {.tv_sec = -1, .tv_nsec = 0};
	CHECK_ERRNO("nanosleep_negative", nanosleep(&negative, NULL), EINVAL);

	struct timespec deadline = now(CLOCK_MONOTONIC);
	deadline.tv_nsec += 10000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	int slept_until = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, NULL);
	CHECK("clock_nanosleep_absolute", slept_until == 0 && nanoseconds(now(CLOCK_MONOTONIC)) >= nanoseconds(deadline),
	      "returned %d before the deadline", slept_until);
	struct timespec past = {.tv_sec = 0, .tv_nsec = 0};
	CHECK("clock_nanosleep_past_deadline", clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &past, NULL) == 0,
	      "a deadline in the past did not return at once");
	CHECK("clock_nanosleep_bad_clock", clock_nanosleep(1000, 0, &sleep_for, NULL) == EINVAL,
	      "an unknown clock was not EINVAL");
	return check_finish();
}
