/* Named pipes: mknod/mknodat of FIFOs and regular files, Linux's open rules for FIFOs (a
 * non-blocking writer without readers is ENXIO, a blocking reader waits for a writer), data
 * through the FIFO, and mknod's errors. */
#include "../check.h"

#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

int main(void)
{
	char fifo[4096], reg[4096], dev[4096];
	struct stat st;
	scratch_path(fifo, sizeof(fifo), "fifo");
	scratch_path(reg, sizeof(reg), "mknod_regular");
	scratch_path(dev, sizeof(dev), "null_copy");
	unlink(fifo);
	unlink(reg);
	unlink(dev);

	CHECK_OK("mkfifo", mkfifo(fifo, 0600));
	CHECK("fifo_is_fifo", stat(fifo, &st) == 0 && S_ISFIFO(st.st_mode) && (st.st_mode & 0777) == 0600,
	      "mode %o", st.st_mode);
	CHECK_ERRNO("mkfifo_exists", mkfifo(fifo, 0600), EEXIST);
	CHECK_ERRNO("open_wronly_nonblock_no_reader", open(fifo, O_WRONLY | O_NONBLOCK), ENXIO);

	int rd = CHECK_OK("open_rdonly_nonblock", open(fifo, O_RDONLY | O_NONBLOCK));
	int wr = CHECK_OK("open_wronly_with_reader", open(fifo, O_WRONLY | O_NONBLOCK));
	CHECK("write_fifo", write(wr, "ping", 4) == 4, "write failed");
	char buf[16] = {0};
	CHECK("read_fifo", read(rd, buf, sizeof(buf)) == 4 && memcmp(buf, "ping", 4) == 0,
	      "read '%s'", buf);
	CHECK("fstat_fifo", fstat(rd, &st) == 0 && S_ISFIFO(st.st_mode), "mode %o", st.st_mode);
	close(wr);
	CHECK("read_eof_without_writers", read(rd, buf, sizeof(buf)) == 0, "not EOF");
	close(rd);

	/* A blocking reader waits until the child opens the FIFO for writing. */
	pid_t child = fork();
	if (child == 0) {
		usleep(100000);
		int w = open(fifo, O_WRONLY);
		if (w < 0 || write(w, "hello", 5) != 5)
			_exit(1);
		close(w);
		_exit(0);
	}
	rd = CHECK_OK("open_rdonly_blocks_for_writer", open(fifo, O_RDONLY));
	memset(buf, 0, sizeof(buf));
	ssize_t total = 0, n;
	while ((n = read(rd, buf + total, sizeof(buf) - 1 - total)) > 0)
		total += n;
	CHECK("read_from_child_writer", total == 5 && memcmp(buf, "hello", 5) == 0, "read '%s'", buf);
	int status = 0;
	waitpid(child, &status, 0);
	CHECK("child_writer_ok", WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %x", status);
	close(rd);

	int rw = CHECK_OK("open_rdwr_never_blocks", open(fifo, O_RDWR));
	close(rw);

	CHECK_OK("mknodat_regular", mknodat(AT_FDCWD, reg, S_IFREG | 0640, 0));
	CHECK("mknod_regular_is_file", stat(reg, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0,
	      "mode %o", st.st_mode);
	CHECK_ERRNO("mknod_dir", mknod(dev, S_IFDIR | 0755, 0), EPERM);
	CHECK_ERRNO("mknod_bad_type", mknod(dev, 0170000 | 0644, 0), EINVAL);
	CHECK_OK("mknod_char_null", mknod(dev, S_IFCHR | 0666, makedev(1, 3)));
	CHECK("mknod_char_is_null", stat(dev, &st) == 0 && S_ISCHR(st.st_mode) &&
					    major(st.st_rdev) == 1 && minor(st.st_rdev) == 3,
	      "mode %o rdev %lx", st.st_mode, (unsigned long)st.st_rdev);
	int nfd = CHECK_OK("open_mknod_null", open(dev, O_RDWR));
	CHECK("mknod_null_behaves", write(nfd, "x", 1) == 1 && read(nfd, buf, 1) == 0,
	      "not /dev/null");
	close(nfd);

	unlink(dev);
	unlink(reg);
	unlink(fifo);
	return check_finish();
}
