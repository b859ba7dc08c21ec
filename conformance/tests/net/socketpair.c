/* AF_UNIX socketpairs: stream, datagram and seqpacket semantics, nonblocking EAGAIN, poll
 * readiness, shutdown (EOF, EPIPE and SIGPIPE, MSG_NOSIGNAL), options and peer credentials. */
#include "../check.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/un.h>

static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static short revents(int fd, short events)
{
	struct pollfd pfd = {.fd = fd, .events = events};
	return poll(&pfd, 1, 0) < 0 ? -1 : pfd.revents;
}

static int int_option(int fd, int name)
{
	int value = -1;
	socklen_t len = sizeof(value);
	return getsockopt(fd, SOL_SOCKET, name, &value, &len) == 0 ? value : -1;
}

static void stream(void)
{
	int sv[2];
	char buf[64];
	CHECK_OK("stream_pair", socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	struct stat st;
	CHECK("fstat_sock", fstat(sv[0], &st) == 0 && S_ISSOCK(st.st_mode), "mode %o", st.st_mode);
	CHECK("cloexec", fcntl(sv[0], F_GETFD) == FD_CLOEXEC, "F_GETFD %d", fcntl(sv[0], F_GETFD));
	CHECK("so_type", int_option(sv[0], SO_TYPE) == SOCK_STREAM, "%d", int_option(sv[0], SO_TYPE));
	CHECK("so_domain", int_option(sv[0], SO_DOMAIN) == AF_UNIX, "%d", int_option(sv[0], SO_DOMAIN));
	CHECK("so_error", int_option(sv[0], SO_ERROR) == 0, "%d", int_option(sv[0], SO_ERROR));
	CHECK("so_acceptconn", int_option(sv[0], SO_ACCEPTCONN) == 0, "%d", int_option(sv[0], SO_ACCEPTCONN));
	CHECK("so_sndbuf", int_option(sv[0], SO_SNDBUF) > 0, "%d", int_option(sv[0], SO_SNDBUF));
	CHECK_ERRNO("unknown_option", getsockopt(sv[0], SOL_SOCKET, 9999, buf, &(socklen_t){4}), ENOPROTOOPT);
	CHECK_OK("reuseaddr", setsockopt(sv[0], SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int)));
	CHECK("reuseaddr_get", int_option(sv[0], SO_REUSEADDR) == 1, "%d", int_option(sv[0], SO_REUSEADDR));

	struct ucred cred;
	socklen_t len = sizeof(cred);
	CHECK_OK("peercred", getsockopt(sv[0], SOL_SOCKET, SO_PEERCRED, &cred, &len));
	CHECK("peercred_value", len == sizeof(cred) && cred.pid == getpid() && cred.uid == geteuid() && cred.gid == getegid(),
	      "len %u pid %d uid %u", len, cred.pid, cred.uid);

	struct sockaddr_un addr;
	len = sizeof(addr);
	CHECK("pair_unnamed", getsockname(sv[0], (struct sockaddr *)&addr, &len) == 0 && len == sizeof(sa_family_t) && addr.sun_family == AF_UNIX,
	      "len %u", len);
	len = sizeof(addr);
	CHECK("pair_peer_unnamed", getpeername(sv[0], (struct sockaddr *)&addr, &len) == 0 && len == sizeof(sa_family_t), "len %u", len);

	CHECK("poll_idle", revents(sv[0], POLLIN | POLLOUT) == POLLOUT, "revents %#x", revents(sv[0], POLLIN | POLLOUT));
	CHECK_ERRNO("dontwait_empty", recv(sv[0], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);
	CHECK("write", write(sv[0], "hello ", 6) == 6, "short write");
	CHECK("send", send(sv[0], "world", 5, 0) == 5, "short send");
	CHECK("poll_readable", revents(sv[1], POLLIN | POLLOUT) == (POLLIN | POLLOUT), "revents %#x", revents(sv[1], POLLIN | POLLOUT));
	int avail = -1;
	CHECK("fionread", ioctl(sv[1], FIONREAD, &avail) == 0 && avail == 11, "avail %d", avail);
	CHECK("peek", recv(sv[1], buf, 5, MSG_PEEK) == 5 && memcmp(buf, "hello", 5) == 0, "peek");
	CHECK("stream_merges", read(sv[1], buf, sizeof(buf)) == 11 && memcmp(buf, "hello world", 11) == 0, "read");

	/* SHUT_WR: the peer reads EOF; our writes fail with EPIPE and SIGPIPE. */
	CHECK_OK("shutdown_wr", shutdown(sv[0], SHUT_WR));
	CHECK("eof_after_shutdown", read(sv[1], buf, sizeof(buf)) == 0, "not EOF");
	CHECK("poll_rdhup", (revents(sv[1], POLLIN | POLLRDHUP) & (POLLIN | POLLRDHUP)) == (POLLIN | POLLRDHUP), "revents %#x",
	      revents(sv[1], POLLIN | POLLRDHUP));
	signal(SIGPIPE, on_sigpipe);
	CHECK_ERRNO("epipe", write(sv[0], "x", 1), EPIPE);
	CHECK("sigpipe", sigpipes == 1, "sigpipes %d", (int)sigpipes);
	CHECK_ERRNO("epipe_nosignal", send(sv[0], "x", 1, MSG_NOSIGNAL), EPIPE);
	CHECK("no_sigpipe", sigpipes == 1, "sigpipes %d", (int)sigpipes);
	CHECK("reverse_still_open", write(sv[1], "back", 4) == 4 && read(sv[0], buf, 4) == 4, "reverse direction");
	CHECK_ERRNO("bad_how", shutdown(sv[0], 7), EINVAL);

	/* Closing one end: the other sees EOF, POLLHUP, and EPIPE on writes. */
	close(sv[0]);
	CHECK("poll_hup", (revents(sv[1], POLLIN) & POLLHUP) == POLLHUP, "revents %#x", revents(sv[1], POLLIN));
	CHECK("eof_after_close", read(sv[1], buf, sizeof(buf)) == 0, "not EOF");
	CHECK_ERRNO("epipe_after_close", send(sv[1], "x", 1, MSG_NOSIGNAL), EPIPE);
	close(sv[1]);
	signal(SIGPIPE, SIG_DFL);
}

static void nonblocking_fill(void)
{
	int sv[2];
	CHECK_OK("nonblock_pair", socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv));
	CHECK("nonblock_flag", fcntl(sv[0], F_GETFL) & O_NONBLOCK, "no O_NONBLOCK");
	static char chunk[65536];
	long total = 0;
	ssize_t n;
	while ((n = send(sv[0], chunk, sizeof(chunk), 0)) > 0)
		total += n;
	CHECK("fill_eagain", n == -1 && errno == EAGAIN && total > 0, "n %zd errno %d total %ld", n, errno, total);
	CHECK("full_not_writable", (revents(sv[0], POLLOUT) & POLLOUT) == 0, "revents %#x", revents(sv[0], POLLOUT));
	long drained = 0;
	while ((n = recv(sv[1], chunk, sizeof(chunk), 0)) > 0)
		drained += n;
	CHECK("drain_all", drained == total, "drained %ld of %ld", drained, total);
	CHECK("writable_again", revents(sv[0], POLLOUT) == POLLOUT, "revents %#x", revents(sv[0], POLLOUT));
	close(sv[0]);
	close(sv[1]);
}

