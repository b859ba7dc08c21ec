/* AF_UNIX names: bind/listen/accept/connect over an abstract name and a path, addresses,
 * EADDRINUSE/ECONNREFUSED/ENOENT/EPROTOTYPE, the backlog (EAGAIN when full and nonblocking),
 * a blocking accept woken by another process, datagrams to a bound path. */
#include "../check.h"

#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static socklen_t abstract_addr(struct sockaddr_un *addr, const char *tag)
{
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	/* Abstract names are host-wide natively: the pid keeps parallel runs apart. */
	int n = snprintf(addr->sun_path + 1, sizeof(addr->sun_path) - 1, "rvisor-conf-%s-%d", tag, getpid());
	return offsetof(struct sockaddr_un, sun_path) + 1 + n;
}

static socklen_t path_addr(struct sockaddr_un *addr, const char *name)
{
	char path[100];
	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	scratch_path(path, sizeof(path), name);
	unlink(path);
	snprintf(addr->sun_path, sizeof(addr->sun_path), "%s", path);
	return offsetof(struct sockaddr_un, sun_path) + strlen(addr->sun_path) + 1;
}

/* A listener, a client connected to it and the accepted end, checked end to end. */
static void round_trip(const char *kind, struct sockaddr_un *addr, socklen_t len)
{
	char label[64], buf[16];
	int server = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(label, sizeof(label), "%s_bind", kind);
	CHECK_OK(label, bind(server, (struct sockaddr *)addr, len));
	snprintf(label, sizeof(label), "%s_listen", kind);
	CHECK_OK(label, listen(server, 4));

	struct sockaddr_un got;
	socklen_t got_len = sizeof(got);
	snprintf(label, sizeof(label), "%s_getsockname", kind);
	CHECK(label, getsockname(server, (struct sockaddr *)&got, &got_len) == 0 && got_len == len && memcmp(&got, addr, len) == 0,
	      "len %u want %u", got_len, len);

	int other = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(label, sizeof(label), "%s_addrinuse", kind);
	CHECK_ERRNO(label, bind(other, (struct sockaddr *)addr, len), EADDRINUSE);
	close(other);

	int client = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(label, sizeof(label), "%s_connect", kind);
	CHECK_OK(label, connect(client, (struct sockaddr *)addr, len));
	snprintf(label, sizeof(label), "%s_isconn", kind);
	CHECK_ERRNO(label, connect(client, (struct sockaddr *)addr, len), EISCONN);
	struct pollfd pfd = {.fd = server, .events = POLLIN};
	snprintf(label, sizeof(label), "%s_listener_readable", kind);
	CHECK(label, poll(&pfd, 1, 0) == 1 && pfd.revents == POLLIN, "revents %#x", pfd.revents);

	struct sockaddr_un peer;
	socklen_t peer_len = sizeof(peer);
	int accepted = accept4(server, (struct sockaddr *)&peer, &peer_len, SOCK_CLOEXEC);
	snprintf(label, sizeof(label), "%s_accept", kind);
	CHECK(label, accepted >= 0 && peer_len == sizeof(sa_family_t), "fd %d len %u", accepted, peer_len);
	snprintf(label, sizeof(label), "%s_accept_cloexec", kind);
	CHECK(label, fcntl(accepted, F_GETFD) == FD_CLOEXEC, "F_GETFD %d", fcntl(accepted, F_GETFD));
	got_len = sizeof(got);
	snprintf(label, sizeof(label), "%s_getpeername", kind);
	CHECK(label, getpeername(client, (struct sockaddr *)&got, &got_len) == 0 && got_len == len && memcmp(&got, addr, len) == 0,
	      "len %u", got_len);
	got_len = sizeof(got);
	snprintf(label, sizeof(label), "%s_accepted_name", kind);
	CHECK(label, getsockname(accepted, (struct sockaddr *)&got, &got_len) == 0 && got_len == len, "len %u", got_len);

	snprintf(label, sizeof(label), "%s_data", kind);
	CHECK(label, write(client, "ping", 4) == 4 && read(accepted, buf, sizeof(buf)) == 4 && memcmp(buf, "ping", 4) == 0, "ping");
	struct ucred cred;
	socklen_t cred_len = sizeof(cred);
	snprintf(label, sizeof(label), "%s_peercred", kind);
	CHECK(label, getsockopt(accepted, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0 && cred.pid == getpid(), "pid %d", cred.pid);

	fcntl(server, F_SETFL, O_NONBLOCK);
	snprintf(label, sizeof(label), "%s_accept_eagain", kind);
	CHECK_ERRNO(label, accept(server, NULL, NULL), EAGAIN);
	close(server);
	int late = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(label, sizeof(label), "%s_refused_after_close", kind);
	CHECK_ERRNO(label, connect(late, (struct sockaddr *)addr, len), ECONNREFUSED);
	close(late);
	close(client);
	close(accepted);
}

static void backlog(void)
{
	struct sockaddr_un addr;
	socklen_t len = abstract_addr(&addr, "backlog");
	int server = socket(AF_UNIX, SOCK_STREAM, 0);
	bind(server, (struct sockaddr *)&addr, len);
	CHECK_OK("listen_backlog0", listen(server, 0));
	int first = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK_OK("backlog_first", connect(first, (struct sockaddr *)&addr, len));
	int second = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	CHECK_ERRNO("backlog_full", connect(second, (struct sockaddr *)&addr, len), EAGAIN);
	int accepted = CHECK_OK("backlog_accept", accept(server, NULL, NULL));
	CHECK_OK("backlog_room_again", connect(second, (struct sockaddr *)&addr, len));
	close(first);
	close(second);
	close(accepted);
	close(server);
}

static void blocking_accept(void)
{
	struct sockaddr_un addr;
	socklen_t len = abstract_addr(&addr, "blocking");
	int server = socket(AF_UNIX, SOCK_STREAM, 0);
	bind(server, (struct sockaddr *)&addr, len);
	listen(server, 1);
	pid_t child = fork();
	if (child == 0) {
		usleep(50 * 1000);
		int c = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(c, (struct sockaddr *)&addr, len) != 0 || write(c, "hi", 2) != 2)
			_exit(1);
		_exit(0);
	}
	int accepted = CHECK_OK("blocking_accept", accept(server, NULL, NULL));
	char buf[4];
	CHECK("blocking_read", read(accepted, buf, sizeof(buf)) == 2, "read");
	CHECK("eof_after_child", read(accepted, buf, sizeof(buf)) == 0, "no EOF");
	int status;
	CHECK("client_done", waitpid(child, &status, 0) == child && status == 0, "status %#x", status);
	close(accepted);
	close(server);
}

