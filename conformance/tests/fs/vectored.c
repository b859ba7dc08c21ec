/* preadv/pwritev and their v2 forms, fallocate, the advice and sync calls, and the old
 * getdents. */
#define _GNU_SOURCE
#include "../check.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/syscall.h>
#include <sys/uio.h>

int main(void)
{
	char path[4096], buf[64];
	struct stat st;
	scratch_path(path, sizeof(path), "vectored");
	int fd = CHECK_OK("create", open(path, O_RDWR | O_CREAT | O_TRUNC, 0644));

	struct iovec out[2] = {{.iov_base = "hello ", .iov_len = 6}, {.iov_base = "world", .iov_len = 5}};
	CHECK("pwritev", pwritev(fd, out, 2, 4) == 11, "pwritev did not write 11");
	CHECK("pwritev_keeps_offset", lseek(fd, 0, SEEK_CUR) == 0, "offset moved");
	char a[6] = {0}, b[8] = {0};
	struct iovec in[2] = {{.iov_base = a, .iov_len = 5}, {.iov_base = b, .iov_len = 7}};
	CHECK("preadv", preadv(fd, in, 2, 4) == 11 && memcmp(a, "hello", 5) == 0 &&
				memcmp(b, " world", 6) == 0,
	      "preadv gave '%s' '%s'", a, b);
	CHECK_ERRNO("preadv_negative", preadv(fd, in, 2, -1), EINVAL);
	CHECK("pwritev2_flags", pwritev2(fd, out, 1, 0, RWF_DSYNC) == 6, "pwritev2 failed");
	CHECK("preadv2_file_offset", preadv2(fd, in, 1, -1, 0) == 5 && lseek(fd, 0, SEEK_CUR) == 5,
	      "preadv2 at -1 does not use the file offset");
	CHECK_ERRNO("preadv2_unknown_flag", preadv2(fd, in, 1, 0, 0x1000), EOPNOTSUPP);
	int pfd[2];
	CHECK_OK("pipe", pipe(pfd));
	CHECK_ERRNO("preadv_pipe", preadv(pfd[0], in, 1, 0), ESPIPE);

	CHECK_OK("fallocate_grows", fallocate(fd, 0, 0, 100));
	CHECK("fallocate_size", fstat(fd, &st) == 0 && st.st_size == 100, "size %lld",
	      (long long)st.st_size);
	CHECK_OK("fallocate_keep_size", fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4096));
	CHECK("fallocate_keep_size_keeps", fstat(fd, &st) == 0 && st.st_size == 100, "size %lld",
	      (long long)st.st_size);
	CHECK_OK("fallocate_punch_hole", fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4, 5));
	memset(buf, 1, sizeof(buf));
	CHECK("punched_reads_zeros", pread(fd, buf, 11, 4) == 11 && memcmp(buf, "\0\0\0\0\0 world", 11) == 0,
	      "hole not zero");
	CHECK_ERRNO("fallocate_punch_without_keep", fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 1), EOPNOTSUPP);
	CHECK_ERRNO("fallocate_zero_len", fallocate(fd, 0, 0, 0), EINVAL);
	CHECK_ERRNO("fallocate_pipe", fallocate(pfd[1], 0, 0, 1), ESPIPE);
	int ro = CHECK_OK("open_rdonly", open(path, O_RDONLY));
	CHECK_ERRNO("fallocate_readonly", fallocate(ro, 0, 0, 1), EBADF);
	CHECK("posix_fallocate", posix_fallocate(fd, 0, 200) == 0 && fstat(fd, &st) == 0 && st.st_size == 200,
	      "size %lld", (long long)st.st_size);

	CHECK("fadvise", posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL) == 0, "fadvise failed");
	CHECK("fadvise_bad_advice", posix_fadvise(fd, 0, 0, 99) == EINVAL, "not EINVAL");
	CHECK("fadvise_pipe", posix_fadvise(pfd[0], 0, 0, POSIX_FADV_NORMAL) == ESPIPE, "not ESPIPE");
	CHECK_OK("readahead", readahead(fd, 0, 4096));
	CHECK_ERRNO("readahead_pipe", readahead(pfd[0], 0, 1), EINVAL);
	sync();
	CHECK_OK("syncfs", syncfs(fd));
	CHECK_ERRNO("syncfs_bad_fd", syncfs(-1), EBADF);
	CHECK_OK("sync_file_range", sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE));
	CHECK_ERRNO("sync_file_range_bad_flags", sync_file_range(fd, 0, 0, 8), EINVAL);
	CHECK_ERRNO("sync_file_range_pipe", sync_file_range(pfd[0], 0, 0, 0), ESPIPE);
	CHECK_OK("fdatasync", fdatasync(fd));

	/* The old getdents: records end with the type byte; the directory holds our file. */
	int dir = CHECK_OK("open_dir", open(scratch_dir(), O_RDONLY | O_DIRECTORY));
	char dents[4096];
	long n = syscall(SYS_getdents, dir, dents, sizeof(dents));
	int found = 0;
	for (long off = 0; n > 0 && off < n;) {
		unsigned short reclen = *(unsigned short *)(dents + off + 16);
		const char *name = dents + off + 18;
		if (strcmp(name, "vectored") == 0 && dents[off + reclen - 1] == DT_REG)
			found = 1;
		if (reclen == 0)
			break;
		off += reclen;
	}
	CHECK("getdents_old_format", found, "getdents returned %ld without the file as DT_REG", n);
	close(dir);

	close(ro);
	close(pfd[0]);
	close(pfd[1]);
	close(fd);
	unlink(path);
	return check_finish();
}
