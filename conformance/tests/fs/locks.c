/* File locks: flock per open file description, fcntl record locks per process (a child sees
 * the parent's locks, closing any fd of the file drops them, F_SETLKW waits), OFD locks, and
 * pipe sizes through fcntl. */
#define _GNU_SOURCE
#include "../check.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>

static int lock(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock fl = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
	return fcntl(fd, cmd, &fl);
}

/* Runs `body` in a child and returns its exit status (the checks' answer). */
static int in_child(int (*body)(int), int fd)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(body(fd));
	int status = 0;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 100;
}

static int child_sees_write_lock(int fd)
{
	struct flock fl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1};
	if (fcntl(fd, F_GETLK, &fl) != 0)
		return 1;
	if (fl.l_type != F_WRLCK || fl.l_start != 0 || fl.l_len != 10 || fl.l_pid != getppid())
		return 2;
	if (lock(fd, F_SETLK, F_RDLCK, 5, 1) == 0 || (errno != EAGAIN && errno != EACCES))
		return 3;
	if (lock(fd, F_SETLK, F_WRLCK, 10, 5) != 0)
		return 4;
	return 0;
}

static int child_takes_unlocked(int fd)
{
	return lock(fd, F_SETLK, F_WRLCK, 0, 10) == 0 ? 0 : 1;
}

static int child_flock_conflicts(int fd)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int other = open(path, O_RDWR);
	if (other < 0)
		return 1;
	if (flock(other, LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK)
		return 2;
	/* The inherited descriptor shares the parent's description: converting is allowed. */
	if (flock(fd, LOCK_SH | LOCK_NB) != 0)
		return 3;
	return 0;
}

static void on_alarm(int sig)
{
	(void)sig;
}

