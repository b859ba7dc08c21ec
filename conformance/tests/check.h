/*
 * The conformance tests' shared checks. A test prints one line per check, "ok NAME" or
 * "FAIL NAME: DETAILS", and exits 1 if any failed. Only names reach stdout on success, so a
 * test's output is the same natively and sandboxed whenever its checks pass in both; values that
 * legitimately differ (pids, times, paths) are checked for properties, never printed.
 */
#ifndef CONFORMANCE_CHECK_H
#define CONFORMANCE_CHECK_H

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int check_failures;

/* Records one check: "ok NAME", or "FAIL NAME: " and the printf-style details. */
static void check_report(const char *name, int passed, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

static void check_report(const char *name, int passed, const char *format, ...)
{
	if (passed) {
		printf("ok %s\n", name);
	} else {
		va_list args;
		check_failures++;
		printf("FAIL %s: ", name);
		va_start(args, format);
		vprintf(format, args);
		va_end(args);
		printf("\n");
	}
	fflush(stdout);
}

/* A condition that must hold; the details say what was seen when it does not. */
#define CHECK(name, cond, ...) check_report((name), (cond), __VA_ARGS__)

/* A call that must succeed (return >= 0); evaluates to its result. */
#define CHECK_OK(name, call)                                                                   \
	({                                                                                     \
		errno = 0;                                                                     \
		long check_result_ = (long)(call);                                             \
		int check_errno_ = errno;                                                      \
		check_report((name), check_result_ >= 0, "%s returned %ld (%s)", #call,        \
			     check_result_, strerror(check_errno_));                           \
		check_result_;                                                                 \
	})

/* A call that must fail with -1 and errno `expected`. */
#define CHECK_ERRNO(name, call, expected)                                                      \
	do {                                                                                   \
		errno = 0;                                                                     \
		long check_result_ = (long)(call);                                             \
		int check_errno_ = errno;                                                      \
		check_report((name), check_result_ == -1 && check_errno_ == (expected),        \
			     "%s returned %ld errno %d (%s), want -1 errno %d (%s)", #call,    \
			     check_result_, check_errno_, strerror(check_errno_), (expected),  \
			     strerror(expected));                                              \
	} while (0)

/* The exit status: 0 when every check passed. */
static inline int check_finish(void)
{
	return check_failures == 0 ? 0 : 1;
}

/*
 * The test's own scratch directory, from TEST_TMPDIR (the xtask sets a fresh host directory
 * natively and one under the sandbox's /tmp sandboxed), created if absent. Exits when unset:
 * the tests never write anywhere else.
 */
static inline const char *scratch_dir(void)
{
	const char *dir = getenv("TEST_TMPDIR");
	if (dir == NULL || dir[0] != '/') {
		printf("FAIL setup: TEST_TMPDIR must name an absolute scratch directory\n");
		exit(2);
	}
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		printf("FAIL setup: mkdir %s: %s\n", dir, strerror(errno));
		exit(2);
	}
	return dir;
}

/* The path of `name` in the scratch directory, written into `buf`. */
static inline const char *scratch_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", scratch_dir(), name);
	return buf;
}

/*
 * A path for `name` on tmpfs, written into `buf`, for checks of what tmpfs does: /dev/shm is
 * tmpfs natively and sandboxed, where the scratch directory is the host's disk natively and the
 * overlay root sandboxed. Unique per process; the test removes what it makes there.
 */
static inline const char *tmpfs_scratch_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "/dev/shm/conformance-%s-%d", name, (int)getpid());
	return buf;
}

#endif
