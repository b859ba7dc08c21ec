/*
 * PI futexes: the owner-tid protocol of FUTEX_LOCK_PI/TRYLOCK_PI/UNLOCK_PI on raw words, and
 * pthread mutexes with PTHREAD_PRIO_INHERIT (contention, trylock, error checking, robust
 * mutexes whose owner dies).
 */
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include "../check.h"

#define THREADS 8
#define ROUNDS 5000

static long futex(uint32_t *word, int op, const struct timespec *timeout)
{
	return syscall(SYS_futex, word, op, 0, timeout, NULL, 0);
}

static uint32_t gettid_u32(void)
{
	return (uint32_t)syscall(SYS_gettid);
}

static pthread_mutex_t pi_lock;
static long counter;

static void *contend(void *arg)
{
	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&pi_lock);
		counter++;
		pthread_mutex_unlock(&pi_lock);
	}
	return arg;
}

/* A raw PI word and the thread that owns it until told to hand it over. */
static uint32_t word;
static uint32_t owner_tid;
static volatile int release_now;

static void *own_then_unlock(void *arg)
{
	__atomic_store_n(&word, gettid_u32(), __ATOMIC_SEQ_CST);
	__atomic_store_n(&owner_tid, gettid_u32(), __ATOMIC_SEQ_CST);
	/* Once told, hand over when a waiter sleeps in the kernel (it sets FUTEX_WAITERS). */
	while (!release_now || !(__atomic_load_n(&word, __ATOMIC_SEQ_CST) & FUTEX_WAITERS))
		usleep(1000);
	long r = futex(&word, FUTEX_UNLOCK_PI_PRIVATE, NULL);
	return (void *)(r == 0 ? 0L : 1L);
}

static pthread_mutex_t robust_lock;
static volatile int robust_held;

static void *die_holding(void *arg)
{
	pthread_mutex_lock(&robust_lock);
	robust_held = 1;
	/* Give the main thread a moment to block on the lock; either way it must see
	 * EOWNERDEAD. */
	usleep(50000);
	return arg;
}

static struct timespec from_now(clockid_t clock, long ms)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	ts.tv_nsec += ms * 1000000;
	ts.tv_sec += ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	return ts;
}

