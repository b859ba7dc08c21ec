/* Credentials: the set*id families' permission rules, setgroups, capget/capset, and kill
 * permission after dropping root. Needs to start as root; skipped otherwise. */
#include "../check.h"

#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdint.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define NOBODY 65534

static int capget_self(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
	return (int)syscall(SYS_capget, &header, data);
}

static int has_cap(const struct __user_cap_data_struct data[2], int cap)
{
	return (data[cap / 32].effective >> (cap % 32)) & 1;
}

/* In a child: drops to nobody and checks what it can no longer do. Exits with the failures. */
static void child_drops_root(pid_t parent)
{
	CHECK_OK("setgroups_empty", setgroups(0, NULL));
	CHECK_OK("setresgid_nobody", setresgid(NOBODY, NOBODY, NOBODY));
	CHECK_OK("setuid_nobody", setuid(NOBODY));
	uid_t r, e, s;
	CHECK("all_uids_nobody", getresuid(&r, &e, &s) == 0 && r == NOBODY && e == NOBODY && s == NOBODY,
	      "%u %u %u", r, e, s);
	CHECK_ERRNO("setuid_root_refused", setuid(0), EPERM);
	CHECK_ERRNO("seteuid_root_refused", seteuid(0), EPERM);
	CHECK_ERRNO("setresuid_root_refused", setresuid(-1, 0, -1), EPERM);
	CHECK_ERRNO("setgid_root_refused", setgid(0), EPERM);
	CHECK_ERRNO("setgroups_refused", setgroups(0, NULL), EPERM);
	CHECK("setfsuid_refused", setfsuid(0) == NOBODY && setfsuid(-1) == NOBODY, "fsuid changed");
	struct __user_cap_data_struct data[2];
	CHECK("caps_dropped", capget_self(data) == 0 && data[0].effective == 0 && data[0].permitted == 0 &&
				      data[1].effective == 0 && data[1].permitted == 0,
	      "effective %x permitted %x", data[0].effective, data[0].permitted);
	CHECK_ERRNO("kill_root_refused", kill(parent, 0), EPERM);
	CHECK_ERRNO("sethostname_refused", sethostname("x", 1), EPERM);
	exit(check_finish());
}

int main(void)
{
	if (geteuid() != 0) {
		printf("skip: needs root to test dropping privileges\n");
		return 0;
	}
	struct __user_cap_data_struct data[2];
	CHECK_OK("capget", capget_self(data));
	CHECK("root_has_setuid", has_cap(data, CAP_SETUID) && has_cap(data, CAP_SETGID) && has_cap(data, CAP_KILL),
	      "effective %x", data[0].effective);
	struct __user_cap_header_struct header = {.version = 0x12345678, .pid = 0};
	CHECK_ERRNO("capget_bad_version", syscall(SYS_capget, &header, data), EINVAL);
	CHECK("capget_reports_v3", header.version == _LINUX_CAPABILITY_VERSION_3, "version %x", header.version);
	header.version = 0x12345678;
	CHECK("capget_probe", syscall(SYS_capget, &header, NULL) == 0 && header.version == _LINUX_CAPABILITY_VERSION_3,
	      "probe with NULL data");
	header.version = _LINUX_CAPABILITY_VERSION_3;
	header.pid = -1;
	CHECK_ERRNO("capget_negative_pid", syscall(SYS_capget, &header, data), EINVAL);

	/* Root's ids move freely; saved ids follow setreuid's rule. */
	pid_t pid = fork();
	if (pid == 0) {
		CHECK_OK("setresuid_split", setresuid(1000, 2000, 0));
		uid_t r, e, s;
		CHECK("split_read_back", getresuid(&r, &e, &s) == 0 && r == 1000 && e == 2000 && s == 0,
		      "%u %u %u", r, e, s);
		struct __user_cap_data_struct d[2];
		CHECK("euid_nonzero_clears_effective", capget_self(d) == 0 && d[0].effective == 0 && d[0].permitted != 0,
		      "effective %x permitted %x", d[0].effective, d[0].permitted);
		CHECK_OK("seteuid_back_to_saved_root", seteuid(0));
		CHECK("effective_restored", capget_self(d) == 0 && has_cap(d, CAP_SETUID), "effective %x", d[0].effective);
		CHECK_OK("setreuid", setreuid(1000, 3000));
		CHECK("setreuid_sets_saved", getresuid(&r, &e, &s) == 0 && r == 1000 && e == 3000 && s == 3000,
		      "%u %u %u", r, e, s);
		CHECK_ERRNO("unprivileged_setreuid", setreuid(-1, 4000), EPERM);
		CHECK_OK("swap_real_effective", setreuid(3000, 1000));
		exit(check_finish());
	}
	int status;
	CHECK("ids_child", waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "status %#x", status);

	gid_t groups[] = {30, 10, 20};
	pid = fork();
	if (pid == 0) {
		CHECK_OK("setgroups", setgroups(3, groups));
		gid_t back[8];
		int count = getgroups(8, back);
		CHECK("getgroups", count == 3, "count %d", count);
		CHECK_ERRNO("getgroups_too_small", getgroups(1, back), EINVAL);
		CHECK("setfsuid_returns_old", setfsuid(1234) == 0 && setfsuid(-1) == 1234, "fsuid");
		exit(check_finish());
	}
	CHECK("groups_child", waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "status %#x", status);

	pid_t self = getpid();
	pid = fork();
	if (pid == 0)
		child_drops_root(self);
	CHECK("drop_child", waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "status %#x", status);

	/* capset: effective may shrink to a subset of permitted, and grow back. */
	pid = fork();
	if (pid == 0) {
		struct __user_cap_data_struct d[2];
		capget_self(d);
		struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
		d[0].effective &= ~(1u << CAP_KILL);
		CHECK_OK("capset_drop_effective", syscall(SYS_capset, &h, d));
		struct __user_cap_data_struct after[2];
		CHECK("capset_read_back", capget_self(after) == 0 && !has_cap(after, CAP_KILL) && has_cap(after, CAP_SETUID),
		      "effective %x", after[0].effective);
		d[0].permitted &= ~(1u << CAP_KILL);
		CHECK_OK("capset_drop_permitted", syscall(SYS_capset, &h, d));
		d[0].effective |= 1u << CAP_KILL;
		CHECK_ERRNO("capset_effective_beyond_permitted", syscall(SYS_capset, &h, d), EPERM);
		d[0].effective &= ~(1u << CAP_KILL);
		d[0].permitted |= 1u << CAP_KILL;
		CHECK_ERRNO("capset_regain_permitted", syscall(SYS_capset, &h, d), EPERM);
		exit(check_finish());
	}
	CHECK("capset_child", waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "status %#x", status);
	return check_finish();
}
