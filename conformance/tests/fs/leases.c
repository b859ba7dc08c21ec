/* File leases: F_SETLEASE/F_GETLEASE, the conflicts that refuse a lease, and a lease broken by
 * another process's open or truncate: SIGIO to the holder, EWOULDBLOCK for a non-blocking open,
 * a blocking open (or truncate) that waits until the holder releases the lease. */
#include "../check.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

/* A child that opens `path` with `flags` and exits 0 if the result is `want_errno` (0: opened). */
static pid_t child_open(const char *path, int flags, int want_errno)
{
	pid_t pid = fork();
	if (pid == 0) {
		int fd = open(path, flags);
		_exit(fd >= 0 ? want_errno != 0 : errno != want_errno);
	}
	return pid;
}

static int child_ok(pid_t pid)
{
	int status;
	return waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Waits for the SIGIO a lease break sends (blocked, so taken synchronously). */
static int got_sigio(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGIO);
	siginfo_t info;
	return sigwaitinfo(&set, &info) == SIGIO;
}

int main(void)
{
	char path[4096];
	scratch_path(path, sizeof(path), "leased");
	close(open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGIO);
	sigprocmask(SIG_BLOCK, &set, NULL);

	int pipefd[2];
	pipe(pipefd);
	CHECK_ERRNO("pipe_no_lease", fcntl(pipefd[0], F_SETLEASE, F_RDLCK), EINVAL);
	close(pipefd[0]);
	close(pipefd[1]);

	int fd = CHECK_OK("open", open(path, O_RDONLY));
	CHECK("no_lease_yet", fcntl(fd, F_GETLEASE) == F_UNLCK, "F_GETLEASE %d",
	      fcntl(fd, F_GETLEASE));
	CHECK_ERRNO("bad_type", fcntl(fd, F_SETLEASE, 7), EINVAL);
	int rw = open(path, O_RDWR);
	CHECK_ERRNO("write_lease_with_other_open", fcntl(fd, F_SETLEASE, F_WRLCK), EAGAIN);
	CHECK_ERRNO("read_lease_with_writer", fcntl(fd, F_SETLEASE, F_RDLCK), EAGAIN);
	close(rw);
	CHECK_OK("read_lease", fcntl(fd, F_SETLEASE, F_RDLCK));
	CHECK("get_read_lease", fcntl(fd, F_GETLEASE) == F_RDLCK, "F_GETLEASE %d",
	      fcntl(fd, F_GETLEASE));
	/* A reader doesn't break a read lease. */
	CHECK("reader_coexists", child_ok(child_open(path, O_RDONLY | O_NONBLOCK, 0)),
	      "read open failed");
	CHECK_OK("upgrade_to_write", fcntl(fd, F_SETLEASE, F_WRLCK));
	CHECK("get_write_lease", fcntl(fd, F_GETLEASE) == F_WRLCK, "F_GETLEASE %d",
	      fcntl(fd, F_GETLEASE));

	/* A non-blocking reader breaks the write lease: EWOULDBLOCK for it, SIGIO for us, and the
	 * lease must become a read lease. */
	CHECK("nonblocking_open_ewouldblock",
	      child_ok(child_open(path, O_RDONLY | O_NONBLOCK, EWOULDBLOCK)), "open did not fail");
	CHECK("sigio_on_break", got_sigio(), "no SIGIO");
	CHECK("breaking_to_read", fcntl(fd, F_GETLEASE) == F_RDLCK, "F_GETLEASE %d",
	      fcntl(fd, F_GETLEASE));
	CHECK_OK("downgrade", fcntl(fd, F_SETLEASE, F_RDLCK));
	CHECK("reader_after_downgrade", child_ok(child_open(path, O_RDONLY | O_NONBLOCK, 0)),
	      "read open failed");

	/* A blocking writer waits until the lease is released. */
	pid_t writer = child_open(path, O_WRONLY, 0);
	CHECK("sigio_for_writer", got_sigio(), "no SIGIO");
	CHECK("breaking_to_unlck", fcntl(fd, F_GETLEASE) == F_UNLCK, "F_GETLEASE %d",
	      fcntl(fd, F_GETLEASE));
	CHECK_OK("release", fcntl(fd, F_SETLEASE, F_UNLCK));
	CHECK("writer_opened_after_release", child_ok(writer), "writer failed");
	CHECK("released", fcntl(fd, F_GETLEASE) == F_UNLCK, "F_GETLEASE %d", fcntl(fd, F_GETLEASE));

	/* truncate(2) breaks a read lease too. */
	CHECK_OK("read_lease_again", fcntl(fd, F_SETLEASE, F_RDLCK));
	pid_t truncater = fork();
	if (truncater == 0)
		_exit(truncate(path, 0) == 0 ? 0 : 1);
	CHECK("sigio_for_truncate", got_sigio(), "no SIGIO");
	CHECK_OK("release_for_truncate", fcntl(fd, F_SETLEASE, F_UNLCK));
	CHECK("truncate_after_release", child_ok(truncater), "truncate failed");
	close(fd);
	unlink(path);
	return check_finish();
}
