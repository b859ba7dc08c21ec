/*
 * Futexes in memory shared between processes: a parent and a forked child hand a counter back
 * and forth through MAP_SHARED|MAP_ANONYMOUS memory, sleeping with FUTEX_WAIT and woken with
 * FUTEX_WAKE (no FUTEX_PRIVATE_FLAG), and process-shared pthread mutexes, condition variables
 * and robust mutexes work across fork. Then the same counter and a robust mutex through a
 * POSIX shared memory object (/dev/shm) mapped by a fork+exec'ed peer.
 */
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include "../check.h"

#define ROUNDS 200

static long futex(uint32_t *word, int op, uint32_t val, const struct timespec *timeout)
{
	return syscall(SYS_futex, word, op, val, timeout, NULL, 0);
}

/* Sleeps until *turn is `mine`; -1 if a 10 s guard against a lost wake ran out. */
static int wait_turn(uint32_t *turn, uint32_t mine)
{
	uint32_t seen;
	while ((seen = __atomic_load_n(turn, __ATOMIC_ACQUIRE)) != mine) {
		struct timespec guard = {10, 0};
		if (futex(turn, FUTEX_WAIT, seen, &guard) == -1 && errno == ETIMEDOUT)
			return -1;
	}
	return 0;
}

/* Waits until *turn is `mine`, then passes the turn on with one more count, ROUNDS times. */
static int take_turns(uint32_t *turn, uint32_t *count, uint32_t mine, uint32_t other)
{
	for (int i = 0; i < ROUNDS; i++) {
		if (wait_turn(turn, mine) != 0)
			return -1;
		(*count)++;
		__atomic_store_n(turn, other, __ATOMIC_RELEASE);
		futex(turn, FUTEX_WAKE, 1, NULL);
	}
	return 0;
}

struct shared {
	uint32_t turn;
	uint32_t count;
	uint32_t gate;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	int stage;
	long total;
	pthread_mutex_t robust;
};

static void child_main(struct shared *s)
{
	int failed = take_turns(&s->turn, &s->count, 1, 0) != 0;

	/* Sleep on the gate; the parent opens it with FUTEX_WAKE from its own process. */
	while (__atomic_load_n(&s->gate, __ATOMIC_ACQUIRE) == 0) {
		struct timespec guard = {10, 0};
		if (futex(&s->gate, FUTEX_WAIT, 0, &guard) == -1 && errno == ETIMEDOUT) {
			failed = 1;
			break;
		}
	}

	/* Process-shared mutex and condition variable. */
	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&s->lock);
		s->total++;
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_lock(&s->lock);
	s->stage = 1;
	pthread_cond_signal(&s->changed);
	while (s->stage != 2)
		pthread_cond_wait(&s->changed, &s->lock);
	pthread_mutex_unlock(&s->lock);

	/* Die holding the robust mutex: the parent must get EOWNERDEAD. */
	pthread_mutex_lock(&s->robust);
	pthread_mutex_lock(&s->lock);
	s->stage = 3;
	pthread_cond_signal(&s->changed);
	pthread_mutex_unlock(&s->lock);
	_exit(failed);
}

/* What a /dev/shm object holds for the exec'ed peer. */
struct shm_area {
	uint32_t turn;
	uint32_t count;
	uint32_t robust_held;
	pthread_mutex_t robust;
};

