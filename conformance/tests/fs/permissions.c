/* Permission checks as an unprivileged user: root sets up files and directories with various
 * modes, then a child drops to uid 1000 (groups 100) and reports what open, exec, create,
 * remove, rename, chmod, chown, utimes, truncate and access may do; sticky and set-group-ID
 * directories; set-user-ID executables, and no_new_privs ignoring them. The scratch directory's
 * ancestors must be searchable by uid 1000 (natively it is under the checkout's target/). */
#include "../check.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>

#define USER 1000
#define GROUP 100
#define OTHER_ID 1234
#define OTHER_GROUP 4321

static char base[4096];

/* `name` under the test's directory (a few static buffers, for several paths in one call). */
static const char *at(const char *name)
{
	static char bufs[4][sizeof(base) + 256];
	static int next;
	char *buf = bufs[next++ % 4];
	snprintf(buf, sizeof(bufs[0]), "%s/%s", base, name);
	return buf;
}

static void make_file(const char *name, mode_t mode, uid_t uid, gid_t gid)
{
	int fd = open(at(name), O_CREAT | O_WRONLY | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "data", 4) != 4 || fchown(fd, uid, gid) != 0 || fchmod(fd, mode) != 0) {
		printf("FAIL setup: %s: %s\n", name, strerror(errno));
		exit(2);
	}
	close(fd);
}

static void make_dir(const char *name, mode_t mode, uid_t uid, gid_t gid)
{
	if (mkdir(at(name), 0700) != 0 || chown(at(name), uid, gid) != 0 || chmod(at(name), mode) != 0) {
		printf("FAIL setup: %s: %s\n", name, strerror(errno));
		exit(2);
	}
}

/* A copy of this program at `name`, for exec cases. */
static void copy_self(const char *name, mode_t mode, uid_t uid, gid_t gid)
{
	int in = open("/proc/self/exe", O_RDONLY);
	int out = open(at(name), O_CREAT | O_WRONLY | O_TRUNC, 0700);
	char buf[65536];
	ssize_t n;
	if (in < 0 || out < 0) {
		printf("FAIL setup: copy to %s: %s\n", name, strerror(errno));
		exit(2);
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, n) != n) {
			printf("FAIL setup: copy to %s: %s\n", name, strerror(errno));
			exit(2);
		}
	}
	/* chown clears set-id bits: the mode comes after it. */
	if (fchown(out, uid, gid) != 0 || fchmod(out, mode) != 0) {
		printf("FAIL setup: mode of %s: %s\n", name, strerror(errno));
		exit(2);
	}
	close(in);
	close(out);
}

/* Runs `path print-ids` and returns what it printed ("ruid euid rgid egid"), or the errno of
 * the failed exec as "errno N". */
