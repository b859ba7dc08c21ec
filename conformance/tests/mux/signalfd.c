/* signalfd: a blocked signal becomes readable as a signalfd_siginfo; poll sees it; the mask can
 * be changed; bad arguments are refused. */
#include "../check.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>

int main(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	CHECK_OK("block", sigprocmask(SIG_BLOCK, &set, NULL));
	int fd = CHECK_OK("signalfd", signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));

	struct signalfd_siginfo info;
	CHECK_ERRNO("read_nothing", read(fd, &info, sizeof info), EAGAIN);
	CHECK_ERRNO("read_short", read(fd, &info, sizeof info - 1), EINVAL);
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	CHECK("poll_nothing", poll(&pfd, 1, 0) == 0, "revents %#x", pfd.revents);

	CHECK_OK("kill", kill(getpid(), SIGUSR1));
	CHECK("poll_pending", poll(&pfd, 1, 1000) == 1 && pfd.revents == POLLIN, "revents %#x", pfd.revents);
	CHECK("read_info",
	      read(fd, &info, sizeof info) == sizeof info && info.ssi_signo == SIGUSR1 &&
		      info.ssi_code == SI_USER && info.ssi_pid == (uint32_t)getpid() && info.ssi_uid == getuid(),
	      "signo %u code %d pid %u", info.ssi_signo, info.ssi_code, info.ssi_pid);
	sigset_t pending;
	sigpending(&pending);
	CHECK("dequeued", sigismember(&pending, SIGUSR1) == 0, "SIGUSR1 still pending");

	/* Only signals of the mask: SIGUSR2 stays pending until the mask includes it. */
	sigaddset(&set, SIGUSR2);
	CHECK_OK("block_usr2", sigprocmask(SIG_BLOCK, &set, NULL));
	CHECK_OK("raise_usr2", raise(SIGUSR2));
	CHECK_ERRNO("not_in_mask", read(fd, &info, sizeof info), EAGAIN);
	CHECK("set_mask", signalfd(fd, &set, 0) == fd, "signalfd on the fd did not return it");
	CHECK("read_usr2", read(fd, &info, sizeof info) == sizeof info && info.ssi_signo == SIGUSR2,
	      "signo %u", info.ssi_signo);

	/* Several queued signals in one read. */
	union sigval value = {.sival_int = 42};
	CHECK_OK("sigqueue_1", sigqueue(getpid(), SIGUSR1, value));
	CHECK_OK("kill_2", kill(getpid(), SIGUSR2));
	struct signalfd_siginfo two[2] = {0};
	ssize_t got = read(fd, two, sizeof two);
	/* Both are process-wide: the lower-numbered comes first. */
	CHECK("read_two", got == sizeof two && two[0].ssi_signo == SIGUSR1 && two[0].ssi_int == 42 &&
				  two[0].ssi_code == SI_QUEUE && two[1].ssi_signo == SIGUSR2,
	      "read %zd signos %u %u int %d", got, two[0].ssi_signo, two[1].ssi_signo, two[0].ssi_int);

	CHECK_ERRNO("bad_size", syscall(SYS_signalfd4, -1, &set, 4, 0), EINVAL);
	CHECK_ERRNO("bad_flags", signalfd(-1, &set, 1), EINVAL);
	CHECK_ERRNO("not_signalfd", signalfd(0, &set, 0), EINVAL);
	CHECK_ERRNO("bad_fd", signalfd(999, &set, 0), EBADF);
	return check_finish();
}
