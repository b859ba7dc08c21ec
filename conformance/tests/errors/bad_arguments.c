/* Errors every system call shares: bad descriptors (EBADF), bad pointers (EFAULT) and unassigned
 * numbers (ENOSYS). */
#include "../check.h"

#include <fcntl.h>
#include <sys/syscall.h>

int main(void)
{
	char buf[16];
	struct stat st;
	CHECK_ERRNO("read_negative_fd", read(-1, buf, sizeof(buf)), EBADF);
	CHECK_ERRNO("write_unopened_fd", write(1000, "x", 1), EBADF);
	CHECK_ERRNO("close_unopened_fd", close(1000), EBADF);
	CHECK_ERRNO("fstat_negative_fd", fstat(-1, &st), EBADF);
	CHECK_ERRNO("lseek_unopened_fd", lseek(1000, 0, SEEK_SET), EBADF);
	CHECK_ERRNO("dup_negative_fd", dup(-1), EBADF);
	CHECK_ERRNO("dup2_unopened_fd", dup2(1000, 1001), EBADF);
	CHECK_ERRNO("fcntl_unopened_fd", fcntl(1000, F_GETFD), EBADF);
	CHECK_ERRNO("openat_unopened_dirfd", openat(1000, "relative", O_RDONLY), EBADF);
	CHECK_OK("openat_absolute_ignores_dirfd", close(openat(1000, "/", O_RDONLY)));
	CHECK_ERRNO("fchdir_unopened_fd", fchdir(1000), EBADF);
	CHECK_ERRNO("getdents64_unopened_fd", syscall(SYS_getdents64, 1000, buf, sizeof(buf)), EBADF);

	char path[4096];
	int fd = open(scratch_path(path, sizeof(path), "data"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK("setup_data", fd >= 0 && write(fd, "0123456789abcdef", 16) == 16, "cannot create %s", path);
	CHECK_ERRNO("write_bad_pointer", syscall(SYS_write, fd, (void *)1, 10), EFAULT);
	CHECK_ERRNO("read_bad_pointer", syscall(SYS_pread64, fd, (void *)1, 10, 0), EFAULT);
	CHECK_ERRNO("read_kernel_pointer", syscall(SYS_pread64, fd, (void *)0xffffffffff600000UL, 10, 0), EFAULT);
	CHECK_ERRNO("open_bad_path_pointer", syscall(SYS_openat, AT_FDCWD, (void *)1, O_RDONLY), EFAULT);
	CHECK_ERRNO("stat_bad_path_pointer", syscall(SYS_newfstatat, AT_FDCWD, (void *)1, &st, 0), EFAULT);
	CHECK_ERRNO("fstat_bad_buffer", syscall(SYS_fstat, fd, (void *)1), EFAULT);
	CHECK_ERRNO("getcwd_bad_buffer", syscall(SYS_getcwd, (void *)1, 100), EFAULT);
	CHECK_ERRNO("readlink_checks_link_before_buffer", syscall(SYS_readlinkat, AT_FDCWD, "/", (void *)1, 10), EINVAL);
	close(fd);

	CHECK_ERRNO("unassigned_number_400", syscall(400), ENOSYS);
	CHECK_ERRNO("number_past_table", syscall(1000), ENOSYS);
	CHECK_ERRNO("negative_number", syscall(-1), ENOSYS);
	return check_finish();
}