static void errors(void)
{
	struct sockaddr_un addr;
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_ERRNO("listen_unbound", listen(s, 1), EINVAL);
	socklen_t len = path_addr(&addr, "missing");
	CHECK_ERRNO("connect_missing", connect(s, (struct sockaddr *)&addr, len), ENOENT);
	char file[100];
	scratch_path(file, sizeof(file), "plain");
	close(open(file, O_CREAT | O_WRONLY, 0644));
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", file);
	CHECK_ERRNO("connect_not_socket", connect(s, (struct sockaddr *)&addr, len), ECONNREFUSED);
	CHECK_ERRNO("bind_existing_file", bind(s, (struct sockaddr *)&addr, len), EADDRINUSE);
	CHECK_ERRNO("connect_family_only", connect(s, (struct sockaddr *)&addr, sizeof(sa_family_t)), EINVAL);
	addr.sun_family = AF_INET;
	CHECK_ERRNO("bind_wrong_family", bind(s, (struct sockaddr *)&addr, len), EINVAL);

	/* Autobind: a family-only bind gets an abstract name. */
	addr.sun_family = AF_UNIX;
	CHECK_OK("autobind", bind(s, (struct sockaddr *)&addr, sizeof(sa_family_t)));
	struct sockaddr_un got;
	socklen_t got_len = sizeof(got);
	getsockname(s, (struct sockaddr *)&got, &got_len);
	CHECK("autobind_abstract", got_len == offsetof(struct sockaddr_un, sun_path) + 6 && got.sun_path[0] == 0, "len %u", got_len);
	CHECK_ERRNO("bind_twice", bind(s, (struct sockaddr *)&got, got_len), EINVAL);

	struct sockaddr_un stream_addr;
	len = abstract_addr(&stream_addr, "prototype");
	int server = socket(AF_UNIX, SOCK_STREAM, 0);
	bind(server, (struct sockaddr *)&stream_addr, len);
	listen(server, 1);
	int dgram = socket(AF_UNIX, SOCK_DGRAM, 0);
	/* Abstract names are per socket type: another type's name is no listener at all. */
	CHECK_ERRNO("connect_wrong_type_abstract", connect(dgram, (struct sockaddr *)&stream_addr, len), ECONNREFUSED);
	int same_name = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK_OK("abstract_name_per_type", bind(same_name, (struct sockaddr *)&stream_addr, len));
	close(same_name);
	CHECK_ERRNO("dgram_listen", listen(dgram, 1), EOPNOTSUPP);
	CHECK_ERRNO("dgram_unconnected", send(dgram, "x", 1, 0), ENOTCONN);
	CHECK_ERRNO("stream_unconnected", send(s, "x", 1, MSG_NOSIGNAL), ENOTCONN);
	close(dgram);
	close(server);
	close(s);
}

