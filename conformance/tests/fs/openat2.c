/* openat2: struct open_how size and flag checks, and each RESOLVE_* flag, including escapes by
 * "..", absolute paths, absolute and relative symlinks, /proc magic links and mount crossings. */
#include "../check.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>

static long openat2_how(int dirfd, const char *path, struct open_how *how, size_t size)
{
	return syscall(SYS_openat2, dirfd, path, how, size);
}

/* openat2 with flags and resolve; closes a returned fd, so only the result's sign matters. */
static long try_open(int dirfd, const char *path, unsigned long long flags,
		     unsigned long long resolve)
{
	struct open_how how = {.flags = flags, .resolve = resolve};
	long fd = openat2_how(dirfd, path, &how, sizeof(how));
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return fd;
}

int main(void)
{
	char base[2048], path[4096];
	scratch_path(base, sizeof(base), "openat2");
	mkdir(base, 0755);
	snprintf(path, sizeof(path), "%s/sub", base);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/file", base);
	close(open(path, O_WRONLY | O_CREAT, 0644));
	snprintf(path, sizeof(path), "%s/sub/rel_up", base);
	symlink("../file", path);
	snprintf(path, sizeof(path), "%s/sub/escape", base);
	symlink("../../x", path);
	snprintf(path, sizeof(path), "%s/abs", base);
	symlink("/file", path);
	snprintf(path, sizeof(path), "%s/link", base);
	symlink("file", path);
	int dir = CHECK_OK("open_base", open(base, O_DIRECTORY | O_RDONLY));

	/* open_how checks. */
	struct {
		struct open_how how;
		unsigned long long extra;
	} big = {.how = {.flags = O_RDONLY}};
	CHECK_ERRNO("size_too_small", openat2_how(dir, "file", &big.how, 16), EINVAL);
	CHECK_ERRNO("size_too_big", openat2_how(dir, "file", &big.how, 8192), E2BIG);
	long fd = openat2_how(dir, "file", &big.how, sizeof(big));
	CHECK("larger_zeroed_size_ok", fd >= 0, "openat2 gave %ld errno %d", fd, errno);
	close(fd);
	big.extra = 1;
	CHECK_ERRNO("nonzero_tail", openat2_how(dir, "file", &big.how, sizeof(big)), E2BIG);
	CHECK_ERRNO("unknown_flag", try_open(dir, "file", 1ULL << 40, 0), EINVAL);
	CHECK_ERRNO("unknown_resolve", try_open(dir, "file", O_RDONLY, 1 << 10), EINVAL);
	CHECK_ERRNO("both_scopes", try_open(dir, "file", O_RDONLY, RESOLVE_BENEATH | RESOLVE_IN_ROOT),
		    EINVAL);
	struct open_how mode_without_creat = {.flags = O_RDONLY, .mode = 0644};
	CHECK_ERRNO("mode_without_creat",
		    openat2_how(dir, "file", &mode_without_creat, sizeof(mode_without_creat)), EINVAL);
	struct open_how bad_mode = {.flags = O_RDWR | O_CREAT, .mode = 010644};
	CHECK_ERRNO("mode_bad_bits", openat2_how(dir, "new", &bad_mode, sizeof(bad_mode)), EINVAL);
	CHECK_OK("plain", try_open(dir, "file", O_RDONLY, 0));

	/* RESOLVE_BENEATH: nothing may leave the directory. */
	CHECK_OK("beneath_inside", try_open(dir, "sub/../file", O_RDONLY, RESOLVE_BENEATH));
	CHECK_OK("beneath_relative_symlink", try_open(dir, "sub/rel_up", O_RDONLY, RESOLVE_BENEATH));
	CHECK_ERRNO("beneath_dotdot", try_open(dir, "../openat2/file", O_RDONLY, RESOLVE_BENEATH),
		    EXDEV);
	CHECK_ERRNO("beneath_symlink_escape", try_open(dir, "sub/escape", O_RDONLY, RESOLVE_BENEATH),
		    EXDEV);
	CHECK_ERRNO("beneath_absolute", try_open(dir, "/", O_RDONLY, RESOLVE_BENEATH), EXDEV);
	CHECK_ERRNO("beneath_absolute_symlink", try_open(dir, "abs", O_RDONLY, RESOLVE_BENEATH),
		    EXDEV);

	/* RESOLVE_IN_ROOT: the directory is the root. */
	CHECK_OK("in_root_absolute_symlink", try_open(dir, "abs", O_RDONLY, RESOLVE_IN_ROOT));
	CHECK_OK("in_root_absolute_path", try_open(dir, "/file", O_RDONLY, RESOLVE_IN_ROOT));
	CHECK_OK("in_root_dotdot_clamped", try_open(dir, "../../../file", O_RDONLY, RESOLVE_IN_ROOT));
	CHECK_ERRNO("in_root_escape_clamped_missing",
		    try_open(dir, "sub/escape", O_RDONLY, RESOLVE_IN_ROOT), ENOENT);

	/* RESOLVE_NO_SYMLINKS: no symlink is followed, but one may be opened with O_PATH. */
	CHECK_ERRNO("no_symlinks", try_open(dir, "link", O_RDONLY, RESOLVE_NO_SYMLINKS), ELOOP);
	CHECK_ERRNO("no_symlinks_in_middle",
		    try_open(dir, "sub/rel_up", O_RDONLY, RESOLVE_NO_SYMLINKS), ELOOP);
	CHECK_OK("no_symlinks_o_path_nofollow",
		 try_open(dir, "link", O_PATH | O_NOFOLLOW, RESOLVE_NO_SYMLINKS));
	CHECK_OK("no_symlinks_plain_file", try_open(dir, "file", O_RDONLY, RESOLVE_NO_SYMLINKS));

	/* Magic links: /proc/self/fd/N. */
	int target = open(path, O_RDONLY);
	char magic[64];
	snprintf(magic, sizeof(magic), "/proc/self/fd/%d", target);
	CHECK_OK("magic_link_followed", try_open(AT_FDCWD, magic, O_RDONLY, 0));
	CHECK_ERRNO("no_magiclinks", try_open(AT_FDCWD, magic, O_RDONLY, RESOLVE_NO_MAGICLINKS),
		    ELOOP);
	int fds = open("/proc/self/fd", O_DIRECTORY | O_RDONLY);
	snprintf(magic, sizeof(magic), "%d", target);
	CHECK_ERRNO("beneath_magic_link", try_open(fds, magic, O_RDONLY, RESOLVE_BENEATH), EXDEV);
	CHECK_ERRNO("in_root_magic_link", try_open(fds, magic, O_RDONLY, RESOLVE_IN_ROOT), EXDEV);
	close(fds);
	close(target);

	/* RESOLVE_NO_XDEV: /proc is another mount than /. */
	int root = open("/", O_DIRECTORY | O_PATH);
	int proc = open("/proc", O_DIRECTORY | O_PATH);
	CHECK_ERRNO("no_xdev_into_mount", try_open(root, "proc", O_PATH, RESOLVE_NO_XDEV), EXDEV);
	CHECK_ERRNO("no_xdev_dotdot_out", try_open(proc, "..", O_PATH, RESOLVE_NO_XDEV), EXDEV);
	CHECK_ERRNO("no_xdev_absolute", try_open(proc, "/proc", O_PATH, RESOLVE_NO_XDEV), EXDEV);
	CHECK_OK("no_xdev_absolute_path_starts_there",
		 try_open(proc, "/", O_PATH, RESOLVE_NO_XDEV));
	CHECK_OK("no_xdev_same_mount", try_open(dir, "sub/../file", O_RDONLY, RESOLVE_NO_XDEV));
	CHECK_OK("into_mount_without_flag", try_open(root, "proc", O_PATH, 0));
	close(root);
	close(proc);

	/* RESOLVE_CACHED: creating or truncating can't be done from the cache. */
	CHECK_ERRNO("cached_creat", try_open(dir, "new", O_RDWR | O_CREAT, RESOLVE_CACHED), EAGAIN);
	CHECK_ERRNO("cached_trunc", try_open(dir, "file", O_RDWR | O_TRUNC, RESOLVE_CACHED), EAGAIN);

	close(dir);
	const char *names[] = {"sub/rel_up", "sub/escape", "abs", "link", "file"};
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", base, names[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/sub", base);
	rmdir(path);
	rmdir(base);
	return check_finish();
}
