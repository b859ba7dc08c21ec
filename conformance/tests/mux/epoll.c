/* epoll: level-triggered, edge-triggered, one-shot, data passthrough, the ctl errors, an epoll
 * fd polled and nested, and a closed file's watch going away. */
#include "../check.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>

static int wait_one(int ep, struct epoll_event *ev, int timeout)
{
	return epoll_wait(ep, ev, 1, timeout);
}

int main(void)
{
	int ep = CHECK_OK("epoll_create1", epoll_create1(EPOLL_CLOEXEC));
	CHECK("epoll_cloexec", fcntl(ep, F_GETFD) == FD_CLOEXEC, "FD_CLOEXEC not set");
	CHECK_ERRNO("epoll_create_zero", epoll_create(0), EINVAL);
	CHECK_ERRNO("epoll_create1_bad_flags", epoll_create1(1), EINVAL);

	int p[2];
	CHECK_OK("pipe", pipe(p));
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1122334455667788ULL};
	CHECK_OK("ctl_add", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev));
	CHECK_ERRNO("ctl_add_twice", epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev), EEXIST);
	CHECK_ERRNO("ctl_mod_missing", epoll_ctl(ep, EPOLL_CTL_MOD, p[1], &ev), ENOENT);
	CHECK_ERRNO("ctl_del_missing", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL), ENOENT);
	CHECK_ERRNO("ctl_self", epoll_ctl(ep, EPOLL_CTL_ADD, ep, &ev), EINVAL);
	CHECK_ERRNO("ctl_not_epoll", epoll_ctl(p[0], EPOLL_CTL_ADD, p[1], &ev), EINVAL);
	CHECK_ERRNO("ctl_bad_fd", epoll_ctl(ep, EPOLL_CTL_ADD, 999, &ev), EBADF);
	CHECK_ERRNO("ctl_bad_op", epoll_ctl(ep, 99, p[1], &ev), EINVAL);
	CHECK_ERRNO("ctl_efault", epoll_ctl(ep, EPOLL_CTL_ADD, p[1], (struct epoll_event *)8), EFAULT);
	char path[4096];
	int regular = open(scratch_path(path, sizeof path, "regular"), O_CREAT | O_RDWR, 0600);
	CHECK_ERRNO("ctl_regular_file", epoll_ctl(ep, EPOLL_CTL_ADD, regular, &ev), EPERM);
	CHECK_ERRNO("wait_zero_max", epoll_wait(ep, &ev, 0, 0), EINVAL);
	CHECK_ERRNO("wait_not_epoll", epoll_wait(p[0], &ev, 1, 0), EINVAL);

	struct epoll_event out = {0};
	CHECK("lt_empty", wait_one(ep, &out, 0) == 0, "reported an empty pipe");
	CHECK_OK("write", write(p[1], "ab", 2));
	CHECK("lt_ready", wait_one(ep, &out, 1000) == 1 && out.events == EPOLLIN &&
				  out.data.u64 == 0x1122334455667788ULL,
	      "events %#x data %#llx", out.events, (unsigned long long)out.data.u64);
	CHECK("lt_again", wait_one(ep, &out, 0) == 1, "level-triggered not reported again");

	struct pollfd pfd = {.fd = ep, .events = POLLIN};
	CHECK("epoll_fd_pollable", poll(&pfd, 1, 0) == 1 && pfd.revents == POLLIN, "revents %#x", pfd.revents);

	/* Edge-triggered: once per new write. */
	ev.events = EPOLLIN | EPOLLET;
	ev.data.fd = p[0];
	CHECK_OK("ctl_mod_et", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
	CHECK("et_first", wait_one(ep, &out, 0) == 1 && out.data.fd == p[0], "not reported after MOD");
	CHECK("et_no_repeat", wait_one(ep, &out, 0) == 0, "edge-triggered reported twice");
	CHECK_OK("write_more", write(p[1], "c", 1));
	CHECK("et_new_edge", wait_one(ep, &out, 1000) == 1, "new data not reported");
	CHECK("et_quiet_again", wait_one(ep, &out, 0) == 0, "edge-triggered reported twice");

	/* One-shot: reported once until re-armed. */
	ev.events = EPOLLIN | EPOLLONESHOT;
	CHECK_OK("ctl_mod_oneshot", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
	CHECK("oneshot_first", wait_one(ep, &out, 0) == 1, "not reported");
	CHECK_OK("write_oneshot", write(p[1], "d", 1));
	CHECK("oneshot_disabled", wait_one(ep, &out, 0) == 0, "one-shot reported again");
	CHECK_OK("ctl_rearm", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
	CHECK("oneshot_rearmed", wait_one(ep, &out, 0) == 1, "re-armed watch not reported");

	/* Several ready files and a small maxevents: each gets its turn. */
	ev.events = EPOLLOUT;
	ev.data.u32 = 1;
	CHECK_OK("ctl_add_writer", epoll_ctl(ep, EPOLL_CTL_ADD, p[1], &ev));
	ev.events = EPOLLIN;
	ev.data.u32 = 0;
	CHECK_OK("ctl_mod_lt", epoll_ctl(ep, EPOLL_CTL_MOD, p[0], &ev));
	int seen = 0;
	for (int i = 0; i < 4; i++) {
		if (wait_one(ep, &out, 0) == 1)
			seen |= 1 << out.data.u32;
	}
	CHECK("round_robin", seen == 3, "seen %#x", seen);
	struct epoll_event many[8];
	CHECK("wait_two", epoll_wait(ep, many, 8, 0) == 2, "not both reported");

	/* Nesting: an epoll watching an epoll; a loop is refused. */
	int outer = CHECK_OK("epoll_create_outer", epoll_create(1));
	ev.events = EPOLLIN;
	CHECK_OK("ctl_nested", epoll_ctl(outer, EPOLL_CTL_ADD, ep, &ev));
	CHECK("nested_ready", wait_one(outer, &out, 0) == 1 && out.events == EPOLLIN, "outer not ready");
	CHECK_ERRNO("ctl_loop", epoll_ctl(ep, EPOLL_CTL_ADD, outer, &ev), ELOOP);

	/* DEL, then closing a watched file's last fd removes its watch. */
	CHECK_OK("ctl_del", epoll_ctl(ep, EPOLL_CTL_DEL, p[1], NULL));
	int dup_reader = dup(p[0]);
	close(p[0]);
	CHECK("watch_survives_dup", wait_one(ep, &out, 0) == 1, "watch went while a dup was open");
	close(dup_reader);
	CHECK("watch_gone_on_close", wait_one(ep, &out, 0) == 0, "closed file still reported");

	/* The writer goes: hang-up is reported though not asked for. */
	int q[2];
	CHECK_OK("pipe2", pipe(q));
	ev.events = EPOLLIN;
	CHECK_OK("ctl_add_hup", epoll_ctl(ep, EPOLL_CTL_ADD, q[0], &ev));
	close(q[1]);
	CHECK("hup", wait_one(ep, &out, 1000) == 1 && out.events == EPOLLHUP, "events %#x", out.events);
	return check_finish();
}
