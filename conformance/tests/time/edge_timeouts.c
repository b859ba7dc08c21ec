/* Edge timeouts: a timeout too large to represent waits forever (and is ended by what it waits
 * for or by a signal, never by an error), a negative or malformed timespec is EINVAL where Linux
 * says so, and a socket's SO_RCVTIMEO/SO_SNDTIMEO bound read/write as well as recv/send.
 * select, epoll_pwait2, futex and the sleeps go through syscall(2) so that the kernel, not
 * glibc, sees the raw values. */
#include "../check.h"

#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#define HUGE_TS ((struct timespec){.tv_sec = INT64_MAX, .tv_nsec = 999999999})
/* The time left a saturated timeout reports is huge: Linux's poll and select count to
 * TIME64_MAX seconds, its sleeps to KTIME_MAX nanoseconds (292 years), less the uptime. */
#define HUGE_LEFT(sec) ((sec) > 1000000000LL)

static volatile sig_atomic_t alarms;

static void on_alarm(int signo)
{
	(void)signo;
	alarms++;
}

/* SIGALRM (handled, not restarting) 50 ms from now. */
static void interrupt_soon(void)
{
	struct itimerval soon = {.it_value = {.tv_sec = 0, .tv_usec = 50 * 1000}};
	setitimer(ITIMER_REAL, &soon, NULL);
}

/* A child writes one byte to `fd` 50 ms from now; returns its pid. */
static pid_t write_soon(int fd)
{
	pid_t child = fork();
	if (child == 0) {
		usleep(50 * 1000);
		_exit(write(fd, "x", 1) == 1 ? 0 : 1);
	}
	return child;
}

