/* eventfd: counter and semaphore reads, short buffers, overflow, readiness, blocking reads
 * woken by another process's write. */
#include "../check.h"

#include <poll.h>
#include <sys/wait.h>
#include <stdint.h>
#include <sys/eventfd.h>

int main(void)
{
	int fd = CHECK_OK("eventfd", eventfd(3, EFD_NONBLOCK | EFD_CLOEXEC));
	uint64_t value = 0;
	CHECK_OK("write", write(fd, &(uint64_t){4}, 8));
	CHECK("read_sum", read(fd, &value, 8) == 8 && value == 7, "value %llu", (unsigned long long)value);
	CHECK_ERRNO("read_empty", read(fd, &value, 8), EAGAIN);
	CHECK_ERRNO("read_short", read(fd, &value, 4), EINVAL);
	CHECK_ERRNO("write_short", write(fd, &value, 4), EINVAL);
	CHECK_ERRNO("write_max", write(fd, &(uint64_t){UINT64_MAX}, 8), EINVAL);
	CHECK_ERRNO("bad_flags", eventfd(0, 0x40), EINVAL);

	struct pollfd pfd = {.fd = fd, .events = POLLIN | POLLOUT};
	CHECK("poll_writable_only", poll(&pfd, 1, 0) == 1 && pfd.revents == POLLOUT, "revents %#x", pfd.revents);
	CHECK_OK("fill", write(fd, &(uint64_t){UINT64_MAX - 1}, 8));
	CHECK("poll_full", poll(&pfd, 1, 0) == 1 && pfd.revents == POLLIN, "revents %#x", pfd.revents);
	CHECK_ERRNO("overflow", write(fd, &(uint64_t){1}, 8), EAGAIN);

	int sem = CHECK_OK("eventfd_semaphore", eventfd(2, EFD_SEMAPHORE | EFD_NONBLOCK));
	CHECK("sem_first", read(sem, &value, 8) == 8 && value == 1, "value %llu", (unsigned long long)value);
	CHECK("sem_second", read(sem, &value, 8) == 8 && value == 1, "value %llu", (unsigned long long)value);
	CHECK_ERRNO("sem_empty", read(sem, &value, 8), EAGAIN);

	/* A blocking read sleeps until another process writes. */
	int shared = CHECK_OK("eventfd_blocking", eventfd(0, 0));
	pid_t child = fork();
	if (child == 0) {
		usleep(50 * 1000);
		_exit(write(shared, &(uint64_t){1}, 8) == 8 ? 0 : 1);
	}
	CHECK("blocking_read", read(shared, &value, 8) == 8 && value == 1, "value %llu", (unsigned long long)value);
	int status;
	CHECK("writer_done", waitpid(child, &status, 0) == child && status == 0, "writer failed");
	return check_finish();
}
