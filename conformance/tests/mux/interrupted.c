/* ppoll, pselect, epoll_pwait and poll interrupted by a signal with a handler: EINTR (never
 * restarted), the temporary mask in force while the handler runs, the old mask back after. */
#include "../check.h"

#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/time.h>
#include <sys/wait.h>

static volatile sig_atomic_t handled;
static volatile sig_atomic_t usr2_blocked_in_handler;

static void handler(int signo)
{
	(void)signo;
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	usr2_blocked_in_handler = sigismember(&now, SIGUSR2);
	handled++;
}

/* A child sends SIGUSR1 to this process 50 ms from now. */
static void signal_me_soon(void)
{
	pid_t parent = getpid();
	if (fork() == 0) {
		usleep(50 * 1000);
		kill(parent, SIGUSR1);
		_exit(0);
	}
}

static int usr1_blocked(void)
{
	sigset_t now;
	sigprocmask(SIG_BLOCK, NULL, &now);
	return sigismember(&now, SIGUSR1);
}

int main(void)
{
	struct sigaction action = {.sa_handler = handler, .sa_flags = SA_RESTART};
	sigemptyset(&action.sa_mask);
	CHECK_OK("sigaction", sigaction(SIGUSR1, &action, NULL));
	sigset_t block, wait_mask;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	CHECK_OK("block", sigprocmask(SIG_BLOCK, &block, NULL));

	int p[2];
	CHECK_OK("pipe", pipe(p));
	struct pollfd pfd = {.fd = p[0], .events = POLLIN};
	/* The temporary mask unblocks SIGUSR1 (pending already) and blocks SIGUSR2. */
	sigemptyset(&wait_mask);
	sigaddset(&wait_mask, SIGUSR2);

	CHECK_OK("raise_ppoll", raise(SIGUSR1));
	CHECK_ERRNO("ppoll_eintr", ppoll(&pfd, 1, NULL, &wait_mask), EINTR);
	CHECK("ppoll_handled", handled == 1, "handled %d", handled);
	CHECK("ppoll_mask_in_handler", usr2_blocked_in_handler == 1, "the temporary mask was not in force");
	CHECK("ppoll_mask_restored", usr1_blocked() == 1, "SIGUSR1 not blocked after ppoll");

	CHECK_OK("raise_pselect", raise(SIGUSR1));
	fd_set rd;
	FD_ZERO(&rd);
	FD_SET(p[0], &rd);
	CHECK_ERRNO("pselect_eintr", pselect(p[0] + 1, &rd, NULL, NULL, NULL, &wait_mask), EINTR);
	CHECK("pselect_handled", handled == 2, "handled %d", handled);
	CHECK("pselect_mask_restored", usr1_blocked() == 1, "SIGUSR1 not blocked after pselect");

	int ep = CHECK_OK("epoll_create1", epoll_create1(0));
	struct epoll_event ev = {.events = EPOLLIN};
	CHECK_OK("epoll_ctl", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	CHECK_OK("raise_epoll", raise(SIGUSR1));
	CHECK_ERRNO("epoll_pwait_eintr", epoll_pwait(ep, &ev, 1, -1, &wait_mask), EINTR);
	CHECK("epoll_pwait_handled", handled == 3, "handled %d", handled);
	CHECK("epoll_pwait_mask_restored", usr1_blocked() == 1, "SIGUSR1 not blocked after epoll_pwait");

	/* Ready files win: no EINTR, and the mask comes back at once. */
	CHECK_OK("write", write(p[1], "x", 1));
	CHECK("ppoll_ready", ppoll(&pfd, 1, NULL, &wait_mask) == 1, "ppoll on a ready pipe");
	CHECK("ppoll_ready_mask", usr1_blocked() == 1, "mask not restored after a ready ppoll");
	char c;
	CHECK_OK("drain", read(p[0], &c, 1));

	/* poll and select fail with EINTR even under SA_RESTART; the signal comes from a child. */
	CHECK_OK("unblock", sigprocmask(SIG_UNBLOCK, &block, NULL));
	signal_me_soon();
	CHECK_ERRNO("poll_eintr", poll(&pfd, 1, 5000), EINTR);
	signal_me_soon();
	struct timeval tv = {.tv_sec = 5};
	FD_ZERO(&rd);
	FD_SET(p[0], &rd);
	CHECK_ERRNO("select_eintr", select(p[0] + 1, &rd, NULL, NULL, &tv), EINTR);
	CHECK("select_eintr_time_left", tv.tv_sec < 5 && tv.tv_sec >= 3, "tv_sec %ld", (long)tv.tv_sec);
	while (wait(NULL) > 0)
		;
	return check_finish();
}
