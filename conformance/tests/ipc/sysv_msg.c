/* System V message queues: msgget/msgsnd/msgrcv/msgctl, message types (0, >0, <0, MSG_EXCEPT),
 * MSG_NOERROR and E2BIG, IPC_NOWAIT, blocking in both directions, EIDRM, permissions as uid
 * 1000, the deterministic IPC_STAT fields and the limits /proc/sys/kernel shows. Every queue is
 * IPC_PRIVATE or a key of this pid's, and removed at the end. */
#include "../check.h"
#include "sysvipc.h"

#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/wait.h>

struct message {
	long mtype;
	char text[64];
};

static long read_number(const char *path)
{
	FILE *f = fopen(path, "r");
	long value = -1;
	if (!f || fscanf(f, "%ld", &value) != 1)
		value = -1;
	if (f)
		fclose(f);
	return value;
}

static int send(int id, long type, const char *text, int flags)
{
	struct message m = {.mtype = type};
	strncpy(m.text, text, sizeof(m.text) - 1);
	return msgsnd(id, &m, strlen(text), flags);
}

/* The type of the message msgrcv takes, or -errno. */
static long receive(int id, long type, int flags)
{
	struct message m;
	ssize_t n = msgrcv(id, &m, sizeof(m.text), type, flags | IPC_NOWAIT);
	return n < 0 ? -errno : m.mtype;
}

static int qnum(int id)
{
	struct msqid_ds ds;
	return msgctl(id, IPC_STAT, &ds) == 0 ? (int)ds.msg_qnum : -1;
}

static int wait_exit(pid_t pid)
{
	int status = 0;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * A child blocks in msgrcv on a fresh queue, which the parent then removes: the child must see
 * EIDRM. A child that reached msgrcv only after the removal sees EINVAL instead (the race can't
 * be closed from outside), and the round is tried again.
 */
static int removal_wakes_receiver(void)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		int q = msgget(IPC_PRIVATE, 0600);
		int ready[2];
		if (q < 0 || pipe(ready) != 0)
			return 0;
		pid_t child = fork();
		if (child == 0) {
			struct message got;
			close(ready[0]);
			close(ready[1]);
			_exit(msgrcv(q, &got, sizeof(got.text), 0, 0) == -1 ? errno : 0);
		}
		close(ready[1]);
		char c;
		/* EOF once the child has closed its end: it is on its way into msgrcv. */
		(void)!read(ready[0], &c, 1);
		close(ready[0]);
		usleep(100 * 1000);
		msgctl(q, IPC_RMID, NULL);
		int result = wait_exit(child);
		if (result == EIDRM)
			return 1;
		if (result != EINVAL)
			return 0;
	}
	return 0;
}

