/* Process identity and limits: ids, uname, getcwd, rlimits and arch_prctl. */
#include "../check.h"

#include <asm/prctl.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>

int main(void)
{
	pid_t pid = getpid();
	CHECK("getpid_positive", pid > 0, "pid %d", pid);
	CHECK("gettid_is_pid", syscall(SYS_gettid) == pid, "a single-threaded process's tid differs from its pid");
	CHECK("getppid_not_self", getppid() >= 0 && getppid() != pid, "ppid %d", getppid());
	CHECK("getsid_self", getsid(0) == getsid(pid) && getsid(0) >= 0, "getsid(0) differs from getsid(pid)");
	CHECK("getpgid_self", getpgid(0) == getpgrp(), "getpgid(0) differs from getpgrp()");

	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;
	CHECK("getresuid", getresuid(&ruid, &euid, &suid) == 0 && ruid == getuid() && euid == geteuid(),
	      "getresuid disagrees with getuid/geteuid");
	CHECK("getresgid", getresgid(&rgid, &egid, &sgid) == 0 && rgid == getgid() && egid == getegid(),
	      "getresgid disagrees with getgid/getegid");
	CHECK("getgroups_count", getgroups(0, NULL) >= 0, "getgroups(0) failed");

	struct utsname names;
	CHECK_OK("uname", uname(&names));
	CHECK("uname_sysname", strcmp(names.sysname, "Linux") == 0, "sysname '%s'", names.sysname);
	CHECK("uname_machine", strcmp(names.machine, "x86_64") == 0, "machine '%s'", names.machine);
	CHECK("uname_release_nonempty", names.release[0] >= '0' && names.release[0] <= '9',
	      "release '%s'", names.release);
	CHECK_ERRNO("uname_bad_pointer", syscall(SYS_uname, (void *)1), EFAULT);

	struct rlimit limit;
	CHECK("getrlimit_nofile", getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur > 0 &&
					  limit.rlim_cur <= limit.rlim_max,
	      "soft %llu hard %llu", (unsigned long long)limit.rlim_cur, (unsigned long long)limit.rlim_max);
	struct rlimit lowered = {.rlim_cur = 64, .rlim_max = limit.rlim_max};
	CHECK_OK("setrlimit_nofile", setrlimit(RLIMIT_NOFILE, &lowered));
	struct rlimit read_back;
	CHECK("setrlimit_read_back", getrlimit(RLIMIT_NOFILE, &read_back) == 0 && read_back.rlim_cur == 64,
	      "soft limit %llu", (unsigned long long)read_back.rlim_cur);
	CHECK_ERRNO("nofile_limit_enforced_dup2", dup2(0, 64), EBADF);
	CHECK_ERRNO("nofile_limit_enforced_fcntl", fcntl(0, F_DUPFD, 64), EINVAL);
	struct rlimit inverted = {.rlim_cur = 100, .rlim_max = 50};
	CHECK_ERRNO("setrlimit_soft_above_hard", setrlimit(RLIMIT_NOFILE, &inverted), EINVAL);
	struct rlimit old;
	CHECK("prlimit_self", prlimit(0, RLIMIT_NOFILE, &limit, &old) == 0 && old.rlim_cur == 64,
	      "prlimit did not return the old soft limit 64");
	CHECK("getrlimit_stack", getrlimit(RLIMIT_STACK, &limit) == 0 && limit.rlim_cur > 0,
	      "stack limit %llu", (unsigned long long)limit.rlim_cur);
	CHECK_ERRNO("getrlimit_bad_resource", syscall(SYS_getrlimit, 1000, &limit), EINVAL);

	/* glibc keeps the thread pointer in FS; its first word points at itself. */
	unsigned long fs_base = 0;
	CHECK_OK("arch_prctl_get_fs", syscall(SYS_arch_prctl, ARCH_GET_FS, &fs_base));
	uintptr_t self;
	__asm__("mov %%fs:0, %0" : "=r"(self));
	CHECK("fs_is_thread_pointer", fs_base == self && fs_base != 0, "FS base is not the thread pointer");
	unsigned long gs_base = 0;
	CHECK_OK("arch_prctl_set_gs", syscall(SYS_arch_prctl, ARCH_SET_GS, 0x12345000UL));
	CHECK("arch_prctl_gs_round_trip", syscall(SYS_arch_prctl, ARCH_GET_GS, &gs_base) == 0 && gs_base == 0x12345000UL,
	      "GS base %#lx", gs_base);
	CHECK_ERRNO("arch_prctl_bad_code", syscall(SYS_arch_prctl, 0x9999, 0), EINVAL);
	CHECK_ERRNO("arch_prctl_get_fs_bad_pointer", syscall(SYS_arch_prctl, ARCH_GET_FS, (void *)1), EFAULT);
	return check_finish();
}