int main(void)
{
	char path[4096];
	scratch_path(path, sizeof(path), "locked");
	int fd = CHECK_OK("create", open(path, O_RDWR | O_CREAT | O_TRUNC, 0644));

	CHECK_OK("setlk_write", lock(fd, F_SETLK, F_WRLCK, 0, 10));
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	CHECK("getlk_own_lock_is_unlocked", fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type == F_UNLCK,
	      "type %d", fl.l_type);
	CHECK("child_sees_parent_lock", in_child(child_sees_write_lock, fd) == 0, "child check failed");
	CHECK_ERRNO("setlk_bad_type", lock(fd, F_SETLK, 42, 0, 1), EINVAL);
	CHECK_ERRNO("setlk_negative_start", lock(fd, F_SETLK, F_RDLCK, -5, 1), EINVAL);

	/* Closing any descriptor of the file releases the process's locks. */
	int other = CHECK_OK("open_again", open(path, O_RDWR));
	close(other);
	CHECK("close_releases_posix_locks", in_child(child_takes_unlocked, fd) == 0,
	      "lock survived close");

	/* F_SETLKW waits for the holder, and a signal interrupts the wait. */
	int ready[2];
	CHECK_OK("pipe", pipe(ready));
	pid_t holder = fork();
	if (holder == 0) {
		lock(fd, F_SETLK, F_WRLCK, 0, 1);
		write(ready[1], "x", 1);
		usleep(200000);
		_exit(0);
	}
	char c;
	read(ready[0], &c, 1);
	CHECK_ERRNO("setlk_conflict", lock(fd, F_SETLK, F_WRLCK, 0, 1), EAGAIN);
	CHECK_OK("setlkw_waits_for_exit", lock(fd, F_SETLKW, F_WRLCK, 0, 1));
	waitpid(holder, NULL, 0);
	lock(fd, F_SETLK, F_UNLCK, 0, 0);

	holder = fork();
	if (holder == 0) {
		lock(fd, F_SETLK, F_WRLCK, 0, 1);
		write(ready[1], "x", 1);
		pause();
		_exit(0);
	}
	read(ready[0], &c, 1);
	struct sigaction sa = {.sa_handler = on_alarm};
	sigaction(SIGALRM, &sa, NULL);
	alarm(1);
	CHECK_ERRNO("setlkw_interrupted", lock(fd, F_SETLKW, F_WRLCK, 0, 1), EINTR);
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);

	/* OFD locks belong to the open file description. */
	int ofd1 = CHECK_OK("open_ofd1", open(path, O_RDWR));
	int ofd2 = CHECK_OK("open_ofd2", open(path, O_RDWR));
	CHECK_OK("ofd_setlk", lock(ofd1, F_OFD_SETLK, F_WRLCK, 0, 4));
	CHECK_ERRNO("ofd_conflict_same_process", lock(ofd2, F_OFD_SETLK, F_RDLCK, 2, 1), EAGAIN);
	struct flock ofl = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
	CHECK("ofd_getlk_pid", fcntl(ofd2, F_OFD_GETLK, &ofl) == 0 && ofl.l_type == F_WRLCK &&
				       ofl.l_pid == -1,
	      "type %d pid %d", ofl.l_type, ofl.l_pid);
	struct flock badpid = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_pid = 1};
	CHECK_ERRNO("ofd_nonzero_pid", fcntl(ofd2, F_OFD_SETLK, &badpid), EINVAL);
	close(ofd1);
	CHECK_OK("ofd_released_on_close", lock(ofd2, F_OFD_SETLK, F_WRLCK, 0, 4));
	close(ofd2);

	/* flock: per open file description, released on the last close. */
	int f1 = CHECK_OK("open_f1", open(path, O_RDWR));
	int f2 = CHECK_OK("open_f2", open(path, O_RDWR));
	CHECK_OK("flock_sh", flock(f1, LOCK_SH));
	CHECK_OK("flock_sh_shared", flock(f2, LOCK_SH | LOCK_NB));
	CHECK_ERRNO("flock_ex_conflict", flock(f2, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	CHECK_OK("flock_un", flock(f1, LOCK_UN));
	CHECK_OK("flock_ex", flock(f1, LOCK_EX | LOCK_NB));
	CHECK("child_flock", in_child(child_flock_conflicts, f1) == 0, "child flock check failed");
	int dup1 = dup(f1);
	close(f1);
	CHECK_ERRNO("flock_kept_by_dup", flock(f2, LOCK_EX | LOCK_NB), EWOULDBLOCK);
	close(dup1);
	CHECK_OK("flock_released_on_last_close", flock(f2, LOCK_EX | LOCK_NB));
	CHECK_ERRNO("flock_bad_op", flock(f2, 0), EINVAL);
	CHECK_ERRNO("flock_bad_fd", flock(-1, LOCK_SH), EBADF);
	close(f2);

	/* lockf is built on F_SETLK. */
	CHECK_OK("lockf_tlock", lockf(fd, F_TLOCK, 0));
	CHECK_OK("lockf_ulock", lockf(fd, F_ULOCK, 0));

	int p[2];
	CHECK_OK("pipe_for_size", pipe(p));
	CHECK("getpipe_sz_default", fcntl(p[0], F_GETPIPE_SZ) == 65536, "size %d",
	      fcntl(p[0], F_GETPIPE_SZ));
	CHECK("setpipe_sz_rounds", fcntl(p[1], F_SETPIPE_SZ, 5000) == 8192 &&
					   fcntl(p[0], F_GETPIPE_SZ) == 8192,
	      "size %d", fcntl(p[0], F_GETPIPE_SZ));
	char big[8192] = {0};
	CHECK("fill_pipe", write(p[1], big, sizeof(big)) == 8192, "write failed");
	CHECK_ERRNO("setpipe_sz_busy", fcntl(p[1], F_SETPIPE_SZ, 4096), EBUSY);
	CHECK_ERRNO("getpipe_sz_file", fcntl(fd, F_GETPIPE_SZ), EBADF);
	close(p[0]);
	close(p[1]);

	close(fd);
	unlink(path);
	return check_finish();
}
