/* futex_waitv: sleeping on several futexes at once, private and shared between processes. */
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include "../check.h"

#ifndef FUTEX2_SIZE_U32
#define FUTEX2_SIZE_U32 0x02
#endif
#ifndef FUTEX2_PRIVATE
#define FUTEX2_PRIVATE 128
#endif

static uint32_t words[3];

static long waitv(struct futex_waitv *v, unsigned n, const struct timespec *timeout)
{
	return syscall(SYS_futex_waitv, v, n, 0, timeout, CLOCK_MONOTONIC);
}

static struct timespec from_now(long ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += ms * 1000000;
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	return ts;
}

/* Wakes words[2] (FUTEX_WAKE_PRIVATE) until a waiter was there to wake. */
static void *wake_third(void *arg)
{
	for (int i = 0; i < 10000; i++) {
		__atomic_store_n(&words[2], 1, __ATOMIC_SEQ_CST);
		if (syscall(SYS_futex, &words[2], FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0) == 1)
			return NULL;
		usleep(1000);
	}
	return arg;
}

int main(void)
{
	struct futex_waitv v[3];
	for (int i = 0; i < 3; i++) {
		memset(&v[i], 0, sizeof(v[i]));
		v[i].uaddr = (uintptr_t)&words[i];
		v[i].val = 0;
		v[i].flags = FUTEX2_SIZE_U32 | FUTEX2_PRIVATE;
	}

	words[1] = 5;
	CHECK_ERRNO("a word that changed: EAGAIN", waitv(v, 3, NULL), EAGAIN);
	words[1] = 0;
	struct timespec soon = from_now(20);
	CHECK_ERRNO("no wake before the deadline: ETIMEDOUT", waitv(v, 3, &soon), ETIMEDOUT);

	/* words[2] changes to 1 before each wake, so a late waiter sees EAGAIN: retry until woken. */
	pthread_t t;
	pthread_create(&t, NULL, wake_third, NULL);
	long r;
	struct timespec guard = from_now(10000);
	while ((r = waitv(v, 3, &guard)) == -1 && errno == EAGAIN) {
		/* The waker stored 1 before we slept: wait for it to land again from 0. */
		__atomic_store_n(&words[2], 0, __ATOMIC_SEQ_CST);
	}
	void *waker;
	pthread_join(t, &waker);
	CHECK("a wake of the third futex returns its index", r == 2 && !waker, "returned %ld (%s)", r,
	      strerror(errno));

	CHECK_ERRNO("no futexes: EINVAL", waitv(v, 0, NULL), EINVAL);
	CHECK_ERRNO("flags: EINVAL", syscall(SYS_futex_waitv, v, 1, 1, NULL, CLOCK_MONOTONIC), EINVAL);
	CHECK_ERRNO("a clock other than MONOTONIC or REALTIME: EINVAL",
		    syscall(SYS_futex_waitv, v, 1, 0, &soon, CLOCK_BOOTTIME), EINVAL);
	v[0].flags = FUTEX2_PRIVATE;
	CHECK_ERRNO("a word size other than 32 bits: EINVAL", waitv(v, 1, NULL), EINVAL);
	v[0].flags = FUTEX2_SIZE_U32;
	v[0].__reserved = 1;
	CHECK_ERRNO("reserved bits: EINVAL", waitv(v, 1, NULL), EINVAL);
	v[0].__reserved = 0;
	v[0].val = 1ULL << 32;
	CHECK_ERRNO("a value wider than the word: EINVAL", waitv(v, 1, NULL), EINVAL);
	v[0].val = 0;
	v[0].uaddr = (uintptr_t)&words[0] + 1;
	CHECK_ERRNO("a misaligned word: EINVAL", waitv(v, 1, NULL), EINVAL);
	v[0].uaddr = 8;
	CHECK_ERRNO("an unmapped word: EFAULT", waitv(v, 1, NULL), EFAULT);

	/* Without FUTEX2_PRIVATE, a word in shared memory is woken from another process. */
	uint32_t *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t child = fork();
	if (child == 0) {
		for (int i = 0; i < 10000; i++) {
			__atomic_store_n(shared, 1, __ATOMIC_SEQ_CST);
			if (syscall(SYS_futex, shared, FUTEX_WAKE, 1, NULL, NULL, 0) == 1)
				_exit(0);
			usleep(1000);
		}
		_exit(1);
	}
	v[0].uaddr = (uintptr_t)&words[0];
	v[1].uaddr = (uintptr_t)shared;
	v[1].flags = FUTEX2_SIZE_U32;
	guard = from_now(10000);
	while ((r = waitv(v, 2, &guard)) == -1 && errno == EAGAIN)
		__atomic_store_n(shared, 0, __ATOMIC_SEQ_CST);
	int status;
	waitpid(child, &status, 0);
	CHECK("a shared futex woken by another process", r == 1 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "returned %ld (%s), child status %#x", r, strerror(errno), status);
	return check_finish();
}
