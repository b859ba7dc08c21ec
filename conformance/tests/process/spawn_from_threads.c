/* Threads that each start and reap many children at once, in every way a program does it:
 * posix_spawn, vfork + execve, fork + execve, vfork + a failing execve, fork + _exit, and a child
 * killed while it sleeps. Every child is reaped with the status its way of ending gives. The
 * sandbox serves each child with a stub process or a stub thread traced by its own OS thread, so
 * this keeps many tracers busy at once (`cargo xtask stress process/spawn_from_threads`). */
#include "../check.h"

#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

enum { THREADS = 4, ROUNDS = 60, WAYS = 6 };

static const char *const way_names[WAYS] = {
	"posix_spawn", "vfork_execve", "fork_execve", "vfork_failed_execve", "fork_exit", "fork_killed",
};

/* Children of each way whose status was wrong, and the first wrong status. */
static int wrong[WAYS];
static int first_wrong_status[WAYS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static pid_t start_child(int way)
{
	char *true_argv[] = {"/bin/true", NULL};
	char *missing_argv[] = {"/nonexistent/program", NULL};
	char *sleep_argv[] = {"/bin/sleep", "60", NULL};
	pid_t pid = -1;
	switch (way) {
	case 0:
		if (posix_spawn(&pid, true_argv[0], NULL, NULL, true_argv, environ) != 0)
			pid = -1;
		break;
	case 1:
		pid = vfork();
		if (pid == 0) {
			execve(true_argv[0], true_argv, environ);
			_exit(126);
		}
		break;
	case 2:
		pid = fork();
		if (pid == 0) {
			execve(true_argv[0], true_argv, environ);
			_exit(126);
		}
		break;
	case 3:
		pid = vfork();
		if (pid == 0) {
			execve(missing_argv[0], missing_argv, environ);
			_exit(127);
		}
		break;
	case 4:
		pid = fork();
		if (pid == 0)
			_exit(7);
		break;
	default:
		pid = fork();
		if (pid == 0) {
			execve(sleep_argv[0], sleep_argv, environ);
			_exit(126);
		}
		if (pid > 0)
			kill(pid, SIGKILL);
		break;
	}
	return pid;
}

static int status_is_right(int way, int status)
{
	switch (way) {
	case 3:
		return WIFEXITED(status) && WEXITSTATUS(status) == 127;
	case 4:
		return WIFEXITED(status) && WEXITSTATUS(status) == 7;
	case 5:
		return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
	default:
		return WIFEXITED(status) && WEXITSTATUS(status) == 0;
	}
}

static void *spawner(void *arg)
{
	long first = (long)arg;
	for (int round = 0; round < ROUNDS; round++) {
		int way = (int)((first + round) % WAYS);
		pid_t pid = start_child(way);
		int status = -1;
		int right = pid > 0 && waitpid(pid, &status, 0) == pid && status_is_right(way, status);
		if (!right) {
			pthread_mutex_lock(&lock);
			if (wrong[way]++ == 0)
				first_wrong_status[way] = pid > 0 ? status : -1;
			pthread_mutex_unlock(&lock);
		}
	}
	return NULL;
}

int main(void)
{
	pthread_t threads[THREADS];
	for (long i = 0; i < THREADS; i++)
		CHECK("thread started", pthread_create(&threads[i], NULL, spawner, (void *)i) == 0,
		      "pthread_create failed");
	for (int i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);
	for (int way = 0; way < WAYS; way++)
		CHECK(way_names[way], wrong[way] == 0, "%d of %d children ended wrongly (first status %#x)",
		      wrong[way], THREADS * ROUNDS / WAYS, first_wrong_status[way]);
	CHECK("no child left", waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD,
	      "a child is still there");
	return check_finish();
}
