/* Which error wins when a call has several, as Linux orders them: for unlink, rmdir, rename
 * and link a trailing slash and a directory moving under itself come before permissions, and
 * permissions (uid 1000 in a directory it may not write) before the file's type; chown(-1, -1)
 * of a set-id file is a chmod (EPERM for a non-owner, the bits cleared for the owner). And
 * fexecve runs the file its descriptor holds, never looked up again: unlinked, a memfd, or
 * reached through a directory that was renamed; a script through a close-on-exec descriptor is
 * ENOENT (its interpreter could not open /dev/fd/N), through an inherited one it runs. The
 * scratch directory's ancestors must be searchable by uid 1000. (The read-only-mount cases are
 * an acceptance test: crates/runsc/tests/acceptance/volume.rs.) */
#include "../check.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define USER 1000
#define EXIT_MARK 42

static char base[4096];

static const char *at(const char *name)
{
	static char bufs[4][sizeof(base) + 256];
	static int next;
	char *buf = bufs[next++ % 4];
	snprintf(buf, sizeof(bufs[0]), "%s/%s", base, name);
	return buf;
}

static void setup_fail(const char *what)
{
	printf("FAIL setup: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void make_file(const char *name, mode_t mode, uid_t uid)
{
	int fd = open(at(name), O_CREAT | O_WRONLY | O_TRUNC, 0600);
	/* chown clears set-id bits: the mode comes after it. */
	if (fd < 0 || fchown(fd, uid, uid) != 0 || fchmod(fd, mode) != 0)
		setup_fail(name);
	close(fd);
}

static void make_dir(const char *name, mode_t mode, uid_t uid)
{
	if (mkdir(at(name), 0700) != 0 || chown(at(name), uid, uid) != 0 || chmod(at(name), mode) != 0)
		setup_fail(name);
}

static int mode_of(const char *name)
{
	struct stat st;
	return stat(at(name), &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

/* As uid 1000: "locked" is root's 0755 directory, "open" a 0777 one holding its own files. */
static void as_user(void)
{
	if (setgroups(0, NULL) != 0 || setgid(USER) != 0 || setuid(USER) != 0)
		setup_fail("dropping to uid 1000");

	/* unlink and rmdir: a trailing slash, then permissions, then the type. */
	CHECK_ERRNO("unlink_dir_unwritable_parent", unlink(at("locked/dir")), EACCES);
	CHECK_ERRNO("rmdir_file_unwritable_parent", rmdir(at("locked/file")), EACCES);
	CHECK_ERRNO("unlink_missing_unwritable_parent", unlink(at("locked/missing")), ENOENT);
	CHECK_ERRNO("unlink_file_slash_before_permission", unlink(at("locked/file/")), ENOTDIR);
	CHECK_ERRNO("unlink_dir_slash_before_permission", unlink(at("locked/dir/")), EISDIR);
	CHECK_ERRNO("unlink_own_dir", unlink(at("open/d")), EISDIR);
	CHECK_ERRNO("rmdir_own_file", rmdir(at("open/f")), ENOTDIR);

	/* rename: slashes and loops, then permissions, then the types of source and target. */
	CHECK_ERRNO("rename_file_over_dir_unwritable", rename(at("locked/file"), at("locked/dir")),
		    EACCES);
	CHECK_ERRNO("rename_dir_over_file_unwritable", rename(at("locked/dir"), at("locked/file")),
		    EACCES);
	CHECK_ERRNO("rename_dir_over_full_unwritable", rename(at("locked/dir"), at("locked/full")),
		    EACCES);
	CHECK_ERRNO("rename_into_unwritable_over_dir", rename(at("open/f"), at("locked/dir")),
		    EACCES);
	CHECK_ERRNO("rename_missing_unwritable", rename(at("locked/missing"), at("locked/x")),
		    ENOENT);
	CHECK_ERRNO("rename_file_slash_before_permission",
		    rename(at("locked/file/"), at("locked/x")), ENOTDIR);
	CHECK_ERRNO("rename_target_slash_before_permission",
		    rename(at("locked/file"), at("locked/x/")), ENOTDIR);
	CHECK_ERRNO("rename_dir_under_itself_before_permission",
		    rename(at("locked/dir"), at("locked/dir/sub")), EINVAL);
	CHECK_OK("rename_to_itself_needs_no_permission", rename(at("locked/file"), at("locked/file")));
	CHECK_ERRNO("rename_own_file_over_own_dir", rename(at("open/f"), at("open/d")), EISDIR);
	CHECK_ERRNO("rename_own_dir_over_own_file", rename(at("open/d"), at("open/f")), ENOTDIR);

	/* link: permissions before the type. */
	CHECK_ERRNO("link_into_unwritable", link(at("open/f"), at("locked/l")), EACCES);
	CHECK_ERRNO("link_own_dir", link(at("open/d"), at("open/l")), EPERM);

	/* chown(-1, -1) clears set-id bits, a change only the owner may make. */
	CHECK_ERRNO("chown_unchanged_setuid_not_owner", chown(at("locked/suid"), -1, -1), EPERM);
	CHECK(
		"chown_unchanged_setuid_not_owner_keeps_mode", mode_of("locked/suid") == 04755,
		"mode %o", mode_of("locked/suid"));
	CHECK_OK("chown_unchanged_plain_not_owner", chown(at("locked/file"), -1, -1));
	CHECK_OK("chown_unchanged_setuid_owner", chown(at("open/mysuid"), -1, -1));
	CHECK("chown_unchanged_clears_setuid", mode_of("open/mysuid") == 0755, "mode %o",
	      mode_of("open/mysuid"));
	CHECK_OK("chown_unchanged_setgid_owner", chown(at("open/mysgid"), -1, -1));
	CHECK("chown_unchanged_clears_group_exec_setgid", mode_of("open/mysgid") == 0755, "mode %o",
	      mode_of("open/mysgid"));
}

/* Copies this program into `fd`. */
static void copy_self_to(int fd)
{
	int in = open("/proc/self/exe", O_RDONLY);
	char buf[65536];
	ssize_t n;
	if (in < 0)
		setup_fail("opening /proc/self/exe");
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(fd, buf, n) != n)
			setup_fail("copying this program");
	close(in);
}

/* execveat(dirfd, path, AT_EMPTY_PATH when path is "") in a child: its exit status if it ran
 * (this program exits EXIT_MARK when run with "mark"), or 1000 + the errno of the exec. */
static int exec_status(int dirfd, const char *path)
{
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[] = {"error_order", "mark", NULL};
		char *envp[] = {NULL};
		syscall(SYS_execveat, dirfd, path, argv, envp, path[0] ? 0 : AT_EMPTY_PATH);
		_exit(errno == 0 ? 99 : errno > 100 ? 100 : errno);
	}
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	int code = WEXITSTATUS(status);
	return code == EXIT_MARK ? code : 1000 + code;
}

static void fexecve_cases(void)
{
	int fd = open(at("unlinked"), O_CREAT | O_RDWR | O_CLOEXEC, 0755);
	if (fd < 0)
		setup_fail("unlinked");
	copy_self_to(fd);
	close(fd);
	fd = open(at("unlinked"), O_RDONLY | O_CLOEXEC);
	if (fd < 0 || unlink(at("unlinked")) != 0)
		setup_fail("unlinking the program");
	int status = exec_status(fd, "");
	CHECK("fexecve_unlinked_file", status == EXIT_MARK, "status %d", status);
	close(fd);

	fd = memfd_create("program", MFD_CLOEXEC);
	if (fd < 0)
		setup_fail("memfd_create");
	copy_self_to(fd);
	status = exec_status(fd, "");
	CHECK("fexecve_memfd", status == EXIT_MARK, "status %d", status);
	close(fd);

	make_dir("before", 0755, 0);
	fd = open(at("before/program"), O_CREAT | O_WRONLY | O_CLOEXEC, 0755);
	if (fd < 0)
		setup_fail("before/program");
	copy_self_to(fd);
	close(fd);
	int dir = open(at("before"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0 || rename(at("before"), at("after")) != 0)
		setup_fail("renaming the directory");
	status = exec_status(dir, "program");
	CHECK("execveat_relative_to_renamed_dir", status == EXIT_MARK, "status %d", status);
	close(dir);

	fd = open(at("script"), O_CREAT | O_WRONLY | O_CLOEXEC, 0755);
	if (fd < 0 || write(fd, "#!/bin/sh\nexit 42\n", 18) != 18)
		setup_fail("script");
	close(fd);
	fd = open(at("script"), O_RDONLY | O_CLOEXEC);
	status = exec_status(fd, "");
	CHECK("fexecve_script_cloexec_fd", status == 1000 + ENOENT, "status %d", status);
	close(fd);
	fd = open(at("script"), O_RDONLY);
	status = exec_status(fd, "");
	CHECK("fexecve_script_inherited_fd", status == EXIT_MARK, "status %d", status);
	close(fd);

	int pipes[2];
	if (pipe2(pipes, O_CLOEXEC) != 0)
		setup_fail("pipe");
	status = exec_status(pipes[0], "");
	CHECK("fexecve_pipe", status == 1000 + EACCES, "status %d", status);
	close(pipes[0]);
	close(pipes[1]);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "mark") == 0)
		return EXIT_MARK;
	snprintf(base, sizeof(base), "%s/error_order", scratch_dir());
	chmod(scratch_dir(), 0755);
	if (mkdir(base, 0755) != 0)
		setup_fail(base);
	umask(0);
	make_dir("locked", 0755, 0);
	make_dir("locked/dir", 0755, 0);
	make_dir("locked/full", 0755, 0);
	make_file("locked/full/x", 0644, 0);
	make_file("locked/file", 0644, 0);
	make_file("locked/suid", 04755, 0);
	make_dir("open", 0777, 0);
	make_file("open/f", 0644, USER);
	make_dir("open/d", 0755, USER);
	make_file("open/mysuid", 04755, USER);
	make_file("open/mysgid", 02755, USER);

	pid_t pid = fork();
	if (pid == 0) {
		as_user();
		return check_finish();
	}
	int status;
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		check_failures++;
	fexecve_cases();
	return check_finish();
}
