/* inotify on tmpfs: events for creating, writing, closing, renaming and removing files in a watched
 * directory and on a watched file, IN_ONESHOT, IN_MASK_ADD/IN_MASK_CREATE, rm_watch's
 * IN_IGNORED, coalescing, FIONREAD, poll, a too-small read buffer and queue overflow. */
#include "../check.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MAX_EVENTS 64

struct seen {
	int wd;
	unsigned mask;
	unsigned cookie;
	char name[256];
};

/* Reads every queued event (the fd is non-blocking) into `out`; returns how many. */
static int drain(int fd, struct seen *out, int max)
{
	char buf[65536] __attribute__((aligned(8)));
	int n = 0;
	for (;;) {
		ssize_t len = read(fd, buf, sizeof(buf));
		if (len <= 0)
			return n;
		for (char *p = buf; p < buf + len;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			if (n < max) {
				out[n].wd = ev->wd;
				out[n].mask = ev->mask;
				out[n].cookie = ev->cookie;
				snprintf(out[n].name, sizeof(out[n].name), "%s", ev->len ? ev->name : "");
			}
			n++;
			p += sizeof(*ev) + ev->len;
		}
	}
}

/* Whether events[from..] starts with an event (wd, mask, name). */
static int has(struct seen *events, int n, int wd, unsigned mask, const char *name)
{
	for (int i = 0; i < n; i++)
		if (events[i].wd == wd && events[i].mask == mask && strcmp(events[i].name, name) == 0)
			return 1;
	return 0;
}

static void describe(struct seen *events, int n)
{
	for (int i = 0; i < n && i < MAX_EVENTS; i++)
		printf("  event wd=%d mask=%#x cookie=%u name='%s'\n", events[i].wd, events[i].mask,
		       events[i].cookie, events[i].name);
}

