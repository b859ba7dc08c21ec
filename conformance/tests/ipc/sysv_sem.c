/* System V semaphores: semget/semop/semtimedop/semctl, blocking and waking, IPC_NOWAIT,
 * timeouts, EINTR, EIDRM, SEM_UNDO at exit, permissions as uid 1000, the deterministic IPC_STAT
 * fields and the limits /proc/sys/kernel/sem shows. Natively this runs in the host's IPC
 * namespace: every set is IPC_PRIVATE or a key of this pid's, and removed at the end. */
#include "../check.h"
#include "sysvipc.h"

#include <signal.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/wait.h>
#include <time.h>

union semun {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *info;
};

static void on_signal(int sig)
{
	(void)sig;
}

/* Waits (bounded, as a hang guard) until `cmd` (GETNCNT/GETZCNT) of semaphore `num` is `want`. */
static int wait_count(int id, int num, int cmd, int want)
{
	for (int i = 0; i < 5000; i++) {
		if (semctl(id, num, cmd) == want)
			return 1;
		usleep(1000);
	}
	return 0;
}

/* Runs `child` in a forked process and returns its exit code. */
static int in_child(int (*child)(int), int arg)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(child(arg));
	int status = 0;
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int take_one(int id)
{
	struct sembuf op = {0, -1, 0};
	return semop(id, &op, 1) == 0 ? 0 : errno;
}

static int undo_add(int id)
{
	struct sembuf op = {0, 3, SEM_UNDO};
	return semop(id, &op, 1) == 0 ? 0 : errno;
}

static int as_user_1000(int id)
{
	if (setgid(1000) != 0 || setuid(1000) != 0)
		return 100;
	struct sembuf op = {0, 1, 0};
	if (semop(id, &op, 1) != -1 || errno != EACCES)
		return 1;
	if (semctl(id, 0, GETVAL) != -1 || errno != EACCES)
		return 2;
	if (semctl(id, 0, IPC_RMID) != -1 || errno != EPERM)
		return 3;
	struct semid_ds ds;
	if (semctl(id, 0, IPC_STAT, (union semun){.buf = &ds}) != -1 || errno != EACCES)
		return 4;
	return 0;
}

static int readable_by_others(int id)
{
	if (setgid(1000) != 0 || setuid(1000) != 0)
		return 100;
	if (semctl(id, 0, GETVAL) != 0)
		return 1;
	struct sembuf op = {0, 1, 0};
	if (semop(id, &op, 1) != -1 || errno != EACCES)
		return 2;
	return 0;
}

