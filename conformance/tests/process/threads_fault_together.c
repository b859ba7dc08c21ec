/*
 * Threads that touch the same not-yet-present page at the same moment: each must see the
 * access succeed. Every thread faults; whichever fault is served first makes the page present,
 * and the others must then be retried, not turned into SIGSEGV. (rvisor once served a late
 * fault on a page another thread had just filled as a protection fault, which killed CPython's
 * threading tests on an instruction fetch in libc.)
 *
 * A file is mapped privately in many 64 KiB pieces, each first touched by all threads at once
 * after a barrier: once to read it, once to call code in it.
 */
#include "../check.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>

#define THREADS 4
#define PIECE (64 * 1024)
#define PIECES 64

/* The byte at `offset` of the file: a pattern that never lines up with pages. */
static unsigned char pattern_at(size_t offset)
{
	return (unsigned char)(offset % 251);
}

/* amd64 "mov eax, imm32; ret": code returning `value`. */
static void put_code(unsigned char *at, uint32_t value)
{
	at[0] = 0xb8;
	memcpy(at + 1, &value, sizeof(value));
	at[5] = 0xc3;
}

/* Where each piece's code sits: away from the bytes the read round checks. */
#define CODE_OFFSET (PIECE / 2 + 123)

static pthread_barrier_t start;
static const unsigned char *data;
static const unsigned char *code;
static int read_mismatches;
static int call_mismatches;

static void *toucher(void *arg)
{
	size_t slot = (size_t)arg;
	for (size_t piece = 0; piece < PIECES; piece++) {
		size_t offset = piece * PIECE + slot * 8 + 1;
		pthread_barrier_wait(&start);
		if (data[offset] != pattern_at(offset))
			__atomic_fetch_add(&read_mismatches, 1, __ATOMIC_RELAXED);
		pthread_barrier_wait(&start);
		uint32_t (*function)(void) = (uint32_t(*)(void))(code + piece * PIECE + CODE_OFFSET);
		if (function() != piece)
			__atomic_fetch_add(&call_mismatches, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

int main(void)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/pieces", scratch_dir());
	int fd = CHECK_OK("create the file", open(path, O_RDWR | O_CREAT | O_TRUNC, 0600));
	static unsigned char contents[PIECE * PIECES];
	for (size_t i = 0; i < sizeof(contents); i++)
		contents[i] = pattern_at(i);
	for (uint32_t piece = 0; piece < PIECES; piece++)
		put_code(contents + piece * PIECE + CODE_OFFSET, piece);
	CHECK("write the file", write(fd, contents, sizeof(contents)) == (ssize_t)sizeof(contents),
	      "short write");

	/* Two mappings, so each round's first touch of a piece is a fresh fault. */
	data = mmap(NULL, sizeof(contents), PROT_READ, MAP_PRIVATE, fd, 0);
	CHECK("map the file for reading", data != MAP_FAILED, "%s", strerror(errno));
	code = mmap(NULL, sizeof(contents), PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	CHECK("map the file for running", code != MAP_FAILED, "%s", strerror(errno));
	if (data == MAP_FAILED || code == MAP_FAILED)
		return check_finish();
	pthread_barrier_init(&start, NULL, THREADS);
	pthread_t threads[THREADS];
	int started = 0;
	for (size_t i = 0; i < THREADS; i++)
		started += pthread_create(&threads[i], NULL, toucher, (void *)i) == 0;
	CHECK("start the threads", started == THREADS, "%d of %d started", started, THREADS);
	if (started != THREADS)
		return check_finish();
	for (size_t i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);

	CHECK("every thread reads the page they faulted on together", read_mismatches == 0,
	      "%d reads saw other bytes", read_mismatches);
	CHECK("every thread runs the code they faulted on together", call_mismatches == 0,
	      "%d calls returned other values", call_mismatches);
	unlink(path);
	return check_finish();
}
