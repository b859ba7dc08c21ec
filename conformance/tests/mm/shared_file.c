/* MAP_SHARED of regular files: a POSIX shared memory object (/dev/shm) and a memfd updated by two
 * processes at once; a file written through a mapping and read back with read(2), and the other
 * way round; MAP_SHARED_VALIDATE; the access checks; SIGBUS past the end of the file; tmpfs
 * fallocate modes and sparse files. */
#include "../check.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <sys/wait.h>

#define PAGE 4096
#define INCREMENTS 20000
#define TMPFS_MAGIC 0x01021994

/* Two processes add INCREMENTS each to a counter in the shared mapping of `fd`; returns the
 * final count (or -1 if the mapping failed). */
static long count_together(int fd)
{
	long *counter = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (counter == MAP_FAILED)
		return -1;
	pid_t child = fork();
	if (child == 0) {
		for (int i = 0; i < INCREMENTS; i++)
			__atomic_fetch_add(counter, 1, __ATOMIC_SEQ_CST);
		_exit(0);
	}
	for (int i = 0; i < INCREMENTS; i++)
		__atomic_fetch_add(counter, 1, __ATOMIC_SEQ_CST);
	int status = 0;
	waitpid(child, &status, 0);
	long total = __atomic_load_n(counter, __ATOMIC_SEQ_CST);
	munmap(counter, PAGE);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? total : -1;
}

static sigjmp_buf fault_jump;

static void on_fault(int signo)
{
	siglongjmp(fault_jump, signo);
}

/* The signal a read of `addr` raises, or 0. */
static int touch(volatile char *addr)
{
	struct sigaction action = { .sa_handler = on_fault };
	sigaction(SIGBUS, &action, NULL);
	sigaction(SIGSEGV, &action, NULL);
	int signo = sigsetjmp(fault_jump, 1);
	if (signo == 0)
		(void)*addr;
	signal(SIGBUS, SIG_DFL);
	signal(SIGSEGV, SIG_DFL);
	return signo;
}