static int reaped_ok(pid_t child)
{
	int status;
	return waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static long raw_ppoll(struct pollfd *fds, nfds_t n, struct timespec *ts)
{
	return syscall(SYS_ppoll, fds, n, ts, NULL, 8);
}

static long raw_pselect(int nfds, fd_set *readfds, struct timespec *ts)
{
	return syscall(SYS_pselect6, nfds, readfds, NULL, NULL, ts, NULL);
}

static void ppoll_checks(void)
{
	int p[2];
	CHECK_OK("ppoll_pipe", pipe(p));
	struct pollfd pfd = {.fd = p[0], .events = POLLIN};

	struct timespec ts = HUGE_TS;
	interrupt_soon();
	CHECK_ERRNO("ppoll_huge_interrupted", raw_ppoll(&pfd, 1, &ts), EINTR);
	CHECK("ppoll_huge_left", HUGE_LEFT(ts.tv_sec) && ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000,
	      "left %lld.%09ld", (long long)ts.tv_sec, ts.tv_nsec);

	ts = HUGE_TS;
	pid_t child = write_soon(p[1]);
	long n = raw_ppoll(&pfd, 1, &ts);
	CHECK("ppoll_huge_woken", n == 1 && pfd.revents == POLLIN, "ppoll returned %ld revents %#x", n,
	      pfd.revents);
	CHECK("ppoll_huge_writer", reaped_ok(child), "writer failed");
	char byte;
	CHECK_OK("ppoll_drain", read(p[0], &byte, 1));

	ts = (struct timespec){.tv_sec = -1, .tv_nsec = 0};
	CHECK_ERRNO("ppoll_negative_sec", raw_ppoll(&pfd, 1, &ts), EINVAL);
	ts = (struct timespec){.tv_sec = 0, .tv_nsec = -1};
	CHECK_ERRNO("ppoll_negative_nsec", raw_ppoll(&pfd, 1, &ts), EINVAL);
	ts = (struct timespec){.tv_sec = 0, .tv_nsec = 1000000000};
	CHECK_ERRNO("ppoll_nsec_a_second", raw_ppoll(&pfd, 1, &ts), EINVAL);
	ts = (struct timespec){.tv_sec = INT64_MIN, .tv_nsec = 0};
	CHECK_ERRNO("ppoll_min_sec", raw_ppoll(&pfd, 1, &ts), EINVAL);

	/* poll: a negative timeout waits forever. */
	child = write_soon(p[1]);
	n = poll(&pfd, 1, -1);
	CHECK("poll_negative_waits", n == 1 && pfd.revents == POLLIN, "poll returned %ld", n);
	CHECK("poll_negative_writer", reaped_ok(child), "writer failed");
	CHECK_OK("poll_drain", read(p[0], &byte, 1));
	child = write_soon(p[1]);
	n = poll(&pfd, 1, INT32_MIN);
	CHECK("poll_int_min_waits", n == 1 && pfd.revents == POLLIN, "poll returned %ld", n);
	CHECK("poll_int_min_writer", reaped_ok(child), "writer failed");
	CHECK_OK("poll_int_min_drain", read(p[0], &byte, 1));

	/* pselect6 takes a timespec: the same checks. */
	fd_set set;
	FD_ZERO(&set);
	FD_SET(p[0], &set);
	ts = HUGE_TS;
	child = write_soon(p[1]);
	n = raw_pselect(p[0] + 1, &set, &ts);
	CHECK("pselect_huge_woken", n == 1 && FD_ISSET(p[0], &set), "pselect returned %ld", n);
	CHECK("pselect_huge_left", HUGE_LEFT(ts.tv_sec), "left %lld", (long long)ts.tv_sec);
	CHECK("pselect_huge_writer", reaped_ok(child), "writer failed");
	CHECK_OK("pselect_drain", read(p[0], &byte, 1));
	FD_SET(p[0], &set);
	ts = (struct timespec){.tv_sec = -1, .tv_nsec = 0};
	CHECK_ERRNO("pselect_negative_sec", raw_pselect(p[0] + 1, &set, &ts), EINVAL);
	ts = (struct timespec){.tv_sec = 1, .tv_nsec = -5};
	CHECK_ERRNO("pselect_negative_nsec", raw_pselect(p[0] + 1, &set, &ts), EINVAL);
	ts = (struct timespec){.tv_sec = 0, .tv_nsec = 1000000000};
	CHECK_ERRNO("pselect_nsec_a_second", raw_pselect(p[0] + 1, &set, &ts), EINVAL);

	/* select's timeval: whole seconds carry out of tv_usec; a negative part is EINVAL. */
	struct timeval tv = {.tv_sec = INT64_MAX, .tv_usec = 999999};
	child = write_soon(p[1]);
	FD_SET(p[0], &set);
	n = syscall(SYS_select, p[0] + 1, &set, NULL, NULL, &tv);
	CHECK("select_huge_woken", n == 1 && FD_ISSET(p[0], &set), "select returned %ld", n);
	CHECK("select_huge_left", HUGE_LEFT(tv.tv_sec) && tv.tv_usec >= 0 && tv.tv_usec < 1000000,
	      "left %lld.%06ld", (long long)tv.tv_sec, tv.tv_usec);
	CHECK("select_huge_writer", reaped_ok(child), "writer failed");
	CHECK_OK("select_drain", read(p[0], &byte, 1));
	tv = (struct timeval){.tv_sec = -1, .tv_usec = 0};
	FD_SET(p[0], &set);
	CHECK_ERRNO("select_negative_sec", syscall(SYS_select, p[0] + 1, &set, NULL, NULL, &tv),
		    EINVAL);
	tv = (struct timeval){.tv_sec = 0, .tv_usec = -1};
	CHECK_ERRNO("select_negative_usec", syscall(SYS_select, p[0] + 1, &set, NULL, NULL, &tv),
		    EINVAL);
	tv = (struct timeval){.tv_sec = 0, .tv_usec = 2500000};
	FD_SET(p[1], &set);
	n = syscall(SYS_select, p[1] + 1, NULL, &set, NULL, &tv);
	CHECK("select_usec_carries", n == 1 && tv.tv_sec >= 2 && tv.tv_usec < 1000000,
	      "select returned %ld, left %lld.%06ld", n, (long long)tv.tv_sec, tv.tv_usec);

	/* epoll: INT_MAX milliseconds and a saturated epoll_pwait2 timespec. */
	int ep = CHECK_OK("epoll_create", epoll_create1(0));
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = p[0]}, out;
	CHECK_OK("epoll_add", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	child = write_soon(p[1]);
	n = epoll_wait(ep, &out, 1, INT32_MAX);
	CHECK("epoll_wait_int_max_woken", n == 1 && out.data.fd == p[0], "epoll_wait returned %ld",
	      n);
	CHECK("epoll_wait_writer", reaped_ok(child), "writer failed");
	CHECK_OK("epoll_wait_drain", read(p[0], &byte, 1));
	ts = HUGE_TS;
	child = write_soon(p[1]);
	n = syscall(SYS_epoll_pwait2, ep, &out, 1, &ts, NULL, 8);
	CHECK("epoll_pwait2_huge_woken", n == 1 && out.data.fd == p[0],
	      "epoll_pwait2 returned %ld", n);
	CHECK("epoll_pwait2_writer", reaped_ok(child), "writer failed");
	CHECK_OK("epoll_pwait2_drain", read(p[0], &byte, 1));
	interrupt_soon();
	ts = HUGE_TS;
	CHECK_ERRNO("epoll_pwait2_huge_interrupted", syscall(SYS_epoll_pwait2, ep, &out, 1, &ts,
							       NULL, 8),
		    EINTR);
	ts = (struct timespec){.tv_sec = 0, .tv_nsec = 1000000000};
	CHECK_ERRNO("epoll_pwait2_bad_nsec", syscall(SYS_epoll_pwait2, ep, &out, 1, &ts, NULL, 8),
		    EINVAL);
	close(ep);
	close(p[0]);
	close(p[1]);
}

static _Atomic int futex_word;
static long futex_result;
static int futex_errno;

static long futex(int op, int val, const struct timespec *ts, int bitset)
{
	return syscall(SYS_futex, &futex_word, op, val, ts, NULL, bitset);
}

static void *futex_waiter(void *arg)
{
	const int *op = arg;
	struct timespec ts = HUGE_TS;
	do {
		futex_result = futex(*op, 0, &ts, FUTEX_BITSET_MATCH_ANY);
		futex_errno = errno;
	} while (futex_result == -1 && futex_errno == EINTR);
	return NULL;
}

/* A thread waits on futex_word with a saturated timeout under `op`; this thread wakes it. */
static void futex_woken(const char *name, int op)
{
	atomic_store(&futex_word, 0);
	futex_result = -2;
	pthread_t thread;
	if (pthread_create(&thread, NULL, futex_waiter, &op) != 0) {
		CHECK(name, 0, "pthread_create failed");
		return;
	}
	/* Wake until the waiter was there to be woken. */
	while (futex(FUTEX_WAKE_PRIVATE, 1, NULL, 0) != 1)
		usleep(1000);
	pthread_join(thread, NULL);
	CHECK(name, futex_result == 0, "futex returned %ld (%s)", futex_result,
	      strerror(futex_errno));
}

static void futex_checks(void)
{
	futex_woken("futex_wait_huge_woken", FUTEX_WAIT_PRIVATE);
	futex_woken("futex_bitset_monotonic_huge_woken", FUTEX_WAIT_BITSET_PRIVATE);
	futex_woken("futex_bitset_realtime_huge_woken",
		    FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME);

	atomic_store(&futex_word, 0);
	struct timespec ts = {.tv_sec = -1, .tv_nsec = 0};
	CHECK_ERRNO("futex_negative_sec", futex(FUTEX_WAIT_PRIVATE, 0, &ts, 0), EINVAL);
	ts = (struct timespec){.tv_sec = 0, .tv_nsec = 1000000000};
	CHECK_ERRNO("futex_bad_nsec", futex(FUTEX_WAIT_PRIVATE, 0, &ts, 0), EINVAL);
	ts = (struct timespec){.tv_sec = 0, .tv_nsec = -1};
	CHECK_ERRNO("futex_bitset_bad_nsec",
		    futex(FUTEX_WAIT_BITSET_PRIVATE, 0, &ts, FUTEX_BITSET_MATCH_ANY), EINVAL);
	/* An absolute time long past has passed at once. */
	ts = (struct timespec){.tv_sec = 1, .tv_nsec = 0};
	CHECK_ERRNO("futex_bitset_past",
		    futex(FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 0, &ts,
			  FUTEX_BITSET_MATCH_ANY),
		    ETIMEDOUT);
	ts = (struct timespec){.tv_sec = 0, .tv_nsec = 0};
	CHECK_ERRNO("futex_zero_timeout", futex(FUTEX_WAIT_PRIVATE, 0, &ts, 0), ETIMEDOUT);
}

static void signal_wait_checks(void)
{
	sigset_t alrm, old;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	CHECK_OK("sigtimedwait_block", sigprocmask(SIG_BLOCK, &alrm, &old));
	struct timespec ts = HUGE_TS;
	interrupt_soon();
	siginfo_t info;
	long signo = syscall(SYS_rt_sigtimedwait, &alrm, &info, &ts, 8);
	CHECK("sigtimedwait_huge_gets_signal", signo == SIGALRM && info.si_signo == SIGALRM,
	      "returned %ld (%s)", signo, strerror(errno));
	ts = (struct timespec){.tv_sec = 0, .tv_nsec = 1000000000};
	CHECK_ERRNO("sigtimedwait_bad_nsec", syscall(SYS_rt_sigtimedwait, &alrm, &info, &ts, 8),
		    EINVAL);
	ts = (struct timespec){.tv_sec = -1, .tv_nsec = 0};
	CHECK_ERRNO("sigtimedwait_negative_sec",
		    syscall(SYS_rt_sigtimedwait, &alrm, &info, &ts, 8), EINVAL);
	ts = (struct timespec){.tv_sec = 0, .tv_nsec = 0};
	CHECK_ERRNO("sigtimedwait_zero", syscall(SYS_rt_sigtimedwait, &alrm, &info, &ts, 8),
		    EAGAIN);
	CHECK_OK("sigtimedwait_unblock", sigprocmask(SIG_SETMASK, &old, NULL));
}

static void sleep_checks(void)
{
	struct timespec ts = HUGE_TS, rem = {0};
	interrupt_soon();
	CHECK_ERRNO("nanosleep_huge_interrupted", syscall(SYS_nanosleep, &ts, &rem), EINTR);
	CHECK("nanosleep_huge_left", HUGE_LEFT(rem.tv_sec), "left %lld", (long long)rem.tv_sec);
	interrupt_soon();
	CHECK_ERRNO("clock_nanosleep_abs_huge_interrupted",
		    syscall(SYS_clock_nanosleep, CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL), EINTR);
	interrupt_soon();
	CHECK_ERRNO("clock_nanosleep_rel_huge_interrupted",
		    syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, &rem), EINTR);
	ts = (struct timespec){.tv_sec = 0, .tv_nsec = 1000000000};
	CHECK_ERRNO("nanosleep_bad_nsec", syscall(SYS_nanosleep, &ts, NULL), EINVAL);
	ts = (struct timespec){.tv_sec = -1, .tv_nsec = 0};
	CHECK_ERRNO("nanosleep_negative_sec", syscall(SYS_nanosleep, &ts, NULL), EINVAL);
	CHECK_ERRNO("clock_nanosleep_negative_sec",
		    syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, NULL), EINVAL);
}

