/* CPU time: times(2) and the CPU clocks grow while the process computes, not while it sleeps. */
#include "../check.h"

#include <sys/times.h>
#include <time.h>

static long long clock_ns(clockid_t clock)
{
	struct timespec t;
	clock_gettime(clock, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(void)
{
	long hz = sysconf(_SC_CLK_TCK);
	CHECK("clock_ticks", hz == 100, "_SC_CLK_TCK %ld", hz);
	struct tms before, after;
	clock_t wall_before = times(&before);
	CHECK("times_returns_ticks", wall_before != (clock_t)-1, "errno %d", errno);

	/* Compute for 100 ms of process CPU time (bounded by 3 s of wall time). */
	long long cpu_start = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	long long thread_start = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	long long wall_start = clock_ns(CLOCK_MONOTONIC);
	volatile unsigned long spin = 0;
	while (clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_start < 100000000LL &&
	       clock_ns(CLOCK_MONOTONIC) - wall_start < 3000000000LL)
		spin++;
	long long cpu_used = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
	CHECK("process_cpu_grows_while_computing", cpu_used >= 100000000LL, "%lld ns", cpu_used);
	long long thread_used = clock_ns(CLOCK_THREAD_CPUTIME_ID) - thread_start;
	CHECK("thread_cpu_grows_while_computing", thread_used >= 90000000LL && thread_used <= cpu_used + 1000000,
	      "thread %lld ns, process %lld ns", thread_used, cpu_used);
	clock_t wall_after = times(&after);
	long ticks = (after.tms_utime + after.tms_stime) - (before.tms_utime + before.tms_stime);
	CHECK("times_cpu_ticks", ticks >= 8 && ticks <= (wall_after - wall_before) + 2,
	      "%ld CPU ticks in %ld wall ticks", ticks, (long)(wall_after - wall_before));

	/* Sleeping costs (almost) no CPU time. */
	long long asleep_start = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
	struct timespec nap = {.tv_nsec = 100000000};
	nanosleep(&nap, NULL);
	long long asleep_used = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - asleep_start;
	CHECK("sleep_costs_no_cpu", asleep_used < 20000000LL, "%lld ns of CPU while asleep", asleep_used);
	CHECK("children_times_zero", after.tms_cutime == 0 && after.tms_cstime == 0, "cutime %ld cstime %ld",
	      (long)after.tms_cutime, (long)after.tms_cstime);
	return check_finish();
}
