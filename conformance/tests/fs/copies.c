/* In-kernel copies: sendfile, copy_file_range, splice and tee; memfd_create. */
#define _GNU_SOURCE
#include "../check.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>

int main(void)
{
	char src_path[4096], dst_path[4096], buf[64];
	scratch_path(src_path, sizeof(src_path), "copy_src");
	scratch_path(dst_path, sizeof(dst_path), "copy_dst");
	int src = CHECK_OK("create_src", open(src_path, O_RDWR | O_CREAT | O_TRUNC, 0644));
	int dst = CHECK_OK("create_dst", open(dst_path, O_RDWR | O_CREAT | O_TRUNC, 0644));
	CHECK("write_src", write(src, "0123456789", 10) == 10, "write failed");

	off_t off = 2;
	CHECK("sendfile_offset", sendfile(dst, src, &off, 5) == 5 && off == 7, "off %lld",
	      (long long)off);
	CHECK("sendfile_keeps_src_offset", lseek(src, 0, SEEK_CUR) == 10, "src offset moved");
	lseek(src, 0, SEEK_SET);
	CHECK("sendfile_file_offset", sendfile(dst, src, NULL, 3) == 3 && lseek(src, 0, SEEK_CUR) == 3,
	      "src offset not advanced");
	memset(buf, 0, sizeof(buf));
	CHECK("sendfile_data", pread(dst, buf, sizeof(buf), 0) == 8 && memcmp(buf, "23456012", 8) == 0,
	      "dst '%s'", buf);
	CHECK_ERRNO("sendfile_bad_fd", sendfile(dst, -1, NULL, 1), EBADF);

	loff_t in_off = 0, out_off = 20;
	CHECK("copy_file_range", copy_file_range(src, &in_off, dst, &out_off, 4, 0) == 4 &&
					 in_off == 4 && out_off == 24,
	      "offsets %lld %lld", (long long)in_off, (long long)out_off);
	memset(buf, 0, sizeof(buf));
	CHECK("copy_file_range_data", pread(dst, buf, 4, 20) == 4 && memcmp(buf, "0123", 4) == 0,
	      "dst '%s'", buf);
	CHECK_ERRNO("copy_file_range_flags", copy_file_range(src, NULL, dst, NULL, 1, 1), EINVAL);
	in_off = 0;
	loff_t overlap = 2;
	CHECK_ERRNO("copy_file_range_overlap", copy_file_range(src, &in_off, src, &overlap, 5, 0), EINVAL);
	CHECK("copy_file_range_eof", copy_file_range(src, &(loff_t){100}, dst, NULL, 4, 0) == 0,
	      "copy past EOF not 0");

	int p[2];
	CHECK_OK("pipe", pipe(p));
	loff_t soff = 5;
	CHECK("splice_file_to_pipe", splice(src, &soff, p[1], NULL, 5, 0) == 5 && soff == 10,
	      "soff %lld", (long long)soff);
	int q[2];
	CHECK_OK("pipe2", pipe(q));
	CHECK("tee", tee(p[0], q[1], 5, 0) == 5, "tee failed");
	memset(buf, 0, sizeof(buf));
	CHECK("tee_copy", read(q[0], buf, sizeof(buf)) == 5 && memcmp(buf, "56789", 5) == 0,
	      "tee copy '%s'", buf);
	loff_t doff = 0;
	CHECK("splice_pipe_to_file", splice(p[0], NULL, dst, &doff, 5, 0) == 5 && doff == 5,
	      "doff %lld", (long long)doff);
	memset(buf, 0, sizeof(buf));
	CHECK("splice_data", pread(dst, buf, 5, 0) == 5 && memcmp(buf, "56789", 5) == 0, "dst '%s'", buf);
	CHECK_ERRNO("splice_two_files", splice(src, NULL, dst, NULL, 1, 0), EINVAL);
	CHECK_ERRNO("splice_pipe_offset", splice(p[0], &doff, dst, NULL, 1, 0), ESPIPE);
	CHECK_ERRNO("splice_nonblock_empty", splice(p[0], NULL, dst, NULL, 1, SPLICE_F_NONBLOCK), EAGAIN);
	CHECK_ERRNO("tee_same_pipe", tee(p[0], p[1], 1, 0), EINVAL);
	CHECK_ERRNO("tee_file", tee(src, p[1], 1, 0), EINVAL);

	int mfd = CHECK_OK("memfd_create", memfd_create("conformance", MFD_CLOEXEC));
	CHECK("memfd_cloexec", fcntl(mfd, F_GETFD) == FD_CLOEXEC, "no FD_CLOEXEC");
	CHECK("memfd_write", write(mfd, "memory", 6) == 6 && ftruncate(mfd, 4096) == 0, "write failed");
	struct stat st;
	CHECK("memfd_stat", fstat(mfd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 4096 &&
				    st.st_nlink == 0,
	      "mode %o size %lld nlink %ld", st.st_mode, (long long)st.st_size, (long)st.st_nlink);
	char link[64], target[256] = {0};
	snprintf(link, sizeof(link), "/proc/self/fd/%d", mfd);
	CHECK("memfd_name", readlink(link, target, sizeof(target) - 1) > 0 &&
				    strcmp(target, "/memfd:conformance (deleted)") == 0,
	      "link '%s'", target);
	char *map = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, mfd, 0);
	CHECK("memfd_mmap", map != MAP_FAILED && memcmp(map, "memory", 6) == 0, "mapping differs");
	if (map != MAP_FAILED)
		munmap(map, 4096);
	CHECK_ERRNO("memfd_bad_flags", memfd_create("x", 0x100), EINVAL);
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	CHECK_ERRNO("memfd_long_name", memfd_create(longname, 0), EINVAL);

	close(mfd);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
	close(src);
	close(dst);
	unlink(src_path);
	unlink(dst_path);
	return check_finish();
}