int main(void)
{
	uint32_t me = gettid_u32();

	/* Raw words. */
	word = 0;
	CHECK("TRYLOCK_PI of a free word takes it", futex(&word, FUTEX_TRYLOCK_PI_PRIVATE, NULL) == 0 && word == me,
	      "word %#x (%s)", word, strerror(errno));
	CHECK_ERRNO("LOCK_PI of a lock one owns: EDEADLK", futex(&word, FUTEX_LOCK_PI_PRIVATE, NULL), EDEADLK);
	CHECK_ERRNO("TRYLOCK_PI of a lock one owns: EDEADLK", futex(&word, FUTEX_TRYLOCK_PI_PRIVATE, NULL), EDEADLK);
	CHECK("UNLOCK_PI without waiters frees it", futex(&word, FUTEX_UNLOCK_PI_PRIVATE, NULL) == 0 && word == 0,
	      "word %#x (%s)", word, strerror(errno));
	CHECK_ERRNO("UNLOCK_PI of a free lock: EPERM", futex(&word, FUTEX_UNLOCK_PI_PRIVATE, NULL), EPERM);
	word = FUTEX_OWNER_DIED;
	CHECK("LOCK_PI of a lock whose owner died takes it, still marked",
	      futex(&word, FUTEX_LOCK_PI_PRIVATE, NULL) == 0 && word == (me | FUTEX_OWNER_DIED), "word %#x (%s)",
	      word, strerror(errno));

	/* Only the operations with an absolute timeout take a clock. */
	CHECK_ERRNO("LOCK_PI with FUTEX_CLOCK_REALTIME: ENOSYS",
		    futex(&word, FUTEX_LOCK_PI_PRIVATE | FUTEX_CLOCK_REALTIME, NULL), ENOSYS);
	CHECK_ERRNO("FUTEX_WAIT with FUTEX_CLOCK_REALTIME: ENOSYS",
		    futex(&word, FUTEX_WAIT_PRIVATE | FUTEX_CLOCK_REALTIME, NULL), ENOSYS);

	/* A word naming a thread that no longer exists. */
	pid_t child = fork();
	if (child == 0)
		_exit(0);
	waitpid(child, NULL, 0);
	word = (uint32_t)child;
	CHECK_ERRNO("LOCK_PI of a dead owner's word: ESRCH", futex(&word, FUTEX_LOCK_PI_PRIVATE, NULL), ESRCH);
	word = (uint32_t)child;
	CHECK_ERRNO("TRYLOCK_PI of a dead owner's word: ESRCH", futex(&word, FUTEX_TRYLOCK_PI_PRIVATE, NULL), ESRCH);

	/* Another thread owns the word. */
	release_now = 0;
	owner_tid = 0;
	pthread_t owner;
	pthread_create(&owner, NULL, own_then_unlock, NULL);
	while (!__atomic_load_n(&owner_tid, __ATOMIC_SEQ_CST))
		usleep(1000);
	CHECK_ERRNO("UNLOCK_PI of another thread's lock: EPERM", futex(&word, FUTEX_UNLOCK_PI_PRIVATE, NULL), EPERM);
	CHECK_ERRNO("TRYLOCK_PI of another thread's lock: EAGAIN", futex(&word, FUTEX_TRYLOCK_PI_PRIVATE, NULL),
		    EAGAIN);
	struct timespec soon = from_now(CLOCK_REALTIME, 20);
	CHECK_ERRNO("LOCK_PI times out on CLOCK_REALTIME", futex(&word, FUTEX_LOCK_PI_PRIVATE, &soon), ETIMEDOUT);
	soon = from_now(CLOCK_MONOTONIC, 20);
	CHECK_ERRNO("LOCK_PI2 times out on CLOCK_MONOTONIC", futex(&word, FUTEX_LOCK_PI2_PRIVATE, &soon), ETIMEDOUT);
	/* The failed attempts left FUTEX_WAITERS set, as Linux does: clear it, so the owner
	 * unlocks only once the lock below sleeps, and hands the lock to it. */
	__atomic_and_fetch(&word, ~FUTEX_WAITERS, __ATOMIC_SEQ_CST);
	release_now = 1;
	long locked = futex(&word, FUTEX_LOCK_PI_PRIVATE, NULL);
	void *unlocked;
	pthread_join(owner, &unlocked);
	CHECK("UNLOCK_PI hands the lock to the waiter", locked == 0 && !unlocked && (word & FUTEX_TID_MASK) == me,
	      "lock %ld unlock %ld word %#x", locked, (long)unlocked, word);
	CHECK("the new owner unlocks it", futex(&word, FUTEX_UNLOCK_PI_PRIVATE, NULL) == 0 && word == 0,
	      "word %#x", word);

	/* PTHREAD_PRIO_INHERIT mutexes. */
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	CHECK("setprotocol PTHREAD_PRIO_INHERIT", pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_INHERIT) == 0,
	      "failed");
	pthread_mutex_init(&pi_lock, &attr);
	pthread_t threads[THREADS];
	for (long i = 0; i < THREADS; i++)
		pthread_create(&threads[i], NULL, contend, (void *)i);
	for (long i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);
	CHECK("contended PI mutex loses no increment", counter == (long)THREADS * ROUNDS, "counter %ld", counter);

	pthread_mutex_lock(&pi_lock);
	int busy = -1;
	pthread_t other;
	/* trylock from another thread while this one holds it. */
	pthread_create(&other, NULL, (void *(*)(void *))(void *)pthread_mutex_trylock, &pi_lock);
	void *trylock_result;
	pthread_join(other, &trylock_result);
	busy = (int)(long)trylock_result;
	CHECK("trylock of a held PI mutex: EBUSY", busy == EBUSY, "returned %d", busy);
	pthread_mutex_unlock(&pi_lock);

	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_t checked;
	pthread_mutex_init(&checked, &attr);
	pthread_mutex_lock(&checked);
	CHECK("error-checking PI mutex locked twice: EDEADLK", pthread_mutex_lock(&checked) == EDEADLK, "no");
	pthread_mutex_unlock(&checked);

	/* A robust PI mutex whose owner thread exits holding it. */
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_NORMAL);
	pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&robust_lock, &attr);
	pthread_t dier;
	pthread_create(&dier, NULL, die_holding, NULL);
	while (!robust_held)
		usleep(1000);
	int rc = pthread_mutex_lock(&robust_lock);
	CHECK("robust PI mutex of a dead owner: EOWNERDEAD", rc == EOWNERDEAD, "returned %d (%s)", rc, strerror(rc));
	pthread_join(dier, NULL);
	if (rc == EOWNERDEAD) {
		CHECK("made consistent", pthread_mutex_consistent(&robust_lock) == 0, "failed");
		pthread_mutex_unlock(&robust_lock);
		CHECK("locks again", pthread_mutex_lock(&robust_lock) == 0, "failed");
		pthread_mutex_unlock(&robust_lock);
	}

	/* The same with no waiter when the owner dies. */
	robust_held = 0;
	pthread_create(&dier, NULL, die_holding, NULL);
	pthread_join(dier, NULL);
	rc = pthread_mutex_lock(&robust_lock);
	CHECK("robust PI mutex of an owner dead before the lock: EOWNERDEAD", rc == EOWNERDEAD, "returned %d (%s)",
	      rc, strerror(rc));
	return check_finish();
}
