/* System V shared memory with semaphores: parent and child increment a counter in one segment
 * under a semaphore; attachment counts across fork, shmdt and exit; IPC_RMID while attached
 * (the memory stays until the last detach); SHM_RDONLY, SHM_RND and SHM_REMAP; shmdt of an
 * address that is not a segment start; permissions as uid 1000. Every segment is IPC_PRIVATE and
 * removed at the end. Needs MAP_SHARED mappings of memfd/tmpfs files in the sandbox. */
#include "../check.h"

#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>

#define ROUNDS 2000

static sigjmp_buf fault_jump;

static void on_fault(int sig)
{
	siglongjmp(fault_jump, sig);
}

static unsigned long nattch(int id)
{
	struct shmid_ds ds;
	return shmctl(id, IPC_STAT, &ds) == 0 ? (unsigned long)ds.shm_nattch : ~0UL;
}

static int wait_exit(pid_t pid)
{
	int status = 0;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ROUNDS increments of the shared counter, each under the semaphore. */
static void count(volatile long *counter, int sem)
{
	struct sembuf lock = {0, -1, SEM_UNDO}, unlock = {0, 1, SEM_UNDO};
	for (int i = 0; i < ROUNDS; i++) {
		semop(sem, &lock, 1);
		long value = *counter;
		if (i % 64 == 0)
			sched_yield();
		*counter = value + 1;
		semop(sem, &unlock, 1);
	}
}

int main(void)
{
	FILE *f = fopen("/proc/sys/kernel/shmmni", "r");
	unsigned long shmmni = 0;
	CHECK("proc_shmmni", f && fscanf(f, "%lu", &shmmni) == 1 && shmmni > 0, "unreadable");
	if (f)
		fclose(f);
	struct shminfo info;
	CHECK("ipc_info", shmctl(0, IPC_INFO, (struct shmid_ds *)&info) >= 0 && info.shmmni == shmmni &&
				  info.shmmin == 1,
	      "shmmni %lu/%lu shmmin %lu", info.shmmni, shmmni, info.shmmin);

	CHECK_ERRNO("shmget_zero", shmget(IPC_PRIVATE, 0, 0600), EINVAL);
	int id = CHECK_OK("shmget", shmget(IPC_PRIVATE, 10000, 0600));
	struct shmid_ds ds;
	CHECK_OK("ipc_stat", shmctl(id, IPC_STAT, &ds));
	CHECK("stat_fields", ds.shm_segsz == 10000 && ds.shm_nattch == 0 &&
				     ds.shm_cpid == getpid() && ds.shm_lpid == 0 &&
				     ds.shm_atime == 0 && (ds.shm_perm.mode & 0777) == 0600 &&
				     ds.shm_perm.cuid == geteuid(),
	      "segsz %zu nattch %lu lpid ok %d mode %o", ds.shm_segsz,
	      (unsigned long)ds.shm_nattch, ds.shm_lpid == 0, ds.shm_perm.mode);

	volatile long *shared = shmat(id, NULL, 0);
	CHECK("shmat", shared != (void *)-1, "shmat: %s", strerror(errno));
	if (shared == (void *)-1)
		return check_finish();
	CHECK("zero_filled", shared[0] == 0 && shared[1249] == 0, "not zero");
	CHECK("nattch_one", nattch(id) == 1, "nattch %lu", nattch(id));
	CHECK_OK("stat_after_attach", shmctl(id, IPC_STAT, &ds));
	CHECK("lpid_after_attach", ds.shm_lpid == getpid() && ds.shm_atime > 0, "lpid or atime");

	/* A counter shared across fork, under a semaphore. */
	int sem = CHECK_OK("semget", semget(IPC_PRIVATE, 1, 0600));
	struct sembuf one = {0, 1, 0};
	semop(sem, &one, 1);
	pid_t child = fork();
	if (child == 0) {
		count(shared, sem);
		_exit(0);
	}
	CHECK("nattch_after_fork", nattch(id) == 2, "nattch %lu", nattch(id));
	count(shared, sem);
	CHECK("child_counted", wait_exit(child) == 0, "child failed");
	CHECK("shared_counter", shared[0] == 2 * ROUNDS, "counter %ld", shared[0]);
	CHECK("nattch_after_child_exit", nattch(id) == 1, "nattch %lu", nattch(id));

	/* Two attachments of one segment in one process are one memory. */
	volatile long *again = shmat(id, NULL, SHM_RDONLY);
	CHECK("shmat_second", again != (void *)-1 && again != shared, "shmat: %s", strerror(errno));
	shared[5] = 1234;
	CHECK("same_memory", again[5] == 1234, "second attachment sees %ld", again[5]);
	CHECK("nattch_two", nattch(id) == 2, "nattch %lu", nattch(id));
	struct sigaction sa = {.sa_handler = on_fault};
	sigaction(SIGSEGV, &sa, NULL);
	int sig = sigsetjmp(fault_jump, 1);
	if (sig == 0)
		again[5] = 1;
	CHECK("rdonly_write_faults", sig == SIGSEGV && shared[5] == 1234, "sig %d", sig);
	CHECK_ERRNO("shmdt_not_start", shmdt((char *)again + 4096), EINVAL);
	CHECK_ERRNO("shmdt_unaligned", shmdt((char *)again + 1), EINVAL);
	CHECK_OK("shmdt", shmdt((void *)again));
	CHECK("nattch_after_shmdt", nattch(id) == 1, "nattch %lu", nattch(id));
	CHECK_ERRNO("shmdt_twice", shmdt((void *)again), EINVAL);

	/* Addresses: SHM_RND rounds down, an occupied address needs SHM_REMAP. */
	char *area = mmap(NULL, 4 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK_ERRNO("shmat_unaligned", shmat(id, area + 1, 0), EINVAL);
	CHECK_ERRNO("shmat_occupied", shmat(id, area, 0), EINVAL);
	CHECK_ERRNO("shmat_remap_null", shmat(id, NULL, SHM_REMAP), EINVAL);
	volatile long *at = shmat(id, area + 100, SHM_RND | SHM_REMAP);
	CHECK("shmat_rnd_remap", at == (void *)area && at[5] == 1234, "at %p area %p", (void *)at,
	      (void *)area);
	if (at != (void *)-1)
		shmdt((void *)at);
	munmap(area, 4 * 4096);

	/* Permissions as uid 1000. */
	child = fork();
	if (child == 0) {
		shmdt((void *)shared);
		if (setgid(1000) != 0 || setuid(1000) != 0)
			_exit(100);
		if (shmat(id, NULL, SHM_RDONLY) != (void *)-1 || errno != EACCES)
			_exit(1);
		if (shmctl(id, IPC_RMID, NULL) != -1 || errno != EPERM)
			_exit(2);
		_exit(0);
	}
	CHECK("eacces_as_user", wait_exit(child) == 0, "child check failed");

	/* IPC_RMID while attached: the segment lingers, marked, until the last detach. */
	CHECK_OK("rmid_attached", shmctl(id, IPC_RMID, NULL));
	CHECK("memory_survives_rmid", shared[0] == 2 * ROUNDS, "counter %ld", shared[0]);
	CHECK_OK("stat_after_rmid", shmctl(id, IPC_STAT, &ds));
	CHECK("marked_dest", (ds.shm_perm.mode & SHM_DEST) && ds.shm_perm.__key == IPC_PRIVATE &&
				     ds.shm_nattch == 1,
	      "mode %o nattch %lu", ds.shm_perm.mode, (unsigned long)ds.shm_nattch);
	shared[0] = 7;
	CHECK_OK("shmdt_last", shmdt((void *)shared));
	CHECK_ERRNO("gone_after_last_detach", shmctl(id, IPC_STAT, &ds), EINVAL);
	CHECK_OK("sem_rmid", semctl(sem, 0, IPC_RMID));
	return check_finish();
}
