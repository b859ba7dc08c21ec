/* poll and select on pipes: readiness, POLLNVAL and EBADF for closed fds, POLLHUP after the
 * writer goes, timeouts (and select's write-back of the time left), nfds limits. */
#include "../check.h"

#include <poll.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/time.h>
#include <time.h>

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void)
{
	int p[2];
	CHECK_OK("pipe", pipe(p));

	struct pollfd fds[3] = {
		{.fd = p[0], .events = POLLIN},
		{.fd = p[1], .events = POLLOUT},
		{.fd = -1, .events = POLLIN, .revents = 77},
	};
	CHECK("poll_empty_pipe", poll(fds, 3, 0) == 1 && fds[0].revents == 0 && fds[1].revents == POLLOUT &&
				       fds[2].revents == 0,
	      "revents %#x %#x %#x", fds[0].revents, fds[1].revents, fds[2].revents);

	CHECK_OK("write", write(p[1], "x", 1));
	CHECK("poll_readable", poll(fds, 2, -1) == 2 && fds[0].revents == POLLIN, "revents %#x", fds[0].revents);

	struct pollfd bad = {.fd = 999, .events = POLLIN};
	CHECK("poll_nval", poll(&bad, 1, 0) == 1 && bad.revents == POLLNVAL, "revents %#x", bad.revents);

	double start = now_seconds();
	struct pollfd out_only = {.fd = p[0], .events = POLLPRI};
	CHECK("poll_timeout", poll(&out_only, 1, 100) == 0 && out_only.revents == 0, "revents %#x",
	      out_only.revents);
	double waited = now_seconds() - start;
	CHECK("poll_timeout_waited", waited >= 0.09 && waited < 5, "waited %.3fs", waited);

	struct rlimit nofile;
	getrlimit(RLIMIT_NOFILE, &nofile);
	CHECK_ERRNO("poll_too_many", poll(fds, nofile.rlim_cur + 1, 0), EINVAL);
	CHECK_ERRNO("poll_efault", syscall(SYS_poll, 8, 1, 0), EFAULT);

	/* select: the pipe is readable, the write end writable. */
	fd_set rd, wr;
	FD_ZERO(&rd);
	FD_ZERO(&wr);
	FD_SET(p[0], &rd);
	FD_SET(p[1], &wr);
	int nfds = (p[0] > p[1] ? p[0] : p[1]) + 1;
	struct timeval tv = {.tv_sec = 5};
	CHECK("select_ready", select(nfds, &rd, &wr, NULL, &tv) == 2 && FD_ISSET(p[0], &rd) && FD_ISSET(p[1], &wr),
	      "sets not as expected");
	CHECK("select_time_left", tv.tv_sec <= 5 && tv.tv_sec >= 4, "tv_sec %ld", (long)tv.tv_sec);

	char c;
	CHECK_OK("drain", read(p[0], &c, 1));
	FD_ZERO(&rd);
	FD_SET(p[0], &rd);
	tv.tv_sec = 0;
	tv.tv_usec = 100 * 1000;
	start = now_seconds();
	CHECK("select_timeout", select(nfds, &rd, NULL, NULL, &tv) == 0 && !FD_ISSET(p[0], &rd),
	      "select did not time out with an empty set");
	waited = now_seconds() - start;
	CHECK("select_timeout_waited", waited >= 0.09 && waited < 5, "waited %.3fs", waited);
	CHECK("select_timeout_zeroed", tv.tv_sec == 0 && tv.tv_usec == 0, "left %ld.%06ld", (long)tv.tv_sec,
	      (long)tv.tv_usec);

	FD_ZERO(&rd);
	/* A closed fd below the table's size (Linux ignores bits beyond it). */
	FD_SET(60, &rd);
	tv.tv_sec = 0;
	tv.tv_usec = 0;
	CHECK_ERRNO("select_ebadf", select(61, &rd, NULL, NULL, &tv), EBADF);
	CHECK_ERRNO("select_negative_nfds", select(-1, NULL, NULL, NULL, &tv), EINVAL);
	tv.tv_sec = -1;
	CHECK_ERRNO("select_negative_timeout", select(1, NULL, NULL, NULL, &tv), EINVAL);

	struct timespec ts = {.tv_sec = 0, .tv_nsec = 1000 * 1000 * 1000};
	CHECK_ERRNO("pselect_bad_nsec", pselect(1, NULL, NULL, NULL, &ts, NULL), EINVAL);

	/* The writer goes: the reader sees POLLHUP, select sees it readable. */
	close(p[1]);
	struct pollfd hup = {.fd = p[0], .events = POLLIN};
	CHECK("poll_hup", poll(&hup, 1, 1000) == 1 && hup.revents == POLLHUP, "revents %#x", hup.revents);
	FD_ZERO(&rd);
	FD_SET(p[0], &rd);
	tv.tv_sec = 1;
	tv.tv_usec = 0;
	CHECK("select_eof_readable", select(p[0] + 1, &rd, NULL, NULL, &tv) == 1 && FD_ISSET(p[0], &rd),
	      "EOF not readable");

	/* A pipe whose reader went: the writer sees POLLERR. */
	int q[2];
	CHECK_OK("pipe2", pipe(q));
	close(q[0]);
	struct pollfd err = {.fd = q[1], .events = POLLOUT};
	CHECK("poll_err", poll(&err, 1, 0) == 1 && (err.revents & POLLERR), "revents %#x", err.revents);
	return check_finish();
}
