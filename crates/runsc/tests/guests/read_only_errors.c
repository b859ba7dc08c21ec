/* Changes refused in directory argv[1], on a read-only filesystem holding "file", "dir" and
 * "full/x": one line per call, its name and the errno it failed with, so the order in which
 * Linux reports errors (a read-only mount before the name is looked up, a bad last component
 * or an existing name before that) shows in the output. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TRY(call)                                                                                  \
	do {                                                                                       \
		errno = 0;                                                                         \
		long result_ = (long)(call);                                                       \
		printf("%s: %s\n", #call, result_ < 0 ? strerrorname_np(errno) : "allowed");      \
	} while (0)

int main(int argc, char **argv)
{
	if (argc < 2 || chdir(argv[1]) != 0) {
		perror("chdir");
		return 2;
	}
	TRY(unlink("dir"));
	TRY(unlink("missing"));
	TRY(unlink("file/"));
	TRY(unlink("dir/"));
	TRY(unlink("."));
	TRY(rmdir("file"));
	TRY(rmdir("missing"));
	TRY(rmdir("file/"));
	TRY(rmdir("full"));
	TRY(rmdir("dir/."));
	TRY(rmdir("dir/.."));
	TRY(rename("file", "dir"));
	TRY(rename("dir", "file"));
	TRY(rename("missing", "x"));
	TRY(rename("file/", "x"));
	TRY(rename("dir", "dir/sub"));
	TRY(rename("file", "file"));
	TRY(link("file", "dir"));
	TRY(link("dir", "new"));
	TRY(link("file", "new/"));
	TRY(mkdir("dir", 0755));
	TRY(mkdir("new", 0755));
	TRY(symlink("x", "file"));
	TRY(mknod("file", S_IFIFO | 0644, 0));
	TRY(open("missing", O_CREAT | O_WRONLY, 0644));
	TRY(open("file", O_CREAT | O_EXCL | O_WRONLY, 0644));
	TRY(open("dir", O_WRONLY));
	TRY(truncate("dir", 0));
	TRY(chmod("missing", 0));
	return 0;
}
