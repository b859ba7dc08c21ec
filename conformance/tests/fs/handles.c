/* name_to_handle_at and open_by_handle_at: on tmpfs (/dev/shm, tmpfs natively and sandboxed)
 * a handle reopens the file or directory, is EOVERFLOW with the size needed for a short buffer
 * and ESTALE once the file is gone; where Linux has no export operations (procfs) encoding is
 * EOPNOTSUPP and decoding ESTALE; the argument checks (EINVAL, ENOENT, EBADF) and
 * open_by_handle_at's CAP_DAC_READ_SEARCH check (EPERM). */
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

	/* tmpfs. */
	char dir[256], file[512], link_target[512], fdlink[64];
	snprintf(dir, sizeof(dir), "/dev/shm/conformance-handles-%d", getpid());
	snprintf(file, sizeof(file), "%s/f", dir);
	mkdir(dir, 0755);
	int fd = open(file, O_WRONLY | O_CREAT, 0644);
	write(fd, "hello", 5);
	close(fd);
	struct handle fh = {.handle_bytes = 0};
	CHECK_ERRNO("tmpfs_short_buffer_eoverflow",
		    name_to_handle_at(AT_FDCWD, file, (struct file_handle *)&fh, &mount_id, 0),
		    EOVERFLOW);
	CHECK("tmpfs_size_needed", fh.handle_bytes == 12, "handle_bytes %u", fh.handle_bytes);
	fh.handle_bytes = sizeof(fh.f_handle);
	CHECK_OK("tmpfs_encode",
		 name_to_handle_at(AT_FDCWD, file, (struct file_handle *)&fh, &mount_id, 0));
	CHECK("tmpfs_handle", fh.handle_bytes == 12 && fh.handle_type == 1, "bytes %u type %d",
	      fh.handle_bytes, fh.handle_type);
	struct handle dh = {.handle_bytes = sizeof(dh.f_handle)};
	CHECK_OK("tmpfs_encode_dir",
		 name_to_handle_at(AT_FDCWD, dir, (struct file_handle *)&dh, &mount_id, 0));
	CHECK_ERRNO("tmpfs_bad_room",
		    name_to_handle_at(AT_FDCWD, file, (struct file_handle *)&(struct handle){.handle_bytes = 129},
				      &mount_id, 0),
		    EINVAL);

	int shm = open("/dev/shm", O_RDONLY | O_DIRECTORY);
	fd = CHECK_OK("tmpfs_open_by_handle", open_by_handle_at(shm, (struct file_handle *)&fh, O_RDONLY));
	char content[16] = {0};
	CHECK("tmpfs_same_file", read(fd, content, sizeof(content)) == 5 && strcmp(content, "hello") == 0,
	      "read '%s'", content);
	snprintf(fdlink, sizeof(fdlink), "/proc/self/fd/%d", fd);
	memset(link_target, 0, sizeof(link_target));
	readlink(fdlink, link_target, sizeof(link_target) - 1);
	CHECK("tmpfs_opened_at_its_path", strcmp(link_target, file) == 0, "fd link '%s'", link_target);
	close(fd);
	fd = CHECK_OK("tmpfs_open_dir_by_handle",
		      open_by_handle_at(shm, (struct file_handle *)&dh, O_RDONLY | O_DIRECTORY));
	struct stat a, b;
	CHECK("tmpfs_same_dir", fstat(fd, &a) == 0 && stat(dir, &b) == 0 && a.st_ino == b.st_ino,
	      "different directory");
	close(fd);
	unlink(file);
	CHECK_ERRNO("tmpfs_gone_estale", open_by_handle_at(shm, (struct file_handle *)&fh, O_RDONLY),
		    ESTALE);
	close(shm);
	rmdir(dir);
	return check_finish();
}
