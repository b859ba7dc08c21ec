/*
 * FUTEX_WAKE_OP: every operation changes the second word atomically, every comparison decides
 * whether the second futex's waiters wake, and bad operations and words are refused.
 */
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include "../check.h"

static uint32_t word1, word2;

static long wake_op(uint32_t *uaddr1, int nr1, int nr2, uint32_t *uaddr2, uint32_t op)
{
	return syscall(SYS_futex, uaddr1, FUTEX_WAKE_OP_PRIVATE, nr1, (void *)(long)nr2, uaddr2, op);
}

/* The value waiters sleep on (set before each waiter starts; the test keeps the word at it). */
static uint32_t asleep_value;

/* A waiter on one of the words, sleeping while it holds asleep_value: 0 once woken. */
static void *wait_on(void *word)
{
	struct timespec guard = {10, 0};
	long r = syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, asleep_value, &guard, NULL, 0);
	return (void *)(r == 0 ? 0L : 1L);
}

/* Calls wake_op until `want` waiters in all were woken (they may not sleep yet at first). */
static long wake_until(int want, uint32_t op)
{
	long total = 0;
	for (int i = 0; i < 10000 && total < want; i++) {
		long r = wake_op(&word1, 1, 1, &word2, op);
		if (r < 0)
			return r;
		total += r;
		if (total < want)
			usleep(1000);
	}
	return total;
}

int main(void)
{
	struct {
		const char *name;
		uint32_t op;
		uint32_t before, after;
	} ops[] = {
		{"SET", FUTEX_OP(FUTEX_OP_SET, 7, FUTEX_OP_CMP_EQ, 0), 1, 7},
		{"ADD", FUTEX_OP(FUTEX_OP_ADD, 7, FUTEX_OP_CMP_EQ, 0), 1, 8},
		{"ADD negative", FUTEX_OP(FUTEX_OP_ADD, -2, FUTEX_OP_CMP_EQ, 0), 1, (uint32_t)-1},
		{"OR", FUTEX_OP(FUTEX_OP_OR, 6, FUTEX_OP_CMP_EQ, 0), 9, 15},
		{"ANDN", FUTEX_OP(FUTEX_OP_ANDN, 3, FUTEX_OP_CMP_EQ, 0), 15, 12},
		{"XOR", FUTEX_OP(FUTEX_OP_XOR, 5, FUTEX_OP_CMP_EQ, 0), 6, 3},
		{"OR with OPARG_SHIFT", FUTEX_OP((FUTEX_OP_OR | FUTEX_OP_OPARG_SHIFT), 31, FUTEX_OP_CMP_EQ, 0), 1,
		 0x80000001u},
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		char name[64];
		word2 = ops[i].before;
		long r = wake_op(&word1, 1, 1, &word2, ops[i].op);
		snprintf(name, sizeof(name), "FUTEX_OP_%s", ops[i].name);
		CHECK(name, r == 0 && word2 == ops[i].after, "returned %ld (%s), word %#x want %#x", r,
		      strerror(errno), word2, ops[i].after);
	}

	/* Each comparison against the old value 3. */
	struct {
		int cmp, cmparg, wakes;
	} cmps[] = {
		{FUTEX_OP_CMP_EQ, 3, 1}, {FUTEX_OP_CMP_EQ, 4, 0}, {FUTEX_OP_CMP_NE, 3, 0},
		{FUTEX_OP_CMP_NE, 4, 1}, {FUTEX_OP_CMP_LT, 4, 1}, {FUTEX_OP_CMP_LT, 3, 0},
		{FUTEX_OP_CMP_LE, 3, 1}, {FUTEX_OP_CMP_LE, 2, 0}, {FUTEX_OP_CMP_GT, 2, 1},
		{FUTEX_OP_CMP_GT, 3, 0}, {FUTEX_OP_CMP_GE, 3, 1}, {FUTEX_OP_CMP_GE, 4, 0},
		{FUTEX_OP_CMP_LT, -1, 0},
	};
	/* With a waiter on word2, a comparison that holds wakes it; one that fails never does
	 * (checked over several calls while the waiter falls asleep; then a true comparison ends
	 * its wait). SET 3 keeps the old value 3 for every call. */
	for (size_t i = 0; i < sizeof(cmps) / sizeof(cmps[0]); i++) {
		char name[64];
		snprintf(name, sizeof(name), "comparison %d against %d", cmps[i].cmp, cmps[i].cmparg);
		word2 = asleep_value = 3;
		pthread_t waiter;
		pthread_create(&waiter, NULL, wait_on, &word2);
		uint32_t op = FUTEX_OP(FUTEX_OP_SET, 3, cmps[i].cmp, cmps[i].cmparg);
		long woken = 0;
		if (cmps[i].wakes) {
			woken = wake_until(1, op);
		} else {
			for (int n = 0; n < 5; n++) {
				woken += wake_op(&word1, 1, 1, &word2, op);
				usleep(1000);
			}
			wake_until(1, FUTEX_OP(FUTEX_OP_SET, 3, FUTEX_OP_CMP_EQ, 3));
		}
		void *r;
		pthread_join(waiter, &r);
		CHECK(name, woken == cmps[i].wakes && !r, "woke %ld, waiter %ld", woken, (long)r);
	}

	/* A waiter on each word: a true comparison wakes both, counted together. */
	word1 = word2 = asleep_value = 0;
	pthread_t t1, t2;
	pthread_create(&t1, NULL, wait_on, &word1);
	pthread_create(&t2, NULL, wait_on, &word2);
	long woken = wake_until(2, FUTEX_OP(FUTEX_OP_SET, 0, FUTEX_OP_CMP_EQ, 0));
	void *r1, *r2;
	pthread_join(t1, &r1);
	pthread_join(t2, &r2);
	CHECK("a true comparison wakes the waiters of both words", woken == 2 && !r1 && !r2,
	      "woke %ld, waiters %ld %ld", woken, (long)r1, (long)r2);

	word2 = 5;
	CHECK_ERRNO("unknown operation: ENOSYS", wake_op(&word1, 1, 1, &word2, FUTEX_OP(5, 1, 0, 0)), ENOSYS);
	CHECK("an unknown operation leaves the word alone", word2 == 5, "word %u", word2);
	CHECK_ERRNO("unknown comparison: ENOSYS",
		    wake_op(&word1, 1, 1, &word2, FUTEX_OP(FUTEX_OP_ADD, 1, 6, 0)), ENOSYS);
	CHECK("an unknown comparison comes after the operation, as Linux", word2 == 6, "word %u", word2);
	CHECK_ERRNO("misaligned second word: EINVAL",
		    wake_op(&word1, 1, 1, (uint32_t *)((char *)&word2 + 1), FUTEX_OP(0, 0, 0, 0)), EINVAL);
	CHECK_ERRNO("unmapped second word: EFAULT", wake_op(&word1, 1, 1, (uint32_t *)8, FUTEX_OP(0, 0, 0, 0)),
		    EFAULT);
	uint32_t *readonly = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK_ERRNO("read-only second word: EFAULT", wake_op(&word1, 1, 1, readonly, FUTEX_OP(0, 0, 0, 0)),
		    EFAULT);
	return check_finish();
}
