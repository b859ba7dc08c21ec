/* /proc/self: stat, status, cmdline, comm, environ, maps, exe, fd, task, and the system files. */
#include "../check.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/syscall.h>

/* Reads a whole /proc file (they report size 0) into buf; returns the length or -1. */
static ssize_t read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	size_t total = 0;
	ssize_t n;
	while (total + 1 < size && (n = read(fd, buf + total, size - 1 - total)) > 0)
		total += (size_t)n;
	close(fd);
	buf[total] = '\0';
	return (ssize_t)total;
}

/* The value after "Key:\t" in a status-style text, or NULL. */
static const char *field(const char *text, const char *key)
{
	static char value[256];
	size_t len = strlen(key);
	for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, key, len) == 0 && line[len] == ':') {
			const char *v = line + len + 1;
			while (*v == '\t' || *v == ' ')
				v++;
			size_t n = strcspn(v, "\n");
			if (n >= sizeof(value))
				n = sizeof(value) - 1;
			memcpy(value, v, n);
			value[n] = '\0';
			return value;
		}
	}
	return NULL;
}

static int dir_has(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *e;
	int found = 0;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, name) == 0)
			found = 1;
	closedir(d);
	return found;
}

int main(int argc, char **argv)
{
	(void)argc;
	static char buf[1 << 16];
	char path[PATH_MAX], want[64];
	pid_t pid = getpid();

	char link[64];
	ssize_t n = readlink("/proc/self", link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "%d", pid);
	CHECK("self_is_pid", n > 0 && strcmp(link, want) == 0, "/proc/self -> '%s', pid %d", link, pid);
	n = readlink("/proc/thread-self", link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "%d/task/%ld", pid, (long)syscall(SYS_gettid));
	CHECK("thread_self", n > 0 && strcmp(link, want) == 0, "/proc/thread-self -> '%s'", link);

	/* stat: pid (comm) state ppid pgrp session ... 52 fields. */
	CHECK("stat_read", read_file("/proc/self/stat", buf, sizeof(buf)) > 0, "%s", strerror(errno));
	int spid = 0, sppid = 0, spgrp = 0, ssid = 0;
	char state = 0;
	char *close_paren = strrchr(buf, ')');
	CHECK("stat_pid", sscanf(buf, "%d", &spid) == 1 && spid == pid, "pid field %d", spid);
	CHECK("stat_fields",
	      close_paren && sscanf(close_paren + 2, "%c %d %d %d", &state, &sppid, &spgrp, &ssid) == 4,
	      "'%.80s'", buf);
	CHECK("stat_state_running", state == 'R', "state %c", state);
	CHECK("stat_ppid", sppid == getppid(), "ppid %d, getppid %d", sppid, getppid());
	CHECK("stat_pgrp_session", spgrp == getpgrp() && ssid == getsid(0), "pgrp %d session %d", spgrp, ssid);
	int fields = 2;
	for (char *p = close_paren + 1; p && *p; p++)
		if (*p == ' ')
			fields++;
	CHECK("stat_52_fields", fields == 52, "%d fields", fields);
	char *comm_start = strchr(buf, '(');
	const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	CHECK("stat_comm", comm_start && strncmp(comm_start + 1, base, strlen(base) > 15 ? 15 : strlen(base)) == 0,
	      "'%.40s'", comm_start ? comm_start : "");

	CHECK("status_read", read_file("/proc/self/status", buf, sizeof(buf)) > 0, "%s", strerror(errno));
	const char *v = field(buf, "Pid");
	CHECK("status_pid", v && atoi(v) == pid, "Pid: %s", v ? v : "(none)");
	v = field(buf, "PPid");
	CHECK("status_ppid", v && atoi(v) == getppid(), "PPid: %s", v ? v : "(none)");
	v = field(buf, "Tgid");
	CHECK("status_tgid", v && atoi(v) == pid, "Tgid: %s", v ? v : "(none)");
	v = field(buf, "Uid");
	unsigned r, e, s, f;
	CHECK("status_uid", v && sscanf(v, "%u %u %u %u", &r, &e, &s, &f) == 4 && r == getuid() && e == geteuid(),
	      "Uid: %s", v ? v : "(none)");
	v = field(buf, "Threads");
	CHECK("status_threads", v && atoi(v) == 1, "Threads: %s", v ? v : "(none)");
	v = field(buf, "VmRSS");
	CHECK("status_vmrss", v && atol(v) > 0, "VmRSS: %s", v ? v : "(none)");
	v = field(buf, "State");
	CHECK("status_state", v && v[0] == 'R', "State: %s", v ? v : "(none)");
	CHECK("status_sig_fields", field(buf, "SigBlk") && field(buf, "SigIgn") && field(buf, "SigCgt") &&
					   field(buf, "CapEff") && field(buf, "Name"),
	      "missing signal or capability lines");

	unsigned long size = 0, resident = 0;
	CHECK("statm", read_file("/proc/self/statm", buf, sizeof(buf)) > 0 &&
			       sscanf(buf, "%lu %lu", &size, &resident) == 2 && size >= resident && resident > 0,
	      "'%s'", buf);

	n = read_file("/proc/self/cmdline", buf, sizeof(buf));
	CHECK("cmdline_argv0", n > 0 && strcmp(buf, argv[0]) == 0 && buf[n - 1] == '\0', "'%s'", buf);

	CHECK("environ_has_scratch", (n = read_file("/proc/self/environ", buf, sizeof(buf))) > 0,
	      "%s", strerror(errno));
	int found_env = 0;
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(buf + i) + 1)
		if (strncmp(buf + i, "TEST_TMPDIR=", 12) == 0)
			found_env = 1;
	CHECK("environ_entry", found_env, "TEST_TMPDIR not in /proc/self/environ");

	CHECK("comm", read_file("/proc/self/comm", buf, sizeof(buf)) > 0 &&
			      strncmp(buf, base, strlen(base) > 15 ? 15 : strlen(base)) == 0 &&
			      buf[strlen(buf) - 1] == '\n',
	      "'%s'", buf);

	CHECK("maps_read", read_file("/proc/self/maps", buf, sizeof(buf)) > 0, "%s", strerror(errno));
	CHECK("maps_stack", strstr(buf, "[stack]") != NULL, "no [stack] line");
	unsigned long lo, hi;
	char perms[5];
	CHECK("maps_format", sscanf(buf, "%lx-%lx %4s", &lo, &hi, perms) == 3 && lo < hi, "'%.80s'", buf);

	char exe[PATH_MAX];
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	exe[n > 0 ? n : 0] = '\0';
	struct stat via_link, via_argv;
	CHECK("exe_absolute", n > 0 && exe[0] == '/', "'%s'", exe);
	CHECK("exe_same_file", stat(exe, &via_link) == 0 && stat(argv[0], &via_argv) == 0 &&
				       via_link.st_ino == via_argv.st_ino,
	      "exe '%s' is not argv[0]", exe);
	char cwd[PATH_MAX], proc_cwd[PATH_MAX];
	n = readlink("/proc/self/cwd", proc_cwd, sizeof(proc_cwd) - 1);
	proc_cwd[n > 0 ? n : 0] = '\0';
	CHECK("cwd_link", getcwd(cwd, sizeof(cwd)) && strcmp(cwd, proc_cwd) == 0, "'%s' vs '%s'", proc_cwd, cwd);

	/* fd: a file's path, a pipe's name, and the directory listing. */
	const char *file = scratch_path(path, sizeof(path), "procfs_fd");
	int fd = open(file, O_CREAT | O_RDWR | O_TRUNC, 0600);
	char fd_path[64], target[PATH_MAX];
	snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fd);
	n = readlink(fd_path, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = '\0';
	CHECK("fd_link_path", n > 0 && strcmp(target, file) == 0, "'%s' -> '%s'", fd_path, target);
	snprintf(want, sizeof(want), "%d", fd);
	CHECK("fd_listed", dir_has("/proc/self/fd", want), "fd %d not in /proc/self/fd", fd);
	int pipefd[2];
	CHECK_OK("pipe", pipe(pipefd));
	snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", pipefd[0]);
	n = readlink(fd_path, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = '\0';
	CHECK("fd_link_pipe", n > 0 && strncmp(target, "pipe:[", 6) == 0, "'%s'", target);
	close(fd);
	unlink(file);
	CHECK_ERRNO("fd_closed_gone", readlink("/proc/self/fd/999", target, sizeof(target)), ENOENT);

	snprintf(want, sizeof(want), "%d", pid);
	CHECK("proc_lists_pid", dir_has("/proc", want), "pid %d not in /proc", pid);
	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", pid);
	CHECK("task_comm", read_file(path, buf, sizeof(buf)) > 0, "%s: %s", path, strerror(errno));
	CHECK_ERRNO("no_such_pid", open("/proc/999999/stat", O_RDONLY), ENOENT);

	CHECK("meminfo", read_file("/proc/meminfo", buf, sizeof(buf)) > 0 && strncmp(buf, "MemTotal:", 9) == 0,
	      "'%.40s'", buf);
	CHECK("cpuinfo", read_file("/proc/cpuinfo", buf, sizeof(buf)) > 0 && strncmp(buf, "processor", 9) == 0 &&
				 strstr(buf, "flags") != NULL,
	      "'%.40s'", buf);
	CHECK("proc_stat_btime", read_file("/proc/stat", buf, sizeof(buf)) > 0 && strstr(buf, "\nbtime ") != NULL,
	      "no btime");
	double up = -1;
	CHECK("uptime", read_file("/proc/uptime", buf, sizeof(buf)) > 0 && sscanf(buf, "%lf", &up) == 1 && up >= 0,
	      "'%s'", buf);
	CHECK("pid_max", read_file("/proc/sys/kernel/pid_max", buf, sizeof(buf)) > 0 && atoi(buf) > 0, "'%s'", buf);
	CHECK("osrelease", read_file("/proc/sys/kernel/osrelease", buf, sizeof(buf)) > 0 && buf[0] >= '0' &&
				   buf[0] <= '9',
	      "'%s'", buf);
	CHECK("mounts_proc", read_file("/proc/self/mounts", buf, sizeof(buf)) > 0 && strstr(buf, " /proc proc ") != NULL,
	      "no /proc line");
	return check_finish();
}