int main(void)
{
	struct msginfo info;
	int top = msgctl(0, IPC_INFO, (struct msqid_ds *)&info);
	CHECK("ipc_info", top >= 0 && info.msgmax == read_number("/proc/sys/kernel/msgmax") &&
				  info.msgmnb == read_number("/proc/sys/kernel/msgmnb") &&
				  info.msgmni == read_number("/proc/sys/kernel/msgmni"),
	      "ret %d msgmax %d msgmnb %d msgmni %d", top, info.msgmax, info.msgmnb, info.msgmni);

	int id = CHECK_OK("msgget", msgget(IPC_PRIVATE, 0600));
	struct msqid_ds ds;
	CHECK_OK("ipc_stat", msgctl(id, IPC_STAT, &ds));
	CHECK("stat_fields", ds.msg_qnum == 0 && ds.__msg_cbytes == 0 &&
				     ds.msg_qbytes == (msglen_t)info.msgmnb &&
				     (ds.msg_perm.mode & 0777) == 0600 &&
				     ds.msg_perm.cuid == geteuid() && ds.msg_stime == 0 &&
				     ds.msg_lspid == 0 && ds.msg_ctime > 0,
	      "qnum %lu qbytes %lu mode %o", (unsigned long)ds.msg_qnum,
	      (unsigned long)ds.msg_qbytes, ds.msg_perm.mode);

	/* Types. */
	CHECK_OK("send_3", send(id, 3, "three", 0));
	CHECK_OK("send_1", send(id, 1, "one", 0));
	CHECK_OK("send_2", send(id, 2, "two", 0));
	CHECK_OK("send_1b", send(id, 1, "one again", 0));
	CHECK_OK("stat_after_send", msgctl(id, IPC_STAT, &ds));
	CHECK("stat_counts", ds.msg_qnum == 4 && ds.__msg_cbytes == 5 + 3 + 3 + 9 &&
				     ds.msg_lspid == getpid() && ds.msg_stime > 0,
	      "qnum %lu cbytes %lu", (unsigned long)ds.msg_qnum, (unsigned long)ds.__msg_cbytes);
	char rest[512];
	unsigned perms = 0;
	unsigned long cbytes = 0, messages = 0;
	CHECK("proc_sysvipc_msg",
	      sysvipc_line("msg", id, rest, sizeof(rest)) &&
		      sscanf(rest, "%o %lu %lu", &perms, &cbytes, &messages) == 3 && perms == 0600 &&
		      cbytes == 20 && messages == 4,
	      "perms %o cbytes %lu qnum %lu", perms, cbytes, messages);
	CHECK("recv_type_2", receive(id, 2, 0) == 2, "wrong message");
	CHECK("recv_except_1", receive(id, 1, MSG_EXCEPT) == 3, "wrong message");
	CHECK("recv_lowest_le_5", receive(id, -5, 0) == 1, "wrong message");
	struct message m;
	ssize_t n = msgrcv(id, &m, sizeof(m.text), 0, IPC_NOWAIT);
	CHECK("recv_first_text", n == 9 && m.mtype == 1 && memcmp(m.text, "one again", 9) == 0,
	      "n %zd type %ld", n, m.mtype);
	CHECK("recv_empty_nomsg", receive(id, 0, 0) == -ENOMSG, "got %ld", receive(id, 0, 0));

	/* Sizes. */
	CHECK_OK("send_long", send(id, 7, "a long message", 0));
	CHECK_ERRNO("recv_e2big", msgrcv(id, &m, 4, 0, IPC_NOWAIT), E2BIG);
	CHECK("e2big_keeps_message", qnum(id) == 1, "qnum %d", qnum(id));
	n = msgrcv(id, &m, 4, 0, IPC_NOWAIT | MSG_NOERROR);
	CHECK("noerror_truncates", n == 4 && memcmp(m.text, "a lo", 4) == 0 && qnum(id) == 0,
	      "n %zd", n);
	CHECK_ERRNO("send_type_zero", send(id, 0, "x", 0), EINVAL);
	CHECK_ERRNO("send_too_big", msgsnd(id, &m, (size_t)info.msgmax + 1, 0), EINVAL);
	CHECK_ERRNO("recv_bad_id", msgrcv(-1, &m, 4, 0, 0), EINVAL);

	/* A full queue: IPC_NOWAIT is EAGAIN, a blocked sender is let in by a receive. */
	CHECK_OK("ipc_stat_again", msgctl(id, IPC_STAT, &ds));
	ds.msg_qbytes = 8;
	CHECK_OK("ipc_set_qbytes", msgctl(id, IPC_SET, &ds));
	CHECK_OK("fill", send(id, 1, "12345678", 0));
	CHECK_ERRNO("full_nowait", send(id, 1, "x", IPC_NOWAIT), EAGAIN);
	pid_t child = fork();
	if (child == 0)
		_exit(send(id, 5, "late", 0) == 0 ? 0 : errno);
	usleep(50 * 1000);
	CHECK("sender_blocked", qnum(id) == 1, "qnum %d", qnum(id));
	CHECK("recv_unblocks_sender", receive(id, 1, 0) == 1, "wrong message");
	CHECK("blocked_sender_done", wait_exit(child) == 0, "child failed");
	CHECK("late_message_arrived", receive(id, 0, 0) == 5, "wrong message");

	/* A blocked receiver waits for its type. */
	child = fork();
	if (child == 0) {
		struct message got;
		ssize_t r = msgrcv(id, &got, sizeof(got.text), 9, 0);
		_exit(r == 3 && got.mtype == 9 ? 0 : 1);
	}
	CHECK_OK("send_other_type", send(id, 4, "abc", 0));
	CHECK_OK("send_wanted_type", send(id, 9, "xyz", 0));
	CHECK("blocked_receiver_got_type", wait_exit(child) == 0, "child failed");
	CHECK("other_type_left", receive(id, 0, 0) == 4, "wrong message");

	/* Permissions as uid 1000. */
	child = fork();
	if (child == 0) {
		if (setgid(1000) != 0 || setuid(1000) != 0)
			_exit(100);
		if (send(id, 1, "x", IPC_NOWAIT) != -1 || errno != EACCES)
			_exit(1);
		if (receive(id, 0, 0) != -EACCES)
			_exit(2);
		if (msgctl(id, IPC_RMID, NULL) != -1 || errno != EPERM)
			_exit(3);
		_exit(0);
	}
	CHECK("eacces_as_user", wait_exit(child) == 0, "child check failed");

	/* Removal wakes a blocked receiver with EIDRM. */
	CHECK_OK("rmid", msgctl(id, IPC_RMID, NULL));
	CHECK_ERRNO("removed_id", msgctl(id, IPC_STAT, &ds), EINVAL);
	CHECK("receiver_eidrm", removal_wakes_receiver(), "no EIDRM seen");

	/* Keys. */
	key_t key = 0x6e000000 | (getpid() & 0xffffff);
	int keyed = CHECK_OK("msgget_key", msgget(key, IPC_CREAT | IPC_EXCL | 0600));
	CHECK_ERRNO("msgget_excl", msgget(key, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
	CHECK("msgget_finds_key", msgget(key, 0) == keyed, "another id");
	CHECK_OK("rmid_keyed", msgctl(keyed, IPC_RMID, NULL));
	CHECK_ERRNO("msgget_gone", msgget(key, 0), ENOENT);
	return check_finish();
}
