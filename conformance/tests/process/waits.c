/* wait4 and waitid edges: waits without WEXITED end (ECHILD) once the children can only exit,
 * __WALL/__WNOTHREAD are accepted, __WCLONE skips fork children, and the rusage a wait fills
 * and getrusage(RUSAGE_CHILDREN) count the children's CPU time. */
#include "../check.h"

#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

/* A child that exits with `code`, after `delay_ms`. */
static pid_t exiting_child(int code, int delay_ms)
{
	pid_t child = fork();
	if (child == 0) {
		usleep(delay_ms * 1000);
		_exit(code);
	}
	return child;
}

/* A child that spins until it used `ms` of CPU time, then exits 0. */
static pid_t spinning_child(long ms)
{
	pid_t child = fork();
	if (child == 0) {
		struct timespec t;
		do {
			clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
		} while (t.tv_sec * 1000 + t.tv_nsec / 1000000 < ms);
		_exit(0);
	}
	return child;
}

static double seconds(struct timeval tv)
{
	return tv.tv_sec + tv.tv_usec / 1e6;
}

static void waitid_checks(void)
{
	siginfo_t info;
	CHECK_ERRNO("waitid_no_event_flag", waitid(P_ALL, 0, &info, WNOHANG), EINVAL);
	CHECK_ERRNO("waitid_unknown_flag", waitid(P_ALL, 0, &info, WEXITED | 0x100000), EINVAL);

	/* A zombie has nothing but its exit to report. */
	pid_t child = exiting_child(0, 0);
	CHECK_OK("waitid_nowait", waitid(P_PID, child, &info, WEXITED | WNOWAIT));
	CHECK_ERRNO("waitid_stopped_nohang_zombie", waitid(P_PID, child, &info, WSTOPPED | WNOHANG),
		    ECHILD);
	CHECK_ERRNO("waitid_stopped_zombie", waitid(P_PID, child, &info, WSTOPPED), ECHILD);
	CHECK_ERRNO("waitid_continued_zombie", waitid(P_ALL, 0, &info, WCONTINUED), ECHILD);
	CHECK_OK("waitid_reap", waitid(P_PID, child, &info, WEXITED));

	/* A live child can still stop: WNOHANG finds nothing yet. */
	child = exiting_child(0, 100);
	info.si_pid = -1;
	CHECK_OK("waitid_stopped_nohang_live", waitid(P_PID, child, &info, WSTOPPED | WNOHANG));
	CHECK("waitid_stopped_nohang_live_empty", info.si_pid == 0, "si_pid %d", info.si_pid);
	/* ... and a blocking wait for a stop ends when it exits instead. */
	CHECK_ERRNO("waitid_stopped_until_exit", waitid(P_PID, child, &info, WSTOPPED), ECHILD);
	CHECK_OK("waitid_stopped_until_exit_reap", waitid(P_PID, child, &info, WEXITED));

	/* A stop is reported, then the exit. */
	child = fork();
	if (child == 0) {
		raise(SIGSTOP);
		_exit(3);
	}
	CHECK_OK("waitid_stop", waitid(P_PID, child, &info, WSTOPPED));
	CHECK("waitid_stop_code", info.si_code == CLD_STOPPED && info.si_status == SIGSTOP,
	      "si_code %d si_status %d", info.si_code, info.si_status);
	CHECK_OK("waitid_stop_continue", kill(child, SIGCONT));
	CHECK_OK("waitid_stop_exit", waitid(P_PID, child, &info, WEXITED));
	CHECK("waitid_stop_exit_status", info.si_code == CLD_EXITED && info.si_status == 3,
	      "si_code %d si_status %d", info.si_code, info.si_status);
}

static void wait4_flag_checks(void)
{
	static const struct {
		const char *name;
		int flags;
	} cases[] = {
		{"wait4_wall", __WALL},
		{"wait4_wnothread", __WNOTHREAD},
		{"wait4_wall_wnothread", __WALL | __WNOTHREAD},
		{"wait4_wall_wclone", __WALL | __WCLONE},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pid_t child = exiting_child(7, 0);
		int status = 0;
		pid_t got = wait4(child, &status, cases[i].flags, NULL);
		CHECK(cases[i].name, got == child && WIFEXITED(status) && WEXITSTATUS(status) == 7,
		      "wait4 returned %d (%s) status %#x", got, strerror(errno), status);
	}
	pid_t child = exiting_child(0, 0);
	CHECK_ERRNO("wait4_wclone_skips_fork_child", wait4(child, NULL, __WCLONE, NULL), ECHILD);
	CHECK("wait4_wclone_reap", waitpid(child, NULL, 0) == child, "reap failed");
	CHECK_ERRNO("wait4_unknown_flag", wait4(-1, NULL, 0x100000, NULL), EINVAL);
}

static void rusage_checks(void)
{
	struct rusage usage;
	int status;
	pid_t child = spinning_child(200);
	CHECK("wait4_rusage_reap", wait4(child, &status, 0, &usage) == child, "wait4 failed");
	double cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
	CHECK("wait4_rusage_cpu", cpu >= 0.1, "child cpu %.3fs", cpu);

	child = spinning_child(200);
	siginfo_t info;
	memset(&usage, 0, sizeof(usage));
	CHECK_OK("waitid_rusage_reap",
		 syscall(SYS_waitid, P_PID, child, &info, WEXITED, &usage));
	cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
	CHECK("waitid_rusage_cpu", cpu >= 0.1, "child cpu %.3fs", cpu);

	CHECK_OK("getrusage_children", getrusage(RUSAGE_CHILDREN, &usage));
	cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
	CHECK("getrusage_children_cpu", cpu >= 0.2, "children cpu %.3fs", cpu);

	/* A grandchild's time reaches this process through the child that waited for it. */
	struct rusage before;
	getrusage(RUSAGE_CHILDREN, &before);
	child = fork();
	if (child == 0) {
		pid_t grandchild = spinning_child(200);
		_exit(waitpid(grandchild, NULL, 0) == grandchild ? 0 : 1);
	}
	CHECK("grandchild_rusage_reap", wait4(child, &status, 0, &usage) == child && status == 0,
	      "wait4 failed");
	cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
	CHECK("grandchild_rusage_cpu", cpu >= 0.1, "child and grandchild cpu %.3fs", cpu);
}

int main(void)
{
	waitid_checks();
	wait4_flag_checks();
	rusage_checks();
	return check_finish();
}
