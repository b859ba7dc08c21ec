/*
 * Removing directory entries while listing the directory in small getdents64 batches skips none
 * of the others: CPython's subprocess closes a child's fds by listing /proc/self/fd and closing
 * each one as it goes (with a 280-byte buffer), and rm -r deletes as it lists.
 */
#include "../check.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/syscall.h>

/* Enough entries that a small buffer needs several calls. */
#define COUNT 24

/* Lists `dirfd` a few records per getdents64 call, calling `visit` on each name but "." and "..". */
static int list_small(int dirfd, void (*visit)(int dirfd, const char *name))
{
	char buf[128] __attribute__((aligned(8)));
	for (;;) {
		long n = syscall(SYS_getdents64, dirfd, buf, sizeof(buf));
		if (n <= 0)
			return (int)n;
		for (long at = 0; at < n;) {
			struct dirent64 *e = (struct dirent64 *)(buf + at);
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
				visit(dirfd, e->d_name);
			at += e->d_reclen;
		}
	}
}

static void close_listed(int dirfd, const char *name)
{
	int fd = atoi(name);
	if (fd > 2 && fd != dirfd)
		close(fd);
}

static void unlink_listed(int dirfd, const char *name)
{
	unlinkat(dirfd, name, 0);
}

int main(void)
{
	/* /proc/self/fd: close every fd above 2 while listing. */
	int fds[COUNT];
	for (int i = 0; i < COUNT; i += 2)
		CHECK_OK("pipe", pipe(fds + i));
	int dirfd = CHECK_OK("open /proc/self/fd", open("/proc/self/fd", O_RDONLY | O_DIRECTORY));
	CHECK("listing /proc/self/fd ends", list_small(dirfd, close_listed) == 0, "getdents64 failed");
	close(dirfd);
	int still_open = 0;
	for (int i = 0; i < COUNT; i++)
		if (fcntl(fds[i], F_GETFD) != -1)
			still_open++;
	CHECK("closing while listing /proc/self/fd closes every fd", still_open == 0,
	      "%d of %d fds were never listed", still_open, COUNT);

	/* A directory of files: unlink each while listing. */
	const char *scratch = scratch_dir();
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s/readdir_while_removing", scratch);
	CHECK_OK("mkdir", mkdir(dir, 0700));
	for (int i = 0; i < COUNT; i++) {
		char path[4200];
		snprintf(path, sizeof(path), "%s/file-%02d", dir, i);
		int fd = open(path, O_CREAT | O_WRONLY, 0600);
		if (fd >= 0)
			close(fd);
	}
	dirfd = CHECK_OK("open the directory", open(dir, O_RDONLY | O_DIRECTORY));
	CHECK("listing the directory ends", list_small(dirfd, unlink_listed) == 0, "getdents64 failed");
	close(dirfd);
	CHECK_OK("rmdir after unlinking every listed file", rmdir(dir));
	return check_finish();
}
