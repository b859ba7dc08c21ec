/*
 * FUTEX_WAIT_REQUEUE_PI and FUTEX_CMP_REQUEUE_PI: a waiter on a condition word is moved to a
 * PI lock word and returns owning it, whether the lock was free at the requeue or handed to
 * it later by FUTEX_UNLOCK_PI.
 */
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include "../check.h"

static uint32_t cond, lock;

static uint32_t gettid_u32(void)
{
	return (uint32_t)syscall(SYS_gettid);
}

static long wait_requeue_pi(uint32_t *from, uint32_t val, const struct timespec *timeout, uint32_t *to)
{
	return syscall(SYS_futex, from, FUTEX_WAIT_REQUEUE_PI_PRIVATE, val, timeout, to, 0);
}

static long cmp_requeue_pi(uint32_t *from, int nr_wake, int nr_requeue, uint32_t *to, uint32_t val)
{
	return syscall(SYS_futex, from, FUTEX_CMP_REQUEUE_PI_PRIVATE, nr_wake, (void *)(long)nr_requeue, to,
		       val);
}

/* Waits on `cond` to be requeued to `lock`; then it owns the lock: checks that and unlocks. */
static void *waiter(void *arg)
{
	struct timespec guard;
	clock_gettime(CLOCK_MONOTONIC, &guard);
	guard.tv_sec += 10;
	long r = wait_requeue_pi(&cond, 0, &guard, &lock);
	int owns = (__atomic_load_n(&lock, __ATOMIC_SEQ_CST) & FUTEX_TID_MASK) == gettid_u32();
	long unlocked = syscall(SYS_futex, &lock, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL, NULL, 0);
	return (void *)(long)(r == 0 && owns && unlocked == 0 ? 0 : 1);
}

/* Requeues until the waiter was moved (it may not sleep yet at first). */
static long requeue_until_moved(void)
{
	for (int i = 0; i < 10000; i++) {
		long r = cmp_requeue_pi(&cond, 1, INT_MAX, &lock, 0);
		if (r != 0)
			return r;
		usleep(1000);
	}
	return 0;
}

int main(void)
{
	uint32_t me = gettid_u32();
	pthread_t t;
	void *result;

	/* The lock is free at the requeue: the waiter gets it at once. */
	lock = 0;
	pthread_create(&t, NULL, waiter, NULL);
	long moved = requeue_until_moved();
	pthread_join(t, &result);
	CHECK("CMP_REQUEUE_PI to a free lock wakes the waiter owning it", moved == 1 && !result,
	      "returned %ld (%s), waiter %ld", moved, strerror(errno), (long)result);
	CHECK("which unlocked it", lock == 0, "lock %#x", lock);

	/* The lock is held: the waiter is requeued, then handed the lock by FUTEX_UNLOCK_PI. */
	lock = me;
	pthread_create(&t, NULL, waiter, NULL);
	moved = requeue_until_moved();
	CHECK("CMP_REQUEUE_PI to a held lock requeues the waiter", moved == 1, "returned %ld (%s)", moved,
	      strerror(errno));
	CHECK("and marks the lock FUTEX_WAITERS", lock == (me | FUTEX_WAITERS), "lock %#x", lock);
	long unlocked = syscall(SYS_futex, &lock, FUTEX_UNLOCK_PI_PRIVATE, 0, NULL, NULL, 0);
	pthread_join(t, &result);
	CHECK("UNLOCK_PI hands the lock to the requeued waiter", unlocked == 0 && !result,
	      "unlock %ld (%s), waiter %ld", unlocked, strerror(errno), (long)result);

	CHECK_ERRNO("CMP_REQUEUE_PI waking more than one: EINVAL", cmp_requeue_pi(&cond, 2, 1, &lock, 0), EINVAL);
	CHECK_ERRNO("CMP_REQUEUE_PI with a stale value: EAGAIN", cmp_requeue_pi(&cond, 1, 1, &lock, 7), EAGAIN);
	CHECK("CMP_REQUEUE_PI with no waiter moves none", cmp_requeue_pi(&cond, 1, 1, &lock, 0) == 0, "%s",
	      strerror(errno));
	CHECK_ERRNO("WAIT_REQUEUE_PI onto its own word: EINVAL", wait_requeue_pi(&cond, 0, NULL, &cond), EINVAL);
	CHECK_ERRNO("WAIT_REQUEUE_PI with a stale value: EAGAIN", wait_requeue_pi(&cond, 5, NULL, &lock), EAGAIN);
	struct timespec soon;
	clock_gettime(CLOCK_MONOTONIC, &soon);
	soon.tv_nsec += 20000000;
	if (soon.tv_nsec >= 1000000000) {
		soon.tv_sec++;
		soon.tv_nsec -= 1000000000;
	}
	CHECK_ERRNO("WAIT_REQUEUE_PI never requeued times out", wait_requeue_pi(&cond, 0, &soon, &lock), ETIMEDOUT);
	return check_finish();
}
