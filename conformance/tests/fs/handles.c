/* name_to_handle_at and open_by_handle_at where Linux has no export operations (procfs):
 * EOPNOTSUPP to encode, ESTALE to decode, after the argument checks (EINVAL, ENOENT, EBADF)
 * and open_by_handle_at's CAP_DAC_READ_SEARCH check (EPERM). */
#include "../check.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/wait.h>

struct handle {
	unsigned int handle_bytes;
	int handle_type;
	unsigned char f_handle[128];
};

int main(void)
{
	struct handle h = {.handle_bytes = sizeof(h.f_handle)};
	int mount_id;
	CHECK_ERRNO("procfs_eopnotsupp", name_to_handle_at(AT_FDCWD, "/proc/self/status",
							   (struct file_handle *)&h, &mount_id, 0),
		    EOPNOTSUPP);
	CHECK_ERRNO("bad_flags", name_to_handle_at(AT_FDCWD, "/proc/self/status",
						   (struct file_handle *)&h, &mount_id, 0x8),
		    EINVAL);
	CHECK_ERRNO("missing", name_to_handle_at(AT_FDCWD, "/proc/nonexistent",
						 (struct file_handle *)&h, &mount_id, 0),
		    ENOENT);
	CHECK_ERRNO("empty_path", name_to_handle_at(AT_FDCWD, "", (struct file_handle *)&h,
						    &mount_id, 0),
		    ENOENT);

	int proc = open("/proc", O_RDONLY | O_DIRECTORY);
	h.handle_bytes = 8;
	h.handle_type = 1;
	memset(h.f_handle, 0x5a, 8);
	CHECK_ERRNO("open_bad_mount_fd", open_by_handle_at(-1, (struct file_handle *)&h, O_RDONLY),
		    EBADF);
	CHECK_ERRNO("open_stale", open_by_handle_at(proc, (struct file_handle *)&h, O_RDONLY),
		    ESTALE);
	h.handle_bytes = 0;
	CHECK_ERRNO("open_zero_bytes", open_by_handle_at(proc, (struct file_handle *)&h, O_RDONLY),
		    EINVAL);
	h.handle_bytes = 129;
	CHECK_ERRNO("open_too_many_bytes",
		    open_by_handle_at(proc, (struct file_handle *)&h, O_RDONLY), EINVAL);
	h.handle_bytes = 8;
	h.handle_type = -1;
	CHECK_ERRNO("open_negative_type",
		    open_by_handle_at(proc, (struct file_handle *)&h, O_RDONLY), EINVAL);

	/* Without CAP_DAC_READ_SEARCH in the effective set: EPERM. */
	pid_t pid = fork();
	if (pid == 0) {
		struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
		struct __user_cap_data_struct data[2];
		if (syscall(SYS_capget, &hdr, data) != 0)
			_exit(2);
		data[0].effective &= ~(1u << CAP_DAC_READ_SEARCH);
		if (syscall(SYS_capset, &hdr, data) != 0)
			_exit(3);
		h.handle_type = 1;
		int fd = open_by_handle_at(proc, (struct file_handle *)&h, O_RDONLY);
		_exit(fd == -1 && errno == EPERM ? 0 : 1);
	}
	int status;
	waitpid(pid, &status, 0);
	CHECK("open_without_cap_eperm", WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x",
	      status);
	close(proc);
	return check_finish();
}
