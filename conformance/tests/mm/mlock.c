/* mlock, mlock2, munlock, mlockall, munlockall: VmLck in /proc/self/status, the argument
 * errors, locks not inherited by fork, and RLIMIT_MEMLOCK for a caller without CAP_IPC_LOCK. */
#include "../check.h"

#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define PAGE 4096

/* The VmLck line of /proc/self/status, in kB (-1 if absent). */
static long locked_kb(void)
{
	FILE *status = fopen("/proc/self/status", "r");
	if (status == NULL)
		return -1;
	char line[256];
	long kb = -1;
	while (fgets(line, sizeof(line), status) != NULL)
		if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
			break;
	fclose(status);
	return kb;
}

/* Drops CAP_IPC_LOCK from the effective set. */
static int drop_ipc_lock(void)
{
	struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &header, data) != 0)
		return -1;
	data[CAP_IPC_LOCK / 32].effective &= ~(1u << (CAP_IPC_LOCK % 32));
	return (int)syscall(SYS_capset, &header, data);
}

int main(void)
{
	char *region = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK("mmap", region != MAP_FAILED, "mmap: %s", strerror(errno));
	long before = locked_kb();
	CHECK("vmlck_listed", before == 0, "VmLck %ld", before);
	CHECK_OK("mlock", mlock(region + 10, 2 * PAGE));
	CHECK("mlock_counts_covering_pages", locked_kb() == 12, "VmLck %ld kB", locked_kb());
	CHECK_OK("mlock_again", mlock(region, PAGE));
	CHECK("mlock_twice_counts_once", locked_kb() == 12, "VmLck %ld kB", locked_kb());
	CHECK_OK("mlock2_onfault", mlock2(region + 4 * PAGE, PAGE, MLOCK_ONFAULT));
	CHECK("mlock2_counts", locked_kb() == 16, "VmLck %ld kB", locked_kb());
	CHECK_ERRNO("mlock2_bad_flags", mlock2(region, PAGE, 0x10), EINVAL);

	pid_t child = fork();
	if (child == 0)
		_exit(locked_kb() == 0 ? 0 : 1);
	int status = 0;
	waitpid(child, &status, 0);
	CHECK("fork_does_not_inherit_locks", WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x",
	      status);

	CHECK_OK("munlock", munlock(region, 8 * PAGE));
	CHECK("munlock_uncounts", locked_kb() == 0, "VmLck %ld kB", locked_kb());
	CHECK_OK("munmap_tail", munmap(region + 6 * PAGE, 2 * PAGE));
	CHECK_ERRNO("mlock_unmapped", mlock(region + 5 * PAGE, 2 * PAGE), ENOMEM);
	CHECK_ERRNO("munlock_unmapped", munlock(region + 5 * PAGE, 2 * PAGE), ENOMEM);
	CHECK_ERRNO("mlockall_no_flags", mlockall(0), EINVAL);
	CHECK_ERRNO("mlockall_onfault_alone", mlockall(MCL_ONFAULT), EINVAL);
	CHECK_OK("mlockall", mlockall(MCL_CURRENT | MCL_FUTURE));
	long all = locked_kb();
	CHECK("mlockall_counts_everything", all >= 24, "VmLck %ld kB", all);
	char *later = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK("mcl_future_locks_new_mappings", later != MAP_FAILED && locked_kb() == all + 16, "VmLck %ld kB, was %ld",
	      locked_kb(), all);
	CHECK_OK("munlockall", munlockall());
	CHECK("munlockall_uncounts", locked_kb() == 0, "VmLck %ld kB", locked_kb());

	/* Without CAP_IPC_LOCK, RLIMIT_MEMLOCK holds: EPERM at zero, ENOMEM past it. */
	child = fork();
	if (child == 0) {
		struct rlimit one_page = { PAGE, PAGE };
		if (drop_ipc_lock() != 0 || setrlimit(RLIMIT_MEMLOCK, &one_page) != 0)
			_exit(10);
		if (mlock(region, PAGE) != 0)
			_exit(11);
		if (mlock(region + PAGE, PAGE) == 0 || errno != ENOMEM)
			_exit(12);
		if (mlockall(MCL_CURRENT) == 0 || errno != ENOMEM)
			_exit(13);
		struct rlimit none = { 0, 0 };
		if (setrlimit(RLIMIT_MEMLOCK, &none) != 0)
			_exit(14);
		if (mlock(region + PAGE, PAGE) == 0 || errno != EPERM)
			_exit(15);
		if (munlock(region, PAGE) != 0)
			_exit(16);
		_exit(0);
	}
	status = 0;
	waitpid(child, &status, 0);
	CHECK("rlimit_memlock_without_cap_ipc_lock", WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "child exit %d", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return check_finish();
}