/* Maps the shared memory object open as `fd`. */
static struct shm_area *map_shm(int fd)
{
	void *at = mmap(NULL, sizeof(struct shm_area), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return at == MAP_FAILED ? NULL : at;
}

/* The exec'ed peer: takes its turns in the /dev/shm object `name`, then execs /bin/true
 * holding its robust mutex once the parent is about to block on it (an exec releases robust
 * futexes as an exit does). Reports by exit status only. */
static int shm_peer(const char *name)
{
	int fd = shm_open(name, O_RDWR, 0);
	struct shm_area *area = fd < 0 ? NULL : map_shm(fd);
	if (!area)
		return 2;
	if (take_turns(&area->turn, &area->count, 1, 0) != 0)
		return 3;
	if (pthread_mutex_lock(&area->robust) != 0)
		return 4;
	__atomic_store_n(&area->robust_held, 1, __ATOMIC_RELEASE);
	/* A moment for the parent to block on the mutex; it must see EOWNERDEAD either way. */
	usleep(50000);
	execl("/bin/true", "true", (char *)NULL);
	return 5;
}

/* The same counter between this process and a fork+exec'ed peer, through /dev/shm. */
static void over_shm_after_exec(void)
{
	char name[64];
	snprintf(name, sizeof(name), "/rvisor-futex-%d", (int)getpid());
	int fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK("shm_open", fd >= 0, "%s", strerror(errno));
	if (fd < 0)
		return;
	CHECK_OK("ftruncate the shared memory object", ftruncate(fd, sizeof(struct shm_area)));
	struct shm_area *area = map_shm(fd);
	CHECK("mmap MAP_SHARED of the shared memory object", area != NULL, "%s", strerror(errno));
	if (!area) {
		shm_unlink(name);
		return;
	}
	pthread_mutexattr_t mattr;
	pthread_mutexattr_init(&mattr);
	pthread_mutexattr_setpshared(&mattr, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&mattr, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&area->robust, &mattr);

	pid_t child = fork();
	if (child == 0) {
		execl("/proc/self/exe", "shared_fork", "shm-peer", name, (char *)NULL);
		_exit(127);
	}
	int turns_ok = take_turns(&area->turn, &area->count, 0, 1) == 0 && wait_turn(&area->turn, 0) == 0;
	CHECK("FUTEX_WAIT/WAKE hand a counter to an exec'ed process through /dev/shm",
	      turns_ok && area->count == 2 * ROUNDS, "count %u", area->count);

	while (!__atomic_load_n(&area->robust_held, __ATOMIC_ACQUIRE))
		usleep(1000);
	/* A guard against a lost wake only. */
	struct timespec guard;
	clock_gettime(CLOCK_REALTIME, &guard);
	guard.tv_sec += 10;
	int rc = pthread_mutex_timedlock(&area->robust, &guard);
	CHECK("robust mutex in /dev/shm of an owner that exec'ed: EOWNERDEAD", rc == EOWNERDEAD,
	      "returned %d (%s)", rc, strerror(rc));
	int status;
	waitpid(child, &status, 0);
	CHECK("the exec'ed peer took its turns", WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x",
	      status);
	munmap(area, sizeof(*area));
	close(fd);
	CHECK_OK("shm_unlink", shm_unlink(name));
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "shm-peer") == 0)
		return shm_peer(argv[2]);

	struct shared *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK("mmap shared anonymous", s != MAP_FAILED, "%s", strerror(errno));
	if (s == MAP_FAILED)
		return check_finish();

	pthread_mutexattr_t mattr;
	pthread_mutexattr_init(&mattr);
	pthread_mutexattr_setpshared(&mattr, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(&s->lock, &mattr);
	pthread_mutexattr_setrobust(&mattr, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(&s->robust, &mattr);
	pthread_condattr_t cattr;
	pthread_condattr_init(&cattr);
	pthread_condattr_setpshared(&cattr, PTHREAD_PROCESS_SHARED);
	pthread_cond_init(&s->changed, &cattr);

	pid_t child = fork();
	if (child == 0)
		child_main(s);
	CHECK("fork", child > 0, "%s", strerror(errno));
	if (child < 0)
		return check_finish();

	/* The child's last turn hands the word back to 0 once more. */
	int turns_ok = take_turns(&s->turn, &s->count, 0, 1) == 0 && wait_turn(&s->turn, 0) == 0;
	CHECK("FUTEX_WAIT/WAKE hand a counter between processes", turns_ok && s->count == 2 * ROUNDS,
	      "count %u", s->count);

	/* Open the gate the child sleeps on (it reports a wake that never came as a failure). */
	__atomic_store_n(&s->gate, 1, __ATOMIC_RELEASE);
	futex(&s->gate, FUTEX_WAKE, 1, NULL);

	/* A private futex on the same shared word is another futex: its wake finds no one. */
	uint32_t *word = &s->count;
	CHECK("FUTEX_WAKE_PRIVATE on shared memory with no private waiter",
	      futex(word, FUTEX_WAKE_PRIVATE, 1, NULL) == 0, "%s", strerror(errno));

	for (int i = 0; i < 1000; i++) {
		pthread_mutex_lock(&s->lock);
		s->total++;
		pthread_mutex_unlock(&s->lock);
	}
	int wait_errors = 0;
	pthread_mutex_lock(&s->lock);
	while (s->stage != 1)
		wait_errors += pthread_cond_wait(&s->changed, &s->lock) != 0;
	CHECK("process-shared mutex counts every increment", s->total == 2000, "total %ld", s->total);
	s->stage = 2;
	pthread_cond_signal(&s->changed);
	while (s->stage != 3)
		wait_errors += pthread_cond_wait(&s->changed, &s->lock) != 0;
	pthread_mutex_unlock(&s->lock);
	CHECK("process-shared condition variable waits end in a signal", wait_errors == 0, "%d errors",
	      wait_errors);

	/* The child holds the robust mutex and exits: this lock sleeps until the exit wakes it. */
	int rc = pthread_mutex_lock(&s->robust);
	CHECK("robust process-shared mutex of a dead owner: EOWNERDEAD", rc == EOWNERDEAD, "returned %d (%s)",
	      rc, strerror(rc));
	if (rc == EOWNERDEAD) {
		CHECK("pthread_mutex_consistent", pthread_mutex_consistent(&s->robust) == 0, "failed");
		CHECK("unlock the recovered mutex", pthread_mutex_unlock(&s->robust) == 0, "failed");
		CHECK("lock it again", pthread_mutex_lock(&s->robust) == 0, "failed");
		pthread_mutex_unlock(&s->robust);
	}

	int status;
	CHECK("waitpid", waitpid(child, &status, 0) == child, "%s", strerror(errno));
	CHECK("child saw every turn and the gate open", WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "status %#x", status);

	/* FUTEX_WAKE without FUTEX_PRIVATE_FLAG on unmapped memory faults. */
	munmap(s, sizeof(*s));
	errno = 0;
	long r = futex(&s->turn, FUTEX_WAKE, 1, NULL);
	CHECK("shared FUTEX_WAKE of an unmapped word: EFAULT", r == -1 && errno == EFAULT, "returned %ld (%s)",
	      r, strerror(errno));
	r = futex(&s->turn, FUTEX_WAKE_PRIVATE, 1, NULL);
	CHECK("private FUTEX_WAKE of an unmapped word finds no waiter", r == 0, "returned %ld (%s)", r,
	      strerror(errno));

	over_shm_after_exec();
	return check_finish();
}