static void dgram_path(void)
{
	struct sockaddr_un addr, from;
	socklen_t len = path_addr(&addr, "dgram");
	int receiver = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK_OK("dgram_bind_path", bind(receiver, (struct sockaddr *)&addr, len));
	struct stat st;
	CHECK("socket_file", stat(addr.sun_path, &st) == 0 && S_ISSOCK(st.st_mode), "mode %o", st.st_mode);
	CHECK_ERRNO("open_socket_file", open(addr.sun_path, O_RDWR), ENXIO);
	int stream = socket(AF_UNIX, SOCK_STREAM, 0);
	CHECK_ERRNO("connect_wrong_type_path", connect(stream, (struct sockaddr *)&addr, len), EPROTOTYPE);
	close(stream);
	int sender = socket(AF_UNIX, SOCK_DGRAM, 0);
	CHECK("sendto_path", sendto(sender, "abc", 3, 0, (struct sockaddr *)&addr, len) == 3, "sendto");
	char buf[8];
	socklen_t from_len = sizeof(from);
	CHECK("recvfrom_unnamed", recvfrom(receiver, buf, sizeof(buf), 0, (struct sockaddr *)&from, &from_len) == 3 && from_len == 0,
	      "from_len %u", from_len);
	struct sockaddr_un sender_addr;
	socklen_t sender_len = abstract_addr(&sender_addr, "sender");
	bind(sender, (struct sockaddr *)&sender_addr, sender_len);
	sendto(sender, "def", 3, 0, (struct sockaddr *)&addr, len);
	from_len = sizeof(from);
	CHECK("recvfrom_named", recvfrom(receiver, buf, sizeof(buf), 0, (struct sockaddr *)&from, &from_len) == 3 && from_len == sender_len &&
				  memcmp(&from, &sender_addr, sender_len) == 0,
	      "from_len %u", from_len);
	CHECK_OK("unlink_socket_file", unlink(addr.sun_path));
	CHECK_ERRNO("sendto_unlinked", sendto(sender, "x", 1, 0, (struct sockaddr *)&addr, len), ENOENT);
	close(sender);
	close(receiver);
}

int main(void)
{
	struct sockaddr_un addr;
	socklen_t len = abstract_addr(&addr, "roundtrip");
	round_trip("abstract", &addr, len);
	len = path_addr(&addr, "listener");
	round_trip("path", &addr, len);
	backlog();
	blocking_accept();
	errors();
	dgram_path();
	return check_finish();
}
