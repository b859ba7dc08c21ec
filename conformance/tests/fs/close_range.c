/* close_range: closing a range (ends included, past the last open descriptor too), marking one
 * close-on-exec, and refusing bad arguments; what subprocess uses to close all but pass_fds. */
#include "../check.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/syscall.h>

static int is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

int main(void)
{
	int fds[6];
	for (int i = 0; i < 6; i++)
		fds[i] = dup2(0, 20 + i); /* 20..25 */
	CHECK("setup", fds[0] == 20 && fds[5] == 25, "dup2 did not give 20..25");

	CHECK_OK("close_range_middle", syscall(SYS_close_range, 21, 22, 0));
	CHECK("middle_closed", !is_open(21) && !is_open(22), "21 or 22 still open");
	CHECK("ends_kept", is_open(20) && is_open(23), "a descriptor outside the range was closed");

	/* The way subprocess keeps pass_fds: close the gaps around the kept descriptor 24. */
	CHECK_OK("close_range_below_kept", syscall(SYS_close_range, 23, 23, 0));
	CHECK_OK("close_range_to_the_end", syscall(SYS_close_range, 25, ~0U, 0));
	CHECK("kept_descriptor_open", is_open(24), "24 was closed");
	CHECK("rest_closed", !is_open(23) && !is_open(25), "23 or 25 still open");

	CHECK_OK("close_range_cloexec", syscall(SYS_close_range, 20, 20, CLOSE_RANGE_CLOEXEC));
	CHECK("cloexec_keeps_open", is_open(20) && fcntl(20, F_GETFD) == FD_CLOEXEC,
	      "CLOSE_RANGE_CLOEXEC closed the descriptor or did not mark it");
	CHECK_OK("close_range_nothing_open", syscall(SYS_close_range, 500, 600, 0));
	CHECK_ERRNO("close_range_first_after_last", syscall(SYS_close_range, 30, 20, 0), EINVAL);
	CHECK_ERRNO("close_range_bad_flags", syscall(SYS_close_range, 20, 30, 0x1234), EINVAL);
	CHECK("stdio_untouched", is_open(0) && is_open(1) && is_open(2), "a standard descriptor closed");
	return check_finish();
}