static void datagrams(int type, const char *name)
{
	int sv[2];
	char buf[64], label[64];
	snprintf(label, sizeof(label), "%s_pair", name);
	CHECK_OK(label, socketpair(AF_UNIX, type, 0, sv));
	send(sv[0], "first", 5, 0);
	send(sv[0], "second", 6, 0);
	send(sv[0], "", 0, 0);
	snprintf(label, sizeof(label), "%s_boundaries", name);
	CHECK(label, recv(sv[1], buf, sizeof(buf), 0) == 5, "first message");
	snprintf(label, sizeof(label), "%s_trunc", name);
	ssize_t n = recv(sv[1], buf, 3, MSG_TRUNC);
	CHECK(label, n == 6 && memcmp(buf, "sec", 3) == 0, "n %zd", n);
	snprintf(label, sizeof(label), "%s_empty_message", name);
	CHECK(label, recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) == 0, "empty datagram");
	snprintf(label, sizeof(label), "%s_eagain", name);
	CHECK_ERRNO(label, recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), EAGAIN);

	struct iovec iov = {.iov_base = buf, .iov_len = 2};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	send(sv[0], "truncated", 9, 0);
	snprintf(label, sizeof(label), "%s_msg_trunc_flag", name);
	n = recvmsg(sv[1], &msg, 0);
	CHECK(label, n == 2 && (msg.msg_flags & MSG_TRUNC), "n %zd flags %#x", n, msg.msg_flags);
	close(sv[0]);
	snprintf(label, sizeof(label), "%s_after_close", name);
	if (type == SOCK_SEQPACKET)
		CHECK(label, recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT) == 0, "seqpacket EOF");
	else
		CHECK_ERRNO(label, send(sv[1], "x", 1, MSG_DONTWAIT), ECONNREFUSED);
	close(sv[1]);
}

static void bad_arguments(void)
{
	int sv[2];
	int *volatile unmapped = (int *)8;
	CHECK_ERRNO("bad_type", socket(AF_UNIX, SOCK_PACKET, 0), ESOCKTNOSUPPORT);
	CHECK_ERRNO("bad_protocol", socket(AF_UNIX, SOCK_STREAM, 5), EPROTONOSUPPORT);
	CHECK_ERRNO("bad_flags", socket(AF_UNIX, SOCK_STREAM | 0x40, 0), EINVAL);
	CHECK_ERRNO("pair_bad_pointer", socketpair(AF_UNIX, SOCK_STREAM, 0, unmapped), EFAULT);
	CHECK_ERRNO("not_a_socket", shutdown(STDIN_FILENO, SHUT_RD), ENOTSOCK);
	CHECK_ERRNO("bad_fd", listen(999, 1), EBADF);
	CHECK_OK("raw_pair", socketpair(AF_UNIX, SOCK_RAW, 0, sv));
	int type = int_option(sv[0], SO_TYPE);
	CHECK("raw_is_dgram", type == SOCK_DGRAM, "type %d", type);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	stream();
	nonblocking_fill();
	datagrams(SOCK_DGRAM, "dgram");
	datagrams(SOCK_SEQPACKET, "seqpacket");
	bad_arguments();
	return check_finish();
}
