/* Regular files in the scratch directory: open, read, write, lseek, pread/pwrite, readv/writev,
 * O_APPEND, O_EXCL, truncation, dup and fcntl flags. */
#include "../check.h"

#include <fcntl.h>
#include <sys/uio.h>

int main(void)
{
	char path[4096], buf[64];
	scratch_path(path, sizeof(path), "file");

	int fd = CHECK_OK("open_creat_excl", open(path, O_RDWR | O_CREAT | O_EXCL, 0644));
	CHECK_ERRNO("open_excl_exists", open(path, O_RDWR | O_CREAT | O_EXCL, 0644), EEXIST);
	CHECK("write_returns_count", write(fd, "hello world", 11) == 11, "short or failed write");
	CHECK("lseek_cur_after_write", lseek(fd, 0, SEEK_CUR) == 11, "offset is not 11");
	CHECK("lseek_set", lseek(fd, 6, SEEK_SET) == 6, "lseek(6, SEEK_SET) failed");
	memset(buf, 0, sizeof(buf));
	CHECK("read_after_seek", read(fd, buf, sizeof(buf)) == 5 && memcmp(buf, "world", 5) == 0,
	      "read gave '%s'", buf);
	CHECK("read_at_eof", read(fd, buf, sizeof(buf)) == 0, "read at EOF did not return 0");
	CHECK("lseek_end", lseek(fd, 0, SEEK_END) == 11, "SEEK_END offset is not the size");
	CHECK_ERRNO("lseek_bad_whence", lseek(fd, 0, 99), EINVAL);
	CHECK_ERRNO("lseek_negative", lseek(fd, -100, SEEK_SET), EINVAL);

	memset(buf, 0, sizeof(buf));
	CHECK("pread", pread(fd, buf, 5, 0) == 5 && memcmp(buf, "hello", 5) == 0,
	      "pread gave '%s'", buf);
	CHECK("pwrite", pwrite(fd, "HELLO", 5, 0) == 5, "pwrite failed");
	CHECK("pread_pwrite_keep_offset", lseek(fd, 0, SEEK_CUR) == 11, "offset moved");

	struct iovec out[2] = {{.iov_base = "ab", .iov_len = 2}, {.iov_base = "cde", .iov_len = 3}};
	CHECK("writev", writev(fd, out, 2) == 5, "writev did not write 5 bytes");
	char first[3] = {0}, second[20] = {0};
	struct iovec in[2] = {{.iov_base = first, .iov_len = 2}, {.iov_base = second, .iov_len = 19}};
	lseek(fd, 0, SEEK_SET);
	CHECK("readv", readv(fd, in, 2) == 16 && strcmp(first, "HE") == 0 &&
			       strcmp(second, "LLO worldabcde") == 0,
	      "readv gave '%s' '%s'", first, second);

	struct stat st;
	CHECK("fstat_size", fstat(fd, &st) == 0 && st.st_size == 16 && S_ISREG(st.st_mode),
	      "size %lld mode %o", (long long)st.st_size, st.st_mode);
	CHECK("ftruncate_shrinks", ftruncate(fd, 5) == 0 && fstat(fd, &st) == 0 && st.st_size == 5,
	      "size %lld after ftruncate(5)", (long long)st.st_size);
	CHECK("ftruncate_grows_with_zeros",
	      ftruncate(fd, 8) == 0 && pread(fd, buf, 8, 0) == 8 && memcmp(buf, "HELLO\0\0\0", 8) == 0,
	      "grown file does not read HELLO and zeros");

	int copy = CHECK_OK("dup", dup(fd));
	lseek(fd, 2, SEEK_SET);
	CHECK("dup_shares_offset", lseek(copy, 0, SEEK_CUR) == 2, "the copy's offset differs");
	CHECK("fd_cloexec_default_clear", fcntl(copy, F_GETFD) == 0, "FD_CLOEXEC set on a dup");
	CHECK("fd_cloexec_set", fcntl(copy, F_SETFD, FD_CLOEXEC) == 0 && fcntl(copy, F_GETFD) == FD_CLOEXEC,
	      "FD_CLOEXEC did not stick");
	CHECK("getfl_accmode", (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR, "access mode is not O_RDWR");
	CHECK_OK("close_dup", close(copy));
	CHECK_ERRNO("close_twice", close(copy), EBADF);
	CHECK_OK("close", close(fd));

	fd = CHECK_OK("open_append", open(path, O_WRONLY | O_APPEND));
	lseek(fd, 0, SEEK_SET);
	CHECK("append_writes_at_end", write(fd, "!", 1) == 1 && lseek(fd, 0, SEEK_CUR) == 9,
	      "O_APPEND write did not go to the end");
	CHECK("getfl_append", (fcntl(fd, F_GETFL) & O_APPEND) != 0, "O_APPEND not reported");
	CHECK_ERRNO("read_write_only_fd", read(fd, buf, 1), EBADF);
	close(fd);

	fd = CHECK_OK("open_read_only", open(path, O_RDONLY));
	CHECK_ERRNO("write_read_only_fd", write(fd, "x", 1), EBADF);
	close(fd);
	CHECK("truncate_path", truncate(path, 3) == 0 && stat(path, &st) == 0 && st.st_size == 3,
	      "size %lld after truncate(3)", (long long)st.st_size);
	CHECK_ERRNO("open_missing", open("/nonexistent/conformance", O_RDONLY), ENOENT);
	CHECK_ERRNO("open_file_as_directory", open(path, O_RDONLY | O_DIRECTORY), ENOTDIR);
	return check_finish();
}
