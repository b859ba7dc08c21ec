/* POSIX message queues: mq_open/mq_unlink, priorities, O_NONBLOCK, timeouts, mq_getattr and
 * mq_setattr, mq_notify with a signal, polling a queue descriptor, reading its QSIZE line, and
 * permissions as uid 1000. Names carry this pid and every queue is unlinked at the end. */
#include "../check.h"

#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

static volatile sig_atomic_t notified_signo, notified_code, notified_value;

static void on_notify(int sig, siginfo_t *info, void *context)
{
	(void)context;
	notified_signo = sig;
	notified_code = info->si_code;
	notified_value = info->si_value.sival_int;
}

static int wait_exit(pid_t pid)
{
	int status = 0;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int main(void)
{
	char name[64], other[64];
	snprintf(name, sizeof(name), "/conformance_mq_%d", getpid());
	snprintf(other, sizeof(other), "/conformance_mq_other_%d", getpid());
	mq_unlink(name);
	mq_unlink(other);

	struct mq_attr attr = {.mq_maxmsg = 4, .mq_msgsize = 32};
	CHECK_ERRNO("open_missing", mq_open(name, O_RDWR), ENOENT);
	mqd_t q = CHECK_OK("open_create", mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr));
	CHECK_ERRNO("open_excl", mq_open(name, O_RDWR | O_CREAT | O_EXCL, 0600, &attr), EEXIST);
	struct mq_attr bad = {.mq_maxmsg = 0, .mq_msgsize = 32};
	CHECK_ERRNO("open_bad_attr", mq_open(other, O_RDWR | O_CREAT, 0600, &bad), EINVAL);
	CHECK_ERRNO("open_slash_in_name", mq_open("/a/b", O_RDWR | O_CREAT, 0600, &attr), EACCES);

	struct mq_attr got;
	CHECK_OK("getattr", mq_getattr(q, &got));
	CHECK("attr_values", got.mq_maxmsg == 4 && got.mq_msgsize == 32 && got.mq_curmsgs == 0 &&
				     got.mq_flags == 0,
	      "maxmsg %ld msgsize %ld curmsgs %ld flags %ld", got.mq_maxmsg, got.mq_msgsize,
	      got.mq_curmsgs, got.mq_flags);

	/* Priorities: highest first, arrival order within one. */
	CHECK_OK("send_low", mq_send(q, "low", 3, 1));
	CHECK_OK("send_high", mq_send(q, "high", 4, 9));
	CHECK_OK("send_mid", mq_send(q, "mid", 3, 5));
	CHECK_OK("send_high2", mq_send(q, "high2", 5, 9));
	CHECK_ERRNO("send_bad_prio", mq_send(q, "x", 1, 32768), EINVAL);
	CHECK_ERRNO("send_too_long", mq_send(q, name, 33, 0), EMSGSIZE);
	char buf[64];
	unsigned prio = 0;
	CHECK("read_qsize", pread(q, buf, sizeof(buf), 0) > 0 && strncmp(buf, "QSIZE:15 ", 9) == 0,
	      "not the QSIZE line");
	CHECK_OK("getattr_full", mq_getattr(q, &got));
	CHECK("curmsgs", got.mq_curmsgs == 4, "curmsgs %ld", got.mq_curmsgs);
	CHECK_ERRNO("receive_small_buffer", mq_receive(q, buf, 16, &prio), EMSGSIZE);
	const char *order[] = {"high", "high2", "mid", "low"};
	unsigned prios[] = {9, 9, 5, 1};
	for (int i = 0; i < 4; i++) {
		memset(buf, 0, sizeof(buf));
		ssize_t n = mq_receive(q, buf, sizeof(buf), &prio);
		CHECK("receive_in_order", n == (ssize_t)strlen(order[i]) && strcmp(buf, order[i]) == 0 &&
						  prio == prios[i],
		      "got %zd '%s' prio %u, want '%s' %u", n, buf, prio, order[i], prios[i]);
	}

	/* Timeouts and O_NONBLOCK. */
	struct timespec soon;
	clock_gettime(CLOCK_REALTIME, &soon);
	soon.tv_nsec += 20 * 1000 * 1000;
	if (soon.tv_nsec >= 1000000000) {
		soon.tv_sec++;
		soon.tv_nsec -= 1000000000;
	}
	CHECK_ERRNO("timedreceive_timeout", mq_timedreceive(q, buf, sizeof(buf), NULL, &soon),
		    ETIMEDOUT);
	struct timespec invalid = {0, -1};
	CHECK_ERRNO("timedreceive_bad_time", mq_timedreceive(q, buf, sizeof(buf), NULL, &invalid),
		    EINVAL);
	struct mq_attr nonblock = {.mq_flags = O_NONBLOCK}, old;
	CHECK_OK("setattr_nonblock", mq_setattr(q, &nonblock, &old));
	CHECK("setattr_old_flags", old.mq_flags == 0, "flags %ld", old.mq_flags);
	CHECK_ERRNO("receive_empty_nonblock", mq_receive(q, buf, sizeof(buf), NULL), EAGAIN);
	for (int i = 0; i < 4; i++)
		mq_send(q, "x", 1, 0);
	CHECK_ERRNO("send_full_nonblock", mq_send(q, "x", 1, 0), EAGAIN);
	CHECK_OK("getattr_nonblock", mq_getattr(q, &got));
	CHECK("nonblock_flag", got.mq_flags == O_NONBLOCK, "flags %ld", got.mq_flags);
	struct pollfd pfd = {.fd = q, .events = POLLIN | POLLOUT};
	CHECK("poll_full", poll(&pfd, 1, 0) == 1 && pfd.revents == POLLIN, "revents %#x",
	      pfd.revents);
	while (mq_receive(q, buf, sizeof(buf), NULL) >= 0)
		;
	CHECK("poll_empty", poll(&pfd, 1, 0) == 1 && pfd.revents == POLLOUT, "revents %#x",
	      pfd.revents);
	struct mq_attr blocking = {.mq_flags = 0};
	CHECK_OK("setattr_blocking", mq_setattr(q, &blocking, NULL));

	/* A blocked receiver gets a message sent later. */
	pid_t child = fork();
	if (child == 0) {
		char in[64] = {0};
		ssize_t n = mq_receive(q, in, sizeof(in), NULL);
		_exit(n == 5 && strcmp(in, "hello") == 0 ? 0 : 1);
	}
	usleep(50 * 1000);
	CHECK_OK("send_to_blocked", mq_send(q, "hello", 5, 3));
	CHECK("blocked_receiver_got_it", wait_exit(child) == 0, "child failed");

	/* mq_notify: one signal when a message arrives on the empty queue. */
	struct sigaction sa = {.sa_sigaction = on_notify, .sa_flags = SA_SIGINFO};
	sigaction(SIGUSR1, &sa, NULL);
	struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
	ev.sigev_value.sival_int = 42;
	CHECK_OK("notify", mq_notify(q, &ev));
	CHECK("read_notify_line", pread(q, buf, sizeof(buf), 0) > 0 && strstr(buf, "SIGNO:10 ") != NULL,
	      "no SIGNO in '%s'", buf);
	child = fork();
	if (child == 0)
		_exit(mq_notify(q, &ev) == -1 && errno == EBUSY ? 0 : 1);
	CHECK("notify_busy_for_others", wait_exit(child) == 0, "child could register");
	sigset_t block, previous;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &previous);
	CHECK_OK("send_notifies", mq_send(q, "ping", 4, 0));
	sigsuspend(&previous);
	sigprocmask(SIG_SETMASK, &previous, NULL);
	CHECK("notify_signal", notified_signo == SIGUSR1 && notified_code == SI_MESGQ &&
				       notified_value == 42,
	      "signo %d code %d value %d", notified_signo, notified_code, notified_value);
	child = fork();
	if (child == 0)
		_exit(mq_notify(q, &ev) == 0 ? 0 : 1);
	CHECK("child_registers", wait_exit(child) == 0, "child could not register");
	CHECK_OK("notify_after_owner_exit", mq_notify(q, &ev));
	CHECK_OK("notify_remove", mq_notify(q, NULL));
	mq_receive(q, buf, sizeof(buf), NULL);

	/* Permissions as uid 1000. */
	child = fork();
	if (child == 0) {
		if (setgid(1000) != 0 || setuid(1000) != 0)
			_exit(100);
		if (mq_open(name, O_RDONLY) != (mqd_t)-1 || errno != EACCES)
			_exit(1);
		if (mq_unlink(name) != -1 || errno != EACCES)
			_exit(2);
		_exit(0);
	}
	CHECK("eacces_as_user", wait_exit(child) == 0, "child check failed");

	/* Descriptors: a write-only one can't receive; unlink leaves open ones working. */
	mqd_t wr = CHECK_OK("open_write_only", mq_open(name, O_WRONLY));
	CHECK_ERRNO("receive_write_only", mq_receive(wr, buf, sizeof(buf), NULL), EBADF);
	CHECK_ERRNO("send_not_a_queue", mq_send(0, "x", 1, 0), EBADF);
	CHECK_OK("unlink", mq_unlink(name));
	CHECK_ERRNO("unlink_again", mq_unlink(name), ENOENT);
	CHECK_OK("send_after_unlink", mq_send(wr, "still", 5, 0));
	CHECK("receive_after_unlink", mq_receive(q, buf, sizeof(buf), NULL) == 5, "no message");
	CHECK_ERRNO("open_after_unlink", mq_open(name, O_RDWR), ENOENT);
	mq_close(wr);
	mq_close(q);
	return check_finish();
}
