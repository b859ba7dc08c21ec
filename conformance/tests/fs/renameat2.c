/* renameat2 on tmpfs: RENAME_NOREPLACE, RENAME_EXCHANGE (files, directories, across directories) and
 * RENAME_WHITEOUT (a 0/0 character device left behind), with the flag checks. */
#include "../check.h"

#include <fcntl.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#define RENAME_EXCHANGE (1 << 1)
#define RENAME_WHITEOUT (1 << 2)
#endif

static long rename2(const char *old, const char *new, unsigned flags)
{
	return syscall(SYS_renameat2, AT_FDCWD, old, AT_FDCWD, new, flags);
}

static ino_t ino_of(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 ? st.st_ino : 0;
}

static nlink_t nlink_of(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 ? st.st_nlink : 0;
}

int main(void)
{
	char base[2048], a[4096], b[4096], c[4096], d1[4096], d2[4096], sub[4096], inner[4096];
	tmpfs_scratch_path(base, sizeof(base), "renameat2");
	mkdir(base, 0755);
	snprintf(a, sizeof(a), "%s/a", base);
	snprintf(b, sizeof(b), "%s/b", base);
	snprintf(c, sizeof(c), "%s/c", base);
	snprintf(d1, sizeof(d1), "%s/d1", base);
	snprintf(d2, sizeof(d2), "%s/d2", base);
	snprintf(sub, sizeof(sub), "%s/d1/sub", base);
	snprintf(inner, sizeof(inner), "%s/d1/sub/inner", base);
	close(open(a, O_WRONLY | O_CREAT, 0644));
	close(open(b, O_WRONLY | O_CREAT, 0644));
	mkdir(d1, 0755);
	mkdir(d2, 0755);
	mkdir(sub, 0755);

	CHECK_ERRNO("unknown_flag", rename2(a, c, 1 << 3), EINVAL);
	CHECK_ERRNO("exchange_noreplace", rename2(a, b, RENAME_EXCHANGE | RENAME_NOREPLACE), EINVAL);
	CHECK_ERRNO("exchange_whiteout", rename2(a, b, RENAME_EXCHANGE | RENAME_WHITEOUT), EINVAL);

	CHECK_ERRNO("noreplace_exists", rename2(a, b, RENAME_NOREPLACE), EEXIST);
	ino_t ia = ino_of(a), ib = ino_of(b);
	CHECK_OK("noreplace_absent", rename2(a, c, RENAME_NOREPLACE));
	CHECK("noreplace_moved", ino_of(c) == ia && ino_of(a) == 0, "not moved");
	rename(c, a);

	CHECK_OK("exchange_files", rename2(a, b, RENAME_EXCHANGE));
	CHECK("files_swapped", ino_of(a) == ib && ino_of(b) == ia, "inodes not swapped");
	CHECK_ERRNO("exchange_missing", rename2(a, c, RENAME_EXCHANGE), ENOENT);
	CHECK_ERRNO("exchange_missing_source", rename2(c, a, RENAME_EXCHANGE), ENOENT);

	/* A directory and a file swap across directories: link counts follow the directory. */
	char moved_file[4096];
	snprintf(moved_file, sizeof(moved_file), "%s/d2/file", base);
	close(open(moved_file, O_WRONLY | O_CREAT, 0644));
	ino_t isub = ino_of(sub), ifile = ino_of(moved_file);
	nlink_t n1 = nlink_of(d1), n2 = nlink_of(d2);
	CHECK_OK("exchange_dir_and_file", rename2(sub, moved_file, RENAME_EXCHANGE));
	CHECK("dir_and_file_swapped", ino_of(sub) == ifile && ino_of(moved_file) == isub,
	      "not swapped");
	CHECK("parent_links_follow_dir", nlink_of(d1) == n1 - 1 && nlink_of(d2) == n2 + 1,
	      "d1 %lu->%lu d2 %lu->%lu", (unsigned long)n1, (unsigned long)nlink_of(d1),
	      (unsigned long)n2, (unsigned long)nlink_of(d2));
	CHECK_OK("exchange_back", rename2(sub, moved_file, RENAME_EXCHANGE));
	mkdir(inner, 0755);
	CHECK_ERRNO("exchange_into_own_subtree", rename2(d1, inner, RENAME_EXCHANGE), EINVAL);
	CHECK_ERRNO("exchange_subtree_reversed", rename2(inner, d1, RENAME_EXCHANGE), EINVAL);
	CHECK_OK("exchange_dirs", rename2(d1, d2, RENAME_EXCHANGE));
	CHECK("dirs_swapped", ino_of(moved_file) == 0 && access(inner, F_OK) != 0, "dirs not swapped");
	rename2(d1, d2, RENAME_EXCHANGE);

	/* RENAME_WHITEOUT leaves a whiteout (character device 0/0) at the old name. */
	CHECK_OK("whiteout", rename2(a, c, RENAME_WHITEOUT));
	struct stat st;
	CHECK("whiteout_left", lstat(a, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0),
	      "mode %o rdev %lx", st.st_mode, (unsigned long)st.st_rdev);
	CHECK("whiteout_moved", ino_of(c) == ib, "file not moved");
	CHECK_ERRNO("whiteout_open_enxio", open(a, O_RDONLY), ENXIO);

	unlink(a);
	unlink(b);
	unlink(c);
	unlink(moved_file);
	rmdir(inner);
	rmdir(sub);
	rmdir(d1);
	rmdir(d2);
	rmdir(base);
	return check_finish();
}
