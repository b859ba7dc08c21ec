/* timerfd: periodic expiration counts read as 8 bytes, blocking and non-blocking reads,
 * gettime/settime, TFD_TIMER_ABSTIME, close-on-exec, and errors. */
#include "../check.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/timerfd.h>
#include <time.h>

static long long monotonic_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long long spec_ns(struct timespec t)
{
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(void)
{
	int fd = CHECK_OK("timerfd_create", timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
	CHECK("timerfd_cloexec", (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0, "no FD_CLOEXEC");
	CHECK("timerfd_nonblock", (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0, "no O_NONBLOCK");
	uint64_t count = 0;
	CHECK_ERRNO("read_disarmed_eagain", read(fd, &count, sizeof count), EAGAIN);

	/* Periodic: every 10 ms for about 55 ms. */
	struct itimerspec periodic = {.it_interval = {.tv_nsec = 10000000}, .it_value = {.tv_nsec = 10000000}};
	long long start = monotonic_ns();
	CHECK_OK("timerfd_settime", timerfd_settime(fd, 0, &periodic, NULL));
	struct itimerspec got;
	CHECK_OK("timerfd_gettime", timerfd_gettime(fd, &got));
	CHECK("gettime_values", spec_ns(got.it_interval) == 10000000 && spec_ns(got.it_value) > 0 &&
					spec_ns(got.it_value) <= 10000000,
	      "interval %lld value %lld", spec_ns(got.it_interval), spec_ns(got.it_value));
	struct timespec nap = {.tv_nsec = 55000000};
	nanosleep(&nap, NULL);
	ssize_t n = read(fd, &count, sizeof count);
	long long elapsed_ms = (monotonic_ns() - start) / 1000000;
	CHECK("periodic_count", n == 8 && count >= 4 && (long long)count <= elapsed_ms / 10,
	      "read %zd, count %llu after %lld ms", n, (unsigned long long)count, elapsed_ms);
	CHECK_ERRNO("read_after_drain_eagain", read(fd, &count, sizeof count), EAGAIN);
	char small[4];
	CHECK_ERRNO("read_short_buffer", read(fd, small, sizeof small), EINVAL);

	/* A blocking read waits for the next expiration. */
	fcntl(fd, F_SETFL, 0);
	long long before = monotonic_ns();
	n = read(fd, &count, sizeof count);
	long long waited = monotonic_ns() - before;
	CHECK("blocking_read", n == 8 && count >= 1 && waited < 500000000LL, "read %zd count %llu after %lld ns", n,
	      (unsigned long long)count, waited);

	/* Disarm returns the old setting; settime drops unread expirations. */
	struct itimerspec off = {0}, old;
	CHECK_OK("timerfd_disarm", timerfd_settime(fd, 0, &off, &old));
	CHECK("disarm_old_interval", spec_ns(old.it_interval) == 10000000, "old interval %lld",
	      spec_ns(old.it_interval));
	timerfd_gettime(fd, &got);
	CHECK("disarmed_gettime_zero", spec_ns(got.it_value) == 0 && spec_ns(got.it_interval) == 0,
	      "value %lld interval %lld", spec_ns(got.it_value), spec_ns(got.it_interval));
	close(fd);

	/* An absolute deadline on CLOCK_REALTIME, 20 ms ahead; a blocking read waits for it. */
	fd = CHECK_OK("timerfd_create_realtime", timerfd_create(CLOCK_REALTIME, 0));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	long long target = spec_ns(now) + 20000000LL;
	struct itimerspec at = {.it_value = {.tv_sec = target / 1000000000LL, .tv_nsec = target % 1000000000LL}};
	CHECK_OK("timerfd_settime_abstime", timerfd_settime(fd, TFD_TIMER_ABSTIME, &at, NULL));
	n = read(fd, &count, sizeof count);
	clock_gettime(CLOCK_REALTIME, &now);
	CHECK("abstime_read", n == 8 && count == 1 && spec_ns(now) >= target, "read %zd count %llu, %lld ns early",
	      n, (unsigned long long)count, target - spec_ns(now));
	close(fd);

	/* Errors. */
	CHECK_ERRNO("create_bad_clock", timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0), EINVAL);
	CHECK_ERRNO("create_bad_flags", timerfd_create(CLOCK_MONOTONIC, 0x1234), EINVAL);
	CHECK_ERRNO("settime_not_a_timerfd", timerfd_settime(1, 0, &periodic, NULL), EINVAL);
	CHECK_ERRNO("settime_bad_fd", timerfd_settime(999, 0, &periodic, NULL), EBADF);
	fd = timerfd_create(CLOCK_BOOTTIME, 0);
	CHECK("create_boottime", fd >= 0, "errno %d", errno);
	CHECK_ERRNO("settime_bad_flags", timerfd_settime(fd, 0x100, &periodic, NULL), EINVAL);
	struct itimerspec bad = {.it_value = {.tv_nsec = -1}};
	CHECK_ERRNO("settime_bad_value", timerfd_settime(fd, 0, &bad, NULL), EINVAL);
	close(fd);
	return check_finish();
}