int main(void)
{
	char dir[2048], file[4096], moved[4096], sub[4096], other[2048];
	tmpfs_scratch_path(dir, sizeof(dir), "inotify-watched");
	snprintf(file, sizeof(file), "%s/f", dir);
	snprintf(moved, sizeof(moved), "%s/g", dir);
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	tmpfs_scratch_path(other, sizeof(other), "inotify-other");
	mkdir(dir, 0755);
	mkdir(other, 0755);

	CHECK_ERRNO("init1_bad_flags", inotify_init1(0x1), EINVAL);
	int in = CHECK_OK("init1", inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
	CHECK("cloexec", fcntl(in, F_GETFD) == FD_CLOEXEC, "F_GETFD %d", fcntl(in, F_GETFD));
	char byte;
	CHECK_ERRNO("read_empty_eagain", read(in, &byte, 1), EAGAIN);
	CHECK_ERRNO("add_watch_no_events", inotify_add_watch(in, dir, 0), EINVAL);
	CHECK_ERRNO("add_watch_missing", inotify_add_watch(in, "/nonexistent/x", IN_ALL_EVENTS),
		    ENOENT);
	CHECK_ERRNO("add_watch_not_inotify", inotify_add_watch(1, dir, IN_ALL_EVENTS), EINVAL);
	CHECK_ERRNO("add_watch_both_mask_flags",
		    inotify_add_watch(in, dir, IN_CREATE | IN_MASK_ADD | IN_MASK_CREATE), EINVAL);

	int dwd = CHECK_OK("add_watch_dir", inotify_add_watch(in, dir, IN_ALL_EVENTS | IN_ONLYDIR));
	CHECK("watch_same_inode_same_wd", inotify_add_watch(in, dir, IN_ALL_EVENTS) == dwd,
	      "second add_watch gave another wd");
	CHECK_ERRNO("mask_create_existing", inotify_add_watch(in, dir, IN_CREATE | IN_MASK_CREATE),
		    EEXIST);

	struct pollfd pfd = {.fd = in, .events = POLLIN};
	CHECK("poll_empty", poll(&pfd, 1, 0) == 0, "poll said ready");

	int fd = open(file, O_WRONLY | O_CREAT | O_EXCL, 0644);
	CHECK("poll_ready", poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLIN), "revents %#x",
	      pfd.revents);
	int queued = -1;
	CHECK("fionread", ioctl(in, FIONREAD, &queued) == 0 && queued == 2 * (16 + 16),
	      "FIONREAD %d", queued);
	CHECK_ERRNO("read_too_small", read(in, &byte, 1), EINVAL);
	write(fd, "a", 1);
	write(fd, "b", 1);
	close(fd);

	struct seen ev[MAX_EVENTS];
	int n = drain(in, ev, MAX_EVENTS);
	int ok = n == 4 && has(ev, n, dwd, IN_CREATE, "f") && has(ev, n, dwd, IN_OPEN, "f") &&
		 ev[2].mask == IN_MODIFY && has(ev, n, dwd, IN_CLOSE_WRITE, "f");
	CHECK("create_open_modify_coalesced_close", ok, "%d events", n);
	if (!ok)
		describe(ev, n);

	int fwd = CHECK_OK("add_watch_file", inotify_add_watch(in, file, IN_ALL_EVENTS));
	CHECK_ERRNO("onlydir_on_file", inotify_add_watch(in, file, IN_ALL_EVENTS | IN_ONLYDIR),
		    ENOTDIR);
	fd = open(file, O_RDONLY);
	read(fd, &byte, 1);
	close(fd);
	n = drain(in, ev, MAX_EVENTS);
	ok = n == 6 && has(ev, n, fwd, IN_OPEN, "") && has(ev, n, dwd, IN_OPEN, "f") &&
	     has(ev, n, fwd, IN_ACCESS, "") && has(ev, n, dwd, IN_ACCESS, "f") &&
	     has(ev, n, fwd, IN_CLOSE_NOWRITE, "") && has(ev, n, dwd, IN_CLOSE_NOWRITE, "f");
	CHECK("read_events_on_file_and_dir", ok, "%d events", n);
	if (!ok)
		describe(ev, n);

	chmod(file, 0600);
	n = drain(in, ev, MAX_EVENTS);
	ok = n == 2 && has(ev, n, fwd, IN_ATTRIB, "") && has(ev, n, dwd, IN_ATTRIB, "f");
	CHECK("chmod_attrib", ok, "%d events", n);
	if (!ok)
		describe(ev, n);

	rename(file, moved);
	n = drain(in, ev, MAX_EVENTS);
	ok = n == 3 && has(ev, n, dwd, IN_MOVED_FROM, "f") && has(ev, n, dwd, IN_MOVED_TO, "g") &&
	     has(ev, n, fwd, IN_MOVE_SELF, "") && ev[0].cookie != 0 && ev[0].cookie == ev[1].cookie;
	CHECK("rename_moved_from_to_same_cookie", ok, "%d events", n);
	if (!ok)
		describe(ev, n);

	char across[4096];
	snprintf(across, sizeof(across), "%s/h", other);
	rename(moved, across);
	rename(across, moved);
	n = drain(in, ev, MAX_EVENTS);
	ok = n == 4 && has(ev, n, dwd, IN_MOVED_FROM, "g") && has(ev, n, dwd, IN_MOVED_TO, "g");
	CHECK("rename_across_directories", ok, "%d events", n);
	if (!ok)
		describe(ev, n);

	mkdir(sub, 0755);
	rmdir(sub);
	n = drain(in, ev, MAX_EVENTS);
	ok = n == 2 && has(ev, n, dwd, IN_CREATE | IN_ISDIR, "sub") &&
	     has(ev, n, dwd, IN_DELETE | IN_ISDIR, "sub");
	CHECK("mkdir_rmdir_isdir", ok, "%d events", n);
	if (!ok)
		describe(ev, n);

	/* Listing the watched directory: open, access (once for both getdents calls), close,
	 * all with IN_ISDIR. */
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	char dents[4096];
	while (syscall(SYS_getdents64, dfd, dents, sizeof(dents)) > 0)
		;
	close(dfd);
	n = drain(in, ev, MAX_EVENTS);
	ok = n == 3 && ev[0].wd == dwd && ev[0].mask == (IN_OPEN | IN_ISDIR) && ev[1].wd == dwd &&
	     ev[1].mask == (IN_ACCESS | IN_ISDIR) && ev[2].wd == dwd &&
	     ev[2].mask == (IN_CLOSE_NOWRITE | IN_ISDIR);
	CHECK("list_directory", ok, "%d events", n);
	if (!ok)
		describe(ev, n);

	/* A watched directory moved and removed: its self events carry no IN_ISDIR, its
	 * parent's do. */
	char sub2[4096];
	snprintf(sub2, sizeof(sub2), "%s/sub2", dir);
	mkdir(sub, 0755);
	int swd = inotify_add_watch(in, sub, IN_ALL_EVENTS);
	drain(in, ev, MAX_EVENTS);
	rename(sub, sub2);
	rmdir(sub2);
	n = drain(in, ev, MAX_EVENTS);
	ok = n == 6 && has(ev, n, dwd, IN_MOVED_FROM | IN_ISDIR, "sub") &&
	     has(ev, n, dwd, IN_MOVED_TO | IN_ISDIR, "sub2") && has(ev, n, swd, IN_MOVE_SELF, "") &&
	     has(ev, n, swd, IN_DELETE_SELF, "") && has(ev, n, swd, IN_IGNORED, "") &&
	     has(ev, n, dwd, IN_DELETE | IN_ISDIR, "sub2");
	CHECK("directory_self_events", ok, "%d events", n);
	if (!ok)
		describe(ev, n);

	unlink(moved);
	n = drain(in, ev, MAX_EVENTS);
	ok = n == 4 && has(ev, n, fwd, IN_ATTRIB, "") && has(ev, n, fwd, IN_DELETE_SELF, "") &&
	     has(ev, n, fwd, IN_IGNORED, "") && has(ev, n, dwd, IN_DELETE, "g") &&
	     ev[n - 1].mask == IN_DELETE;
	CHECK("unlink_delete_self_ignored", ok, "%d events", n);
	if (!ok)
		describe(ev, n);

	/* O_TRUNC: IN_OPEN then IN_MODIFY, the directory's watch first; a hard link: IN_ATTRIB
	 * for the file itself only, then IN_CREATE for the directory. */
	close(open(file, O_WRONLY | O_CREAT, 0644));
	fwd = inotify_add_watch(in, file, IN_ALL_EVENTS);
	drain(in, ev, MAX_EVENTS);
	fd = open(file, O_WRONLY | O_TRUNC);
	close(fd);
	link(file, moved);
	n = drain(in, ev, MAX_EVENTS);
	ok = n == 8 && ev[0].wd == dwd && ev[0].mask == IN_OPEN && ev[1].wd == fwd &&
	     ev[1].mask == IN_OPEN && ev[2].wd == dwd && ev[2].mask == IN_MODIFY &&
	     ev[3].wd == fwd && ev[3].mask == IN_MODIFY && ev[4].wd == dwd &&
	     ev[4].mask == IN_CLOSE_WRITE && ev[5].wd == fwd && ev[5].mask == IN_CLOSE_WRITE &&
	     ev[6].wd == fwd && ev[6].mask == IN_ATTRIB && ev[7].wd == dwd &&
	     ev[7].mask == IN_CREATE && strcmp(ev[7].name, "g") == 0;
	CHECK("trunc_and_link_order", ok, "%d events", n);
	if (!ok)
		describe(ev, n);
	unlink(moved);
	unlink(file);
	drain(in, ev, MAX_EVENTS);

	/* IN_EXCL_UNLINK: events of an unlinked, still open file reach only the watches
	 * without it. */
	int excl_in = inotify_init1(IN_NONBLOCK);
	inotify_add_watch(excl_in, dir, IN_MODIFY | IN_EXCL_UNLINK);
	fd = open(file, O_RDWR | O_CREAT, 0644);
	unlink(file);
	drain(in, ev, MAX_EVENTS);
	write(fd, "x", 1);
	close(fd);
	struct seen excl_ev[MAX_EVENTS];
	int excl_n = drain(excl_in, excl_ev, MAX_EVENTS);
	n = drain(in, ev, MAX_EVENTS);
	CHECK("excl_unlink", excl_n == 0 && has(ev, n, dwd, IN_MODIFY, "f"),
	      "%d events with IN_EXCL_UNLINK, %d without", excl_n, n);
	close(excl_in);

	/* A blocking read waits for the event another process causes. */
	int blocking = CHECK_OK("init_blocking", inotify_init());
	inotify_add_watch(blocking, dir, IN_CREATE);
	pid_t child = fork();
	if (child == 0) {
		close(open(file, O_WRONLY | O_CREAT, 0644));
		_exit(0);
	}
	char one[sizeof(struct inotify_event) + 32] __attribute__((aligned(8)));
	ssize_t got = read(blocking, one, sizeof(one));
	struct inotify_event *first = (struct inotify_event *)one;
	CHECK("blocking_read", got > 0 && first->mask == IN_CREATE && strcmp(first->name, "f") == 0,
	      "read %zd", got);
	waitpid(child, NULL, 0);
	close(blocking);
	unlink(file);
	drain(in, ev, MAX_EVENTS);

	/* An unlinked file still open: IN_DELETE_SELF only when the last descriptor closes,
	 * and the directory hears of the close of its former child. */
	close(open(file, O_WRONLY | O_CREAT, 0644));
	fwd = inotify_add_watch(in, file, IN_ALL_EVENTS);
	fd = open(file, O_RDONLY);
	drain(in, ev, MAX_EVENTS);
	unlink(file);
	n = drain(in, ev, MAX_EVENTS);
	ok = n == 2 && ev[0].wd == fwd && ev[0].mask == IN_ATTRIB && ev[1].wd == dwd &&
	     ev[1].mask == IN_DELETE;
	CHECK("unlink_open_file", ok, "%d events", n);
	if (!ok)
		describe(ev, n);
	close(fd);
	n = drain(in, ev, MAX_EVENTS);
	ok = n == 4 && has(ev, n, dwd, IN_CLOSE_NOWRITE, "f") &&
	     has(ev, n, fwd, IN_CLOSE_NOWRITE, "") && ev[2].wd == fwd &&
	     ev[2].mask == IN_DELETE_SELF && ev[3].wd == fwd && ev[3].mask == IN_IGNORED;
	CHECK("delete_self_at_last_close", ok, "%d events", n);
	if (!ok)
		describe(ev, n);

	/* IN_ONESHOT: one event, then the watch is gone (IN_IGNORED). */
	CHECK("oneshot_replaces_mask",
	      inotify_add_watch(in, dir, IN_CREATE | IN_ONESHOT) == dwd, "wd changed");
	close(open(file, O_WRONLY | O_CREAT, 0644));
	unlink(file);
	n = drain(in, ev, MAX_EVENTS);
	ok = n == 2 && ev[0].wd == dwd && ev[0].mask == IN_CREATE && ev[1].wd == dwd &&
	     ev[1].mask == IN_IGNORED;
	CHECK("oneshot", ok, "%d events", n);
	if (!ok)
		describe(ev, n);
	CHECK_ERRNO("rm_watch_gone_oneshot", inotify_rm_watch(in, dwd), EINVAL);

	/* IN_MASK_ADD adds to the mask; rm_watch queues IN_IGNORED. */
	dwd = CHECK_OK("watch_again", inotify_add_watch(in, dir, IN_CREATE));
	CHECK("mask_add_same_wd", inotify_add_watch(in, dir, IN_DELETE | IN_MASK_ADD) == dwd,
	      "wd changed");
	close(open(file, O_WRONLY | O_CREAT, 0644));
	unlink(file);
	CHECK_OK("rm_watch", inotify_rm_watch(in, dwd));
	close(open(file, O_WRONLY | O_CREAT, 0644));
	n = drain(in, ev, MAX_EVENTS);
	ok = n == 3 && ev[0].mask == IN_CREATE && ev[1].mask == IN_DELETE &&
	     ev[2].mask == IN_IGNORED && ev[2].wd == dwd;
	CHECK("mask_add_and_rm_watch_ignored", ok, "%d events", n);
	if (!ok)
		describe(ev, n);
	CHECK_ERRNO("rm_watch_unknown", inotify_rm_watch(in, 12345), EINVAL);

	/* Overflow: more distinct events than the queue holds end in one IN_Q_OVERFLOW. */
	dwd = CHECK_OK("watch_for_overflow", inotify_add_watch(in, dir, IN_MODIFY));
	char file2[4096];
	snprintf(file2, sizeof(file2), "%s/f2", dir);
	int a = open(file, O_WRONLY), b = open(file2, O_WRONLY | O_CREAT, 0644);
	for (int i = 0; i < 20000; i++) {
		write(a, "x", 1);
		write(b, "y", 1);
	}
	close(a);
	close(b);
	n = drain(in, ev, MAX_EVENTS);
	char buf[64] __attribute__((aligned(8)));
	CHECK_ERRNO("overflow_drained", read(in, buf, sizeof(buf)), EAGAIN);
	int overflows = 0;
	/* Re-generate to look at the tail: the last event read must be the overflow. */
	a = open(file, O_WRONLY);
	b = open(file2, O_WRONLY);
	for (int i = 0; i < 20000; i++) {
		write(a, "x", 1);
		write(b, "y", 1);
	}
	close(a);
	close(b);
	struct inotify_event last = {0};
	int total = 0;
	for (;;) {
		char big[4096] __attribute__((aligned(8)));
		ssize_t len = read(in, big, sizeof(big));
		if (len <= 0)
			break;
		for (char *p = big; p < big + len;) {
			struct inotify_event *e = (struct inotify_event *)p;
			last = *e;
			if (e->mask & IN_Q_OVERFLOW)
				overflows++;
			total++;
			p += sizeof(*e) + e->len;
		}
	}
	CHECK("overflow_once_at_end",
	      overflows == 1 && last.mask == IN_Q_OVERFLOW && last.wd == -1 && total > 1000,
	      "%d overflow events of %d, last mask %#x wd %d", overflows, total, last.mask, last.wd);
	CHECK("first_round_overflowed_too", n > 1000, "%d events", n);

	close(in);
	unlink(file);
	unlink(file2);
	rmdir(dir);
	rmdir(other);
	return check_finish();
}