static void set_timeout(int fd, int option, long long sec, long usec)
{
	struct timeval tv = {.tv_sec = sec, .tv_usec = usec};
	setsockopt(fd, SOL_SOCKET, option, &tv, sizeof(tv));
}

static void socket_checks(void)
{
	int sv[2];
	CHECK_OK("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	char buf[16];

	struct timeval tv = {.tv_sec = INT64_MAX, .tv_usec = 0};
	CHECK_OK("rcvtimeo_huge_set", setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
	socklen_t len = sizeof(tv);
	CHECK_OK("rcvtimeo_huge_get", getsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, &len));
	CHECK("rcvtimeo_huge_reads_forever", tv.tv_sec == 0 && tv.tv_usec == 0, "got %lld.%06ld",
	      (long long)tv.tv_sec, tv.tv_usec);
	pid_t child = write_soon(sv[1]);
	CHECK("rcvtimeo_huge_read", read(sv[0], buf, sizeof(buf)) == 1, "read failed: %s",
	      strerror(errno));
	CHECK("rcvtimeo_huge_read_writer", reaped_ok(child), "writer failed");
	child = write_soon(sv[1]);
	CHECK("rcvtimeo_huge_recv", recv(sv[0], buf, sizeof(buf), 0) == 1, "recv failed: %s",
	      strerror(errno));
	CHECK("rcvtimeo_huge_recv_writer", reaped_ok(child), "writer failed");

	tv = (struct timeval){.tv_sec = 0, .tv_usec = 1000000};
	CHECK_ERRNO("rcvtimeo_usec_a_second",
		    setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), EDOM);

	set_timeout(sv[0], SO_RCVTIMEO, 0, 20000);
	CHECK_ERRNO("rcvtimeo_small_read", read(sv[0], buf, sizeof(buf)), EAGAIN);
	CHECK_ERRNO("rcvtimeo_small_recv", recv(sv[0], buf, sizeof(buf), 0), EAGAIN);
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	CHECK_ERRNO("rcvtimeo_small_readv", readv(sv[0], &iov, 1), EAGAIN);
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	CHECK_ERRNO("rcvtimeo_small_recvmsg", recvmsg(sv[0], &msg, 0), EAGAIN);
	/* A negative time does not wait at all. */
	set_timeout(sv[0], SO_RCVTIMEO, -1, 0);
	CHECK_ERRNO("rcvtimeo_negative_read", read(sv[0], buf, sizeof(buf)), EAGAIN);

	/* Fill the sender's buffer, then a blocking write under SO_SNDTIMEO gives up. */
	static char chunk[65536];
	while (send(sv[1], chunk, sizeof(chunk), MSG_DONTWAIT) > 0)
		;
	set_timeout(sv[1], SO_SNDTIMEO, 0, 20000);
	CHECK_ERRNO("sndtimeo_small_write", write(sv[1], chunk, sizeof(chunk)), EAGAIN);
	CHECK_ERRNO("sndtimeo_small_send", send(sv[1], chunk, sizeof(chunk), 0), EAGAIN);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	struct sigaction action = {.sa_handler = on_alarm};
	sigemptyset(&action.sa_mask);
	CHECK_OK("sigaction", sigaction(SIGALRM, &action, NULL));
	ppoll_checks();
	futex_checks();
	signal_wait_checks();
	sleep_checks();
	socket_checks();
	return check_finish();
}
