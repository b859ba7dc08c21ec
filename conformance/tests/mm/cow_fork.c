/* Copy-on-write fork: after fork, parent and child each see only their own writes to private
 * memory (globals, heap, stack, anonymous and private file mappings), also when the child execs,
 * when another thread of the parent keeps writing during the fork, and across a second fork;
 * vfork shares memory until the child exits. */
#include "../check.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PAGE 4096

static volatile int global = 1;

/* Waits for `child`; its exit code, or -1 if it did not exit. */
static int reap(pid_t child)
{
	int status = 0;
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static volatile int keep_writing = 1;

/* Writes an ever-growing count into `arg` until told to stop. */
static void *writer(void *arg)
{
	volatile long *counter = arg;
	while (keep_writing)
		(*counter)++;
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--exit") == 0)
		return atoi(argv[2]);

	char *heap = malloc(3 * PAGE);
	memset(heap, 'h', 3 * PAGE);
	char *anon = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(anon, 'a', 4 * PAGE);
	volatile char stack[64];
	memset((char *)stack, 's', sizeof(stack));

	/* Both sides write the same bytes; each must read back its own. */
	int to_parent[2];
	CHECK_OK("pipe", pipe(to_parent));
	pid_t child = fork();
	if (child == 0) {
		global = 20;
		heap[PAGE] = 'C';
		anon[2 * PAGE] = 'C';
		stack[3] = 'C';
		usleep(20000); /* let the parent write too */
		int ok = global == 20 && heap[PAGE] == 'C' && anon[2 * PAGE] == 'C' && stack[3] == 'C' &&
			 heap[0] == 'h' && anon[0] == 'a' && anon[3 * PAGE] == 'a';
		char verdict = ok ? 'y' : 'n';
		if (write(to_parent[1], &verdict, 1) != 1)
			_exit(2);
		_exit(0);
	}
	global = 10;
	heap[PAGE] = 'P';
	anon[2 * PAGE] = 'P';
	stack[3] = 'P';
	char verdict = 0;
	CHECK("child_read_its_verdict", read(to_parent[0], &verdict, 1) == 1, "no verdict");
	CHECK("child_sees_only_its_writes", verdict == 'y', "child saw the parent's writes");
	CHECK("child_exited", reap(child) == 0, "child failed");
	CHECK("parent_sees_only_its_writes",
	      global == 10 && heap[PAGE] == 'P' && anon[2 * PAGE] == 'P' && stack[3] == 'P' && heap[0] == 'h',
	      "global %d heap %c anon %c stack %c", global, heap[PAGE], anon[2 * PAGE], stack[3]);

	/* A child that writes nothing and exits: the parent writes on afterwards. */
	child = fork();
	if (child == 0)
		_exit(global == 10 ? 0 : 1);
	CHECK("quiet_child_saw_parent_state", reap(child) == 0, "child saw global != 10");
	global = 11;
	anon[PAGE] = 'Q';
	CHECK("parent_writes_after_quiet_child", global == 11 && anon[PAGE] == 'Q', "write lost");

	/* fork + exec: the child's new image does not disturb the parent's memory. */
	child = fork();
	if (child == 0) {
		execl("/proc/self/exe", argv[0], "--exit", "7", (char *)NULL);
		_exit(127);
	}
	anon[3 * PAGE] = 'E';
	CHECK("exec_child_exit_code", reap(child) == 7, "exec'd child did not exit 7");
	CHECK("parent_memory_after_exec_child", anon[3 * PAGE] == 'E' && anon[PAGE] == 'Q' && global == 11,
	      "parent memory changed");

	/* A grandchild: three address spaces share then diverge. */
	child = fork();
	if (child == 0) {
		anon[0] = '1';
		pid_t grandchild = fork();
		if (grandchild == 0) {
			int ok = anon[0] == '1';
			anon[0] = '2';
			_exit(ok && anon[0] == '2' ? 0 : 1);
		}
		int status = reap(grandchild);
		_exit(status == 0 && anon[0] == '1' ? 0 : 1);
	}
	CHECK("grandchild_isolation", reap(child) == 0 && anon[0] == 'a', "anon[0] is %c", anon[0]);

	/* A private file mapping: written by the child, untouched in the parent and the file. */
	char path[4096];
	int fd = CHECK_OK("create_file", open(scratch_path(path, sizeof(path), "cow"), O_RDWR | O_CREAT | O_TRUNC, 0600));
	char content[2 * PAGE];
	memset(content, 'f', sizeof(content));
	CHECK("fill_file", write(fd, content, sizeof(content)) == (ssize_t)sizeof(content), "write failed");
	char *private_map = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK("map_private_file", private_map != MAP_FAILED, "mmap: %s", strerror(errno));
	private_map[10] = 'p';
	child = fork();
	if (child == 0) {
		int ok = private_map[10] == 'p';
		private_map[10] = 'c';
		private_map[PAGE] = 'c';
		_exit(ok && private_map[10] == 'c' ? 0 : 1);
	}
	CHECK("private_file_child", reap(child) == 0, "child saw wrong data");
	char from_file[2] = { 0 };
	CHECK("private_file_parent",
	      private_map[10] == 'p' && private_map[PAGE] == 'f' && pread(fd, from_file, 1, 10) == 1 && from_file[0] == 'f',
	      "parent %c %c file %c", private_map[10], private_map[PAGE], from_file[0]);
	close(fd);

	/* Another thread writes while the main thread forks: the child's copy stays still. */
	long *counter = (long *)(anon + PAGE + 64);
	*counter = 0;
	pthread_t thread;
	CHECK("start_writer", pthread_create(&thread, NULL, writer, counter) == 0, "pthread_create failed");
	while (*(volatile long *)counter == 0)
		;
	child = fork();
	if (child == 0) {
		long first = *(volatile long *)counter;
		usleep(20000);
		_exit(*(volatile long *)counter == first ? 0 : 1);
	}
	CHECK("child_copy_still_while_parent_thread_writes", reap(child) == 0, "child's page changed");
	long seen = *(volatile long *)counter;
	usleep(5000);
	CHECK("parent_thread_keeps_writing", *(volatile long *)counter != seen, "counter stopped");
	keep_writing = 0;
	pthread_join(thread, NULL);

	/* vfork: the child shares memory until it exits. */
	global = 30;
	child = vfork();
	if (child == 0) {
		global = 31;
		_exit(0);
	}
	CHECK("vfork_child_exited", reap(child) == 0, "vfork child failed");
	CHECK("vfork_shares_memory", global == 31, "global is %d", global);
	return check_finish();
}
