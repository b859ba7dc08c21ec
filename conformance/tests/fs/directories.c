/* Directories in the scratch directory: mkdir, getdents64, rename, unlink, rmdir, getcwd and
 * chdir, with their errors. */
#include "../check.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entries of `path`, sorted and joined with ','. */
static void list_directory(const char *path, char *out, size_t size)
{
	char *names[64];
	size_t count = 0;
	out[0] = '\0';
	DIR *dir = opendir(path);
	if (dir == NULL)
		return;
	for (struct dirent *entry; (entry = readdir(dir)) != NULL && count < 64;)
		names[count++] = strdup(entry->d_name);
	closedir(dir);
	qsort(names, count, sizeof(names[0]), compare_names);
	for (size_t i = 0; i < count; i++) {
		strncat(out, names[i], size - strlen(out) - 1);
		if (i + 1 < count)
			strncat(out, ",", size - strlen(out) - 1);
		free(names[i]);
	}
}

static void create_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0)
		close(fd);
}

int main(void)
{
	char dir[1024], a[2048], b[2048], sub[2048], listing[1024];
	scratch_path(dir, sizeof(dir), "dir");
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	snprintf(sub, sizeof(sub), "%s/sub", dir);

	CHECK_OK("mkdir", mkdir(dir, 0755));
	CHECK_ERRNO("mkdir_exists", mkdir(dir, 0755), EEXIST);
	CHECK_ERRNO("mkdir_missing_parent", mkdir("/nonexistent/conformance/dir", 0755), ENOENT);
	struct stat st;
	CHECK("stat_directory", stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0755,
	      "mode %o", st.st_mode);

	list_directory(dir, listing, sizeof(listing));
	CHECK("getdents_empty", strcmp(listing, ".,..") == 0, "listed '%s'", listing);
	create_file(a);
	CHECK_OK("mkdir_sub", mkdir(sub, 0700));
	list_directory(dir, listing, sizeof(listing));
	CHECK("getdents_entries", strcmp(listing, ".,..,a,sub") == 0, "listed '%s'", listing);

	int dirfd = CHECK_OK("open_directory", open(dir, O_RDONLY | O_DIRECTORY));
	char raw[4096];
	long got = syscall(SYS_getdents64, dirfd, raw, sizeof(raw));
	CHECK("getdents64_raw", got > 0, "getdents64 returned %ld", got);
	CHECK("getdents64_at_end", syscall(SYS_getdents64, dirfd, raw, sizeof(raw)) == 0,
	      "second getdents64 did not return 0");
	lseek(dirfd, 0, SEEK_SET);
	CHECK_ERRNO("getdents64_small_buffer", syscall(SYS_getdents64, dirfd, raw, 8), EINVAL);
	CHECK_ERRNO("read_directory", read(dirfd, raw, sizeof(raw)), EISDIR);
	close(dirfd);
	CHECK_ERRNO("getdents64_on_file",
		    ({
			    int fd = open(a, O_RDONLY);
			    long r = syscall(SYS_getdents64, fd, raw, sizeof(raw));
			    int saved = errno;
			    close(fd);
			    errno = saved;
			    r;
		    }),
		    ENOTDIR);

	CHECK_OK("rename", rename(a, b));
	CHECK_ERRNO("rename_source_gone", access(a, F_OK), ENOENT);
	CHECK_OK("rename_target_exists", access(b, F_OK));
	create_file(a);
	CHECK_OK("rename_replaces", rename(a, b));
	list_directory(dir, listing, sizeof(listing));
	CHECK("rename_replaced_listing", strcmp(listing, ".,..,b,sub") == 0, "listed '%s'", listing);
	CHECK_ERRNO("rename_file_over_directory", rename(b, sub), EISDIR);
	CHECK_ERRNO("rename_missing", rename(a, b), ENOENT);

	CHECK_ERRNO("rmdir_not_empty", rmdir(dir), ENOTEMPTY);
	CHECK_ERRNO("rmdir_file", rmdir(b), ENOTDIR);
	CHECK_ERRNO("unlink_directory", unlink(sub), EISDIR);
	CHECK_OK("unlink", unlink(b));
	CHECK_ERRNO("unlink_again", unlink(b), ENOENT);
	CHECK_OK("rmdir", rmdir(sub));

	char cwd[4096];
	CHECK_OK("chdir", chdir(dir));
	CHECK("getcwd_after_chdir", getcwd(cwd, sizeof(cwd)) != NULL && strcmp(cwd, dir) == 0,
	      "getcwd differs from the directory entered");
	CHECK_ERRNO("getcwd_small_buffer", getcwd(cwd, 2) == NULL ? -1 : 0, ERANGE);
	create_file("a");
	CHECK_OK("relative_create_lands_in_cwd", access(a, F_OK));
	CHECK_OK("relative_unlink", unlink("a"));
	CHECK_OK("chdir_parent", chdir(".."));
	CHECK_OK("rmdir_emptied", rmdir(dir));
	CHECK_ERRNO("chdir_removed", chdir(dir), ENOENT);
	return check_finish();
}
