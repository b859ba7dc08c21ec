/* F_GETPIPE_SZ and F_SETPIPE_SZ: a pipe's capacity, in whole pages rounded to a power of two. */
#include "../check.h"

#include <fcntl.h>

/* How many 4096-byte writes a non-blocking pipe takes before EAGAIN. */
static int pages_until_full(int fd)
{
	static char page[4096];
	int pages = 0;
	while (write(fd, page, sizeof(page)) == (ssize_t)sizeof(page))
		pages++;
	return errno == EAGAIN ? pages : -1;
}

int main(void)
{
	int p[2];
	CHECK_OK("pipe2", pipe2(p, O_NONBLOCK));
	long size = fcntl(p[1], F_GETPIPE_SZ);
	CHECK("default capacity is 64 KiB", size == 65536, "F_GETPIPE_SZ = %ld", size);
	CHECK("both ends report it", fcntl(p[0], F_GETPIPE_SZ) == size, "read end differs");

	size = fcntl(p[1], F_SETPIPE_SZ, 5000);
	CHECK("5000 rounds up to 8192", size == 8192, "F_SETPIPE_SZ = %ld", size);
	CHECK("F_GETPIPE_SZ sees the new size", fcntl(p[0], F_GETPIPE_SZ) == 8192, "differs");
	size = fcntl(p[1], F_SETPIPE_SZ, 0);
	CHECK("0 rounds up to a page", size == 4096, "F_SETPIPE_SZ = %ld", size);
	size = fcntl(p[1], F_SETPIPE_SZ, 3 * 4096);
	CHECK("three pages round up to four", size == 4 * 4096, "F_SETPIPE_SZ = %ld", size);
	int pages = pages_until_full(p[1]);
	CHECK("a full pipe holds its capacity", pages == 4, "took %d pages", pages);
	CHECK_ERRNO("shrinking below the queued data", fcntl(p[1], F_SETPIPE_SZ, 4096), EBUSY);
	size = fcntl(p[1], F_SETPIPE_SZ, 8 * 4096);
	CHECK("growing a full pipe", size == 8 * 4096, "F_SETPIPE_SZ = %ld", size);
	pages = pages_until_full(p[1]);
	CHECK("the grown pipe takes more", pages == 4, "took %d more pages", pages);

	int null = CHECK_OK("open /dev/null", open("/dev/null", O_RDWR));
	CHECK_ERRNO("F_GETPIPE_SZ on a non-pipe", fcntl(null, F_GETPIPE_SZ), EBADF);
	CHECK_ERRNO("F_SETPIPE_SZ on a non-pipe", fcntl(null, F_SETPIPE_SZ, 4096), EBADF);
	CHECK_ERRNO("F_GETPIPE_SZ on a closed fd", fcntl(999, F_GETPIPE_SZ), EBADF);
	return check_finish();
}
