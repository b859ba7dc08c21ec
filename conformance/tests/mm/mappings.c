/* The mmap family: anonymous and private file mappings, munmap, mprotect, mremap and brk, with
 * their errors; the kernel's copies fail with EFAULT on unmapped or protected memory. */
#include "../check.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

static int all_bytes_are(const unsigned char *bytes, size_t length, unsigned char value)
{
	for (size_t i = 0; i < length; i++)
		if (bytes[i] != value)
			return 0;
	return 1;
}

int main(void)
{
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	CHECK("page_size", page == 4096, "page size %zu", page);

	unsigned char *anon = mmap(NULL, 4 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK("mmap_anonymous", anon != MAP_FAILED && ((uintptr_t)anon % page) == 0, "mmap failed: %s",
	      strerror(errno));
	CHECK("anonymous_zeroed", all_bytes_are(anon, 4 * page, 0), "fresh memory is not zero");
	memset(anon, 0xab, 4 * page);
	CHECK("anonymous_writable", all_bytes_are(anon, 4 * page, 0xab), "writes did not stick");

	CHECK_ERRNO("mmap_zero_length", (long)mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
		    EINVAL);
	CHECK_ERRNO("mmap_no_sharing_type", (long)mmap(NULL, page, PROT_READ, MAP_ANONYMOUS, -1, 0), EINVAL);
	CHECK_ERRNO("mmap_fixed_unaligned",
		    (long)mmap(anon + 1, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), EINVAL);
	CHECK_ERRNO("mmap_bad_fd", (long)mmap(NULL, page, PROT_READ, MAP_PRIVATE, 1000, 0), EBADF);
	CHECK_ERRNO("munmap_unaligned", munmap(anon + 1, page), EINVAL);
	CHECK_ERRNO("mprotect_unaligned", mprotect(anon + 1, page, PROT_READ), EINVAL);

	/* The kernel's copy-out into a read-only page and copy-ins from inaccessible and unmapped
	 * pages. */
	char scratch[4096];
	int out = open(scratch_path(scratch, sizeof(scratch), "out"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK("write_file", write(out, "mapped file contents", 20) == 20, "write failed");
	CHECK_OK("mprotect_read_only", mprotect(anon, page, PROT_READ));
	CHECK_ERRNO("read_into_read_only_page", pread(out, anon, 16, 0), EFAULT);
	CHECK("read_only_page_readable", anon[0] == 0xab, "content changed");
	CHECK_OK("mprotect_none", mprotect(anon + page, page, PROT_NONE));
	CHECK_ERRNO("write_from_inaccessible_page", pwrite(out, anon + page, 16, 0), EFAULT);
	CHECK_OK("munmap_middle", munmap(anon + 2 * page, page));
	CHECK_ERRNO("write_from_unmapped_page", pwrite(out, anon + 2 * page, 16, 0), EFAULT);
	CHECK("last_page_still_mapped", all_bytes_are(anon + 3 * page, page, 0xab), "neighbour lost");
	CHECK_OK("munmap_rest", munmap(anon, 4 * page));
	CHECK_OK("munmap_unmapped_is_fine", munmap(anon, 4 * page));

	/* A private file mapping shows the file; writes to it stay private. */
	char *file_map = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE, out, 0);
	CHECK("mmap_private_file", file_map != MAP_FAILED, "mmap failed: %s", strerror(errno));
	CHECK("private_file_contents", memcmp(file_map, "mapped file contents", 20) == 0 &&
					       all_bytes_are((unsigned char *)file_map + 20, page - 20, 0),
	      "mapping does not show the file followed by zeros");
	file_map[0] = 'M';
	char first = 0;
	CHECK("private_write_not_in_file", pread(out, &first, 1, 0) == 1 && first == 'm',
	      "private write reached the file");
	munmap(file_map, page);
	close(out);

	/* mremap grows in place or moves, keeping the contents. */
	unsigned char *small = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(small, 0x5a, page);
	unsigned char *grown = mremap(small, page, 8 * page, MREMAP_MAYMOVE);
	CHECK("mremap_grow", grown != MAP_FAILED, "mremap failed: %s", strerror(errno));
	CHECK("mremap_keeps_contents", all_bytes_are(grown, page, 0x5a) && all_bytes_are(grown + page, 7 * page, 0),
	      "contents not kept or new part not zero");
	unsigned char *shrunk = mremap(grown, 8 * page, 2 * page, 0);
	CHECK("mremap_shrink_in_place", shrunk == grown, "shrinking moved the mapping");
	CHECK_ERRNO("mremap_grow_without_move_into_mapped",
		    ({
			    void *next = mmap(grown + 2 * page, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			    (long)(next == MAP_FAILED ? MAP_FAILED : mremap(grown, 2 * page, 4 * page, 0));
		    }),
		    ENOMEM);
	CHECK_ERRNO("mremap_zero_new_size", (long)mremap(grown, 2 * page, 0, MREMAP_MAYMOVE), EINVAL);
	munmap(grown, 3 * page);

	/* brk: the break starts page-aligned or not, grows, is usable and shrinks back. */
	uintptr_t start = (uintptr_t)syscall(SYS_brk, 0);
	CHECK("brk_query", start != 0, "brk(0) returned 0");
	uintptr_t grown_break = (uintptr_t)syscall(SYS_brk, start + 16 * page);
	CHECK("brk_grow", grown_break == start + 16 * page, "brk did not grow");
	memset((void *)start, 0x11, 16 * page);
	CHECK("brk_memory_usable", all_bytes_are((void *)start, 16 * page, 0x11), "break memory unusable");
	CHECK("brk_shrink", (uintptr_t)syscall(SYS_brk, start) == start, "brk did not shrink");
	CHECK("brk_below_start_refused", (uintptr_t)syscall(SYS_brk, 4096) == start,
	      "brk moved below its start");
	return check_finish();
}
