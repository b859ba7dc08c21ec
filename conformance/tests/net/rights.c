/* SCM_RIGHTS and SCM_CREDENTIALS: passing a pipe end to another process, MSG_CMSG_CLOEXEC,
 * MSG_CTRUNC when the control buffer is short, credentials with SO_PASSCRED, MSG_WAITALL. */
#include "../check.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

static int send_fds(int sock, const int *fds, int count, const char *data)
{
	char control[CMSG_SPACE(sizeof(int) * 4)];
	memset(control, 0, sizeof(control));
	struct iovec iov = {.iov_base = (void *)data, .iov_len = strlen(data)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = CMSG_SPACE(sizeof(int) * count)};
	struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int) * count);
	memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * count);
	return sendmsg(sock, &msg, 0);
}

/* Receives into `fds` (up to `max`); returns the count, or -1. `flags` go to recvmsg. */
static int recv_fds(int sock, int *fds, int max, size_t control_len, int flags, int *msg_flags)
{
	char data[16];
	char control[256];
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = control_len};
	if (recvmsg(sock, &msg, flags) < 0)
		return -1;
	*msg_flags = msg.msg_flags;
	int count = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		int n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (int i = 0; i < n && count < max; i++)
			memcpy(&fds[count++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
	}
	return count;
}

static void pass_pipe_to_child(void)
{
	int sv[2], pipefd[2];
	CHECK_OK("pair", socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	CHECK_OK("pipe", pipe(pipefd));
	pid_t child = fork();
	if (child == 0) {
		close(sv[0]);
		int fd = -1, flags = 0;
		if (recv_fds(sv[1], &fd, 1, 256, MSG_CMSG_CLOEXEC, &flags) != 1)
			_exit(1);
		if (fcntl(fd, F_GETFD) != FD_CLOEXEC)
			_exit(2);
		if (write(fd, "through", 7) != 7)
			_exit(3);
		_exit(0);
	}
	close(sv[1]);
	CHECK("send_rights", send_fds(sv[0], &pipefd[1], 1, "x") == 1, "sendmsg");
	close(pipefd[1]);
	char buf[16];
	CHECK("read_passed_pipe", read(pipefd[0], buf, sizeof(buf)) == 7 && memcmp(buf, "through", 7) == 0, "pipe data");
	int status;
	CHECK("child_used_fd", waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
	CHECK("pipe_eof", read(pipefd[0], buf, sizeof(buf)) == 0, "no EOF once every writer closed");
	close(pipefd[0]);
	close(sv[0]);
}

static void truncated_control(void)
{
	int sv[2], fds[3], pipefd[2];
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	pipe(pipefd);
	int three[3] = {pipefd[0], pipefd[1], pipefd[0]};
	CHECK("send_three", send_fds(sv[0], three, 3, "y") == 1, "sendmsg");
	int flags = 0;
	int got = recv_fds(sv[1], fds, 3, CMSG_LEN(sizeof(int) * 2), 0, &flags);
	CHECK("ctrunc_two_fit", got == 2 && (flags & MSG_CTRUNC), "got %d flags %#x", got, flags);
	for (int i = 0; i < got; i++)
		close(fds[i]);
	CHECK("send_none_fit", send_fds(sv[0], three, 1, "z") == 1, "sendmsg");
	got = recv_fds(sv[1], fds, 3, 0, 0, &flags);
	CHECK("ctrunc_no_control", got == 0 && (flags & MSG_CTRUNC), "got %d flags %#x", got, flags);
	int bad = 999;
	CHECK_ERRNO("send_bad_fd", send_fds(sv[0], &bad, 1, "w"), EBADF);
	close(pipefd[0]);
	close(pipefd[1]);
	close(sv[0]);
	close(sv[1]);
}

static void credentials(void)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
	CHECK_OK("passcred", setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &(int){1}, sizeof(int)));
	send(sv[0], "c", 1, 0);
	char data[4];
	char control[CMSG_SPACE(sizeof(struct ucred))];
	struct iovec iov = {.iov_base = data, .iov_len = sizeof(data)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof(control)};
	CHECK("recv_creds", recvmsg(sv[1], &msg, 0) == 1, "recvmsg");
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	struct ucred cred = {0};
	int ok = c != NULL && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof(cred));
	if (ok)
		memcpy(&cred, CMSG_DATA(c), sizeof(cred));
	CHECK("creds_value", ok && cred.pid == getpid() && cred.uid == getuid() && cred.gid == getgid(), "pid %d uid %u", cred.pid, cred.uid);

	/* Sending credentials explicitly: one's own are accepted. */
	struct ucred mine = {.pid = getpid(), .uid = getuid(), .gid = getgid()};
	memset(control, 0, sizeof(control));
	msg.msg_controllen = sizeof(control);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_CREDENTIALS;
	c->cmsg_len = CMSG_LEN(sizeof(mine));
	memcpy(CMSG_DATA(c), &mine, sizeof(mine));
	iov.iov_len = 1;
	CHECK("send_own_creds", sendmsg(sv[0], &msg, 0) == 1, "sendmsg");
	close(sv[0]);
	close(sv[1]);
}

static void waitall(void)
{
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	pid_t child = fork();
	if (child == 0) {
		for (int i = 0; i < 4; i++) {
			usleep(10 * 1000);
			if (write(sv[0], "ab", 2) != 2)
				_exit(1);
		}
		_exit(0);
	}
	char buf[8];
	CHECK("waitall", recv(sv[1], buf, 8, MSG_WAITALL) == 8 && memcmp(buf, "abababab", 8) == 0, "short read");
	int status;
	waitpid(child, &status, 0);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	pass_pipe_to_child();
	truncated_control();
	credentials();
	waitall();
	return check_finish();
}
