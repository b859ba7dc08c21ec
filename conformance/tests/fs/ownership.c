/* Ownership and the older time calls: chown/lchown/fchown/fchownat as root, fchmod,
 * utimes/utime/futimesat. */
#include "../check.h"

#include <fcntl.h>
#include <sys/time.h>
#include <utime.h>

int main(void)
{
	char path[4096], link[4096];
	struct stat st;
	scratch_path(path, sizeof(path), "owned");
	scratch_path(link, sizeof(link), "owned_link");

	int fd = CHECK_OK("create", open(path, O_RDWR | O_CREAT | O_TRUNC, 0644));
	CHECK_OK("chown", chown(path, 1234, 5678));
	CHECK("chown_sets_ids", stat(path, &st) == 0 && st.st_uid == 1234 && st.st_gid == 5678,
	      "uid %u gid %u", st.st_uid, st.st_gid);
	CHECK_OK("chown_unchanged", chown(path, -1, 42));
	CHECK("chown_minus_one_keeps_uid", stat(path, &st) == 0 && st.st_uid == 1234 && st.st_gid == 42,
	      "uid %u gid %u", st.st_uid, st.st_gid);
	CHECK_OK("fchown", fchown(fd, 0, 0));
	CHECK("fchown_sets_ids", fstat(fd, &st) == 0 && st.st_uid == 0 && st.st_gid == 0,
	      "uid %u gid %u", st.st_uid, st.st_gid);

	CHECK_OK("fchmod_setuid", fchmod(fd, 04755));
	CHECK("fchmod_sets_mode", fstat(fd, &st) == 0 && (st.st_mode & 07777) == 04755,
	      "mode %o", st.st_mode);
	CHECK_OK("chown_again", fchown(fd, 7, 7));
	CHECK("chown_clears_setuid", fstat(fd, &st) == 0 && (st.st_mode & 07777) == 0755,
	      "mode %o", st.st_mode);

	unlink(link);
	CHECK_OK("symlink", symlink(path, link));
	CHECK_OK("lchown", lchown(link, 99, 98));
	struct stat lst;
	CHECK("lchown_changes_link_only",
	      lstat(link, &lst) == 0 && lst.st_uid == 99 && stat(path, &st) == 0 && st.st_uid == 7,
	      "link uid %u file uid %u", lst.st_uid, st.st_uid);
	CHECK_OK("fchownat_nofollow", fchownat(AT_FDCWD, link, 11, 12, AT_SYMLINK_NOFOLLOW));
	CHECK("fchownat_nofollow_link", lstat(link, &lst) == 0 && lst.st_uid == 11,
	      "link uid %u", lst.st_uid);
	CHECK_OK("fchownat_empty_path", fchownat(fd, "", 21, 22, AT_EMPTY_PATH));
	CHECK("fchownat_empty_path_is_fd", fstat(fd, &st) == 0 && st.st_uid == 21 && st.st_gid == 22,
	      "uid %u gid %u", st.st_uid, st.st_gid);
	CHECK_ERRNO("fchownat_bad_flags", fchownat(AT_FDCWD, path, 0, 0, 0x4000000), EINVAL);
	CHECK_ERRNO("chown_missing", chown("/nonexistent/file", 0, 0), ENOENT);
	CHECK_ERRNO("fchown_bad_fd", fchown(-1, 0, 0), EBADF);

	struct timeval tv[2] = {{.tv_sec = 1000, .tv_usec = 5}, {.tv_sec = 2000, .tv_usec = 7}};
	CHECK_OK("utimes", utimes(path, tv));
	CHECK("utimes_sets_times",
	      stat(path, &st) == 0 && st.st_atim.tv_sec == 1000 && st.st_atim.tv_nsec == 5000 &&
		      st.st_mtim.tv_sec == 2000 && st.st_mtim.tv_nsec == 7000,
	      "atime %ld.%ld mtime %ld.%ld", (long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
	      (long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
	struct timeval bad[2] = {{.tv_sec = 1, .tv_usec = 1000000}, {0}};
	CHECK_ERRNO("utimes_bad_usec", utimes(path, bad), EINVAL);
	struct utimbuf ub = {.actime = 3000, .modtime = 4000};
	CHECK_OK("utime", utime(path, &ub));
	CHECK("utime_sets_times",
	      stat(path, &st) == 0 && st.st_atime == 3000 && st.st_mtime == 4000 &&
		      st.st_mtim.tv_nsec == 0,
	      "atime %ld mtime %ld", (long)st.st_atime, (long)st.st_mtime);
	CHECK_OK("futimesat", futimesat(AT_FDCWD, path, tv));
	CHECK("futimesat_sets_mtime", stat(path, &st) == 0 && st.st_mtime == 2000, "mtime %ld",
	      (long)st.st_mtime);

	close(fd);
	unlink(link);
	unlink(path);
	return check_finish();
}
