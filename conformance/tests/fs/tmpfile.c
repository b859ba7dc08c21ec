/* O_TMPFILE on tmpfs: an unnamed file in a directory, named later by linkat(AT_EMPTY_PATH) or through
 * /proc/self/fd with AT_SYMLINK_FOLLOW; O_EXCL forbids naming it; flag checks. */
#include "../check.h"

#include <fcntl.h>

int main(void)
{
	char dir[2048], named[4096], second[4096], missing[4096], proc[64];
	tmpfs_scratch_path(dir, sizeof(dir), "tmpfile");
	snprintf(named, sizeof(named), "%s/named", dir);
	snprintf(second, sizeof(second), "%s/second", dir);
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	mkdir(dir, 0755);

	CHECK_ERRNO("needs_write_access", open(dir, O_TMPFILE | O_RDONLY, 0600), EINVAL);
	CHECK_ERRNO("no_creat", open(dir, O_TMPFILE | O_CREAT | O_RDWR, 0600), EINVAL);
	CHECK_ERRNO("missing_dir", open(missing, O_TMPFILE | O_RDWR, 0600), ENOENT);

	int fd = CHECK_OK("open_tmpfile", open(dir, O_TMPFILE | O_RDWR, 0600));
	struct stat st;
	CHECK("unnamed_regular", fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 0 &&
					 (st.st_mode & 0777) == 0600,
	      "mode %o nlink %lu", st.st_mode, (unsigned long)st.st_nlink);
	CHECK("write", write(fd, "data", 4) == 4, "write failed");
	CHECK("getfl_says_o_tmpfile", (fcntl(fd, F_GETFL) & O_TMPFILE) == O_TMPFILE, "F_GETFL %#x",
	      fcntl(fd, F_GETFL));
	CHECK_ERRNO("not_a_dir", open(named, O_TMPFILE | O_RDWR, 0600), ENOENT);
	CHECK_OK("linkat_empty_path", linkat(fd, "", AT_FDCWD, named, AT_EMPTY_PATH));
	CHECK("named_has_data", stat(named, &st) == 0 && st.st_size == 4 && st.st_nlink == 1,
	      "size %lld nlink %lu", (long long)st.st_size, (unsigned long)st.st_nlink);
	CHECK_ERRNO("linkat_exists", linkat(fd, "", AT_FDCWD, named, AT_EMPTY_PATH), EEXIST);
	close(fd);

	fd = CHECK_OK("open_tmpfile_again", open(dir, O_TMPFILE | O_WRONLY, 0644));
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	CHECK_OK("linkat_proc_fd", linkat(AT_FDCWD, proc, AT_FDCWD, second, AT_SYMLINK_FOLLOW));
	CHECK("second_named", stat(second, &st) == 0 && S_ISREG(st.st_mode), "stat failed");
	close(fd);

	fd = CHECK_OK("open_tmpfile_excl", open(dir, O_TMPFILE | O_EXCL | O_RDWR, 0600));
	CHECK_ERRNO("excl_not_linkable", linkat(fd, "", AT_FDCWD, missing, AT_EMPTY_PATH), ENOENT);
	close(fd);

	fd = open(named, O_RDONLY);
	CHECK_ERRNO("file_is_not_a_dir", open(named, O_TMPFILE | O_RDWR, 0600), ENOTDIR);
	close(fd);

	unlink(named);
	unlink(second);
	rmdir(dir);
	return check_finish();
}