int main(void)
{
	/* POSIX shared memory: /dev/shm is a tmpfs, and its files can be mapped shared. */
	struct statfs shm_fs = { 0 };
	CHECK("dev_shm_is_tmpfs", statfs("/dev/shm", &shm_fs) == 0 && shm_fs.f_type == TMPFS_MAGIC,
	      "f_type %#lx", (unsigned long)shm_fs.f_type);
	char name[64];
	snprintf(name, sizeof(name), "/conformance-shared-file-%d", getpid());
	int shm = CHECK_OK("shm_open", shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600));
	CHECK_OK("shm_ftruncate", ftruncate(shm, PAGE));
	CHECK("shm_counted_by_two_processes", count_together(shm) == 2 * INCREMENTS,
	      "count is not %d", 2 * INCREMENTS);
	long from_file = 0;
	CHECK("shm_count_in_the_file", pread(shm, &from_file, sizeof(from_file), 0) == sizeof(from_file) &&
					       from_file == 2 * INCREMENTS,
	      "read(2) gives %ld", from_file);
	CHECK_OK("shm_unlink", shm_unlink(name));
	close(shm);

	/* A memfd, written by a child through its mapping, read by the parent both ways. */
	int memfd = CHECK_OK("memfd_create", memfd_create("shared", 0));
	CHECK_OK("memfd_ftruncate", ftruncate(memfd, 2 * PAGE));
	char *shared = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	CHECK("memfd_mmap_shared", shared != MAP_FAILED, "mmap: %s", strerror(errno));
	pid_t child = fork();
	if (child == 0) {
		strcpy(shared + PAGE + 10, "from the child");
		_exit(0);
	}
	waitpid(child, NULL, 0);
	CHECK("memfd_child_write_seen_in_mapping", strcmp(shared + PAGE + 10, "from the child") == 0,
	      "mapping holds '%.14s'", shared + PAGE + 10);
	char back[32] = { 0 };
	CHECK("memfd_child_write_seen_by_read", pread(memfd, back, 14, PAGE + 10) == 14 &&
						      strcmp(back, "from the child") == 0,
	      "read(2) gives '%s'", back);
	CHECK("memfd_counted_by_two_processes", count_together(memfd) == 2 * INCREMENTS, "wrong count");

	/* write(2) shows in every mapping at once, a store through one mapping in read(2) and in a
	 * second mapping of the same file. */
	char *second = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, memfd, 0);
	CHECK("second_mapping", second != MAP_FAILED, "mmap: %s", strerror(errno));
	CHECK("pwrite", pwrite(memfd, "written", 7, 100) == 7, "pwrite failed");
	CHECK("write_seen_in_mappings", memcmp(shared + 100, "written", 7) == 0 && memcmp(second + 100, "written", 7) == 0,
	      "mappings hold '%.7s' '%.7s'", shared + 100, second + 100);
	memcpy(shared + PAGE + 200, "stored", 6);
	memset(back, 0, sizeof(back));
	CHECK("store_seen_by_read", pread(memfd, back, 6, PAGE + 200) == 6 && strcmp(back, "stored") == 0,
	      "read(2) gives '%s'", back);
	CHECK("store_seen_in_second_mapping", memcmp(second + PAGE + 200, "stored", 6) == 0, "second holds '%.6s'",
	      second + PAGE + 200);
	CHECK_OK("msync", msync(shared, 2 * PAGE, MS_SYNC));
	CHECK_OK("mprotect_shared_writable", mprotect(second, PAGE, PROT_READ | PROT_WRITE));

	/* A private mapping shows the file's page until it writes it; then its copy is its own. */
	char *private_map = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, memfd, 0);
	CHECK("map_private", private_map != MAP_FAILED, "mmap: %s", strerror(errno));
	CHECK("private_sees_file", memcmp(private_map + 100, "written", 7) == 0, "holds '%.7s'", private_map + 100);
	CHECK("pwrite_again", pwrite(memfd, "changed", 7, 100) == 7, "pwrite failed");
	CHECK("private_sees_later_file_write", memcmp(private_map + 100, "changed", 7) == 0, "holds '%.7s'",
	      private_map + 100);
	private_map[100] = 'C';
	CHECK("pwrite_after_private_write", pwrite(memfd, "updated", 7, 100) == 7, "pwrite failed");
	CHECK("private_write_is_its_own", memcmp(private_map + 100, "Changed", 7) == 0, "holds '%.7s'",
	      private_map + 100);
	memset(back, 0, sizeof(back));
	CHECK("private_write_not_in_file", pread(memfd, back, 7, 100) == 7 && strcmp(back, "updated") == 0,
	      "file holds '%s'", back);
	CHECK_OK("private_dontneed", madvise(private_map, PAGE, MADV_DONTNEED));
	CHECK("private_dontneed_shows_file", memcmp(private_map + 100, "updated", 7) == 0, "holds '%.7s'",
	      private_map + 100);
	munmap(private_map, 2 * PAGE);
	CHECK("pwrite_restore", pwrite(memfd, "written", 7, 100) == 7, "pwrite failed");

	/* A mapping moved by mremap keeps showing the file. */
	char *moved = mremap(shared, 2 * PAGE, 3 * PAGE, MREMAP_MAYMOVE);
	CHECK("mremap_shared", moved != MAP_FAILED && memcmp(moved + PAGE + 200, "stored", 6) == 0,
	      "mremap: %s", strerror(errno));

	/* Past the end of the file: SIGBUS, not SIGSEGV, also after a truncation before the touch. */
	CHECK("past_end_sigbus", touch(moved + 2 * PAGE) == SIGBUS, "no SIGBUS");
	char *untouched = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, memfd, 0);
	CHECK_OK("shrink", ftruncate(memfd, PAGE));
	CHECK("after_truncate_sigbus", untouched != MAP_FAILED && touch(untouched + PAGE + 8) == SIGBUS, "no SIGBUS");
	munmap(untouched, 2 * PAGE);

	/* Pages already touched go too, in this process and in another one mapping the file. */
	CHECK_OK("regrow", ftruncate(memfd, 2 * PAGE));
	char *touched = mmap(NULL, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	touched[PAGE] = 'x';
	int go[2], ready[2];
	CHECK_OK("pipes", pipe(go) | pipe(ready));
	pid_t mapper = fork();
	if (mapper == 0) {
		char byte = touched[PAGE]; /* placed in the child too */
		if (write(ready[1], &byte, 1) != 1 || read(go[0], &byte, 1) != 1)
			_exit(2);
		_exit(touch(touched + PAGE) == SIGBUS ? 0 : 1);
	}
	char sync_byte;
	CHECK("mapper_ready", read(ready[0], &sync_byte, 1) == 1 && sync_byte == 'x', "child not ready");
	CHECK_OK("shrink_touched", ftruncate(memfd, PAGE));
	CHECK("touched_page_sigbus_after_truncate", touch(touched + PAGE) == SIGBUS, "no SIGBUS");
	CHECK("release_mapper", write(go[1], "g", 1) == 1, "write failed");
	int mapper_status = 0;
	waitpid(mapper, &mapper_status, 0);
	CHECK("other_process_sigbus_after_truncate", WIFEXITED(mapper_status) && WEXITSTATUS(mapper_status) == 0,
	      "child status %#x", mapper_status);
	munmap(touched, 2 * PAGE);
	CHECK("inside_still_readable", touch(moved + 8) == 0 && memcmp(moved + 100, "written", 7) == 0,
	      "first page lost");
	munmap(moved, 3 * PAGE);
	munmap(second, 2 * PAGE);

	/* The access checks: a read-only open can't be mapped writable, MAP_SHARED_VALIDATE refuses
	 * flags it does not know. */
	snprintf(name, sizeof(name), "/conformance-read-only-%d", getpid());
	int writer = CHECK_OK("shm_create", shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600));
	CHECK_OK("shm_size", ftruncate(writer, PAGE));
	int read_only = CHECK_OK("shm_open_read_only", shm_open(name, O_RDONLY, 0));
	close(writer);
	CHECK_ERRNO("mmap_shared_write_of_read_only_fd",
		    (long)mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, read_only, 0), EACCES);
	char *ro_map = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, read_only, 0);
	CHECK("mmap_shared_read_of_read_only_fd", ro_map != MAP_FAILED, "mmap: %s", strerror(errno));
	CHECK_ERRNO("mprotect_shared_write_of_read_only_fd", mprotect(ro_map, PAGE, PROT_READ | PROT_WRITE), EACCES);
	shm_unlink(name);
	CHECK_ERRNO("map_shared_validate_unknown_flag",
		    (long)mmap(NULL, PAGE, PROT_READ, MAP_SHARED_VALIDATE | 0x200000, memfd, 0), EOPNOTSUPP);
	char *validated = mmap(NULL, PAGE, PROT_READ, MAP_SHARED_VALIDATE, memfd, 0);
	CHECK("map_shared_validate", validated != MAP_FAILED && memcmp(validated + 100, "written", 7) == 0,
	      "mmap: %s", strerror(errno));

	/* mincore: written anonymous pages and the pages a shared file holds are resident. */
	unsigned char *anon = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	anon[PAGE] = 1;
	unsigned char vec[4] = { 9, 9, 9, 9 };
	CHECK("mincore_anonymous", mincore(anon, 4 * PAGE, vec) == 0 && vec[0] == 0 && vec[1] == 1 && vec[2] == 0,
	      "vec %d %d %d %d", vec[0], vec[1], vec[2], vec[3]);
	CHECK_ERRNO("mincore_unaligned", mincore(anon + 1, PAGE, vec), EINVAL);
	munmap(anon + 3 * PAGE, PAGE);
	CHECK_ERRNO("mincore_unmapped", mincore(anon, 4 * PAGE, vec), ENOMEM);
	int holes = CHECK_OK("memfd_holes", memfd_create("holes", 0));
	CHECK_OK("holes_size", ftruncate(holes, 3 * PAGE));
	CHECK("holes_write", pwrite(holes, "x", 1, 2 * PAGE) == 1, "pwrite failed");
	char *holes_map = mmap(NULL, 3 * PAGE, PROT_READ, MAP_SHARED, holes, 0);
	CHECK("mincore_shared_file", mincore(holes_map, 3 * PAGE, vec) == 0 && vec[0] == 0 && vec[1] == 0 && vec[2] == 1,
	      "vec %d %d %d", vec[0], vec[1], vec[2]);
	CHECK_ERRNO("msync_bad_flags", msync(holes_map, PAGE, MS_SYNC | MS_ASYNC), EINVAL);
	CHECK_ERRNO("msync_unmapped", msync(anon + 3 * PAGE, PAGE, MS_SYNC), ENOMEM);
	close(holes);

	/* tmpfs files are sparse; fallocate allocates, punches holes, keeps the size on request. */
	snprintf(name, sizeof(name), "/conformance-sparse-%d", getpid());
	int file = CHECK_OK("shm_sparse", shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600));
	shm_unlink(name);
	CHECK_OK("sparse_truncate", ftruncate(file, 1L << 30));
	struct stat st;
	CHECK("sparse_costs_nothing", fstat(file, &st) == 0 && st.st_blocks == 0, "st_blocks %ld",
	      (long)st.st_blocks);
	CHECK_OK("fallocate", fallocate(file, 0, 0, 4 * PAGE));
	CHECK("fallocate_allocates", fstat(file, &st) == 0 && st.st_blocks == 4 * PAGE / 512, "st_blocks %ld",
	      (long)st.st_blocks);
	CHECK("fill", pwrite(file, "abcdefgh", 8, PAGE - 4) == 8, "pwrite failed");
	CHECK_OK("punch_hole", fallocate(file, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, PAGE));
	memset(back, 1, sizeof(back));
	CHECK("punched_reads_zero", pread(file, back, 8, PAGE - 4) == 8 && memcmp(back, "\0\0\0\0efgh", 8) == 0,
	      "read '%.8s'", back);
	CHECK("punch_frees_the_page", fstat(file, &st) == 0 && st.st_blocks == 3 * PAGE / 512, "st_blocks %ld",
	      (long)st.st_blocks);
	CHECK_OK("keep_size_truncate", ftruncate(file, PAGE));
	CHECK_OK("fallocate_keep_size", fallocate(file, FALLOC_FL_KEEP_SIZE, 0, 8 * PAGE));
	CHECK("keep_size_keeps_size", fstat(file, &st) == 0 && st.st_size == PAGE && st.st_blocks == 8 * PAGE / 512,
	      "size %ld blocks %ld", (long)st.st_size, (long)st.st_blocks);
	close(file);
	return check_finish();
}