static const char *run_ids(const char *path, int no_new_privs)
{
	static char out[128];
	int fds[2];
	memset(out, 0, sizeof(out));
	if (pipe(fds) != 0)
		return "pipe failed";
	pid_t pid = fork();
	if (pid == 0) {
		dup2(fds[1], 1);
		if (no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
			_exit(3);
		char *argv[] = {(char *)path, "print-ids", NULL};
		execv(path, argv);
		printf("errno %d", errno);
		fflush(stdout);
		_exit(0);
	}
	close(fds[1]);
	ssize_t n, done = 0;
	while ((n = read(fds[0], out + done, sizeof(out) - 1 - done)) > 0)
		done += n;
	close(fds[0]);
	waitpid(pid, NULL, 0);
	return out;
}

static int mode_of(const char *name)
{
	struct stat st;
	return stat(at(name), &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

static void drop_to_user(void)
{
	gid_t groups[] = {GROUP};
	if (setgroups(1, groups) != 0 || setgid(USER) != 0 || setuid(USER) != 0) {
		printf("FAIL setup: dropping to uid %d: %s\n", USER, strerror(errno));
		exit(2);
	}
}

static void as_user(void)
{
	struct stat st;
	char ids[64];
	drop_to_user();

	/* Opening by access mode. */
	CHECK_ERRNO("open_0600_of_root", open(at("secret"), O_RDONLY), EACCES);
	int fd = CHECK_OK("open_0644_read", open(at("readable"), O_RDONLY));
	close(fd);
	CHECK_ERRNO("open_0644_write", open(at("readable"), O_WRONLY), EACCES);
	CHECK_ERRNO("open_0644_rdwr", open(at("readable"), O_RDWR), EACCES);
	CHECK_ERRNO("open_0644_trunc", open(at("readable"), O_RDONLY | O_TRUNC), EACCES);
	fd = CHECK_OK("open_group_member", open(at("groupfile"), O_RDONLY));
	close(fd);
	CHECK_ERRNO("group_class_decides", open(at("groupdenied"), O_RDONLY), EACCES);
	fd = CHECK_OK("open_0666_write", open(at("shared"), O_WRONLY));
	close(fd);
	CHECK_ERRNO("open_noatime_not_owner", open(at("readable"), O_RDONLY | O_NOATIME), EPERM);
	fd = CHECK_OK("open_noatime_owner", open(at("owned_rootgroup"), O_RDONLY | O_NOATIME));
	close(fd);

	/* Host files (through the Gofer, sandboxed) are checked against their host modes. */
	if (stat("/etc/shadow", &st) == 0 && !(st.st_mode & S_IROTH))
		CHECK_ERRNO("open_host_shadow", open("/etc/shadow", O_RDONLY), EACCES);
	if (stat("/root", &st) == 0 && st.st_uid == 0 && !(st.st_mode & S_IXOTH))
		CHECK_ERRNO("walk_host_root_home", stat("/root/.", &st), EACCES);
	fd = CHECK_OK("open_host_passwd", open("/etc/passwd", O_RDONLY));
	close(fd);

	/* Search permission on the way. */
	CHECK_ERRNO("walk_closed_dir", open(at("closed/f"), O_RDONLY), EACCES);
	CHECK_ERRNO("stat_in_closed_dir", stat(at("closed/f"), &st), EACCES);
	CHECK_ERRNO("chdir_closed_dir", chdir(at("closed")), EACCES);
	fd = CHECK_OK("walk_search_only_dir", open(at("searchonly/f"), O_RDONLY));
	close(fd);
	CHECK_ERRNO("list_search_only_dir", open(at("searchonly"), O_RDONLY | O_DIRECTORY), EACCES);

	/* Changing a directory needs write and search. */
	CHECK_ERRNO("create_in_0755", open(at("rodir/new"), O_CREAT | O_WRONLY, 0644), EACCES);
	CHECK_ERRNO("mkdir_in_0755", mkdir(at("rodir/newdir"), 0755), EACCES);
	CHECK_ERRNO("mkfifo_in_0755", mkfifo(at("rodir/fifo"), 0644), EACCES);
	CHECK_ERRNO("symlink_in_0755", symlink("x", at("rodir/link")), EACCES);
	/* (Linking a file of one's own: Linux's protected_hardlinks may refuse others'.) */
	CHECK_ERRNO("link_in_0755", link(at("open/mine"), at("rodir/hard")), EACCES);
	CHECK_ERRNO("unlink_in_0755", unlink(at("rodir/victim")), EACCES);
	CHECK_ERRNO("rmdir_in_0755", rmdir(at("rodir/subdir")), EACCES);
	CHECK_ERRNO("rename_in_0755", rename(at("rodir/victim"), at("rodir/moved")), EACCES);
	CHECK_ERRNO("rename_into_0755", rename(at("open/mine"), at("rodir/mine")), EACCES);
	CHECK_ERRNO("create_existing_excl", open(at("rodir/victim"), O_CREAT | O_EXCL | O_WRONLY, 0644),
		    EEXIST);

	/* A directory moving to another parent needs write permission on itself. */
	CHECK_ERRNO("rename_dir_across", rename(at("open/rootdir"), at("open2/rootdir")), EACCES);
	CHECK_OK("rename_dir_within", rename(at("open/rootdir"), at("open/rootdir2")));

	/* New files are the caller's. */
	fd = CHECK_OK("create_in_sticky", open(at("sticky/mine"), O_CREAT | O_WRONLY, 0640));
	CHECK("new_file_owner", fstat(fd, &st) == 0 && st.st_uid == USER && st.st_gid == USER,
	      "uid %u gid %u", st.st_uid, st.st_gid);
	close(fd);

	/* The umask takes bits from new files' and directories' modes. */
	umask(027);
	fd = CHECK_OK("create_with_umask", open(at("sticky/masked"), O_CREAT | O_WRONLY, 0666));
	close(fd);
	CHECK("umask_applied_to_file", mode_of("sticky/masked") == 0640, "mode %o",
	      mode_of("sticky/masked"));
	CHECK_OK("mkdir_with_umask", mkdir(at("sticky/maskeddir"), 0777));
	CHECK("umask_applied_to_dir", mode_of("sticky/maskeddir") == 0750, "mode %o",
	      mode_of("sticky/maskeddir"));
	umask(0);

	/* The sticky bit: only the owner of the file or the directory removes it. */
	CHECK_ERRNO("sticky_unlink_other", unlink(at("sticky/rootfile")), EPERM);
	CHECK_ERRNO("sticky_rename_other", rename(at("sticky/rootfile"), at("sticky/stolen")), EPERM);
	CHECK_OK("sticky_rename_own", rename(at("sticky/mine"), at("sticky/mine2")));
	CHECK_OK("sticky_unlink_own", unlink(at("sticky/mine2")));
	CHECK_OK("unlink_other_nonsticky", unlink(at("open/rootfile")));

	/* Set-group-ID directories pass their group on. */
	fd = CHECK_OK("create_in_setgid_dir", open(at("sgid/f"), O_CREAT | O_WRONLY, 0644));
	CHECK("setgid_dir_group", fstat(fd, &st) == 0 && st.st_uid == USER && st.st_gid == GROUP,
	      "uid %u gid %u", st.st_uid, st.st_gid);
	close(fd);
	CHECK_OK("mkdir_in_setgid_dir", mkdir(at("sgid/sub"), 0755));
	CHECK("setgid_dir_propagates",
	      stat(at("sgid/sub"), &st) == 0 && st.st_gid == GROUP && (st.st_mode & S_ISGID),
	      "gid %u mode %o", st.st_gid, st.st_mode);

	/* chmod: the owner's; set-group-ID only for a member of the file's group. */
	CHECK_ERRNO("chmod_not_owner", chmod(at("readable"), 0777), EPERM);
	CHECK_OK("chmod_own", chmod(at("owned_rootgroup"), 02755));
	CHECK("chmod_drops_setgid_outside_group", mode_of("owned_rootgroup") == 0755, "mode %o",
	      mode_of("owned_rootgroup"));
	CHECK_OK("chmod_own_setgid_member", chmod(at("sgid/f"), 02755));
	CHECK("chmod_keeps_setgid_member", mode_of("sgid/f") == 02755, "mode %o", mode_of("sgid/f"));

	/* chown: the owner may only move the group to one of its own. */
	CHECK_ERRNO("chown_give_away", chown(at("owned_rootgroup"), OTHER_ID, -1), EPERM);
	CHECK_OK("chown_group_member", chown(at("owned_rootgroup"), -1, GROUP));
	CHECK_ERRNO("chown_group_nonmember", chown(at("owned_rootgroup"), -1, OTHER_GROUP), EPERM);
	CHECK_ERRNO("chown_not_owner", chown(at("readable"), -1, GROUP), EPERM);

	/* utimes: explicit times are the owner's; "now" also a writer's. */
	struct timeval tv[2] = {{.tv_sec = 100}, {.tv_sec = 200}};
	CHECK_ERRNO("utimes_explicit_not_owner", utimes(at("shared"), tv), EPERM);
	CHECK_OK("utimes_now_writer", utimes(at("shared"), NULL));
	struct timespec now[2] = {{.tv_nsec = UTIME_NOW}, {.tv_nsec = UTIME_NOW}};
	CHECK_OK("utimensat_now_writer", utimensat(AT_FDCWD, at("shared"), now, 0));
	CHECK_ERRNO("utimes_now_not_writer", utimes(at("readable"), NULL), EACCES);
	CHECK_OK("utimes_explicit_owner", utimes(at("owned_rootgroup"), tv));

	/* truncate needs write permission; writes take set-id bits away. */
	CHECK_ERRNO("truncate_0644", truncate(at("readable"), 0), EACCES);
	CHECK_OK("truncate_0666", truncate(at("shared"), 1));
	fd = CHECK_OK("open_setid_writable", open(at("setid_writable"), O_WRONLY));
	CHECK_OK("write_setid", write(fd, "x", 1));
	close(fd);
	CHECK("write_clears_setid", mode_of("setid_writable") == 0777, "mode %o",
	      mode_of("setid_writable"));
	CHECK_OK("truncate_setid", truncate(at("setid_truncated"), 0));
	CHECK("truncate_clears_setid", mode_of("setid_truncated") == 0777, "mode %o",
	      mode_of("setid_truncated"));

	/* access with the real ids. */
	CHECK_OK("access_read", access(at("readable"), R_OK));
	CHECK_ERRNO("access_write", access(at("readable"), W_OK), EACCES);
	CHECK_ERRNO("access_secret", access(at("secret"), R_OK), EACCES);
	CHECK_ERRNO("access_eaccess_write", faccessat(AT_FDCWD, at("readable"), W_OK, AT_EACCESS), EACCES);
	CHECK_OK("access_exec", access(at("xonly"), X_OK));

	/* exec needs x, not r; set-id files give their ids, unless no_new_privs. */
	snprintf(ids, sizeof(ids), "errno %d", EACCES);
	const char *out = run_ids(at("noexec"), 0);
	CHECK("exec_without_x", strcmp(out, ids) == 0, "got \"%s\"", out);
	out = run_ids(at("xonly"), 0);
	CHECK("exec_x_only", strcmp(out, "1000 1000 1000 1000") == 0, "got \"%s\"", out);
	out = run_ids(at("setid"), 0);
	CHECK("exec_setid", strcmp(out, "1000 1234 1000 4321") == 0, "got \"%s\"", out);
	out = run_ids(at("setid"), 1);
	CHECK("exec_setid_no_new_privs", strcmp(out, "1000 1000 1000 1000") == 0, "got \"%s\"", out);
	/* A set-user-ID-root program runs with root's capabilities. */
	out = run_ids(at("setuid_root"), 0);
	CHECK("exec_setuid_root", strcmp(out, "1000 0 1000 1000 dac_override") == 0, "got \"%s\"",
	      out);
	out = run_ids(at("setuid_root"), 1);
	CHECK("exec_setuid_root_no_new_privs", strcmp(out, "1000 1000 1000 1000") == 0,
	      "got \"%s\"", out);
	exit(check_finish());
}

/* access and faccessat(AT_EACCESS) with a real uid of 1000 and an effective uid of 0. */
static void as_real_user(void)
{
	if (setresuid(USER, 0, 0) != 0) {
		printf("FAIL setup: setresuid: %s\n", strerror(errno));
		exit(2);
	}
	CHECK_ERRNO("access_uses_real_uid", access(at("secret"), R_OK), EACCES);
	CHECK_OK("access_eaccess_uses_effective", faccessat(AT_FDCWD, at("secret"), R_OK, AT_EACCESS));
	exit(check_finish());
}

static void in_child(const char *name, void (*body)(void))
{
	pid_t pid = fork();
	if (pid == 0)
		body();
	int status = 0;
	waitpid(pid, &status, 0);
	CHECK(name, WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "print-ids") == 0) {
		struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3};
		struct __user_cap_data_struct data[2] = {0};
		int dac_override = syscall(SYS_capget, &header, data) == 0 &&
				   (data[0].effective & (1u << CAP_DAC_OVERRIDE));
		printf("%u %u %u %u%s", getuid(), geteuid(), getgid(), getegid(),
		       dac_override ? " dac_override" : "");
		return 0;
	}
	snprintf(base, sizeof(base), "%s/perms", scratch_dir());
	chmod(scratch_dir(), 0755);
	if (mkdir(base, 0755) != 0) {
		printf("FAIL setup: mkdir %s: %s\n", base, strerror(errno));
		return 2;
	}
	umask(0);
	make_file("secret", 0600, 0, 0);
	make_file("readable", 0644, 0, 0);
	make_file("groupfile", 0640, 0, GROUP);
	make_file("groupdenied", 0604, 0, GROUP);
	make_file("shared", 0666, 0, 0);
	make_file("owned_rootgroup", 0644, USER, 0);
	make_file("setid_writable", 06777, 0, 0);
	make_file("setid_truncated", 06777, 0, 0);
	make_dir("closed", 0700, 0, 0);
	make_file("closed/f", 0644, 0, 0);
	make_dir("searchonly", 0711, 0, 0);
	make_file("searchonly/f", 0644, 0, 0);
	make_dir("rodir", 0755, 0, 0);
	make_file("rodir/victim", 0666, 0, 0);
	make_dir("rodir/subdir", 0777, 0, 0);
	make_dir("open", 0777, 0, 0);
	make_dir("open2", 0777, 0, 0);
	make_dir("open/rootdir", 0755, 0, 0);
	make_file("open/mine", 0644, USER, USER);
	make_file("open/rootfile", 0644, 0, 0);
	make_dir("sticky", 01777, 0, 0);
	make_file("sticky/rootfile", 0666, 0, 0);
	make_dir("sgid", 02777, 0, GROUP);
	copy_self("noexec", 0644, 0, 0);
	copy_self("xonly", 0711, 0, 0);
	copy_self("setid", 06755, OTHER_ID, OTHER_GROUP);
	copy_self("setuid_root", 04755, 0, 0);

	/* Root's own rules: DAC_OVERRIDE reads anything but executes only with some x bit. */
	chmod(at("secret"), 0);
	CHECK_OK("root_access_rw_0000", access(at("secret"), R_OK | W_OK));
	CHECK_ERRNO("root_access_x_without_x_bits", access(at("readable"), X_OK), EACCES);
	CHECK_OK("root_access_x_dir", access(at("closed"), X_OK));
	chmod(at("secret"), 0600);
	char ids[64];
	snprintf(ids, sizeof(ids), "errno %d", EACCES);
	const char *out = run_ids(at("noexec"), 0);
	CHECK("root_exec_without_x", strcmp(out, ids) == 0, "got \"%s\"", out);

	in_child("user_checks", as_user);
	in_child("real_user_checks", as_real_user);
	return check_finish();
}
