/* Symbolic and hard links, stat/lstat, chmod, umask, access and utimensat in the scratch
 * directory. */
#include "../check.h"

#include <fcntl.h>

int main(void)
{
	char target[4096], symlink_path[4096], hardlink[4096], link_text[4096];
	scratch_path(target, sizeof(target), "target");
	scratch_path(symlink_path, sizeof(symlink_path), "symlink");
	scratch_path(hardlink, sizeof(hardlink), "hardlink");

	mode_t old_umask = umask(022);
	CHECK("umask_returns_previous", umask(077) == 022, "umask did not return the value set");
	int fd = CHECK_OK("create_under_umask", open(target, O_WRONLY | O_CREAT, 0666));
	struct stat st;
	CHECK("umask_applied", fstat(fd, &st) == 0 && (st.st_mode & 0777) == 0600, "mode %o",
	      st.st_mode & 0777);
	umask(old_umask);
	CHECK("write_target", write(fd, "0123456789", 10) == 10, "write failed");
	close(fd);

	CHECK_OK("symlink", symlink("target", symlink_path));
	CHECK_ERRNO("symlink_exists", symlink("target", symlink_path), EEXIST);
	memset(link_text, 0, sizeof(link_text));
	CHECK("readlink", readlink(symlink_path, link_text, sizeof(link_text)) == 6 &&
				  strcmp(link_text, "target") == 0,
	      "readlink gave '%s'", link_text);
	memset(link_text, 0, sizeof(link_text));
	CHECK("readlink_truncates", readlink(symlink_path, link_text, 3) == 3 &&
					    strcmp(link_text, "tar") == 0,
	      "readlink into 3 bytes gave '%s'", link_text);
	CHECK_ERRNO("readlink_not_a_link", readlink(target, link_text, sizeof(link_text)), EINVAL);
	CHECK_ERRNO("readlink_missing", readlink("/nonexistent/conformance", link_text, 10), ENOENT);
	CHECK("lstat_is_link", lstat(symlink_path, &st) == 0 && S_ISLNK(st.st_mode) && st.st_size == 6,
	      "mode %o size %lld", st.st_mode, (long long)st.st_size);
	CHECK("stat_follows_link", stat(symlink_path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 10,
	      "mode %o size %lld", st.st_mode, (long long)st.st_size);
	fd = open(symlink_path, O_RDONLY | O_NOFOLLOW);
	CHECK("open_nofollow", fd == -1 && errno == ELOOP, "open(O_NOFOLLOW) gave %d errno %d", fd,
	      errno);

	struct stat before;
	stat(target, &before);
	CHECK("nlink_one", before.st_nlink == 1, "nlink %lu", (unsigned long)before.st_nlink);
	CHECK_OK("link", link(target, hardlink));
	struct stat linked;
	CHECK("link_same_inode", stat(hardlink, &linked) == 0 && linked.st_ino == before.st_ino &&
					 linked.st_dev == before.st_dev && linked.st_nlink == 2,
	      "inode differs or nlink %lu", (unsigned long)linked.st_nlink);
	CHECK_ERRNO("link_exists", link(target, hardlink), EEXIST);
	CHECK_OK("unlink_one_name", unlink(target));
	CHECK("other_name_survives", stat(hardlink, &linked) == 0 && linked.st_nlink == 1 &&
					     linked.st_size == 10,
	      "nlink %lu size %lld", (unsigned long)linked.st_nlink, (long long)linked.st_size);
	CHECK_ERRNO("dangling_symlink", stat(symlink_path, &st), ENOENT);

	CHECK_OK("chmod", chmod(hardlink, 0640));
	CHECK("chmod_applied", stat(hardlink, &st) == 0 && (st.st_mode & 07777) == 0640, "mode %o",
	      st.st_mode & 07777);
	CHECK_OK("access_exists", access(hardlink, F_OK));
	CHECK_ERRNO("access_missing", access(target, F_OK), ENOENT);

	struct timespec times[2] = {{.tv_sec = 1000000000, .tv_nsec = 0},
				    {.tv_sec = 1234567890, .tv_nsec = 0}};
	CHECK_OK("utimensat", utimensat(AT_FDCWD, hardlink, times, 0));
	CHECK("utimensat_applied", stat(hardlink, &st) == 0 && st.st_atime == 1000000000 &&
					   st.st_mtime == 1234567890,
	      "atime %lld mtime %lld", (long long)st.st_atime, (long long)st.st_mtime);

	CHECK("stat_root", stat("/", &st) == 0 && S_ISDIR(st.st_mode), "/ is not a directory");
	CHECK_ERRNO("stat_through_file", stat("/etc/passwd/x", &st), ENOTDIR);
	CHECK_ERRNO("stat_empty_path", stat("", &st), ENOENT);
	return check_finish();
}