int main(void)
{
	/* Limits: the file and IPC_INFO agree. */
	FILE *f = fopen("/proc/sys/kernel/sem", "r");
	int msl = 0, mns = 0, opm = 0, mni = 0;
	CHECK("proc_sem_fields", f && fscanf(f, "%d %d %d %d", &msl, &mns, &opm, &mni) == 4,
	      "could not read four numbers");
	if (f)
		fclose(f);
	struct seminfo info;
	int top = semctl(0, 0, IPC_INFO, (union semun){.info = &info});
	CHECK("ipc_info", top >= 0 && info.semmsl == msl && info.semmns == mns &&
				  info.semopm == opm && info.semmni == mni && info.semvmx == 32767,
	      "ret %d semmsl %d/%d semopm %d/%d semvmx %d", top, info.semmsl, msl, info.semopm, opm,
	      info.semvmx);

	CHECK_ERRNO("semget_zero_private", semget(IPC_PRIVATE, 0, 0600), EINVAL);
	CHECK_ERRNO("semget_too_many", semget(IPC_PRIVATE, msl + 1, 0600), EINVAL);
	int id = CHECK_OK("semget", semget(IPC_PRIVATE, 3, 0600));

	struct semid_ds ds;
	CHECK_OK("ipc_stat", semctl(id, 0, IPC_STAT, (union semun){.buf = &ds}));
	CHECK("stat_fields", ds.sem_nsems == 3 && (ds.sem_perm.mode & 0777) == 0600 &&
				     ds.sem_perm.uid == geteuid() && ds.sem_perm.cuid == geteuid() &&
				     ds.sem_perm.__key == IPC_PRIVATE && ds.sem_otime == 0 &&
				     ds.sem_ctime > 0,
	      "nsems %lu mode %o uid %u key %d otime %ld", (unsigned long)ds.sem_nsems,
	      ds.sem_perm.mode, ds.sem_perm.uid, ds.sem_perm.__key, (long)ds.sem_otime);

	char rest[512];
	unsigned perms = 0, nsems = 0;
	CHECK("proc_sysvipc_sem",
	      sysvipc_line("sem", id, rest, sizeof(rest)) &&
		      sscanf(rest, "%o %u", &perms, &nsems) == 2 && perms == 0600 && nsems == 3,
	      "perms %o nsems %u", perms, nsems);

	/* Values. */
	CHECK("initial_zero", semctl(id, 1, GETVAL) == 0, "not zero");
	CHECK_OK("setval", semctl(id, 1, SETVAL, (union semun){.val = 5}));
	CHECK("getval", semctl(id, 1, GETVAL) == 5, "got %d", semctl(id, 1, GETVAL));
	CHECK("getpid_after_setval", semctl(id, 1, GETPID) == getpid(), "wrong pid");
	CHECK_ERRNO("setval_range", semctl(id, 1, SETVAL, (union semun){.val = 32768}), ERANGE);
	CHECK_ERRNO("setval_negative", semctl(id, 1, SETVAL, (union semun){.val = -1}), ERANGE);
	CHECK_ERRNO("getval_bad_num", semctl(id, 3, GETVAL), EINVAL);
	unsigned short all[3] = {1, 2, 3}, got[3] = {0};
	CHECK_OK("setall", semctl(id, 0, SETALL, (union semun){.array = all}));
	CHECK_OK("getall", semctl(id, 0, GETALL, (union semun){.array = got}));
	CHECK("getall_values", got[0] == 1 && got[1] == 2 && got[2] == 3, "%u %u %u", got[0],
	      got[1], got[2]);

	/* semop: atomic, non-blocking failures, argument checks. */
	struct sembuf ops[2] = {{0, -1, 0}, {2, 4, 0}};
	CHECK_OK("semop_two", semop(id, ops, 2));
	CHECK("semop_applied", semctl(id, 0, GETVAL) == 0 && semctl(id, 2, GETVAL) == 7,
	      "values %d %d", semctl(id, 0, GETVAL), semctl(id, 2, GETVAL));
	struct sembuf nowait[2] = {{2, -1, 0}, {0, -1, IPC_NOWAIT}};
	CHECK_ERRNO("semop_nowait", semop(id, nowait, 2), EAGAIN);
	CHECK("semop_all_or_nothing", semctl(id, 2, GETVAL) == 7, "sem 2 is %d",
	      semctl(id, 2, GETVAL));
	struct sembuf zero_nowait = {2, 0, IPC_NOWAIT};
	CHECK_ERRNO("wait_zero_nowait", semop(id, &zero_nowait, 1), EAGAIN);
	struct sembuf bad_num = {3, 1, 0};
	CHECK_ERRNO("semop_efbig", semop(id, &bad_num, 1), EFBIG);
	CHECK_ERRNO("semop_zero_ops", semop(id, ops, 0), EINVAL);
	struct sembuf over = {2, 32767, 0};
	CHECK_ERRNO("semop_erange", semop(id, &over, 1), ERANGE);
	CHECK_ERRNO("semop_bad_id", semop(-1, ops, 1), EINVAL);
	struct timespec ts = {0, 20 * 1000 * 1000};
	struct sembuf take = {0, -1, 0};
	CHECK_ERRNO("semtimedop_timeout", semtimedop(id, &take, 1, &ts), EAGAIN);
	struct timespec bad_ts = {0, 1000000000};
	CHECK_ERRNO("semtimedop_bad_timeout", semtimedop(id, &take, 1, &bad_ts), EINVAL);

	/* A blocked child is counted in GETNCNT and woken by the parent's increment. */
	pid_t child = fork();
	if (child == 0)
		_exit(take_one(id));
	CHECK("getncnt_sees_waiter", wait_count(id, 0, GETNCNT, 1), "no waiter counted");
	struct sembuf give = {0, 1, 0};
	CHECK_OK("semop_wakes", semop(id, &give, 1));
	int status = 0;
	waitpid(child, &status, 0);
	CHECK("waiter_succeeded", WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x",
	      status);
	CHECK("waiter_took_it", semctl(id, 0, GETVAL) == 0 && semctl(id, 0, GETPID) == child,
	      "value %d pid ok %d", semctl(id, 0, GETVAL), semctl(id, 0, GETPID) == child);

	/* A zero-waiter is counted in GETZCNT and released when the value reaches zero. */
	child = fork();
	if (child == 0) {
		struct sembuf z = {2, 0, 0};
		_exit(semop(id, &z, 1) == 0 ? 0 : errno);
	}
	CHECK("getzcnt_sees_waiter", wait_count(id, 2, GETZCNT, 1), "no zero-waiter counted");
	struct sembuf drain = {2, -7, 0};
	CHECK_OK("semop_to_zero", semop(id, &drain, 1));
	waitpid(child, &status, 0);
	CHECK("zero_waiter_released", WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "status %#x", status);

	/* Waiters are served in order. */
	pid_t first = fork();
	if (first == 0)
		_exit(take_one(id));
	wait_count(id, 0, GETNCNT, 1);
	pid_t second = fork();
	if (second == 0)
		_exit(take_one(id));
	wait_count(id, 0, GETNCNT, 2);
	CHECK_OK("give_one", semop(id, &give, 1));
	pid_t done = waitpid(-1, &status, 0);
	CHECK("first_waiter_first", done == first, "the second waiter finished first");
	CHECK_OK("give_another", semop(id, &give, 1));
	waitpid(second, &status, 0);

	/* A signal interrupts a blocked semop with EINTR, even with SA_RESTART. */
	struct sigaction sa = {.sa_handler = on_signal, .sa_flags = SA_RESTART};
	sigaction(SIGUSR1, &sa, NULL);
	child = fork();
	if (child == 0)
		_exit(take_one(id) == EINTR ? 0 : 1);
	wait_count(id, 0, GETNCNT, 1);
	kill(child, SIGUSR1);
	waitpid(child, &status, 0);
	CHECK("semop_eintr", WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
	CHECK("eintr_dequeued", semctl(id, 0, GETNCNT) == 0, "still counted");

	/* SEM_UNDO: a child's adjustment is reverted when it exits. */
	CHECK("undo_child_ok", in_child(undo_add, id) == 0, "child failed");
	CHECK("undo_applied_at_exit", semctl(id, 0, GETVAL) == 0, "value %d",
	      semctl(id, 0, GETVAL));

	/* Permissions as uid 1000. */
	CHECK("eacces_as_user", in_child(as_user_1000, id) == 0, "child check %d",
	      in_child(as_user_1000, id));
	CHECK_OK("ipc_set_mode", semctl(id, 0, IPC_STAT, (union semun){.buf = &ds}));
	ds.sem_perm.mode = 0604;
	CHECK_OK("ipc_set", semctl(id, 0, IPC_SET, (union semun){.buf = &ds}));
	CHECK("ipc_set_applied",
	      semctl(id, 0, IPC_STAT, (union semun){.buf = &ds}) == 0 &&
		      (ds.sem_perm.mode & 0777) == 0604,
	      "mode %o", ds.sem_perm.mode);
	CHECK("others_read_only", in_child(readable_by_others, id) == 0, "child check failed");

	/* Removal wakes a blocked waiter with EIDRM. */
	child = fork();
	if (child == 0)
		_exit(take_one(id) == EIDRM ? 0 : 1);
	wait_count(id, 0, GETNCNT, 1);
	CHECK_OK("rmid", semctl(id, 0, IPC_RMID));
	waitpid(child, &status, 0);
	CHECK("waiter_eidrm", WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
	CHECK_ERRNO("removed_id", semctl(id, 0, GETVAL), EINVAL);

	/* Keys. */
	key_t key = 0x5e000000 | (getpid() & 0xffffff);
	int keyed = CHECK_OK("semget_key", semget(key, 2, IPC_CREAT | IPC_EXCL | 0600));
	CHECK_ERRNO("semget_excl", semget(key, 2, IPC_CREAT | IPC_EXCL | 0600), EEXIST);
	CHECK("semget_finds_key", semget(key, 1, 0) == keyed, "another id");
	CHECK_ERRNO("semget_bigger", semget(key, 3, 0), EINVAL);
	CHECK_OK("rmid_keyed", semctl(keyed, 0, IPC_RMID));
	CHECK_ERRNO("semget_gone", semget(key, 2, 0), ENOENT);
	return check_finish();
}
