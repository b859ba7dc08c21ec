/* prctl, scheduling and priority: names, dumpable, no_new_privs, parent-death signal with a
 * child subreaper, the bounding set, affinity, getcpu, nice. */
#define _GNU_SOURCE
#include "../check.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static int pipe_write_end = -1;

static void on_sigusr1(int signo)
{
	char byte = (char)signo;
	(void)!write(pipe_write_end, &byte, 1);
}

/* The grandchild outlives its parent: it reports its new parent and whether its death signal came. */
static void parent_death_test(void)
{
	int fds[2];
	CHECK_OK("pipe", pipe(fds));
	pipe_write_end = fds[1];
	pid_t me = getpid();
	CHECK_OK("set_subreaper", prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0));
	int subreaper = 0;
	CHECK("get_subreaper", prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0) == 0 && subreaper == 1,
	      "subreaper %d", subreaper);
	pid_t middle = fork();
	if (middle == 0) {
		pid_t grandchild = fork();
		if (grandchild == 0) {
			signal(SIGUSR1, on_sigusr1);
			prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0);
			/* Tell the middle process it may exit, then wait for the signal. */
			(void)!write(fds[1], "r", 1);
			for (int i = 0; i < 2000 && getppid() != me; i++)
				usleep(1000);
			char ppid_ok = getppid() == me ? 'p' : 'x';
			(void)!write(fds[1], &ppid_ok, 1);
			sleep(5);
			_exit(0);
		}
		char ready;
		(void)!read(fds[0], &ready, 1);
		_exit(0);
	}
	waitpid(middle, NULL, 0);
	char got[3] = {0};
	for (int i = 0; i < 2; i++)
		(void)!read(fds[0], &got[i], 1);
	CHECK("pdeathsig_delivered", got[0] == SIGUSR1 || got[1] == SIGUSR1, "got %d %d", got[0], got[1]);
	CHECK("reparented_to_subreaper", got[0] == 'p' || got[1] == 'p', "got %d %d", got[0], got[1]);
	int status;
	pid_t reaped = wait(&status);
	CHECK("subreaper_reaps_orphan", reaped > 0 && reaped != middle, "wait returned %d", reaped);
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	char name[32] = {0};
	CHECK_OK("set_name", prctl(PR_SET_NAME, "conf-prctl", 0, 0, 0));
	CHECK("get_name", prctl(PR_GET_NAME, name, 0, 0, 0) == 0 && strcmp(name, "conf-prctl") == 0, "'%s'", name);
	char comm[32] = {0};
	int fd = open("/proc/self/comm", O_RDONLY);
	CHECK("comm_follows_name", fd >= 0 && read(fd, comm, sizeof(comm) - 1) > 0 && strcmp(comm, "conf-prctl\n") == 0,
	      "'%s'", comm);
	if (fd >= 0)
		close(fd);
	CHECK_OK("set_long_name", prctl(PR_SET_NAME, "a-name-longer-than-fifteen", 0, 0, 0));
	memset(name, 0, sizeof(name));
	prctl(PR_GET_NAME, name, 0, 0, 0);
	CHECK("name_truncated", strcmp(name, "a-name-longer-t") == 0, "'%s'", name);
	CHECK_ERRNO("set_name_efault", prctl(PR_SET_NAME, (void *)1, 0, 0, 0), EFAULT);

	CHECK("dumpable_default", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1, "not dumpable");
	CHECK_OK("set_undumpable", prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
	CHECK("undumpable", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0, "still dumpable");
	CHECK_ERRNO("dumpable_bad_value", prctl(PR_SET_DUMPABLE, 2, 0, 0, 0), EINVAL);
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);

	CHECK_ERRNO("no_new_privs_bad_arg", prctl(PR_SET_NO_NEW_PRIVS, 2, 0, 0, 0), EINVAL);
	CHECK_OK("set_no_new_privs", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));
	CHECK("get_no_new_privs", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "not set");

	CHECK("get_seccomp", prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0, "failed");
	CHECK("capbset_read", prctl(PR_CAPBSET_READ, CAP_CHOWN, 0, 0, 0) >= 0, "failed");
	CHECK_ERRNO("capbset_read_bad_cap", prctl(PR_CAPBSET_READ, 9999, 0, 0, 0), EINVAL);
	CHECK_ERRNO("unknown_option", prctl(0x7fff1234, 0, 0, 0, 0), EINVAL);

	int deathsig = -1;
	CHECK_OK("set_pdeathsig", prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0));
	CHECK("get_pdeathsig", prctl(PR_GET_PDEATHSIG, &deathsig, 0, 0, 0) == 0 && deathsig == SIGTERM, "%d", deathsig);
	CHECK_ERRNO("pdeathsig_bad_signal", prctl(PR_SET_PDEATHSIG, 999, 0, 0, 0), EINVAL);
	prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
	parent_death_test();

	CHECK("scheduler_other", sched_getscheduler(0) == SCHED_OTHER, "policy %d", sched_getscheduler(0));
	CHECK("priority_max_other", sched_get_priority_max(SCHED_OTHER) == 0, "max");
	CHECK("priority_max_fifo", sched_get_priority_max(SCHED_FIFO) == 99, "max");
	CHECK("priority_min_rr", sched_get_priority_min(SCHED_RR) == 1, "min");
	CHECK_ERRNO("priority_max_bad", sched_get_priority_max(77), EINVAL);
	struct sched_param param = {.sched_priority = 0};
	CHECK("getparam", sched_getparam(0, &param) == 0 && param.sched_priority == 0, "priority %d",
	      param.sched_priority);
	CHECK_OK("setscheduler_other", sched_setscheduler(0, SCHED_OTHER, &param));
	param.sched_priority = 5;
	CHECK_ERRNO("setscheduler_other_priority", sched_setscheduler(0, SCHED_OTHER, &param), EINVAL);
	CHECK_ERRNO("getscheduler_no_such_pid", sched_getscheduler(999999), ESRCH);

	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	CHECK_OK("setaffinity_cpu0", sched_setaffinity(0, sizeof(set), &set));
	CPU_ZERO(&set);
	CHECK("getaffinity_cpu0", sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) == 1 && CPU_ISSET(0, &set),
	      "%d cpus", CPU_COUNT(&set));
	unsigned cpu = 99, node = 99;
	CHECK("getcpu_in_mask", syscall(SYS_getcpu, &cpu, &node, NULL) == 0 && cpu == 0, "cpu %u", cpu);
	CPU_ZERO(&set);
	CHECK_ERRNO("setaffinity_empty", sched_setaffinity(0, sizeof(set), &set), EINVAL);

	errno = 0;
	CHECK("getpriority_default", getpriority(PRIO_PROCESS, 0) == 0 && errno == 0, "nice %d",
	      getpriority(PRIO_PROCESS, 0));
	CHECK_OK("setpriority_5", setpriority(PRIO_PROCESS, 0, 5));
	CHECK("getpriority_5", getpriority(PRIO_PROCESS, 0) == 5, "nice %d", getpriority(PRIO_PROCESS, 0));
	CHECK("nice_syscall_raw", syscall(SYS_getpriority, PRIO_PROCESS, 0) == 15, "raw %ld",
	      syscall(SYS_getpriority, PRIO_PROCESS, 0));
	CHECK_ERRNO("getpriority_bad_which", getpriority(42, 0), EINVAL);
	CHECK_ERRNO("getpriority_no_such_pid", getpriority(PRIO_PROCESS, 999999), ESRCH);
	return check_finish();
}
